#!/usr/bin/env bash
# link-callgrind.sh — user-space instructions one switch of a friend link spends per frame
# delivered, counted by callgrind (load-insensitive), as callgrind-frame.sh does for one
# switch: the RECEIVING switch (switch 2, the default) or with `--side send` the SENDING one
# (switch 1) runs under `valgrind --tool=callgrind`, the other normally, linked as link-bench
# links them (encrypted; frames over UDP, or the TCP path with `--mode tcp`), or with `--mode
# introduced` by a link that starts over UDP: both are friends of a third switch and of each
# other but dial only the third, which introduces them (docs/nat-traversal.md) and then stops,
# so every frame takes the link that started over UDP (1200-byte datagrams: a 1514-byte frame
# is two fragments there); f2f-bench sends
# into switch 1 and receives from switch 2, for SHORT and LONG seconds with the measured
# switch's counters zeroed before and dumped after each, so
#     instructions per frame = (Ir(LONG) - Ir(SHORT)) / (received(LONG) - received(SHORT)).
# The measured switch runs some 50 times slower under valgrind. As the receiver, its sender
# floods it far beyond what it can forward: the figure includes what it spends on frames it
# cannot deliver (received from the socket, opened, then dropped; or left in the kernel), per
# frame it delivers. As the sender, what f2f-bench sends beyond its pace waits or dies in the
# kernel before it reads it, and the receiver keeps up: the figure is its cost per frame sent.
#
# USAGE
#   Scripts/bench/link-callgrind.sh [--f2f PATH] [--bench PATH] [--reps N] [--small S]
#       [--large S] [--size BYTES] [--mode udp|tcp|introduced] [--side receive|send]
# OUTPUT: "rep R: I instructions/frame (inbox-dropped D, receive-buffer overflowed O)", then
#   the median.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
F2F="$REPO/.build/release/f2f-switch"
BENCH="$REPO/.build/release/f2f-bench"
REPS=2 SMALL=1 LARGE=4 SIZE=1514 MODE=udp SIDE=receive
while [ $# -gt 0 ]; do
    case "$1" in
        --f2f) F2F=$2; shift ;;
        --bench) BENCH=$2; shift ;;
        --reps) REPS=$2; shift ;;
        --small) SMALL=$2; shift ;;
        --large) LARGE=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --mode) MODE=$2; shift ;;
        --side) SIDE=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || die "valgrind missing (Debian: valgrind)"
command -v socat >/dev/null || install_packages socat
[ -x "$F2F" ] && [ -x "$BENCH" ] || die "build first: swift build -c release --product f2f-switch --product f2f-bench"

TMPD=$(mktemp -d /tmp/link-callgrind.XXXXXX)
cleanup() { STOP_GRACE=5 stop_started; remove_tmpdir; }
trap cleanup EXIT
cp "$F2F" "$TMPD/f2f-switch" && strip --strip-debug "$TMPD/f2f-switch" || die "cannot copy $F2F"
export XDG_CONFIG_HOME="$TMPD/config"
EXTRA=()
[ "$MODE" = tcp ] && EXTRA=(--no-udp)
case "$MODE" in udp | tcp | introduced) ;; *) die "--mode is udp, tcp or introduced, not '$MODE'" ;; esac
case "$SIDE" in receive | send) ;; *) die "--side is receive or send, not '$SIDE'" ;; esac

introduced_link_up() {  # introduced_link_up SOCKET: an established link that started over UDP
    mgmt_cmd "$1" peer/print | tr -d '\r' | grep -A12 -E '^Peer [0-9]+ ESTABLISHED' | grep -q 'introduced-by [^-]'
}

total_ir() { awk '/^(totals|summary):/ { print $2; exit }' "$1"; }

