#!/usr/bin/env bash
# wan-bench.sh — f2f-switch across an emulated WAN, against the bare WAN and tinc 1.0.
#
# TOPOLOGY (docs/wan-bench.md draws it)
#   Two sites, each a network namespace (wanb-a-PID, wanb-b-PID). Each site's WAN interface
#   is a tap (wan0, 10.78.0.1/24 and .2/24) that a vde_plug cables to its site's vde_switch
#   hub; the two hubs are joined by `wirefilter -v hubA:hubB`, which delays every frame
#   20 ms each way (this kernel has no netem) and, per profile, drops or rate-limits.
#   Profiles: lossless (20 ms), loss1 (20 ms, 1 % loss each way), 20mbit (20 ms,
#   2.5 MB/s each way, wirefilter's default channel buffer).
#
# ROWS (one overlay at a time; each measured host is its site's namespace)
#   bare      iperf3/ping between the WAN addresses: what the WAN itself gives.
#   f2f       one f2f-switch per site (switch A --listen on A's WAN address, switch B
#             --peer ID@A), friends of each other, default options plus $WAN_F2F_OPTS;
#             each switch opens its site's tap ovl0 (10.79.0.1/24, .2/24) itself with
#             --plug tap://ovl0, as tincd opens its own (--host-tap process: a vde_plug
#             process per site cables the tap instead, as the first figures did).
#   f2f-tcp   the same with $WAN_TCP_OPTS added (e.g. --no-udp once the UDP path exists):
#             the friend link forced onto TCP. Without WAN_TCP_OPTS it equals f2f.
#   tinc      tinc 1.0 (Debian `tinc`) in switch mode, defaults (its UDP data path), one
#             tincd per site, its tap ovl0 addressed as above.
#
# WHAT IT MEASURES (per profile x rep x row)
#   mbps       iperf3, one TCP stream A -> B, --seconds long, as received by B
#   p50/p99    RTT of pings A -> B every 50 ms during the transfer (from 1 s in to 1 s
#              before its end), in ms; lost pings are counted (ping_lost), not ranked
#   Reported: medians over the reps with min-max, the throughput as a ratio to the bare
#   WAN's median in the same profile, and the loaded p50/p99.
#
# USAGE (as root; installs missing Debian packages after apt-get update unless --no-install)
#   Scripts/bench/wan-bench.sh [--f2f PATH] [--reps N] [--seconds S] [--rows a,b]
#                              [--profiles a,b] [--out PREFIX] [--keep] [--no-install]
#   --f2f PATH     f2f-switch binary (default .build/release/f2f-switch, built if missing)
#   --f2f-base PATH  another f2f-switch binary (an older build) measured in the same run as
#                  row f2f-base (its default path), for before/after comparisons; add the
#                  row with --rows
#   --reps N       repetitions, rows interleaved and rotated within each (default 3)
#   --seconds S    iperf3 duration (default 10)
#   --rows         subset of bare,f2f,f2f-tcp,tinc,f2f-base (default bare,f2f,f2f-tcp,tinc)
#   --profiles     subset of lossless,loss1,20mbit (default all)
#   --host-tap plug|process  how a site's host tap meets its f2f-switch: the switch's own
#                  --plug tap://ovl0 (default) or a separate vde_plug process
#   --out PREFIX   PREFIX.raw.tsv (every run) and PREFIX.txt (the table); default
#                  /tmp/wan-bench-YYYYmmdd-HHMMSS
#   Env: WAN_F2F_OPTS (options for both f2f rows), WAN_TCP_OPTS (extra for f2f-tcp),
#   WAN_DELAY_MS (20), WAN_NET (10.78.0), OVL_NET (10.79.0).
#
# NOTES
#   Everything shares the machine's cores; compare rows of the same run only. Cleanup (EXIT
#   trap) stops the processes this script started by PID and deletes its namespaces.

set -uo pipefail   # not -e: one failed measurement is recorded as NA, the run goes on
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

