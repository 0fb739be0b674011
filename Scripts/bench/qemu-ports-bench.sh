#!/usr/bin/env bash
# qemu-ports-bench.sh — QEMU's stream and dgram ports against a VDE port, same switch build.
#
# f2f-bench's sender attaches three ways to a fresh f2f-switch that has a `--stream` and a
# `--dgram` socket: as a libvdeplug client (the anchor), on the stream socket (QEMU's
# `-netdev stream`: a 4-byte big-endian length before each frame) and on the dgram socket
# (QEMU's `-netdev dgram`: one frame per datagram). The receiver is a libvdeplug client
# each time, so only the sender's port differs. The three alternate in each repetition,
# the order turning, so that drifts of a shared machine hit all alike; the ratios are taken
# within a repetition and their medians reported, with min–max.
#
# Columns: fps (frames/s received), sw_us_per_frame (switch CPU per received frame),
# gen_us_per_frame (f2f-bench's own CPU per frame: its sender and its receiver). The dgram
# sender names the switch's socket in every datagram, as QEMU does (it never connects), so
# it costs its sender a path lookup per frame that a VDE client does not pay: when the
# generator is the busier side, fps measures the sender, and sw_us_per_frame the port. A
# fourth sender, dgram-fd, connects once (QEMU handed a connected socket with
# `-netdev dgram,local.type=fd`): the same port without that lookup.
#
# USAGE  Scripts/bench/qemu-ports-bench.sh [REPS] [SECONDS] [SIZES]   (defaults 5 2 64,1514)
# Needs: swift build -c release --product f2f-switch --product f2f-bench (or F2F=PATH and
# BENCH=PATH in the environment).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Scripts/lib/common.sh"
REPS=${1:-5} SECONDS_PER_SIZE=${2:-2} SIZES=${3:-64,1514}
F2F=${F2F:-$REPO/.build/release/f2f-switch} BENCH=${BENCH:-$REPO/.build/release/f2f-bench}
TMPD=$(mktemp -d /tmp/qemu-ports-bench-XXXXXX)
export XDG_CONFIG_HOME=$TMPD/config
declare -A STARTED=()
trap 'stop_started; remove_tmpdir' EXIT
results=$TMPD/results

echo -e "rep\tsender\tsize\tfps\tsw_us_per_frame\tgen_us_per_frame"
for rep in $(seq "$REPS"); do
    kinds=(vde stream dgram dgram-fd vde stream dgram)
    for kind in "${kinds[@]:$(((rep - 1) % 4)):4}"; do
        dir=$TMPD/sw-$kind-$rep
        spawn "$TMPD/log-$kind-$rep" "f2f-switch $kind" "$F2F" -s "$dir" --plaintext -q \
            --stream "$TMPD/stream-$rep" --dgram "$TMPD/dgram-$rep"
        pid=$SPAWNED
        wait_for 10 test -S "$dir/ctl" -a -S "$TMPD/stream-$rep" -a -S "$TMPD/dgram-$rep" ||
            die "the switch did not come up: $(cat "$TMPD/log-$kind-$rep")"
        case $kind in
            vde) sender=() ;;
            stream) sender=(--sender-stream "$TMPD/stream-$rep") ;;
            dgram) sender=(--sender-dgram "$TMPD/dgram-$rep") ;;
            dgram-fd) sender=(--sender-dgram "$TMPD/dgram-$rep" --dgram-connected) ;;
        esac
        "$BENCH" -s "$dir" "${sender[@]+"${sender[@]}"}" --sizes "$SIZES" --seconds "$SECONDS_PER_SIZE" \
            --latency-samples 20 --switch-pid "$pid" |
            awk -v rep="$rep" -v kind="$kind" '/kind=throughput/ {
                for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                print rep "\t" kind "\t" v["size"] "\t" v["fps"] "\t" v["switch_cpu_us_per_frame"] "\t" v["generator_cpu_us_per_frame"] }' |
            tee -a "$results"
        stop_pid "$pid"
        rm -f "$TMPD/stream-$rep" "$TMPD/dgram-$rep"
    done
done

echo
echo -e "sender\tsize\tfps_vs_vde median (min-max)\tcpu_per_frame_vs_vde median (min-max)\tgen_cpu_per_frame_vs_vde median (min-max)"
awk -F'\t' '
    { fps[$1, $2, $3] = $4; cpu[$1, $2, $3] = $5; gen[$1, $2, $3] = $6; sizes[$3] = 1; reps[$1] = 1 }
    function summary(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        if (n == 0) return "-"
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return sprintf("%.2f (%.2f-%.2f)", n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2, a[1], a[n])
    }
    END {
        split("stream dgram dgram-fd", kinds, " ")
        for (size in sizes) for (k = 1; k <= 3; k++) {
            kind = kinds[k]; f = ""; c = ""; g = ""
            for (rep in reps) if (((rep, "vde", size) in fps) && ((rep, kind, size) in fps)) {
                f = f " " fps[rep, kind, size] / fps[rep, "vde", size]
                if (cpu[rep, "vde", size] > 0) c = c " " cpu[rep, kind, size] / cpu[rep, "vde", size]
                if (gen[rep, "vde", size] > 0) g = g " " gen[rep, kind, size] / gen[rep, "vde", size]
            }
            print kind "\t" size "\t" summary(f) "\t" summary(c) "\t" summary(g)
        }
    }' "$results" | sort -k2,2n -k1,1
