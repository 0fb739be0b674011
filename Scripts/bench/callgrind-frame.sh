#!/usr/bin/env bash
# callgrind-frame.sh — user-space instructions f2f-switch spends per forwarded frame, counted
# by callgrind (load-insensitive: the figure for a busy 2-core machine, where rates are noise).
#
# HOW
#   For each configuration (a label and extra f2f-switch options), a fresh switch runs under
#   `valgrind --tool=callgrind` (a --strip-debug copy of the binary). f2f-bench warms it up once
#   (attach, MAC learning), then for S in SHORT and LONG seconds: counters zeroed
#   (callgrind_control -z), `f2f-bench --sizes SIZE --seconds S --latency-samples 20` (the
#   sender saturating the switch, slowed some 50 times by valgrind), counters dumped
#   (callgrind_control -d). The two runs differ only in how many frames crossed, so
#     instructions per frame = (Ir(LONG) - Ir(SHORT)) / (received(LONG) - received(SHORT))
#   with received = frames the second client got (every one read from the first client and
#   written to the second, in the switch's batches). The idle loop's timers run during the
#   longer run too, well under 1 % of the figure.
#
# USAGE
#   Scripts/bench/callgrind-frame.sh [--f2f PATH] [--bench PATH] [--reps N] [--small N]
#       [--large N] [--size BYTES] [LABEL=OPTIONS ...]
#   --small/--large  seconds of load of the two runs (default 0.5 and 2.5)
#   LABEL=OPTIONS  a configuration: f2f-switch options, split at spaces; %D is replaced by
#                  a scratch directory, %P by a free TCP port. Default: plain= (no options).
#   Example (what docs/packet-capture.md reports; also with --size 1514):
#     Scripts/bench/callgrind-frame.sh plain= 'metrics=--metrics %P' 'capture-other-port=-f %D/capture.rc'
#   A configuration whose options name %D/capture.rc gets that file written first, with
#   `pcap/start 5 %D/port5.pcap` (a port f2f-bench does not use).
# OUTPUT: one line per configuration and rep: "LABEL rep R: I instructions/frame", then the
#   median per configuration.

set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
F2F="$REPO/.build/release/f2f-switch"
BENCH="$REPO/.build/release/f2f-bench"
REPS=2 SMALL=0.5 LARGE=2.5 SIZE=64
CONFIGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --f2f)   F2F=$2; shift ;;
        --bench) BENCH=$2; shift ;;
        --reps)  REPS=$2; shift ;;
        --small) SMALL=$2; shift ;;
        --large) LARGE=$2; shift ;;
        --size)  SIZE=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *=*)     CONFIGS+=("$1") ;;
        *)       die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(plain=)
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || die "valgrind missing (Debian: valgrind)"
[ -x "$F2F" ] && [ -x "$BENCH" ] || die "build first: swift build -c release --product f2f-switch --product f2f-bench"

TMPD=$(mktemp -d /tmp/f2f-callgrind.XXXXXX)
cleanup() { STOP_GRACE=5 stop_started; remove_tmpdir; }
trap cleanup EXIT
cp "$F2F" "$TMPD/f2f-switch" && strip --strip-debug "$TMPD/f2f-switch" || die "cannot copy $F2F"
export XDG_CONFIG_HOME="$TMPD/config"

total_ir() {  # total_ir DUMPFILE: the "totals:" (or "summary:") line's Ir
    awk '/^(totals|summary):/ { print $2; exit }' "$1"
}

# One configuration, one rep: prints instructions per frame.
measure() {  # measure LABEL OPTIONS REP
    local label=$1 options=$2 rep=$3 dir out ir_small ir_large n pid
    dir="$TMPD/$label.$rep"
    mkdir -p "$dir"
    options=${options//%D/$dir}
    options=${options//%P/$(pick_free_port)}
    [[ "$options" == *"$dir/capture.rc"* ]] && { echo "pcap/start 5 $dir/port5.pcap" >"$dir/capture.rc"; chmod 600 "$dir/capture.rc"; }
    out="$dir/callgrind.out"
    # shellcheck disable=SC2086  # options split at spaces on purpose
    spawn "$dir/switch.log" "switch $label" valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$TMPD/f2f-switch" -s "$dir/sw" -q --identity "$dir/identity" $options
    pid=$SPAWNED
    wait_or_log 120 "the switch under valgrind" test -S "$dir/sw/ctl" || { tail -5 "$dir/switch.log" >&2; return 1; }
    timeout 300 "$BENCH" -s "$dir/sw" --sizes "$SIZE" --seconds 0.2 --latency-samples 20 >/dev/null 2>&1
    local frames_small frames_large n dump
    for n in "$SMALL" "$LARGE"; do
        callgrind_control -z "$pid" >/dev/null 2>&1
        timeout 600 "$BENCH" -s "$dir/sw" --sizes "$SIZE" --seconds "$n" --latency-samples 20 >"$dir/bench.$n" 2>&1 \
            || { log "f2f-bench failed: $(tail -c 200 "$dir/bench.$n")"; return 1; }
        rm -f "$out".*
        callgrind_control -d "$pid" >/dev/null 2>&1
        dump=$(ls "$out".* 2>/dev/null | tail -1)
        [ -n "$dump" ] || { log "no callgrind dump"; return 1; }
        local frames
        frames=$(awk -v size="size=$SIZE" '$1 == "RESULT" && $2 == "kind=throughput" && $3 == size {
            for (i = 4; i <= NF; i++) if (index($i, "received=") == 1) print substr($i, 10) }' "$dir/bench.$n")
        if [ "$n" = "$SMALL" ]; then ir_small=$(total_ir "$dump") frames_small=$frames; else ir_large=$(total_ir "$dump") frames_large=$frames; fi
    done
    stop_pid "$pid"
    log "$label: $frames_small and $frames_large frames"
    awk -v a="$ir_small" -v b="$ir_large" -v fa="$frames_small" -v fb="$frames_large" 'BEGIN { printf "%.0f\n", (b - a) / (fb - fa) }'
}

declare -A RESULTS=()
for rep in $(seq "$REPS"); do
    for config in "${CONFIGS[@]}"; do
        label=${config%%=*}
        value=$(measure "$label" "${config#*=}" "$rep") || value=NA
        echo "$label rep $rep: $value instructions/frame"
        RESULTS[$label]+="$value "
    done
done
for config in "${CONFIGS[@]}"; do
    label=${config%%=*}
    # shellcheck disable=SC2086
    printf '%s median: %s instructions/frame (%s)\n' "$label" \
        "$(printf '%s\n' ${RESULTS[$label]} | grep -v NA | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')" "${RESULTS[$label]% }"
done
