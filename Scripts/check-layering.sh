#!/usr/bin/env bash
# The architecture is the target graph (docs/data-path.md, "Targets"): each source folder may
# import only what the table below allows.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
    [F2FBase]=""
    [EthernetSwitch]="F2FBase"
    [F2FCore]="F2FBase Logging"
    [F2FPosix]="F2FBase F2FCore CF2FSystem Glibc Logging Synchronization SystemPackage"
    [VDEPlug]="CVDEPlug F2FPosix Glibc"
    [SwitchRuntime]="EthernetSwitch F2FBase F2FCore F2FPosix VDEPlug Glibc Logging"
    [VDEServer]="SwitchRuntime EthernetSwitch F2FBase F2FCore F2FPosix Glibc Logging"
    [F2FSwitchNode]="F2FBase EthernetSwitch F2FCore F2FPosix F2FSecure F2FTransportTCP SwitchRuntime VDEServer Logging"
    [F2FSecure]="F2FBase F2FCore Crypto Foundation Logging"
    [F2FTransportTCP]="F2FBase F2FCore F2FPosix Glibc Logging"
    [F2FBench]="EthernetSwitch F2FPosix VDEPlug ArgumentParser Glibc"
    [F2FFuzzHarness]="F2FBase EthernetSwitch F2FCore F2FPosix F2FSecure SwitchRuntime VDEServer Logging"
    [F2FFuzz]="F2FFuzzHarness Glibc"
    [F2FTesting]="F2FBase EthernetSwitch F2FCore Foundation"
    [F2FSwitchCLI]="F2FBase EthernetSwitch F2FPosix F2FSecure F2FTransportTCP SwitchRuntime VDEServer F2FSwitchNode ArgumentParser Logging"
)

status=0
for target in "${!allowed[@]}"; do
    [[ -d "Sources/$target" ]] || continue
    while IFS=: read -r file module; do
        if [[ " ${allowed[$target]} " != *" $module "* ]]; then
            echo "layering: $file imports $module (allowed in $target: ${allowed[$target]:-nothing})" >&2
            status=1
        fi
    done < <(grep -rhoE --with-filename '^(@testable )?import [A-Za-z0-9_]+' "Sources/$target" | sed -E 's/:(@testable )?import /:/')
done
if ((status == 0)); then echo "layering: ok"; fi
exit $status
