#!/usr/bin/env bash
# mesh-bench.sh — ping RTT between hosts across a five-node f2f-switch mesh, against the
# same pair of hosts on two switches alone (issue 18's goal: within 10 % of the direct link).
#
# TOPOLOGY (docs/benchmarks.md, "Mesh routing")
#   A LAN namespace (meshb-w-PID) holds a Linux bridge; seven node namespaces have a veth on
#   it (e0, 10.86.0.N+1/24: loopback-speed links, no emulated delay): meshb-0..4-PID, the
#   five mesh nodes, and meshb-5/6-PID, the two switches of the plain pair. Each node runs
#   one f2f-switch listening on its e0 address; in the mesh every node is a friend of every
#   other and dials every node below it, so all ten pairs are linked directly; the pair's
#   two switches are friends only of each other. On each node a vde_plug makes tap ovl0 on
#   its switch: the host (mesh node N: 10.87.0.N+1/24, MAC 02:00:00:87:00:0N; the pair's two
#   nodes take the addresses and MACs of the mesh pair being measured).
#
# ROWS
#   mesh   the five switches with defaults (mesh routing on); for each host pair, the path
#          mesh/route shows on the pinging node (hops: 1 is the direct link)
#   tree   the five switches with --no-mesh-routing (the spanning tree alone), for contrast
#   Each row's five switches stay up while the ten pairs are measured one by one; for each
#   pair the plain two-switch setup is started beside them and the two pings run at the
#   same time (so the machine's load hits both alike), then the pair setup is stopped.
#
# WHAT IT MEASURES
#   Per row and pair: ping -i INTERVAL -c COUNT from the lower node's host to the higher's
#   across the five switches, and at the same time between the same two hosts on the pair;
#   median and p90 of the RTTs (ms). Reported per pair: medians over the reps of those, and
#   the ratio five-switch/pair of each rep's medians (median over reps) and of the p90s;
#   the worst pair. Rows alternate their order from rep to rep.
#
# USAGE (as root)
#   Scripts/bench/mesh-bench.sh [--f2f PATH] [--reps N] [--count N] [--interval S]
#                               [--rows mesh,tree] [--realtime] [--out PREFIX] [--keep]
#                               [--no-install]
#   --f2f PATH     f2f-switch binary (default .build/release/f2f-switch, built if missing)
#   --reps N       repetitions (default 3)
#   --count N      pings per pair and row (default 300), --interval S apart (default 0.01)
#   --realtime     run the switches, plugs and pings under SCHED_FIFO (chrt -f 10), so
#                  other jobs on a shared machine (builds) stop adding milliseconds of
#                  scheduling delay; both sides of every comparison alike
#   --out PREFIX   PREFIX.raw.tsv (every measurement) and PREFIX.txt (the table); default
#                  /tmp/mesh-bench-YYYYmmdd-HHMMSS
#   Env: MESH_F2F_OPTS (options for every switch).
#
# NOTES
#   Loopback-speed links: every link costs about the same, so every route is the direct
#   link, and the ratio shows what the mesh itself adds (the mesh-frame header and lookup,
#   three more nodes' adverts, BPDUs, probes) over a two-node link. Cleanup (EXIT trap)
#   stops the processes this script started, by PID, and deletes its namespaces.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

REPS=3 COUNT=300 INTERVAL=0.01 OUT="" KEEP=0 DO_INSTALL=1 REALTIME=0
F2F=.build/release/f2f-switch
ROWS=mesh,tree
F2F_OPTS=${MESH_F2F_OPTS:-}
NODES=5 PORT=7000
PAIR_A=5 PAIR_B=6     # the plain pair's two nodes
LAN_NET=10.86.0 OVL_NET=10.87.0
NS_W="meshb-w-$$"
declare -A STARTED=()
STOP_GRACE=3
TMPD=""
ROW_PIDS=() PAIR_PIDS=()
declare -a ID=() HOST=()   # HOST[node]: the mesh node whose host address and MAC it takes

while (($#)); do
    case "$1" in
        --f2f) F2F=${2:?}; shift ;;
        --reps) REPS=${2:?}; shift ;;
        --count) COUNT=${2:?}; shift ;;
        --interval) INTERVAL=${2:?}; shift ;;
        --rows) ROWS=${2:?}; shift ;;
        --realtime) REALTIME=1 ;;
        --out) OUT=${2:?}; shift ;;
        --keep) KEEP=1 ;;
        --no-install) DO_INSTALL=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"
