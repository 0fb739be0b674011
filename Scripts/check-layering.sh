#!/usr/bin/env bash
# The architecture is the target graph (docs/architecture.md): each source folder may import
# only what the table below allows.
set -euo pipefail
cd "$(dirname "$0")/.."

# Glibc only in F2FPosix and VDEPlug (and the tools F2FBench, F2FFuzz);
# every other runtime target reaches the OS through F2FPosix. Foundation only where
# swift-crypto hands out `Data` (F2FSecure); CF2FAEAD (BoringSSL's in-place AEAD) only in
# F2FSecure, for the datagram AEAD; libnatpmp and miniupnpc (CNATPMP, CMiniUPnPc) only in
# F2FPortMapping, whose own waits and eventfds go through F2FPosix. F2FTesting is pure: never F2FPosix.
pure="F2FBase EthernetSwitch F2FCore"
runtime="$pure F2FPosix F2FSecure Logging"
declare -A allowed=(
    [F2FBase]=""
    [EthernetSwitch]="F2FBase"
    [F2FCore]="F2FBase Logging"
    [F2FSecure]="F2FBase F2FCore CF2FAEAD Crypto Foundation Logging"
    [F2FPosix]="F2FBase F2FCore CF2FSystem Glibc Logging Synchronization SystemPackage"
    [VDEPlug]="F2FBase F2FCore CVDEPlug F2FPosix Glibc Logging"
    [F2FPortMapping]="F2FBase F2FCore CNATPMP CMiniUPnPc F2FPosix Logging Synchronization"
    [F2FTransportTCP]="$runtime"
    [F2FTransportUDP]="$runtime"
    [SwitchRuntime]="$runtime VDEPlug"
    [VDEServer]="$runtime SwitchRuntime"
    [F2FSwitchNode]="$runtime F2FTransportTCP F2FTransportUDP SwitchRuntime VDEServer VDEPlug F2FPortMapping"
    [F2FSwitchCLI]="$runtime VDEPlug VDEServer F2FTransportTCP F2FTransportUDP SwitchRuntime F2FSwitchNode ArgumentParser"
    [F2FTesting]="$pure Foundation"  # Fixture reads the files under Fixtures/
    [F2FBench]="EthernetSwitch F2FPosix VDEPlug ArgumentParser Glibc"
    [F2FFuzzHarness]="$pure F2FPosix F2FSecure SwitchRuntime VDEServer Logging"
    [F2FFuzz]="F2FFuzzHarness Glibc"
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
