#!/usr/bin/env bash
# vlan-callgrind.sh — instructions per forwarded frame, untagged and with 802.1Q, by callgrind.
#
# Wall-clock figures on a shared machine wander by more than the VLAN cost itself; callgrind
# counts the instructions the whole switch process executes, whatever the load beside it.
# f2f-bench's lone 64-byte round trips (one frame in flight, each crossing the switch twice)
# run N1 and then N2 times on fresh switches; the difference, divided by 2 (N2 - N1) frames,
# is what one frame costs, start-up and shutdown cancelled out. No throughput phase
# (--seconds 0), whose frame count would vary from run to run, and the timers' instructions
# (callgrind's inclusive count of the loop's due-timer runs) taken out: they follow the
# wall-clock time a run took, not its frames.
#
# Configurations, as in vlan-bench.sh:
#   plain    no VLAN
#   access   both clients' ports untagged in VLAN 10: classified, never rewritten
#   tagged   port 1 untagged in 10 and a tagged member of 20, port 2 the reverse, each client's
#            address pinned in the other's VLAN: every frame is a unicast that leaves with a
#            tag inserted
# The switch reads its VLAN settings from an rc file (-f); `port/create` makes ports 1 and 2
# for them and `port/remove` frees the numbers again, the settings staying for f2f-bench's
# sender (port 1) and receiver (port 2).
#
# USAGE  Scripts/bench/vlan-callgrind.sh [REPS] [N1] [N2]   (defaults 2 1000 3000)
# Needs: valgrind, strip; swift build -c release --product f2f-switch --product f2f-bench
# (or F2F=PATH and BENCH=PATH). Prints one line per configuration and repetition, then the
# medians.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
REPS=${1:-2} N1=${2:-1000} N2=${3:-3000}
F2F=${F2F:-$REPO/.build/release/f2f-switch} BENCH=${BENCH:-$REPO/.build/release/f2f-bench}
TMPD=$(mktemp -d /tmp/vlan-callgrind-XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
# Debug information only slows valgrind's start; the symbols stay for callgrind_annotate.
strip --strip-debug -o "$TMPD/f2f-switch" "$F2F"

rc_lines() {
    case $1 in
        plain) ;;
        access) printf '%s\n' "vlan/create 10" "port/create 1" "port/create 2" "port/setvlan 1 10" "port/setvlan 2 10" \
            "port/remove 1" "port/remove 2" ;;
        tagged) printf '%s\n' "vlan/create 10" "vlan/create 20" "port/create 1" "port/create 2" \
            "port/setvlan 1 10" "port/setvlan 2 20" "vlan/addport 20 1" "vlan/addport 10 2" \
            "hash/add 02:be:00:00:00:0b 2 10" "hash/add 02:be:00:00:00:0a 1 20" "port/remove 1" "port/remove 2" ;;
    esac
}

# Instructions of one switch process that forwarded `samples` round trips.
instructions() { # config samples
    local dir=$TMPD/run-$1-$2 pid
    mkdir "$dir"
    rc_lines "$1" > "$dir/rc"
    chmod 600 "$dir/rc"
    # A fixed hash seed: the MAC table's probes then cost the same in every run.
    SWIFT_DETERMINISTIC_HASHING=1 valgrind --tool=callgrind --callgrind-out-file="$dir/out" "$TMPD/f2f-switch" -s "$dir/sw" --plaintext -q -f "$dir/rc" \
        > "$dir/log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do [ -S "$dir/sw/ctl" ] && break; sleep 0.2; done
    if ! "$BENCH" -s "$dir/sw" --sizes 64 --seconds 0 --latency-samples "$2" > "$dir/bench" 2>&1 ||
        ! grep -q "lost=0 " "$dir/bench"; then
        echo "f2f-bench failed or lost frames ($1, $2):" >&2
        cat "$dir/bench" "$dir/log" >&2
        kill -INT "$pid" 2>/dev/null || true
        exit 1
    fi
    kill -INT "$pid"
    wait "$pid" || true
    # Timers (MAC aging, spanning tree, the engine's tick) run by wall-clock time, which
    # valgrind and a busy machine stretch unevenly: their instructions are not the frames'.
    local total timers
    total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dir/out")
    timers=$(callgrind_annotate --inclusive=yes --threshold=100 "$dir/out" 2>/dev/null |
        awk '/EpollEventLoopC12runDueTimers/ { gsub(",", "", $1); print $1; exit }')
    echo $((total - ${timers:-0}))
    rm -rf "$dir"
}

echo -e "rep\tconfig\tinstructions_per_frame"
results=$TMPD/results
for rep in $(seq "$REPS"); do
    for config in plain access tagged; do
        low=$(instructions "$config" "$N1")
        high=$(instructions "$config" "$N2")
        per_frame=$(((high - low) / (2 * (N2 - N1))))
        echo -e "$rep\t$config\t$per_frame" | tee -a "$results"
    done
done
awk -F'\t' '{ v[$2] = v[$2] " " $3 }
    END {
        for (c in v) {
            n = split(v[c], a, " ")
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            m[c] = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            lo[c] = a[1]; hi[c] = a[n]
        }
        printf "median\tplain\t%d (%d-%d)\n", m["plain"], lo["plain"], hi["plain"]
        for (c in m) if (c != "plain")
            printf "median\t%s\t%d (%d-%d)\t%+.1f %% against plain\n", c, m[c], lo[c], hi[c], 100 * (m[c] / m["plain"] - 1)
    }' "$results"