REPS=3 RUN_SECONDS=10 OUT="" KEEP=0 DO_INSTALL=1 HOST_TAP=plug
F2F=.build/release/f2f-switch F2F_BASE=""
ROWS=bare,f2f,f2f-tcp,tinc
PROFILES=lossless,loss1,20mbit
DELAY_MS=${WAN_DELAY_MS:-20}
WAN_NET=${WAN_NET:-10.78.0} OVL_NET=${OVL_NET:-10.79.0}
F2F_OPTS=${WAN_F2F_OPTS:-} TCP_OPTS=${WAN_TCP_OPTS:-}
NS_A="wanb-a-$$" NS_B="wanb-b-$$"
declare -A STARTED=()
STOP_GRACE=3
TMPD=""
WF_PID=""          # the wirefilter of the current profile
ROW_PIDS=()        # processes of the overlay being measured

while (($#)); do
    case "$1" in
        --f2f) F2F=${2:?}; shift ;;
        --f2f-base) F2F_BASE=${2:?}; shift ;;
        --reps) REPS=${2:?}; shift ;;
        --seconds) RUN_SECONDS=${2:?}; shift ;;
        --rows) ROWS=${2:?}; shift ;;
        --profiles) PROFILES=${2:?}; shift ;;
        --host-tap) HOST_TAP=${2:?}; shift ;;
        --out) OUT=${2:?}; shift ;;
        --keep) KEEP=1 ;;
        --no-install) DO_INSTALL=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"
[[ $HOST_TAP == plug || $HOST_TAP == process ]] || die "--host-tap must be plug or process"
[[ $RUN_SECONDS =~ ^[1-9][0-9]*$ ]] && [ "$RUN_SECONDS" -ge 3 ] || die "--seconds must be an integer >= 3"
[ -n "$OUT" ] || OUT="/tmp/wan-bench-$(date +%Y%m%d-%H%M%S)"
[ "$(id -u)" = 0 ] || die "must run as root (namespaces, taps)"
[[ ,$ROWS, != *,f2f-base,* ]] || [ -x "$F2F_BASE" ] || die "row f2f-base needs --f2f-base PATH"

# ---------------------------------------------------------------- prerequisites
# shellcheck disable=SC2034  # need: read through a nameref
ensure_packages() {
    local -A need=([vde_switch]=vde2 [wirefilter]=vde2 [vde_plug]=vdeplug [iperf3]=iperf3
                   [ip]=iproute2 [ss]=iproute2 [ping]=iputils-ping [jq]=jq [socat]=socat)
    [[ ,$ROWS, == *,tinc,* ]] && need[tincd]=tinc
    local missing=()
    mapfile -t missing < <(packages_for_missing_commands need)
    have_vdeplug_tap || missing+=(libvdeplug2)
    install_packages "${missing[@]}"
}
ensure_packages
require_tun
if [[ ,$ROWS, == *,f2f* ]] && [ ! -x "$F2F" ]; then
    Scripts/setup >&2
    swift build -c release --product f2f-switch >&2 || die "build failed"
fi

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_started 'plug*'
    ns_delete_all
    release_stdin
    remove_tmpdir
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TMPD=$(mktemp -d /tmp/wan-bench.XXXXXX)
export XDG_CONFIG_HOME=$TMPD/config
hold_stdin "$TMPD"

# ---------------------------------------------------------------- the WAN
in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

# Hubs, the sites' WAN taps; the wirefilter between the hubs comes per profile.
build_wan() {
    local s ns
    for s in a b; do
        spawn "$TMPD/hub-$s.log" "hub $s" vde_switch -x -s "$TMPD/hub-$s"
        wait_or_log 10 "hub $s" test -S "$TMPD/hub-$s/ctl" || die "hub $s did not start"
    done
    ns_create "$NS_A" && ns_create "$NS_B" || die "cannot create namespaces"
    for s in a b; do
        ns=$NS_A; [ $s = b ] && ns=$NS_B
        spawn "$TMPD/plug-wan-$s.log" "plug wan $s" ip netns exec "$ns" vde_plug "vde://$TMPD/hub-$s" tap://wan0
        wait_or_log 10 "tap wan0 in $ns" ns_has_link "$ns" wan0 || die "no WAN tap in $ns"
    done
    ip -n "$NS_A" addr add "$WAN_NET.1/24" dev wan0 && ip -n "$NS_A" link set wan0 up &&
    ip -n "$NS_B" addr add "$WAN_NET.2/24" dev wan0 && ip -n "$NS_B" link set wan0 up || die "cannot address the WAN"
}