[[ $COUNT =~ ^[1-9][0-9]*$ ]] && [ "$COUNT" -ge 10 ] || die "--count must be an integer >= 10"
[ -n "$OUT" ] || OUT="/tmp/mesh-bench-$(date +%Y%m%d-%H%M%S)"
[ "$(id -u)" = 0 ] || die "must run as root (namespaces, taps)"

# shellcheck disable=SC2034  # need: read through a nameref
ensure_packages() {
    local -A need=([vde_plug]=vdeplug [ip]=iproute2 [ping]=iputils-ping [socat]=socat [chrt]=util-linux)
    local missing=()
    mapfile -t missing < <(packages_for_missing_commands need)
    have_vdeplug_tap || missing+=(libvdeplug2)
    install_packages "${missing[@]}"
}
ensure_packages
require_tun
if [ ! -x "$F2F" ]; then
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
TMPD=$(mktemp -d /tmp/mesh-bench.XXXXXX)
export XDG_CONFIG_HOME=$TMPD/config
hold_stdin "$TMPD"

ns() { echo "meshb-$1-$$"; }          # ns NODE: the node's namespace
mac() { printf '02:00:00:87:00:%02x' "$1"; }
RT=()
[ "$REALTIME" = 1 ] && RT=(chrt -f 10)
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }  # in_ns NODE CMD...

# ---------------------------------------------------------------- the LAN, identities
build_lan() {
    local n
    ns_create "$NS_W" || die "cannot create $NS_W"
    ip -n "$NS_W" link add br0 type bridge && ip -n "$NS_W" link set br0 up || die "no bridge"
    for ((n = 0; n <= PAIR_B; n++)); do
        ns_create "$(ns $n)" || die "cannot create $(ns $n)"
        ip -n "$NS_W" link add "v$n" type veth peer name e0 netns "$(ns $n)" &&
            ip -n "$NS_W" link set "v$n" master br0 up &&
            ip -n "$(ns $n)" addr add "$LAN_NET.$((n + 1))/24" dev e0 &&
            ip -n "$(ns $n)" link set e0 up || die "cannot wire node $n"
        ID[$n]=$("$F2F" id --identity "$TMPD/key-$n" 2>/dev/null) || die "no identity for node $n"
    done
}

has_links() {  # has_links NODE COUNT
    [ "$(mgmt_cmd "$TMPD/sw-$1.mgmt" peer/print | tr -d '\r' | grep -cE '^Peer [0-9]+ ESTABLISHED')" -ge "$2" ]
}