measure() {  # measure REP: prints instructions per frame and the counters
    local d="$TMPD/$1" port id1 id2 pid1 pid2 measured out n dump frames ir_small ir_large frames_small frames_large
    local -a grind1=() grind2=()
    mkdir -p "$d"
    out="$d/callgrind.out"
    if [ "$SIDE" = send ]; then
        grind1=(valgrind --tool=callgrind --callgrind-out-file="$out")
    else
        grind2=(valgrind --tool=callgrind --callgrind-out-file="$out")
    fi
    port=$(pick_free_port) || return 1
    id1=$("$TMPD/f2f-switch" id --identity "$d/key1" 2>/dev/null)
    id2=$("$TMPD/f2f-switch" id --identity "$d/key2" 2>/dev/null)
    if [ "$MODE" = introduced ]; then
        local id3
        id3=$("$TMPD/f2f-switch" id --identity "$d/key3" 2>/dev/null)
        spawn "$d/3.log" "introducer" "$TMPD/f2f-switch" -q -s "$d/s3" -M "$d/3.mgmt" --listen "127.0.0.1:$port" \
            --identity "$d/key3" --friend "$id1" --friend "$id2"
        local pid3=$SPAWNED
        spawn "$d/1.log" "switch 1" "${grind1[@]}" "$TMPD/f2f-switch" -q -s "$d/s1" -M "$d/1.mgmt" --peer "$id3@127.0.0.1:$port" \
            --identity "$d/key1" --friend "$id2"
        pid1=$SPAWNED
        spawn "$d/2.log" "switch 2" "${grind2[@]}" "$TMPD/f2f-switch" -q -s "$d/s2" -M "$d/2.mgmt" --peer "$id3@127.0.0.1:$port" \
            --identity "$d/key2" --friend "$id1"
        pid2=$SPAWNED
        wait_or_log 300 "the introduced link" introduced_link_up "$d/1.mgmt" || { tail -5 "$d/1.log" >&2; return 1; }
        # The introducer leaves, so every frame takes the new link (which outlives it) rather
        # than whichever path the mesh prices lower under callgrind's slowness.
        stop_pid "$pid3"
        sleep 5
    else
        spawn "$d/1.log" "switch 1" "${grind1[@]}" "$TMPD/f2f-switch" -q -s "$d/s1" -M "$d/1.mgmt" --listen "127.0.0.1:$port" \
            --identity "$d/key1" --friend "$id2" "${EXTRA[@]}"
        pid1=$SPAWNED
        spawn "$d/2.log" "switch 2" "${grind2[@]}" "$TMPD/f2f-switch" -q -s "$d/s2" -M "$d/2.mgmt" --peer "$id1@127.0.0.1:$port" --identity "$d/key2" "${EXTRA[@]}"
        pid2=$SPAWNED
        wait_or_log 120 "the link" mgmt_peer_established "$d/2.mgmt" || { tail -5 "$d/2.log" >&2; return 1; }
        sleep 2  # the UDP path is taken once a probe is answered
    fi
    measured=$pid2
    [ "$SIDE" = send ] && measured=$pid1
    timeout 300 "$BENCH" --sock "$d/s1" --receiver-sock "$d/s2" --sizes "$SIZE" --seconds 0.3 --latency-samples 20 >/dev/null 2>&1
    for n in "$SMALL" "$LARGE"; do
        callgrind_control -z "$measured" >/dev/null 2>&1
        timeout 600 "$BENCH" --sock "$d/s1" --receiver-sock "$d/s2" --sizes "$SIZE" --seconds "$n" --latency-samples 20 >"$d/bench.$n" 2>&1 \
            || { log "f2f-bench failed: $(tail -c 200 "$d/bench.$n")"; return 1; }
        rm -f "$out".*
        callgrind_control -d "$measured" >/dev/null 2>&1
        dump=$(ls "$out".* 2>/dev/null | tail -1)
        [ -n "$dump" ] || { log "no callgrind dump"; return 1; }
        frames=$(awk '$1 == "RESULT" && $2 == "kind=throughput" { for (i = 4; i <= NF; i++) if (index($i, "received=") == 1) print substr($i, 10) }' "$d/bench.$n")
        if [ "$n" = "$SMALL" ]; then ir_small=$(total_ir "$dump") frames_small=$frames; else ir_large=$(total_ir "$dump") frames_large=$frames; fi
    done
    local inbox limits
    if [ "$MODE" = introduced ]; then
        # Shown, so a run whose frames took the introducer's links instead is seen as such.
        log "direct link on switch 1:$(mgmt_cmd "$d/1.mgmt" peer/print | tr -d '\r' | grep -o ' datagrams in [0-9]* out [0-9]*' | head -1)"
    fi
    inbox=$(mgmt_cmd "$d/2.mgmt" peer/print | tr -d '\r' | { grep -o 'inbox-dropped [0-9]*' || true; } | awk '{ n += $2 } END { print n + 0 }')
    limits=$(mgmt_cmd "$d/2.mgmt" limits/print | tr -d '\r' | grep '^udp-receive-buffer' || true)
    stop_pid "$pid2"
    stop_pid "$pid1"
    log "rep $1: $frames_small and $frames_large frames"
    awk -v a="$ir_small" -v b="$ir_large" -v fa="$frames_small" -v fb="$frames_large" -v inbox="$inbox" -v limits="$limits" \
        'BEGIN { split(limits, l, " "); printf "%.0f (inbox-dropped %d, receive-buffer overflowed %d)\n", (b - a) / (fb - fa), inbox, l[5] }'
}

RESULTS=()
for rep in $(seq "$REPS"); do
    value=$(measure "$rep") || value=NA
    echo "rep $rep: $value instructions/frame"
    RESULTS+=("${value%% *}")
done
printf 'median: %s instructions/frame\n' "$(printf '%s\n' "${RESULTS[@]}" | grep -v NA | sort -n |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