# profile_args NAME: wirefilter's options for a profile (all apply in both directions).
profile_args() {
    case "$1" in
        lossless) echo "-d $DELAY_MS" ;;
        loss1) echo "-d $DELAY_MS -l 1" ;;
        20mbit) echo "-d $DELAY_MS -b 2500000" ;;
        *) die "unknown profile '$1'" ;;
    esac
}

start_wirefilter() {  # start_wirefilter PROFILE
    local args
    read -ra args <<<"$(profile_args "$1")"
    [ -n "$WF_PID" ] && stop_pid "$WF_PID"
    spawn "$TMPD/wirefilter-$1.log" "wirefilter $1" wirefilter -v "$TMPD/hub-a:$TMPD/hub-b" "${args[@]}"
    WF_PID=$SPAWNED
    wait_for 10 reaches "$WAN_NET.2" || die "the WAN does not pass ($1): $(tail -3 "$TMPD/wirefilter-$1.log")"
}

reaches() { in_a ping -q -c 1 -W 1 "$1" >/dev/null 2>&1; }  # reaches IP (from site A)

# ---------------------------------------------------------------- overlays
# Each start_ROW brings its overlay up and leaves its processes in ROW_PIDS; the target
# address B is then reachable from A.
start_bare() { TARGET=$WAN_NET.2; }

overlay_plugs() {  # overlay_plugs DIR_A DIR_B TAG
    local s ns dir
    for s in a b; do
        ns=$NS_A dir=$1; [ $s = b ] && ns=$NS_B dir=$2
        spawn "$TMPD/plug-$3-$s.log" "plug ovl $s" ip netns exec "$ns" vde_plug "vde://$dir" tap://ovl0
        ROW_PIDS+=("$SPAWNED")
        wait_or_log 10 "tap ovl0 in $ns" ns_has_link "$ns" ovl0 || return 1
    done
    address_overlay
}

address_overlay() {
    ip -n "$NS_A" addr add "$OVL_NET.1/24" dev ovl0 && ip -n "$NS_A" link set ovl0 up &&
    ip -n "$NS_B" addr add "$OVL_NET.2/24" dev ovl0 && ip -n "$NS_B" link set ovl0 up
}