# start_nodes TAG EXTRA_OPTS NODE...: those nodes' switches, each pair of them linked (the
# higher dials the lower), then their hosts' taps (addressed as HOST[node]); the PIDs go
# to STARTED_NOW.
start_nodes() {
    local tag=$1 extra=$2; shift 2
    local nodes=("$@") n m opts args h
    STARTED_NOW=()
    read -ra opts <<<"$F2F_OPTS $extra"
    for n in "${nodes[@]}"; do
        args=(-q -s "$TMPD/sw-$n" -M "$TMPD/sw-$n.mgmt" --listen "$LAN_NET.$((n + 1)):$PORT" --identity "$TMPD/key-$n")
        for m in "${nodes[@]}"; do
            [ "$m" = "$n" ] && continue
            if [ "$m" -lt "$n" ]; then args+=(--peer "${ID[$m]}@$LAN_NET.$((m + 1)):$PORT"); else args+=(--friend "${ID[$m]}"); fi
        done
        rm -rf "$TMPD/sw-$n" "$TMPD/sw-$n.mgmt"
        spawn "$TMPD/$tag-sw-$n.log" "switch $n $tag" ip netns exec "$(ns "$n")" "${RT[@]}" "$F2F" "${args[@]}" "${opts[@]}"
        STARTED_NOW+=("$SPAWNED")
        wait_or_log 10 "switch $n console ($tag)" test -S "$TMPD/sw-$n.mgmt" || return 1
    done
    for n in "${nodes[@]}"; do
        wait_or_log 20 "node $n's $((${#nodes[@]} - 1)) links ($tag)" has_links "$n" $((${#nodes[@]} - 1)) || return 1
    done
    for n in "${nodes[@]}"; do
        h=${HOST[$n]}
        spawn "$TMPD/$tag-plug-$n.log" "plug $n $tag" ip netns exec "$(ns "$n")" "${RT[@]}" vde_plug "vde://$TMPD/sw-$n" tap://ovl0
        STARTED_NOW+=("$SPAWNED")
        wait_or_log 10 "tap ovl0 on node $n" ns_has_link "$(ns "$n")" ovl0 || return 1
        ip -n "$(ns "$n")" link set ovl0 address "$(mac "$h")" &&
            ip -n "$(ns "$n")" addr add "$OVL_NET.$((h + 1))/24" dev ovl0 &&
            ip -n "$(ns "$n")" link set ovl0 up || return 1
    done
}

reaches() { in_ns "$1" ping -q -c 1 -W 1 "$OVL_NET.$((HOST[$2] + 1))" >/dev/null 2>&1; }  # reaches FROM TO

# Hops of the path node N's switch has for mesh node M's host (mesh/route), "-" when not routed.
route_hops() {  # route_hops N M
    local line
    line=$(mgmt_cmd "$TMPD/sw-$1.mgmt" "mesh/route $(mac "$2")" | tr -d '\r' | grep -m1 ' vlan ')
    [[ $line == *" path "* ]] || { echo "-"; return; }
    awk -F' path ' '{ print gsub(/ > /, "&", $2) }' <<<"$line"
}

# Every host pings every other a few times (ARP, MAC tables; each node then advertises its
# station), then, with ROUTED=1, until every node routes to every other host.
warm_up() {  # warm_up ROUTED NODE...
    local routed=$1; shift
    local n m
    for n in "$@"; do
        for m in "$@"; do
            [ "$n" = "$m" ] && continue
            wait_for 20 reaches "$n" "$m" || { log "host of node $m unreachable from node $n"; return 1; }
            in_ns "$n" ping -q -c 5 -i 0.02 "$OVL_NET.$((HOST[$m] + 1))" >/dev/null 2>&1
        done
    done
    [ "$routed" = 1 ] || return 0
    for n in "$@"; do
        for m in "$@"; do
            [ "$n" = "$m" ] && continue
            wait_or_log 10 "node $n's route to host $m" test "$(route_hops "$n" "$m")" != - || return 1
        done
    done
}

ping_to() {  # ping_to FROM_NODE TO_NODE OUTFILE: in the background; sets PING_PID
    spawn "$3" "ping $1-$2" ip netns exec "$(ns "$1")" "${RT[@]}" ping -n -i "$INTERVAL" -c "$COUNT" "$OVL_NET.$((HOST[$2] + 1))"
    PING_PID=$SPAWNED
}

# stats FILE: "p50 p90 lost" of a ping's output (lost: transmitted minus received from the
# summary).
stats() {
    local lost
    lost=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$1" | awk '{ print $1 - $2 }')
    sed -n 's/.*time=\([0-9.]*\).*/\1/p' "$1" | sort -g | awk -v lost="${lost:-$COUNT}" '
        { v[++k] = $1 }
        END {
            if (k == 0) { printf "NA\tNA\t%d", lost; exit }
            printf "%.3f\t%.3f\t%d", v[int(0.5 * (k - 1)) + 1], v[int(0.9 * (k - 1)) + 1], lost
        }'
}

na() { printf 'NA\tNA\t%s' "$COUNT"; }

# measure_pair ROW REP N M: the plain pair for mesh nodes N and M beside the running row,
# both pinged at once; one raw line.
measure_pair() {
    local row=$1 rep=$2 n=$3 m=$4 j=$TMPD/ping-$1-$2-$3-$4 hops=- five pair p1 p2
    HOST[$PAIR_A]=$n HOST[$PAIR_B]=$m
    [ "$row" = mesh ] && hops=$(route_hops "$n" "$m")
    if start_nodes "pair-$row-$rep-$n$m" "" "$PAIR_A" "$PAIR_B" && PAIR_PIDS=("${STARTED_NOW[@]}") && warm_up 0 "$PAIR_A" "$PAIR_B"; then
        ping_to "$n" "$m" "$j.five"; p1=$PING_PID
        ping_to "$PAIR_A" "$PAIR_B" "$j.pair"; p2=$PING_PID
        reap_pid "$p1"; reap_pid "$p2"
        five=$(stats "$j.five") pair=$(stats "$j.pair")
    else
        PAIR_PIDS+=("${STARTED_NOW[@]}")
        log "pair $n-$m did not come up ($row, rep $rep)"
        five=$(na) pair=$(na)
    fi
    stop_pids "${PAIR_PIDS[@]}"
    PAIR_PIDS=()
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$rep" "$n-$m" "$hops" "$five" "$pair"
}

run_row() {  # run_row ROW REP
    local row=$1 rep=$2 extra="" n m routed=1 nodes
    case "$row" in
        mesh) ;;
        tree) extra=--no-mesh-routing routed=0 ;;
        *) die "unknown row '$row'" ;;
    esac
    mapfile -t nodes < <(seq 0 $((NODES - 1)))
    for n in "${nodes[@]}"; do HOST[$n]=$n; done
    if start_nodes "$row-$rep" "$extra" "${nodes[@]}" && ROW_PIDS=("${STARTED_NOW[@]}") && warm_up "$routed" "${nodes[@]}"; then
        for ((n = 0; n < NODES; n++)); do
            for ((m = n + 1; m < NODES; m++)); do measure_pair "$row" "$rep" "$n" "$m"; done
        done
    else
        ROW_PIDS+=("${STARTED_NOW[@]}")
        log "$row did not come up (rep $rep)"
        for ((n = 0; n < NODES; n++)); do
            for ((m = n + 1; m < NODES; m++)); do printf '%s\t%s\t%s\t-\t%s\t%s\n' "$row" "$rep" "$n-$m" "$(na)" "$(na)"; done
        done
    fi
    stop_pids "${ROW_PIDS[@]}"
    ROW_PIDS=()
}

