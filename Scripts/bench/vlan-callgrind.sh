#!/usr/bin/env bash
# vlan-callgrind.sh — instructions per forwarded frame, untagged and with 802.1Q, by callgrind.
#
# Wall-clock figures on a shared machine wander by more than the VLAN cost itself; callgrind
# counts the instructions the whole switch process executes, whatever the load beside it.
# f2f-bench's lone 64-byte round trips (one frame in flight, each crossing the switch twice)
# run N1 and then N2 times on fresh switches; the difference, divided by 2 (N2 - N1) frames,
# is what one frame costs, start-up and shutdown cancelled out. No throughput phase
# (--seconds 0), whose frame count would vary from run to run. Only what the event loop ran
# counts (callgrind's inclusive count of its iterations), less its timers: start-up and
# shutdown vary from run to run, and timers follow the wall-clock time a run took, not its
# frames. KEEP_OUT=PREFIX keeps each run's callgrind file (for callgrind_annotate).
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
    # What the event loop ran (start-up and shutdown, which vary by a few hundred thousand
    # instructions from run to run, left out), less its timers (MAC aging, spanning tree,
    # the engine's tick): they run by wall-clock time, which valgrind and a busy machine
    # stretch unevenly, not by frames.
    # Second figure: the engine's forwarding (switching the frame, staging it, the send),
    # which is where VLANs cost and does not depend on timing at all; the loop's own share
    # per frame does, a little (how often a wake-up finds nothing, `recv` or `recvmmsg`).
    callgrind_annotate --inclusive=yes --threshold=100 "$dir/out" 2>/dev/null | awk '
        /EpollEventLoopC7runOnce/ && !loop { gsub(",", "", $1); loop = $1 }
        /EpollEventLoopC12runDueTimers/ && !timers { gsub(",", "", $1); timers = $1 }
        /EngineC12receiveBatch5count/ && !forward { gsub(",", "", $1); forward = $1 }
        END { print loop - timers, forward }'
    [ -n "${KEEP_OUT:-}" ] && cp "$dir/out" "$KEEP_OUT-$1-$2.out"
    rm -rf "$dir"
}

echo -e "rep\tconfig\tper_frame\tforwarding_per_frame"
results=$TMPD/results
for rep in $(seq "$REPS"); do
    for config in plain access tagged; do
        read -r low_loop low_forward < <(instructions "$config" "$N1")
        read -r high_loop high_forward < <(instructions "$config" "$N2")
        frames=$((2 * (N2 - N1)))
        echo -e "$rep\t$config\t$(((high_loop - low_loop) / frames))\t$(((high_forward - low_forward) / frames))" | tee -a "$results"
    done
done
awk -F'\t' '{ v[$2, 3] = v[$2, 3] " " $3; v[$2, 4] = v[$2, 4] " " $4 }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        lo = a[1]; hi = a[n]
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        split("plain access tagged", configs, " ")
        for (f = 3; f <= 4; f++) {
            base = median(v["plain", f])
            for (k = 1; k <= 3; k++) {
                c = configs[k]; m = median(v[c, f])
                printf "median\t%s\t%s\t%d (%d-%d)\t%+.1f %%\n", f == 3 ? "per_frame" : "forwarding", c, m, lo, hi, 100 * (m / base - 1)
            }
        }
    }' "$results"