start_f2f() {  # start_f2f TAG BINARY EXTRA...
    local tag=$1 bin=$2; shift 2
    local d=$TMPD/$tag port id_a id_b opts
    read -ra opts <<<"$F2F_OPTS $*"
    [ "$HOST_TAP" = plug ] && opts+=(--plug tap://ovl0)
    port=$(pick_free_port) || return 1
    id_a=$("$bin" id --identity "$d.key-a" 2>/dev/null) && id_b=$("$bin" id --identity "$d.key-b" 2>/dev/null) || return 1
    spawn "$d.sw-a.log" "switch a $tag" ip netns exec "$NS_A" "$bin" -q -s "$d.sw-a" -M "$d.sw-a.mgmt" \
        --listen "$WAN_NET.1:$port" --identity "$d.key-a" --friend "$id_b" "${opts[@]}"
    ROW_PIDS+=("$SPAWNED")
    wait_or_log 10 "switch a console" test -S "$d.sw-a.mgmt" || return 1
    spawn "$d.sw-b.log" "switch b $tag" ip netns exec "$NS_B" "$bin" -q -s "$d.sw-b" -M "$d.sw-b.mgmt" \
        --peer "$id_a@$WAN_NET.1:$port" --identity "$d.key-b" "${opts[@]}"
    ROW_PIDS+=("$SPAWNED")
    wait_or_log 15 "the friend link ($tag)" mgmt_peer_established "$d.sw-b.mgmt" || return 1
    if [ "$HOST_TAP" = plug ]; then
        wait_or_log 10 "tap ovl0 in $NS_A" ns_has_link "$NS_A" ovl0 &&
            wait_or_log 10 "tap ovl0 in $NS_B" ns_has_link "$NS_B" ovl0 && address_overlay || return 1
    else
        overlay_plugs "$d.sw-a" "$d.sw-b" "$tag" || return 1
    fi
    TARGET=$OVL_NET.2
}

# tinc 1.0: a config directory per site, keys exchanged through hosts/, tinc-up addresses.
start_tinc() {
    local d=$TMPD/tinc s name other ns addr
    rm -rf "$d"
    for s in a b; do
        name=site$s other=siteb addr=$WAN_NET.1; [ $s = b ] && other=sitea addr=$WAN_NET.2
        mkdir -p "$d/$s/hosts"
        {
            echo "Name = $name"
            echo "Mode = switch"
            echo "Interface = ovl0"
            [ $s = b ] && echo "ConnectTo = $other"
        } >"$d/$s/tinc.conf"
        echo "Address = $addr" >"$d/$s/hosts/$name"
        printf '#!/bin/sh\nip link set "$INTERFACE" up\n' >"$d/$s/tinc-up"
        chmod +x "$d/$s/tinc-up"
        tincd -c "$d/$s" -K2048 </dev/null >"$d/keygen-$s.log" 2>&1 || return 1
    done
    cp "$d/a/hosts/sitea" "$d/b/hosts/" && cp "$d/b/hosts/siteb" "$d/a/hosts/" || return 1
    for s in a b; do
        ns=$NS_A; [ $s = b ] && ns=$NS_B
        spawn "$d/tincd-$s.log" "tincd $s" ip netns exec "$ns" tincd -c "$d/$s" -D \
            --pidfile="$d/tincd-$s.pid" --logfile="$d/tincd-$s.log"
        ROW_PIDS+=("$SPAWNED")
        wait_or_log 10 "tinc's ovl0 in $ns" ns_has_link "$ns" ovl0 || return 1
    done
    address_overlay || return 1
    TARGET=$OVL_NET.2
}

stop_row() {
    stop_pids "${ROW_PIDS[@]}"
    ROW_PIDS=()
}

# ---------------------------------------------------------------- one measurement
# measure PROFILE ROW REP: iperf3 A -> TARGET with pings alongside; one raw line.
measure() {
    local profile=$1 row=$2 rep=$3 j=$TMPD/$1-$2-$3 srv ipf ping_pid mbps stats
    local count=$(((RUN_SECONDS - 2) * 20))
    wait_for 30 reaches "$TARGET" || { log "$row: $TARGET unreachable"; return 1; }
    in_a ping -q -c 20 -i 0.05 "$TARGET" >/dev/null 2>&1   # ARP and MAC tables warm
    spawn "$j.iperf-s.log" "iperf3 server" ip netns exec "$NS_B" iperf3 -s -1 -B "$TARGET"
    srv=$SPAWNED
    wait_or_log 5 "iperf3 server" in_b ss -Hltn "sport = :5201" || { stop_pid "$srv"; return 1; }
    spawn "$j.iperf.json" "iperf3 client" ip netns exec "$NS_A" timeout $((RUN_SECONDS + 30)) \
        iperf3 -c "$TARGET" -t "$RUN_SECONDS" -J
    ipf=$SPAWNED
    # The pings start 1 s into the transfer (slow start over, a queue if any built up)
    # and end 1 s before it.
    sleep 1
    spawn "$j.ping" "ping" ip netns exec "$NS_A" ping -n -i 0.05 -c "$count" -w $((RUN_SECONDS - 1)) "$TARGET"
    ping_pid=$SPAWNED
    reap_pid "$ipf"
    reap_pid "$ping_pid"   # ends by itself: -c or its deadline
    stop_pid "$srv"
    mbps=$(jq -r '.end.sum_received.bits_per_second / 1e5 | round / 10' "$j.iperf.json" 2>/dev/null)
    [[ $mbps =~ ^[0-9.]+$ ]] || mbps=NA
    local sent
    sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$j.ping")
    stats=$(sed -n 's/.*time=\([0-9.]*\).*/\1/p' "$j.ping" | sort -g | awk -v sent="${sent:-$count}" '
        { v[++n] = $1 }
        END {
            if (n == 0) { printf "NA NA %d", sent; exit }
            printf "%.1f %.1f %d", v[int(0.50 * (n - 1)) + 1], v[int(0.99 * (n - 1)) + 1], sent - n
        }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$profile" "$row" "$rep" "$mbps" "${stats// /$'\t'}"
}

run_row() {  # run_row PROFILE ROW REP
    local ok=0
    ROW_PIDS=() TARGET=""
    case "$2" in
        bare) start_bare && ok=1 ;;
        f2f) start_f2f "f2f-$1-$3" "$F2F" && ok=1 ;;
        f2f-tcp) start_f2f "f2ftcp-$1-$3" "$F2F" $TCP_OPTS && ok=1 ;;
        f2f-base) start_f2f "f2fbase-$1-$3" "$F2F_BASE" && ok=1 ;;
        tinc) start_tinc && ok=1 ;;
        *) die "unknown row '$2'" ;;
    esac
    if [ $ok = 1 ]; then
        measure "$1" "$2" "$3" || printf '%s\t%s\t%s\tNA\tNA\tNA\tNA\n' "$1" "$2" "$3"
    else
        log "$2 did not come up ($1, rep $3)"
        printf '%s\t%s\t%s\tNA\tNA\tNA\tNA\n' "$1" "$2" "$3"
    fi
    stop_row
}

