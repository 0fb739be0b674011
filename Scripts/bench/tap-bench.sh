#!/usr/bin/env bash
# tap-bench.sh — real TCP/IP stacks through VDE switches, side by side.
#
# WHAT IT MEASURES
#   Two network namespaces (f2fb-a-PID, f2fb-b-PID), each with one interface,
#   addresses 10.77.0.1/24 and 10.77.0.2/24 living only inside the namespaces.
#   For every configuration ("row") and every repetition it measures, from A to B:
#     rtt_1450_ms   ping -A -s 1450 -c 200, median RTT
#     rtt_56_ms     ping -A -s 56   -c 200, median RTT
#     tcp_gbps      iperf3, one TCP stream, BENCH_SECONDS long (default 10)
#     udp64_kfps    iperf3 -u -l 64 -b 0: thousands of frames/s received by the server
#     udp64_loss_pct  loss of that UDP run (sent by client vs received by server)
#     udp64_path_kfps thousands of frames/s that came out of B's interface during that run:
#                   what the switch (plugs included) delivered, before the receiving stack
#                   and a CPU-starved iperf3 server drop their share
#     udp64_path_loss_pct  frames the path lost: 1 - (into B's interface) / (out of A's,
#                   i.e. taken from A's tap by its plug), from the interfaces' counters
#     tcp_retransmits TCP retransmissions of the iperf3 sender (from its JSON)
#   and, for switch rows, the switch process's CPU time (utime+stime from
#   /proc/PID/stat, summed over its descendants) during the iperf3 runs; for the
#   two-switch rows (f2f-pair, vde-pair) the sum over both switches:
#     sw_tcp_cpu_s_per_GB   switch CPU-seconds per GB (1e9 bytes) received by the server
#     sw_udp_us_per_frame   switch CPU microseconds per UDP frame received by the server
#     sw_udp_us_per_path_frame  the same per frame that came out of B's interface
#     swN_tcp_cores, swN_udp_cores   CPU of switch N alone during that run, in cores
#                           (1.0 = one core saturated): shows which switch is the bottleneck
#     relay_*               the same for the TCP relays of vde-pair (socat + its vde_plug)
#     fabric_*              switches + relays: the whole switch-to-switch path (= sw_* for
#                           rows without relays); compare f2f-pair to vde-pair on these
#   The tap vde_plug processes' CPU is recorded the same way (plug_*; in the TSV files).
#     bg_other_cores        CPU (in cores, 0..nproc) used during the row by processes this
#                           script did not start — a build or VM of someone else. Above
#                           ~0.1 the row was disturbed: re-run, or use --wait-idle.
#     sw_syscalls_per_frame only with --strace (see below)
#
# ROWS (configurations), run interleaved: rep 1 = every row, rep 2 = every row, ...
#   vde_switch   Debian's vde_switch (package vde-switch), foreground, stdin held open
#                (Debian's vde_switch quits on stdin EOF unless -d).
#   f2f-switch   the binary given by --f2f PATH, run as `PATH -s DIR` in the
#                foreground, stopped with SIGTERM. Skipped with a message if not given.
#   NAME         any vde_switch-compatible switch: --switch NAME=CMD runs `CMD -s DIR`
#                (CMD is split on spaces, no shell evaluation). Repeatable.
#   vde-pair     two vde_switch processes cabled over TCP on 127.0.0.1 by the classic
#                relay: `socat TCP-LISTEN:P,bind=127.0.0.1,reuseaddr,fork,nodelay
#                EXEC:"vde_plug vde://DIR1"` and `socat TCP:127.0.0.1:P,nodelay,retry=..
#                EXEC:"vde_plug vde://DIR2"` (vde_plug with one URL speaks a stream of
#                2-byte-length-prefixed frames on stdin/stdout). Tap A on switch 1, tap B
#                on switch 2: every frame crosses the TCP hop.
#   f2f-pair     two f2f-switch processes (--f2f PATH) linked by their own F2F peer link:
#                `PATH -s DIR1 -M M1 --listen 127.0.0.1:P` and `PATH -s DIR2 -M M2 --peer
#                127.0.0.1:P`; measured once the console's peer/print shows ESTABLISHED.
#                Tap A on switch 1, tap B on switch 2. Skipped without --f2f.
#                The link is encrypted (Noise XX, each switch with its own identity,
#                friends of each other), as f2f-switch runs by default.
#   f2f-pair-plain  the same with --plaintext on both: what encryption costs.
#                The report adds ratios f2f-pair/vde-pair and f2f-pair/f2f-switch, and
#                the RTT the TCP hop adds (f2f-pair - f2f-switch, vde-pair - vde_switch).
#   ptp          floor: no switch; two vde_plug tap:// <-> ptp://SOCK joined point to point
#                (the first vde_plug creates SOCK, the second one connects to it).
#   veth         a veth pair between the namespaces: kernel upper bound, no VDE at all.
#   Each switch/ptp row connects the taps with `ip netns exec NS vde_plug vde://DIR tap://TAP`,
#   so vdeplug4 creates the tap inside the namespace.
#
# USAGE (as root; installs missing Debian packages unless --no-install)
#   Scripts/bench/tap-bench.sh [--f2f PATH] [--switch NAME=CMD]... [--only ROWS]
#                              [--reps N] [--seconds N] [--strace] [--out PREFIX]
#   --f2f PATH         add the f2f-switch row (e.g. .build/release/f2f-switch)
#   --switch NAME=CMD  add another vde_switch-compatible switch row
#   --only a,b,c       run only these rows, in this order (e.g. vde_switch,ptp,veth,
#                      f2f-pair,vde-pair)
#   --reps N           repetitions (default 3, env BENCH_REPS)
#   --seconds N        iperf3 duration per test (default 10, env BENCH_SECONDS)
#   --ping-count N     pings per size (default 200, env BENCH_PING_COUNT)
#   --strace           also, per switch row and rep, a short extra UDP run under
#                      `strace -c -f -p PID` → sw_syscalls_per_frame (off: strace slows the switch)
#   --out PREFIX       result files PREFIX.raw.tsv, PREFIX.summary.tsv, PREFIX.txt
#                      (default /tmp/tap-bench-YYYYmmdd-HHMMSS)
#   --wait-idle SECS   before each row, wait up to SECS for the machine to be idle
#                      (busy < BENCH_IDLE_MAX=0.15 cores); for shared/loaded boxes
#   --no-install       never call apt-get
#   --keep             keep the temporary directory (switch/plug logs, iperf3 JSON)
#   Quick run:  BENCH_SECONDS=5 Scripts/bench/tap-bench.sh --reps 2 --only vde_switch,ptp,veth
#
# OUTPUT
#   stdout: a table, one line per metric x row: n, median, min, max, ratio of the
#   medians vs vde_switch (for rtt and CPU costs lower is better; for rates higher).
#   Then, if the pair rows ran, a comparison of the two-switch rows (PREFIX.pairs.tsv).
#   PREFIX.raw.tsv: one line per rep x row x metric; PREFIX.summary.tsv: the table as TSV.
#   Both start with '#' comment lines: date, kernel, nproc, CPU, loadavg, tool versions,
#   parameters. Needs: vde2 (vde_switch), vdeplug (vde_plug), iperf3, iproute2 (ip, ss),
#   iputils-ping, jq (iperf3 JSON), coreutils timeout, socat (vde-pair relay, f2f console);
#   strace for --strace.
#
# NOTES
#   Everything (switch, plugs, iperf3 client and server) shares the machine's cores, so
#   figures are "whole system" figures; compare rows from the same run only. UDP runs
#   at -b 0 overdrive the path on purpose: the loss % is mostly "sender faster than the
#   plumbing", the received frames/s is the figure of merit.
#   Env knobs: BENCH_SECONDS, BENCH_REPS, BENCH_PING_COUNT, BENCH_STRACE_SECONDS (3),
#   BENCH_NET (10.77.0: the /24 used inside the namespaces), BENCH_WAIT_IDLE, BENCH_IDLE_MAX.
#   Failures of one measurement are recorded as missing (NA) and the run goes on.
#   Cleanup (EXIT trap): kills the processes this script started, by PID, deletes the
#   namespaces it created (which removes their taps/veths), removes its temp directory.

