#!/usr/bin/env bash
# link-bench.sh — what encryption costs a peer link: two f2f-switch processes linked over
# TCP on 127.0.0.1, once encrypted (the default: Noise XX, each switch with its own identity,
# friends of each other; frames over UDP once the link is up) and once with --plaintext
# (TCP, no Noise), optionally also encrypted with --no-udp on both switches (mode tcp: the
# TCP path), interleaved, several repetitions.
#
# WHAT IT MEASURES
#   f2f-bench attaches its sender to switch 1 and its receiver to switch 2
#   (`f2f-bench --sock DIR1 --receiver-sock DIR2`), so every frame crosses the link:
#     fps, gbps, loss_pct   saturated, per frame size
#     rtt_p50_us, rtt_p99_us  one frame in flight, A -> sw1 -> link -> sw2 -> B and back
#     switch_cpu_us_per_frame            the sending switch's CPU per frame received
#     receiver_switch_cpu_us_per_frame   the receiving switch's
#   and prints the medians of each mode and the ratio encrypted / plaintext. After each run
#   a COUNTERS line records switch 2's (the receiver's) inbox-dropped (peer/print) and its
#   udp-receive-buffer overflows and holds (limits/print), summed over the run's sizes.
#
# USAGE
#   Scripts/bench/link-bench.sh [--reps N] [--seconds S] [--sizes 64,1514] [--f2f PATH]
#       [--bench PATH] [--out PREFIX] [--modes encrypted,plaintext,tcp]
#   Defaults: 5 reps, 3 s per size, sizes 64,512,1514, release builds from .build/release
#   (built if missing). Results: PREFIX.tsv (every run) and the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/lib/common.sh

REPS=5 SECONDS_PER_SIZE=3 SIZES=64,512,1514 OUT=/tmp/link-bench MODES=encrypted,plaintext
F2F=.build/release/f2f-switch BENCH=.build/release/f2f-bench
while (($#)); do
    case "$1" in
        --reps) REPS=$2; shift ;;
        --seconds) SECONDS_PER_SIZE=$2; shift ;;
        --sizes) SIZES=$2; shift ;;
        --f2f) F2F=$2; shift ;;
        --bench) BENCH=$2; shift ;;
        --out) OUT=$2; shift ;;
        --modes) MODES=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
if [[ ! -x $F2F || ! -x $BENCH ]]; then
    Scripts/setup
    swift build -c release --product f2f-switch >&2
    swift build -c release --product f2f-bench >&2
fi
command -v socat >/dev/null || install_packages socat

TMPD=$(mktemp -d /tmp/link-bench.XXXXXX) KEEP=0
declare -A STARTED=()
trap 'stop_started; remove_tmpdir' EXIT