# ---------------------------------------------------------------- the run
IFS=, read -ra ROW_LIST <<<"$ROWS"
IFS=, read -ra PROFILE_LIST <<<"$PROFILES"
{
    echo "# wan-bench $(date -u +%Y-%m-%dT%H:%M:%SZ), $(host_summary)"
    echo "# f2f: $F2F ($(git rev-parse --short HEAD 2>/dev/null)), f2f-base: ${F2F_BASE:-none}, WAN_F2F_OPTS='$F2F_OPTS', WAN_TCP_OPTS='$TCP_OPTS', host tap: $HOST_TAP"
    echo "# tinc: $(tincd --version 2>/dev/null | head -1); delay ${DELAY_MS} ms each way; ${RUN_SECONDS} s; $REPS reps"
    printf '# profile\trow\trep\tmbps\trtt_p50_ms\trtt_p99_ms\tping_lost\n'
} >"$OUT.raw.tsv"
build_wan
for profile in "${PROFILE_LIST[@]}"; do
    start_wirefilter "$profile"
    for rep in $(seq "$REPS"); do
        # Rotate the order each rep so a drift of the machine hits every row alike.
        n=${#ROW_LIST[@]}
        for ((i = 0; i < n; i++)); do
            row=${ROW_LIST[$(((i + rep - 1) % n))]}
            log "$profile rep $rep/$REPS: $row"
            run_row "$profile" "$row" "$rep" | tee -a "$OUT.raw.tsv" >&2
        done
    done
done

# Medians (min-max) per profile and row; throughput also as a ratio to the bare WAN.
awk -F'\t' '
    function sorted(list, v,   n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n
    }
    function med(list,   v, n) { n = sorted(list, v); if (n == 0) return "NA"; return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    function range(list,   v, n) { n = sorted(list, v); if (n == 0) return ""; return sprintf("%g-%g", v[1], v[n]) }
    /^#/ { next }
    {
        key = $1 SUBSEP $2
        if (!(key in seen)) { seen[key] = 1; order[++k] = key }
        if ($4 != "NA") mb[key] = mb[key] " " $4
        if ($5 != "NA") p50[key] = p50[key] " " $5
        if ($6 != "NA") p99[key] = p99[key] " " $6
        lost[key] += $7
    }
    END {
        printf "%-9s %-8s %-18s %6s %-16s %-18s %s\n", "profile", "row", "Mbit/s (min-max)", "ratio", "p50 ms (min-max)", "p99 ms (min-max)", "pings lost"
        for (i = 1; i <= k; i++) {
            split(order[i], kr, SUBSEP)
            bare = med(mb[kr[1] SUBSEP "bare"])
            m = med(mb[order[i]])
            ratio = (bare != "NA" && m != "NA" && bare > 0) ? sprintf("%.2f", m / bare) : "NA"
            printf "%-9s %-8s %-18s %6s %-16s %-18s %d\n", kr[1], kr[2], m " (" range(mb[order[i]]) ")", ratio,
                med(p50[order[i]]) " (" range(p50[order[i]]) ")", med(p99[order[i]]) " (" range(p99[order[i]]) ")", lost[order[i]]
        }
    }' "$OUT.raw.tsv" | tee "$OUT.txt"
log "every run: $OUT.raw.tsv; table: $OUT.txt"