set -uo pipefail   # not -e: a failed measurement must not abort the whole comparison

# log, die, usage, package installation, spawn/wait_for, /proc load accounting, ports.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

# ---------------------------------------------------------------- parameters
REPS=${BENCH_REPS:-3}
RUN_SECONDS=${BENCH_SECONDS:-10}
PING_COUNT=${BENCH_PING_COUNT:-200}
STRACE_SECONDS=${BENCH_STRACE_SECONDS:-3}
NET=${BENCH_NET:-10.77.0}          # /24 used only inside our namespaces
IP_A="$NET.1" IP_B="$NET.2"
NS_A="f2fb-a-$$" NS_B="f2fb-b-$$"
IF_NAME="f2fbtap0"                 # same name in both namespaces: they are isolated
F2F=""
ONLY=""
DO_STRACE=0
DO_INSTALL=1
KEEP=0
WAIT_IDLE=${BENCH_WAIT_IDLE:-0}    # seconds to wait per row for other load to go away
IDLE_MAX=${BENCH_IDLE_MAX:-0.15}   # "idle enough": busy cores below this
OUT=""
EXTRA_SWITCHES=()                  # "NAME=CMD" strings from --switch

# Rows: parallel arrays (bash 5 has no arrays of records).
ROW_NAMES=() ROW_KINDS=() ROW_CMDS=()

# Bookkeeping for cleanup.
declare -A STARTED=()              # pid -> description, for every background process
STOP_GRACE=5                       # seconds a stopped process gets between SIGTERM and SIGKILL
TMPD=""
HOLD_FD=""
CLK_TCK=100
SW_PIDS=()                         # switch(es) of the row being measured (none for ptp/veth)
RELAY_PIDS=()                      # TCP relays between the switches (vde-pair: socat trees)
PLUG_PIDS=()                       # tap vde_plug processes of the row being measured