# run_mode MODE REP: one linked pair, one f2f-bench run, RESULT lines tagged with MODE.
run_mode() {
    local mode=$1 rep=$2 d=$TMPD/$1-$2 port id1 id2 secure1=() secure2=() peer pids=()
    port=$(pick_free_port) || die "no free port"
    peer="127.0.0.1:$port"
    if [[ $mode == plaintext ]]; then
        secure1=(--plaintext) secure2=(--plaintext)
    else
        [[ $mode == tcp ]] && secure1=(--no-udp) secure2=(--no-udp)
        id1=$("$F2F" id --identity "$d.key1" 2>/dev/null)
        id2=$("$F2F" id --identity "$d.key2" 2>/dev/null)
        secure1+=(--identity "$d.key1" --friend "$id2") secure2+=(--identity "$d.key2")
        peer="$id1@$peer"
    fi
    spawn "$d.1.log" "$mode switch 1" "$F2F" -q -s "$d.1" -M "$d.1.mgmt" --listen "127.0.0.1:$port" "${secure1[@]}"
    pids+=("$SPAWNED")
    wait_for 10 test -S "$d.1.mgmt" || die "switch 1 did not start: $(tail -3 "$d.1.log")"
    spawn "$d.2.log" "$mode switch 2" "$F2F" -q -s "$d.2" -M "$d.2.mgmt" --peer "$peer" "${secure2[@]}"
    pids+=("$SPAWNED")
    wait_for 10 mgmt_peer_established "$d.2.mgmt" || die "$mode: link not established: $(tail -3 "$d.2.log")"
    "$BENCH" --sock "$d.1" --receiver-sock "$d.2" --sizes "$SIZES" --seconds "$SECONDS_PER_SIZE" \
        --latency-samples 1000 --switch-pid "${pids[0]}" --receiver-switch-pid "${pids[1]}" |
        sed "s/^RESULT /RESULT mode=$mode rep=$rep /" | grep '^RESULT'
    local inbox limits
    inbox=$(mgmt_cmd "$d.2.mgmt" peer/print | tr -d '\r' | { grep -o 'inbox-dropped [0-9]*' || true; } | awk '{ n += $2 } END { print n + 0 }')
    limits=$(mgmt_cmd "$d.2.mgmt" limits/print | tr -d '\r' | grep '^udp-receive-buffer' || true)
    echo "COUNTERS mode=$mode rep=$rep inbox_dropped=$inbox rcvbuf_overflowed=$(awk '{ print $5 + 0 }' <<<"$limits") held=$(awk '{ print $7 + 0 }' <<<"$limits")"
    stop_pids "${pids[@]}"
}

: >"$OUT.tsv"
for rep in $(seq "$REPS"); do
    # Alternate the order so drifts of the machine hit every mode alike.
    IFS=, read -ra modes <<<"$MODES"
    if ((rep % 2 == 0)); then
        for ((i = 0, j = ${#modes[@]} - 1; i < j; i++, j--)); do t=${modes[i]} modes[i]=${modes[j]} modes[j]=$t; done
    fi
    for mode in "${modes[@]}"; do
        log "rep $rep/$REPS: $mode"
        run_mode "$mode" "$rep" >>"$OUT.tsv"
    done
done

# Medians per (size, metric, mode) and the ratio encrypted / plaintext.
grep '^RESULT' "$OUT.tsv" | awk -v modes="$MODES" '
    function median(list,   n, values, i, j, t) {
        n = split(list, values, " ")
        if (n == 0) return 0
        for (i = 2; i <= n; i++) for (j = i; j > 1 && values[j - 1] + 0 > values[j] + 0; j--) { t = values[j]; values[j] = values[j - 1]; values[j - 1] = t }
        return n % 2 ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
    }
    {
        delete f
        for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        if (f["kind"] == "throughput") { metrics = "fps gbps loss_pct switch_cpu_us_per_frame receiver_switch_cpu_us_per_frame" }
        else { metrics = "rtt_p50_us rtt_p99_us" }
        n = split(metrics, m, " ")
        for (i = 1; i <= n; i++) if (m[i] in f) {
            key = f["size"] SUBSEP m[i]
            samples[key, f["mode"]] = samples[key, f["mode"]] " " f[m[i]]
            keys[key] = 1
        }
    }
    END {
        nm = split(modes, mode, ",")
        printf "%-6s %-34s", "size", "metric (median)"
        for (i = 1; i <= nm; i++) printf " %12s", mode[i]
        printf " %10s\n", "enc/plain"
        for (key in keys) {
            split(key, parts, SUBSEP)
            printf "%-6s %-34s", parts[1], parts[2]
            for (i = 1; i <= nm; i++) printf " %12.2f", median(samples[key, mode[i]])
            e = median(samples[key, "encrypted"]); p = median(samples[key, "plaintext"])
            printf " %10.2f\n", (p > 0 ? e / p : 0)
        }
    }' | sort -k1,1n -k2,2 | tee "$OUT.table"
grep '^COUNTERS' "$OUT.tsv" | tee -a "$OUT.table" >&2 || true
log "every run: $OUT.tsv"
