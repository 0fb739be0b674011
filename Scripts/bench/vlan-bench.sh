#!/usr/bin/env bash
# vlan-bench.sh — what 802.1Q costs f2f-switch per frame, with f2f-bench's two clients.
#
# Three configurations, interleaved per repetition, each on a fresh switch:
#   plain    no VLAN: the untagged fast path (one branch for VLANs)
#   access   both clients' ports untagged in VLAN 10: classification, no rewrite
#   tagged   port 1 untagged in 10 and a tagged member of 20, port 2 the reverse, each
#            client's address pinned in the other's VLAN: every frame, both ways, is a
#            unicast that leaves with a tag inserted (a rewritten copy per frame)
# vde_switch needs a client on a port before its VLANs can be set, and keeps the settings
# when the client goes: placeholder vde_plug clients take ports 1 and 2, the console sets
# the VLANs, the placeholders leave, and f2f-bench's sender and receiver take ports 1 and 2
# (the plain switch gets its placeholders too, so that the three differ only in VLANs).
#
# USAGE  Scripts/bench/vlan-bench.sh [REPS] [SECONDS] [SIZES]   (defaults 5 3 64,1514)
# Needs: swift build -c release --product f2f-switch --product f2f-bench (or F2F=PATH and
# BENCH=PATH in the environment); vde_plug, unixcmd.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Scripts/lib/common.sh"
REPS=${1:-5} SECONDS_PER_SIZE=${2:-3} SIZES=${3:-64,1514}
F2F=${F2F:-$REPO/.build/release/f2f-switch} BENCH=${BENCH:-$REPO/.build/release/f2f-bench}
TMPD=$(mktemp -d /tmp/vlan-bench-XXXXXX)
export XDG_CONFIG_HOME=$TMPD/config
declare -A STARTED=()
trap 'stop_started; release_stdin; remove_tmpdir' EXIT
# vde_plug without a second URL relays its stdin and quits on EOF: the placeholders read the
# held FIFO, silent and never at EOF.
hold_stdin "$TMPD"

configure() { # mode dir mgmt
    local mode=$1 dir=$2 mgmt=$3 cmds=()
    case $mode in
        plain) ;;
        access) cmds=("vlan/create 10" "port/setvlan 1 10" "port/setvlan 2 10") ;;
        # Each client's address pinned in the other's VLAN (f2f-bench's fixed sender and
        # receiver MACs): every frame is then a unicast that leaves tagged, not a flood.
        tagged) cmds=("vlan/create 10" "vlan/create 20" "port/setvlan 1 10" "port/setvlan 2 20"
                      "vlan/addport 20 1" "vlan/addport 10 2"
                      "hash/add 02:be:00:00:00:0b 2 10" "hash/add 02:be:00:00:00:0a 1 20") ;;
    esac
    local holders=()
    for port in 1 2; do
        spawn /dev/null "placeholder $port" vde_plug "vde://$dir[$port]"
        holders+=("$SPAWNED")
    done
    sleep 0.5
    # Debian's unixcmd exits 255 whatever the answer: the settings are checked below.
    for c in "${cmds[@]+"${cmds[@]}"}"; do unixcmd -f /etc/vde2/vdecmd -s "$mgmt" $c >/dev/null || true; done
    stop_pids "${holders[@]}"
    sleep 0.5
}

echo -e "rep\tmode\tsize\tfps\tsw_us_per_frame"
for rep in $(seq "$REPS"); do
    # The order turns each repetition, so slow drifts of the machine hit all three alike.
    modes=(plain access tagged plain access)
    for mode in "${modes[@]:$(((rep - 1) % 3)):3}"; do
        dir=$TMPD/sw-$mode-$rep mgmt=$TMPD/mgmt-$mode-$rep
        spawn "$TMPD/log-$mode-$rep" "f2f-switch $mode" "$F2F" -s "$dir" -M "$mgmt" -q
        pid=$SPAWNED
        wait_for 5 test -S "$mgmt" || true
        configure "$mode" "$dir" "$mgmt"
        printed=$(unixcmd -f /etc/vde2/vdecmd -s "$mgmt" port/allprint 2 | tr -d '\0' || true)
        if [ "$mode" != plain ] && ! grep -q 'untagged_vlan=00[12]0' <<<"$printed"; then
            echo "$mode: the VLANs were not set" >&2; exit 1
        fi
        "$BENCH" -s "$dir" --sizes "$SIZES" --seconds "$SECONDS_PER_SIZE" --latency-samples 20 --switch-pid "$pid" |
            awk -v rep="$rep" -v mode="$mode" '/kind=throughput/ {
                for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                print rep "\t" mode "\t" v["size"] "\t" v["fps"] "\t" v["switch_cpu_us_per_frame"] }'
        stop_pid "$pid"
    done
done