# ---------------------------------------------------------------- the run
IFS=, read -ra ROW_LIST <<<"$ROWS"
{
    echo "# mesh-bench $(date -u +%Y-%m-%dT%H:%M:%SZ), $(host_summary)"
    echo "# f2f: $F2F ($(git rev-parse --short HEAD 2>/dev/null)), MESH_F2F_OPTS='$F2F_OPTS'; $COUNT pings every $INTERVAL s; $REPS reps; realtime $REALTIME"
    printf '# row\trep\tpair\thops\tfive_p50_ms\tfive_p90_ms\tfive_lost\tpair_p50_ms\tpair_p90_ms\tpair_lost\n'
} >"$OUT.raw.tsv"
build_lan
for rep in $(seq "$REPS"); do
    n=${#ROW_LIST[@]}
    for ((i = 0; i < n; i++)); do
        # Forwards on odd reps, backwards on even ones: a drift of the machine hits every row alike.
        if ((rep % 2)); then row=${ROW_LIST[$i]}; else row=${ROW_LIST[$((n - 1 - i))]}; fi
        log "rep $rep/$REPS: $row"
        run_row "$row" "$rep" | tee -a "$OUT.raw.tsv" >&2
    done
done

# Per row and pair: medians over the reps; the ratio five-switch/pair per rep, then its median.
awk -F'\t' '
    function med(list,   v, n, i, j, t) {
        n = split(list, v, " ")
        if (n == 0) return "NA"
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    /^#/ { next }
    {
        key = $1 SUBSEP $3
        if (!(key in seen)) { seen[key] = 1; keys[++k] = key }
        if (index("," hops[key] ",", "," $4 ",") == 0) hops[key] = hops[key] (hops[key] == "" ? "" : ",") $4
        if ($5 != "NA" && $8 != "NA" && $8 > 0) {
            f50[key] = f50[key] " " $5; f90[key] = f90[key] " " $6; q50[key] = q50[key] " " $8; q90[key] = q90[key] " " $9
            r50[key] = r50[key] " " $5 / $8; r90[key] = r90[key] " " $6 / $9
        }
        lostFive[$1] += $7; lostPair[$1] += $10
    }
    END {
        printf "%-5s %-5s %-5s %9s %9s %9s %9s %9s %9s\n", "row", "pair", "hops", "five-p50", "pair-p50", "ratio", "five-p90", "pair-p90", "ratio-p90"
        for (i = 1; i <= k; i++) {
            split(keys[i], kr, SUBSEP)
            r = med(r50[keys[i]])
            printf "%-5s %-5s %-5s %9s %9s %9s %9s %9s %9s\n", kr[1], kr[2], hops[keys[i]], med(f50[keys[i]]), med(q50[keys[i]]),
                r == "NA" ? r : sprintf("%.2f", r), med(f90[keys[i]]), med(q90[keys[i]]), med(r90[keys[i]]) == "NA" ? "NA" : sprintf("%.2f", med(r90[keys[i]]))
            if (r != "NA" && (!(kr[1] in worst) || r > worst[kr[1]])) { worst[kr[1]] = r; worstPair[kr[1]] = kr[2] }
        }
        for (row in worst) printf "%s: worst pair %s, median RTT %.2fx the plain pair; pings lost %d (five switches), %d (pairs)\n", row, worstPair[row], worst[row], lostFive[row], lostPair[row]
    }' "$OUT.raw.tsv" | tee "$OUT.txt"
log "every run: $OUT.raw.tsv; table: $OUT.txt"