# ---------------------------------------------------------------- arguments
parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --f2f)        F2F=${2:?--f2f needs a path}; shift ;;
            --f2f=*)      F2F=${1#*=} ;;
            --switch)     EXTRA_SWITCHES+=("${2:?--switch needs NAME=CMD}"); shift ;;
            --switch=*)   EXTRA_SWITCHES+=("${1#*=}") ;;
            --only)       ONLY=${2:?}; shift ;;
            --only=*)     ONLY=${1#*=} ;;
            --reps)       REPS=${2:?}; shift ;;
            --seconds)    RUN_SECONDS=${2:?}; shift ;;
            --ping-count) PING_COUNT=${2:?}; shift ;;
            --strace)     DO_STRACE=1 ;;
            --out)        OUT=${2:?}; shift ;;
            --wait-idle)  WAIT_IDLE=${2:?}; shift ;;
            --no-install) DO_INSTALL=0 ;;
            --keep)       KEEP=1 ;;
            -h|--help)    usage; exit 0 ;;
            *)            die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    [[ $REPS =~ ^[1-9][0-9]*$ ]]        || die "--reps must be a positive integer"
    [[ $RUN_SECONDS =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a positive integer"
    [[ $PING_COUNT =~ ^[1-9][0-9]*$ ]]  || die "--ping-count must be a positive integer"
    [[ $WAIT_IDLE =~ ^[0-9]+$ ]]        || die "--wait-idle must be a number of seconds"
    [ -n "$OUT" ] || OUT="/tmp/tap-bench-$(date +%Y%m%d-%H%M%S)"
}

# ---------------------------------------------------------------- prerequisites
# shellcheck disable=SC2034  # need: read through a nameref by packages_for_missing_commands
ensure_packages() {
    # command -> Debian package providing it
    local -A need=([vde_switch]=vde2 [vde_plug]=vdeplug [iperf3]=iperf3 [ip]=iproute2
                   [ss]=iproute2 [ping]=iputils-ping [jq]=jq [timeout]=coreutils [socat]=socat)
    [ $DO_STRACE = 1 ] && need[strace]=strace
    local missing=()
    mapfile -t missing < <(packages_for_missing_commands need)
    have_vdeplug_tap || missing+=(libvdeplug2)
    # vde2 pulls vde-switch on Debian 12; install both names' requirement set at once.
    install_packages "${missing[@]}" -- vde2 vdeplug iperf3 iproute2 iputils-ping jq socat
}

preflight() {
    [ "$(id -u)" = 0 ] || die "must run as root (namespaces, taps)"
    require_tun
    CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
}

# ---------------------------------------------------------------- rows
add_row() { ROW_NAMES+=("$1"); ROW_KINDS+=("$2"); ROW_CMDS+=("$3"); }

build_rows() {
    local all_names=() all_kinds=() all_cmds=() spec name cmd
    add_row vde_switch switch "$(command -v vde_switch)"
    if [ -z "$F2F" ]; then
        log "f2f-switch: SKIPPED — no --f2f PATH given"
    elif [ ! -x "$F2F" ] || [ -d "$F2F" ]; then
        log "f2f-switch: SKIPPED — '$F2F' is not an executable file"
    else
        add_row f2f-switch switch "$F2F"
    fi
    for spec in "${EXTRA_SWITCHES[@]}"; do
        name=${spec%%=*} cmd=${spec#*=}
        if [ -z "$name" ] || [ "$name" = "$spec" ] || [ -z "$cmd" ]; then
            die "--switch wants NAME=CMD, got '$spec'"
        fi
        add_row "$name" switch "$cmd"
    done
    add_row vde-pair vdepair "$(command -v vde_switch)"
    if [ -n "$F2F" ] && [ -x "$F2F" ] && [ ! -d "$F2F" ]; then
        add_row f2f-pair f2fpair "$F2F"
        add_row f2f-pair-plain f2fplain "$F2F"
    else
        log "f2f-pair: SKIPPED — needs --f2f PATH"
    fi
    add_row ptp ptp ""
    add_row veth veth ""

    [ -z "$ONLY" ] && return 0
    # Keep only the rows named in --only, in the order given there.
    all_names=("${ROW_NAMES[@]}") all_kinds=("${ROW_KINDS[@]}") all_cmds=("${ROW_CMDS[@]}")
    ROW_NAMES=() ROW_KINDS=() ROW_CMDS=()
    local want i found
    IFS=, read -ra want <<<"$ONLY"
    for name in "${want[@]}"; do
        found=0
        for i in "${!all_names[@]}"; do
            if [ "${all_names[$i]}" = "$name" ]; then
                add_row "$name" "${all_kinds[$i]}" "${all_cmds[$i]}"; found=1
            fi
        done
        [ $found = 1 ] || log "--only: row '$name' unknown or skipped — ignored"
    done
    [ ${#ROW_NAMES[@]} -gt 0 ] || die "no rows left to run"
}

# cpu_sample ARRAY: ticks of every switch, relay and tap plug of the row, in the order
# SW_PIDS, RELAY_PIDS, PLUG_PIDS, into the named array.
cpu_sample() {
    local -n _dst=$1
    read -ra _dst <<<"$(tree_ticks "${SW_PIDS[@]}" "${RELAY_PIDS[@]}" "${PLUG_PIDS[@]}")"
}

# record_cpu REP ROW TEST SECS COUNT SCALE UNIT: from the samples C0/C1 (cpu_sample
# before/after a run), record per-switch cores and the switch/relay/fabric/plug costs
# per COUNT (ticks * SCALE / COUNT; UNIT names the metric: cpu_s_per_GB, us_per_frame).
record_cpu() {
    local rep=$1 row=$2 test=$3 secs=$4 count=$5 scale=$6 unit=$7
    local ns=${#SW_PIDS[@]} nr=${#RELAY_PIDS[@]} np=${#PLUG_PIDS[@]} i d sw=0 relay=0 plug=0
    local per_core
    per_core=$(awk -v t="$CLK_TCK" 'BEGIN { printf "%.6g", 1 / t }')
    [ ${#C0[@]} = $((ns + nr + np)) ] && [ ${#C1[@]} = $((ns + nr + np)) ] || return 0
    for ((i = 0; i < ns; i++)); do
        d=$((C1[i] - C0[i])); sw=$((sw + d))
        record "$rep" "$row" "sw$((i + 1))_${test}_cores" "$(div "$d" "$secs" "$per_core")"
    done
    for ((i = ns; i < ns + nr; i++)); do relay=$((relay + C1[i] - C0[i])); done
    for ((i = ns + nr; i < ns + nr + np; i++)); do plug=$((plug + C1[i] - C0[i])); done
    if [ "$ns" -gt 0 ]; then
        record "$rep" "$row" "sw_${test}_cpu_s" "$(div "$sw" "$CLK_TCK")"
        record "$rep" "$row" "sw_${test}_$unit" "$(div "$sw" "$count" "$scale")"
        record "$rep" "$row" "fabric_${test}_$unit" "$(div $((sw + relay)) "$count" "$scale")"
    fi
    if [ "$nr" -gt 0 ]; then
        record "$rep" "$row" "relay_${test}_cores" "$(div "$relay" "$secs" "$per_core")"
        record "$rep" "$row" "relay_${test}_$unit" "$(div "$relay" "$count" "$scale")"
    fi
    [ "$np" -gt 0 ] && record "$rep" "$row" "plug_${test}_$unit" "$(div "$plug" "$count" "$scale")"
    return 0
}

# ---------------------------------------------------------------- topology
create_namespaces() { ns_create "$NS_A" && ns_create "$NS_B"; }

# Address both ends, bring links up, then prove reachability (also fills ARP caches).
configure_ends() {
    ip -n "$NS_A" addr add "$IP_A/24" dev "$IF_NAME" &&
    ip -n "$NS_B" addr add "$IP_B/24" dev "$IF_NAME" &&
    ip -n "$NS_A" link set "$IF_NAME" up &&
    ip -n "$NS_B" link set "$IF_NAME" up || return 1
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        ip netns exec "$NS_A" timeout 3 ping -q -c 1 -W 1 "$IP_B" >/dev/null 2>&1 && return 0
    done
    log "no connectivity $IP_A -> $IP_B"; return 1
}

tap_exists() { ns_has_link "$1" "$IF_NAME"; }

# Start `vde_plug URL tap://IF` inside namespace $1.
start_plug() {  # start_plug NS URL TAG
    spawn "$TMPD/$3.log" "vde_plug $3" ip netns exec "$1" vde_plug "$2" "tap://$IF_NAME"
    PLUG_PIDS+=("$SPAWNED")
    wait_for 5 tap_exists "$1" || { log "tap did not appear in $1 ($3):"; tail -5 "$TMPD/$3.log" >&2; return 1; }
}

setup_switch() {  # setup_switch NAME CMD REP
    local name=$1 rep=$3 dir argv
    read -ra argv <<<"$2"
    dir="$TMPD/sw-$name-$rep"
    # setsid: the switch leads its own process group, so stopping it also stops any
    # children if CMD is a wrapper that forks (our non-interactive bash does not make
    # background jobs group leaders, so setsid execs in place and $! stays the switch).
    spawn "$TMPD/sw-$name-$rep.log" "switch $name" setsid "${argv[@]}" -s "$dir"
    SW_PIDS=("$SPAWNED")
    if ! wait_for 10 test -S "$dir/ctl"; then
        log "$name did not create $dir/ctl within 10 s:"; tail -5 "$TMPD/sw-$name-$rep.log" >&2
        return 1
    fi
    start_plug "$NS_A" "vde://$dir" "plugA-$name-$rep" &&
    start_plug "$NS_B" "vde://$dir" "plugB-$name-$rep" &&
    configure_ends
}

# Does process PID itself hold a listening TCP socket on PORT?
pid_listens() {  # pid_listens PID PORT
    ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}

# start_listener LOG DESC PORTVAR CMD...: spawn CMD (in which the word @PORT@ is replaced
# by a fresh free port) until it listens there itself; up to 3 ports are tried, because
# a port found free may be taken before the process binds it. Sets PORTVAR and SPAWNED.
start_listener() {
    local logf=$1 desc=$2 attempt try_port pid w argv
    local -n _port=$3
    shift 3
    for attempt in 1 2 3; do
        try_port=$(pick_free_port) || { log "$desc: no free TCP port"; return 1; }
        argv=()
        for w in "$@"; do argv+=("${w//@PORT@/$try_port}"); done
        spawn "$logf" "$desc" setsid "${argv[@]}"
        pid=$SPAWNED
        if wait_for 10 pid_listens "$pid" "$try_port"; then _port=$try_port; return 0; fi
        if kill -0 "$pid" 2>/dev/null; then
            log "$desc: not listening on 127.0.0.1:$try_port after 10 s:"; tail -5 "$logf" >&2
            stop_pid "$pid"; return 1
        fi
        stop_pid "$pid"
        log "$desc: could not listen on port $try_port (attempt $attempt): $(tail -2 "$logf" | tr '\n' ' ')"
    done
    return 1
}

# f2f-pair: switch 1 accepts the F2F link on a loopback port, switch 2 dials it.
# Encrypted (the default: Noise, friends only) unless MODE is "plain" (--plaintext).
setup_f2f_pair() {  # setup_f2f_pair NAME CMD REP [plain]
    local name=$1 rep=$3 mode=${4:-} argv d1 d2 port id1 id2 secure1=() secure2=() peer
    read -ra argv <<<"$2"
    d1="$TMPD/sw-$name-$rep-1" d2="$TMPD/sw-$name-$rep-2"
    if [ "$mode" = plain ]; then
        secure1=(--plaintext) secure2=(--plaintext)
    else
        id1=$("${argv[@]}" id --identity "$d1.key" 2>/dev/null) &&
            id2=$("${argv[@]}" id --identity "$d2.key" 2>/dev/null) || { log "$name: f2f-switch id failed"; return 1; }
        secure1=(--identity "$d1.key" --friend "$id2") secure2=(--identity "$d2.key")
    fi
    start_listener "$d1.log" "switch $name/1" port \
        "${argv[@]}" -s "$d1" -M "$d1.mgmt" --listen "127.0.0.1:@PORT@" --name "bench-1" "${secure1[@]}" || return 1
    SW_PIDS+=("$SPAWNED")
    wait_for 10 test -S "$d1/ctl" || { log "$name/1: no $d1/ctl"; tail -5 "$d1.log" >&2; return 1; }
    peer="127.0.0.1:$port"
    [ "$mode" = plain ] || peer="$id1@$peer"
    spawn "$d2.log" "switch $name/2" setsid "${argv[@]}" -s "$d2" -M "$d2.mgmt" \
        --peer "$peer" --name "bench-2" "${secure2[@]}"
    SW_PIDS+=("$SPAWNED")
    wait_for 10 test -S "$d2/ctl" || { log "$name/2: no $d2/ctl"; tail -5 "$d2.log" >&2; return 1; }
    if ! wait_for 15 mgmt_peer_established "$d2.mgmt" || ! wait_for 5 mgmt_peer_established "$d1.mgmt"; then
        log "$name: peer link 127.0.0.1:$port not ESTABLISHED within 20 s"
        log "  switch 2 peer/print: $(mgmt_cmd "$d2.mgmt" peer/print | tr -d '\r' | grep -E '^(Peer|Dial)' | tr '\n' ' ')"
        tail -3 "$d1.log" "$d2.log" >&2
        return 1
    fi
    start_plug "$NS_A" "vde://$d1" "plugA-$name-$rep" &&
    start_plug "$NS_B" "vde://$d2" "plugB-$name-$rep" &&
    configure_ends
}

# Link state of an f2f-pair after the run, for the log (a flapping link shows up as
# reconnects > 0 or frames dropped).
log_f2f_pair() {  # log_f2f_pair NAME REP
    local i out
    for i in 1 2; do
        out=$(mgmt_cmd "$TMPD/sw-$1-$2-$i.mgmt" peer/print | tr -d '\r' | sed -n '/^Peer /,/^ frames/p' | tr -s ' \n' ' ')
        log "  $1 switch $i: ${out:-no peer}"
    done
}

# vde-pair: two vde_switches; socat relays a TCP connection on 127.0.0.1 to a vde_plug
# on each side. Listener: fork, so a dropped connection can be re-established; dialer:
# retry, so it waits for the listener. nodelay on both: no Nagle delay for small frames.
# socat splits addresses at ':', hence the escaped "vde\://".
setup_vde_pair() {  # setup_vde_pair NAME CMD REP
    local name=$1 rep=$3 argv d1 d2 port i
    read -ra argv <<<"$2"
    d1="$TMPD/sw-$name-$rep-1" d2="$TMPD/sw-$name-$rep-2"
    for i in 1 2; do
        local d="$TMPD/sw-$name-$rep-$i"
        spawn "$d.log" "switch $name/$i" setsid "${argv[@]}" -s "$d"
        SW_PIDS+=("$SPAWNED")
        wait_for 10 test -S "$d/ctl" || { log "$name/$i: no $d/ctl"; tail -5 "$d.log" >&2; return 1; }
    done
    start_listener "$TMPD/relay-$name-$rep-1.log" "relay $name/1" port \
        socat "TCP-LISTEN:@PORT@,bind=127.0.0.1,reuseaddr,fork,nodelay" "EXEC:vde_plug vde\\://$d1" ||
        return 1
    RELAY_PIDS+=("$SPAWNED")
    spawn "$TMPD/relay-$name-$rep-2.log" "relay $name/2" setsid \
        socat "TCP:127.0.0.1:$port,nodelay,retry=100,interval=0.1" "EXEC:vde_plug vde\\://$d2"
    RELAY_PIDS+=("$SPAWNED")
    if ! wait_for 10 bash -c "ss -Htn state established '( sport = :$port )' | grep -q ."; then
        log "$name: relay connection on 127.0.0.1:$port not established"
        tail -3 "$TMPD/relay-$name-$rep-1.log" "$TMPD/relay-$name-$rep-2.log" >&2
        return 1
    fi
    start_plug "$NS_A" "vde://$d1" "plugA-$name-$rep" &&
    start_plug "$NS_B" "vde://$d2" "plugB-$name-$rep" &&
    configure_ends
}

setup_ptp() {  # two plugs cabled by ptp://: first one creates the socket, second connects
    local sock="$TMPD/ptp-$1"
    start_plug "$NS_A" "ptp://$sock" "plugA-ptp-$1" &&
    wait_for 5 test -S "$sock" &&
    start_plug "$NS_B" "ptp://$sock" "plugB-ptp-$1" &&
    configure_ends
}

setup_veth() {
    ip -n "$NS_A" link add "$IF_NAME" type veth peer name "$IF_NAME" netns "$NS_B" &&
    configure_ends
}

teardown_row() {
    local p i
    for p in "${PLUG_PIDS[@]}"; do stop_pid "$p"; done
    for ((i = ${#RELAY_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${RELAY_PIDS[$i]}"; done
    for ((i = ${#SW_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${SW_PIDS[$i]}"; done
    PLUG_PIDS=() RELAY_PIDS=() SW_PIDS=()
    ns_delete "$NS_A"; ns_delete "$NS_B"
}

RAW=""          # raw TSV path
record() {  # record REP ROW METRIC VALUE
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-NA}" >>"$RAW"
}

# ping -A (next request as soon as the reply is back) → the median of the replies' RTTs in ms:
# on a VM a few wake-ups take a millisecond and would dominate an average of 200 samples.
measure_ping() {  # measure_ping SIZE
    ip netns exec "$NS_A" timeout $((PING_COUNT / 5 + 20)) \
        ping -A -s "$1" -c "$PING_COUNT" -W 1 "$IP_B" 2>/dev/null |
        sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "NA"; else printf "%.4g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

iperf_port_open() { ip netns exec "$NS_B" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q .; }

# One iperf3 run A→B; JSON into $1. Extra client args follow.
# The server is one-off (-1) and the whole run is under timeout, so it cannot hang.
run_iperf() {
    local json=$1 srv rc; shift
    spawn "$json.server" "iperf3 server" \
        ip netns exec "$NS_B" timeout $((RUN_SECONDS + 30)) iperf3 -s -1 -B "$IP_B"
    srv=$SPAWNED
    if ! wait_for 5 iperf_port_open; then log "iperf3 server did not start"; stop_pid "$srv"; return 1; fi
    ip netns exec "$NS_A" timeout $((RUN_SECONDS + 20)) \
        iperf3 -c "$IP_B" -t "$RUN_SECONDS" --connect-timeout 3000 -J "$@" >"$json" 2>&1
    rc=$?
    wait_for 5 bash -c "! kill -0 $srv 2>/dev/null"
    stop_pid "$srv"
    [ $rc = 0 ] && jq -e '.end.sum_received' "$json" >/dev/null 2>&1
}

# Divide with awk, printing NA on missing input or a zero divisor.
div() {  # div NUM DEN SCALE
    awk -v a="${1:-}" -v b="${2:-}" -v s="${3:-1}" \
        'BEGIN { if (a == "" || b == "" || a == "NA" || b == "NA" || b + 0 == 0) print "NA"; else printf "%.6g\n", a * s / b }'
}

measure_tcp() {  # measure_tcp REP ROW
    local rep=$1 row=$2 json="$TMPD/tcp-$2-$1.json" bytes secs scale
    local C0=() C1=()
    cpu_sample C0
    if ! run_iperf "$json"; then
        log "$row rep $rep: TCP iperf3 failed: $(tail -c 300 "$json" | tr '\n' ' ')"
        record "$rep" "$row" tcp_gbps NA; return
    fi
    cpu_sample C1
    bytes=$(jq '.end.sum_received.bytes' "$json")
    secs=$(jq '.end.sum_received.seconds' "$json")
    scale=$(awk -v t="$CLK_TCK" 'BEGIN { printf "%.6g", 1e9 / t }')   # ticks/byte → s/GB
    record "$rep" "$row" tcp_gbps "$(div "$bytes" "$secs" 8e-9)"
    record "$rep" "$row" tcp_bytes "$bytes"
    record "$rep" "$row" tcp_retransmits "$(jq -r '.end.sum_sent.retransmits // "NA"' "$json")"
    record_cpu "$rep" "$row" tcp "$secs" "$bytes" "$scale" cpu_s_per_GB
}

# Packets counter of the namespace's interface: link_packets NS tx|rx
link_packets() {
    ip -n "$1" -s -j link show "$IF_NAME" 2>/dev/null | jq -r ".[0].stats64.$2.packets // \"NA\""
}

measure_udp() {  # measure_udp REP ROW
    local rep=$1 row=$2 json="$TMPD/udp-$2-$1.json" sent lost rx secs scale
    local C0=() C1=() out_a0 out_a1 in_b0 in_b1 path=NA
    out_a0=$(link_packets "$NS_A" tx) in_b0=$(link_packets "$NS_B" rx)
    cpu_sample C0
    if ! run_iperf "$json" -u -l 64 -b 0; then
        log "$row rep $rep: UDP iperf3 failed: $(tail -c 300 "$json" | tr '\n' ' ')"
        record "$rep" "$row" udp64_kfps NA; return
    fi
    cpu_sample C1
    out_a1=$(link_packets "$NS_A" tx) in_b1=$(link_packets "$NS_B" rx)
    sent=$(jq '.end.sum_received.packets' "$json")       # highest sequence seen = sent
    lost=$(jq '.end.sum_received.lost_packets' "$json")
    secs=$(jq '.end.sum_received.seconds' "$json")
    rx=$((sent - lost))
    record "$rep" "$row" udp64_kfps "$(div "$rx" "$secs" 1e-3)"
    record "$rep" "$row" udp64_sent_kfps "$(div "$sent" "$(jq '.end.sum_sent.seconds' "$json")" 1e-3)"
    record "$rep" "$row" udp64_loss_pct "$(div "$lost" "$sent" 100)"
    record "$rep" "$row" udp64_rx_frames "$rx"
    if [[ "$out_a0$out_a1$in_b0$in_b1" =~ ^[0-9]+$ ]]; then
        path=$((in_b1 - in_b0))
        record "$rep" "$row" udp64_path_kfps "$(div "$path" "$secs" 1e-3)"
        record "$rep" "$row" udp64_path_loss_pct "$(div $((out_a1 - out_a0 - in_b1 + in_b0)) $((out_a1 - out_a0)) 100)"
    fi
    # ticks → µs: 1e6 / CLK_TCK
    scale=$(awk -v t="$CLK_TCK" 'BEGIN { printf "%.6g", 1e6 / t }')
    record_cpu "$rep" "$row" udp "$secs" "$rx" "$scale" us_per_frame
    if [ ${#SW_PIDS[@]} -gt 0 ] && [ ${#C0[@]} -gt 0 ] && [ ${#C1[@]} -gt 0 ]; then
        local i sw=0
        for ((i = 0; i < ${#SW_PIDS[@]}; i++)); do sw=$((sw + C1[i] - C0[i])); done
        record "$rep" "$row" sw_udp_us_per_sent_frame "$(div "$sw" "$sent" "$scale")"
        record "$rep" "$row" sw_udp_us_per_path_frame "$(div "$sw" "$path" "$scale")"
    fi
}

# Optional: syscalls the switch makes per received frame, from a short UDP run under
# strace -c. strace slows the switch a lot, so this run's rates are not reported.
measure_syscalls() {  # measure_syscalls REP ROW
    local rep=$1 row=$2 out="$TMPD/strace-$2-$1.txt" json="$TMPD/udp-strace-$2-$1.json"
    local spid calls sent lost saved=$RUN_SECONDS
    local pargs=() p
    for p in "${SW_PIDS[@]}"; do pargs+=(-p "$p"); done       # pair rows: both switches
    spawn "$out.log" "strace" timeout -s INT $((STRACE_SECONDS + 30)) strace -c -f -o "$out" "${pargs[@]}"
    spid=$SPAWNED
    sleep 1                                                 # let strace attach
    RUN_SECONDS=$STRACE_SECONDS
    run_iperf "$json" -u -l 64 -b 0; local ok=$?
    RUN_SECONDS=$saved
    kill -INT "$spid" 2>/dev/null                           # strace prints its summary on SIGINT
    wait_for 10 bash -c "! kill -0 $spid 2>/dev/null"
    stop_pid "$spid"
    if [ $ok != 0 ]; then record "$rep" "$row" sw_syscalls_per_frame NA; return; fi
    calls=$(awk '$NF == "total" { print $4 }' "$out" 2>/dev/null)
    sent=$(jq '.end.sum_received.packets' "$json") lost=$(jq '.end.sum_received.lost_packets' "$json")
    record "$rep" "$row" sw_syscalls_per_frame "$(div "$calls" $((sent - lost)))"
}

# Set up one row, run every measurement, tear it down.
run_row() {  # run_row REP INDEX
    local rep=$1 name=${ROW_NAMES[$2]} kind=${ROW_KINDS[$2]} rowcmd=${ROW_CMDS[$2]} ok
    log "rep $rep/$REPS: $name"
    SW_PIDS=() RELAY_PIDS=() PLUG_PIDS=()
    create_namespaces || { log "$name: cannot create namespaces"; return; }
    case "$kind" in
        switch) setup_switch "$name" "$rowcmd" "$rep" ;;
        f2fpair) setup_f2f_pair "$name" "$rowcmd" "$rep" ;;
        f2fplain) setup_f2f_pair "$name" "$rowcmd" "$rep" plain ;;
        vdepair) setup_vde_pair "$name" "$rowcmd" "$rep" ;;
        ptp)    setup_ptp "$rep" ;;
        veth)   setup_veth ;;
    esac
    ok=$?
    if [ $ok != 0 ]; then
        log "$name rep $rep: setup failed — row skipped for this rep"
        record "$rep" "$name" setup_failed 1
        teardown_row; return
    fi
    record "$rep" "$name" bg_busy_cores "$(wait_idle)"
    local t0=$SECONDS
    others_snapshot "$TMPD/others.0"
    record "$rep" "$name" rtt_1450_ms "$(measure_ping 1450)"
    record "$rep" "$name" rtt_56_ms "$(measure_ping 56)"
    measure_tcp "$rep" "$name"
    measure_udp "$rep" "$name"
    others_snapshot "$TMPD/others.1"
    record "$rep" "$name" bg_other_cores "$(others_cores "$TMPD/others.0" "$TMPD/others.1" $((SECONDS - t0)))"
    case "$kind" in f2fpair | f2fplain) log_f2f_pair "$name" "$rep" ;; esac
    if [ $DO_STRACE = 1 ] && [ ${#SW_PIDS[@]} -gt 0 ]; then measure_syscalls "$rep" "$name"; fi
    # A switch (or relay) that died mid-run makes its figures meaningless: say so loudly.
    local p
    for p in "${SW_PIDS[@]}" "${RELAY_PIDS[@]}"; do
        if ! kill -0 "$p" 2>/dev/null; then
            log "WARNING: $name: ${STARTED[$p]:-process $p} exited during rep $rep — see its log"
            record "$rep" "$name" switch_died 1
        fi
    done
    teardown_row
}

# ---------------------------------------------------------------- report
header_lines() {
    echo "# tap-bench $(date -Is)"
    echo "# host: $(host_summary)"
    # Other load on the box skews every row: the load average makes it visible afterwards.
    echo "# loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# tools: $(vde_switch -v 2>/dev/null | head -1), $(iperf3 -v 2>/dev/null | head -1), vdeplug $(dpkg-query -W -f='${Version}' vdeplug 2>/dev/null)"
    echo "# params: reps=$REPS seconds=$RUN_SECONDS ping_count=$PING_COUNT strace=$DO_STRACE rows=$(IFS=,; echo "${ROW_NAMES[*]}")"
    local i
    for i in "${!ROW_NAMES[@]}"; do
        case "${ROW_KINDS[$i]}" in
            switch)  echo "# row ${ROW_NAMES[$i]}: ${ROW_CMDS[$i]} -s DIR" ;;
            f2fpair) echo "# row ${ROW_NAMES[$i]}: ${ROW_CMDS[$i]} -s DIR1 -M M1 --listen 127.0.0.1:P --friend ID2 <-Noise/TCP-> ${ROW_CMDS[$i]} -s DIR2 -M M2 --peer ID1@127.0.0.1:P" ;;
            f2fplain) echo "# row ${ROW_NAMES[$i]}: ${ROW_CMDS[$i]} -s DIR1 -M M1 --listen 127.0.0.1:P --plaintext <-TCP-> ${ROW_CMDS[$i]} -s DIR2 -M M2 --peer 127.0.0.1:P --plaintext" ;;
            vdepair) echo "# row ${ROW_NAMES[$i]}: ${ROW_CMDS[$i]} -s DIR1 + socat TCP-LISTEN:P,bind=127.0.0.1,reuseaddr,fork,nodelay EXEC:'vde_plug vde://DIR1' <-TCP-> socat TCP:127.0.0.1:P,nodelay EXEC:'vde_plug vde://DIR2' + ${ROW_CMDS[$i]} -s DIR2" ;;
        esac
    done
}

# Median/min/max per (metric, row) and the ratio of medians against vde_switch.
# mawk has no sort, so values arrive pre-sorted from sort(1).
summarize() {
    local metrics="bg_other_cores bg_busy_cores rtt_1450_ms rtt_56_ms tcp_gbps tcp_retransmits udp64_kfps udp64_sent_kfps udp64_loss_pct udp64_path_kfps udp64_path_loss_pct sw_tcp_cpu_s_per_GB sw_udp_us_per_frame fabric_tcp_cpu_s_per_GB fabric_udp_us_per_frame relay_tcp_cpu_s_per_GB relay_udp_us_per_frame sw1_tcp_cores sw2_tcp_cores relay_tcp_cores sw1_udp_cores sw2_udp_cores relay_udp_cores sw_udp_us_per_sent_frame sw_udp_us_per_path_frame sw_syscalls_per_frame plug_tcp_cpu_s_per_GB plug_udp_us_per_frame sw_tcp_cpu_s sw_udp_cpu_s"
    grep -v '^#' "$RAW" | awk -F'\t' '$4 != "NA"' | sort -t$'\t' -k2,2 -k3,3 -k4,4g |
    awk -F'\t' -v rows="$(IFS=' '; echo "${ROW_NAMES[*]}")" -v metrics="$metrics" '
        { key = $3 SUBSEP $2; n[key]++; v[key, n[key]] = $4 }
        function median(k,   c) { c = n[k]; return (c % 2) ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2 }
        END {
            nr = split(rows, R, " "); nm = split(metrics, M, " ")
            print "metric\trow\tn\tmedian\tmin\tmax\tratio_vs_vde_switch"
            for (i = 1; i <= nm; i++) for (j = 1; j <= nr; j++) {
                k = M[i] SUBSEP R[j]; if (!(k in n)) continue
                base = M[i] SUBSEP "vde_switch"
                ratio = ((base in n) && median(base) != 0) ? sprintf("%.3f", median(k) / median(base)) : "NA"
                printf "%s\t%s\t%d\t%.6g\t%.6g\t%.6g\t%s\n", M[i], R[j], n[k], median(k), v[k, 1], v[k, n[k]], ratio
            }
        }'
}

# Human table from the summary TSV: headline metrics only (the TSV has them all).
print_table() {
    awk -F'\t' '
        BEGIN {
            show["rtt_1450_ms"]; show["rtt_56_ms"]; show["tcp_gbps"]; show["tcp_retransmits"]
            show["udp64_kfps"]; show["udp64_loss_pct"]; show["udp64_path_kfps"]; show["udp64_path_loss_pct"]
            show["sw_tcp_cpu_s_per_GB"]; show["sw_udp_us_per_path_frame"]; show["sw_udp_us_per_frame"]
            show["fabric_tcp_cpu_s_per_GB"]; show["fabric_udp_us_per_frame"]
            show["relay_tcp_cpu_s_per_GB"]; show["relay_udp_us_per_frame"]
            show["sw1_tcp_cores"]; show["sw2_tcp_cores"]; show["relay_tcp_cores"]
            show["sw1_udp_cores"]; show["sw2_udp_cores"]; show["relay_udp_cores"]
            show["sw_syscalls_per_frame"]; show["bg_other_cores"]
        }
        NR == 1 { printf "%-24s %-14s %2s %10s %10s %10s %9s\n", "metric", "row", "n", "median", "min", "max", "vs vde"; next }
        !($1 in show) { next }
        $1 != last && NR > 2 { print "" }
        { last = $1
          r = ($7 == "NA") ? "-" : sprintf("%.2fx", $7)
          printf "%-24s %-14s %2d %10.4g %10.4g %10.4g %9s\n", $1, $2, $3, $4, $5, $6, r }' "$1"
}

# The two-switch rows against each other and against their one-switch rows, from the
# summary TSV (medians): ratios, and for RTTs the difference = latency the TCP hop adds.
# Prints TSV: metric, the four medians (NA if the row did not run), the ratios, the deltas.
pair_compare() {
    awk -F'\t' '
        BEGIN {
            nm = split("rtt_1450_ms rtt_56_ms tcp_gbps udp64_kfps udp64_loss_pct tcp_retransmits sw_tcp_cpu_s_per_GB sw_udp_us_per_frame fabric_tcp_cpu_s_per_GB fabric_udp_us_per_frame", M, " ")
            split("f2f-pair vde-pair f2f-switch vde_switch", R, " ")
        }
        NR > 1 { med[$1, $2] = $4 }
        function get(m, r) { return ((m, r) in med) ? med[m, r] : "NA" }
        function ratio(a, b) { return (a == "NA" || b == "NA" || b + 0 == 0) ? "NA" : sprintf("%.3f", a / b) }
        function diff(a, b)  { return (a == "NA" || b == "NA") ? "NA" : sprintf("%.4f", a - b) }
        END {
            print "metric\tf2f-pair\tvde-pair\tf2f-switch\tvde_switch\tf2f-pair/vde-pair\tf2f-pair/f2f-switch\tf2f-pair-minus-f2f-switch\tvde-pair-minus-vde_switch"
            for (i = 1; i <= nm; i++) {
                m = M[i]; fp = get(m, R[1]); vp = get(m, R[2]); fs = get(m, R[3]); vs = get(m, R[4])
                if (fp == "NA" && vp == "NA") continue
                rtt = (m ~ /^rtt_/)
                printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m, fp, vp, fs, vs, ratio(fp, vp), ratio(fp, fs),
                       rtt ? diff(fp, fs) : "-", rtt ? diff(vp, vs) : "-"
            }
        }' "$1"
}

# Human form of pair_compare.
print_pairs() {
    awk -F'\t' '
        function f(x) { return (x == "NA" || x == "-") ? x : sprintf("%.4g", x) }
        NR == 1 { printf "%-24s %9s %9s %10s %10s %9s %9s %11s %11s\n", "metric (medians)", "f2f-pair", "vde-pair",
                  "f2f-switch", "vde_switch", "f2fp/vdep", "f2fp/f2f", "+rtt f2f ms", "+rtt vde ms"; next }
        { printf "%-24s %9s %9s %10s %10s %9s %9s %11s %11s\n", $1, f($2), f($3), f($4), f($5),
                 ($6 == "NA") ? "-" : sprintf("%.2fx", $6), ($7 == "NA") ? "-" : sprintf("%.2fx", $7), f($8), f($9) }' "$1"
}

# ---------------------------------------------------------------- cleanup
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    STOP_GRACE=0.5 stop_started
    ns_delete_all
    release_stdin
    remove_tmpdir
    exit $rc
}

# ---------------------------------------------------------------- main
main() {
    parse_args "$@"
    preflight
    ensure_packages
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    TMPD=$(mktemp -d /tmp/f2fb-$$.XXXXXX)
    # f2f-switch creates its identity key on first start ($XDG_CONFIG_HOME/f2f-switch): keep
    # the benchmark's keys in its temp directory, not in the user's home.
    export XDG_CONFIG_HOME="$TMPD/config"
    # Switches run in the foreground and Debian's vde_switch quits on stdin EOF, so every
    # background child reads from a FIFO that we hold open (and never write to).
    hold_stdin "$TMPD"
    build_rows
    mkdir -p "$(dirname "$OUT")"
    RAW="$OUT.raw.tsv"
    { header_lines; printf 'rep\trow\tmetric\tvalue\n'; } >"$RAW"

    local rep i t0=$SECONDS
    for rep in $(seq "$REPS"); do
        for i in "${!ROW_NAMES[@]}"; do run_row "$rep" "$i"; done
    done
    log "all runs done in $((SECONDS - t0)) s"

    { header_lines; summarize; } >"$OUT.summary.tsv"
    {
        header_lines | sed 's/^# //'
        echo
        grep -v '^#' "$OUT.summary.tsv" | print_table /dev/stdin
        echo
        if grep -qE $'^[^\t]+\t(f2f-pair|vde-pair)\t' "$OUT.summary.tsv"; then
            { header_lines; grep -v '^#' "$OUT.summary.tsv" | pair_compare /dev/stdin; } >"$OUT.pairs.tsv"
            echo "Two switches linked over TCP on 127.0.0.1 (tap A on switch 1, tap B on switch 2):"
            grep -v '^#' "$OUT.pairs.tsv" | print_pairs /dev/stdin
            echo "f2fp/vdep = f2f-pair / vde-pair; f2fp/f2f = f2f-pair / f2f-switch (medians)."
            echo "+rtt = RTT added by the TCP hop: f2f-pair - f2f-switch, vde-pair - vde_switch (ms)."
            echo "fabric_* = switches + TCP relays (vde-pair: socat+vde_plug); sw_* = the switches only, summed."
            echo "swN_*_cores = CPU of switch N during that iperf3 run (1.0 = one core saturated; $(nproc) cores)."
            echo
        fi
        echo "gbps/kfps: higher is better; rtt, loss, CPU per GB/frame: lower is better."
        echo "bg_other_cores: CPU (in cores) used during the row by processes this script did not start; >0.1 = row disturbed."
        echo "vs vde = median / vde_switch median. GB = 1e9 bytes received; frames = received by iperf3 server."
        echo "files: $RAW  $OUT.summary.tsv$([ -f "$OUT.pairs.tsv" ] && echo "  $OUT.pairs.tsv")"
    } | tee "$OUT.txt"
}

main "$@"
