#!/usr/bin/env bash
# linux-bridge-stp.sh — f2f-switch's spanning tree against the Linux kernel bridge.
#
# WHAT IT TESTS
#   The kernel bridge speaks legacy 802.1D (version 0 configuration BPDUs; it ignores
#   RST BPDUs). f2f-switch runs the rapid spanning tree (802.1D-2004) and must fall back
#   to legacy BPDUs on a port where it hears a legacy bridge. This script builds a loop
#   that goes through both and checks that together they break it:
#
#        +--------------------- network namespace NS ----------------------+
#        |  br0 (kernel bridge, stp_state 1, forward delay 4 s)            |
#        |   |-- tapA <- vde_plug vde://DIR1 tap://tapA                    |
#        |   `-- tapB <- vde_plug vde://DIR2 tap://tapB                    |
#        +-----|-----------------------------|---------------------------+
#          sw1 (f2f-switch -s DIR1) ==TCP 127.0.0.1== sw2 (f2f-switch -s DIR2)
#
#   Loop: br0 - tapA - sw1 - TCP - sw2 - tapB - br0 (six bridge ports).
#   Two scenarios, each on a fresh setup (new namespace, new switches):
#     kernel-root  br0 priority 4096: the kernel bridge is the root
#     f2f-root     sw1 --priority 4096: f2f-switch is the root
#   Checks per scenario (printed as "PASS: name [scenario]" / "FAIL: name [scenario]: detail"):
#     converges            within the deadline exactly one of the six loop ports blocks
#                          (br0 port state 4 "blocking", or an f2f port role=alternate|backup
#                          state=discarding) and the other five forward, stable for 3 polls
#     one-root             br0's root_id = the root printed by sw1's and sw2's stp/print =
#                          the bridge id of the bridge given the lowest priority
#     no-storm             one broadcast sent by a stream client of sw1 arrives exactly once
#                          at a stream client of sw2 (and never back at sw1); the taps'
#                          packet counters move by a handful, not thousands
#     f2f-ports-speak-stp  the f2f ports facing tapA and tapB left edge mode (edge=0), heard
#                          BPDUs and send legacy BPDUs (protocol=stp)
#     topology-change-ends after convergence the topology change dies down: within
#                          max_age + forward_delay (+15 s) of convergence br0's topology_change
#                          flag is 0 and neither f2f-switch's "topology changes" counter moves
#                          for 6 s. A TC that keeps circulating (each bridge re-announcing the
#                          other's) flushes every MAC table about once a second, forever.
#                          Skipped with --quick (it costs 40-50 s per scenario).
#   Final line: "N passed, M failed"; exit status 1 if anything failed.
#
# USAGE (as root; installs missing Debian packages with apt-get unless --no-install)
#   Scripts/interop/linux-bridge-stp.sh [--switch PATH] [--only kernel-root|f2f-root]
#                                       [--deadline S] [--quick] [--capture] [--keep]
#                                       [--no-install]
#   --switch PATH   f2f-switch binary (default: $REPO/.build/debug/f2f-switch)
#   --only NAME     run one scenario
#   --deadline S    convergence deadline in seconds for every scenario (default: 30 for
#                   kernel-root, 60 for f2f-root: the root's timers rule the whole tree,
#                   and f2f-switch has a fixed 15 s forward delay, so the kernel's ports
#                   need listening + learning = 30 s when f2f-switch is the root)
#   --quick         skip topology-change-ends
#   --capture       after the checks, also show BPDUs captured on tapA/tapB (tcpdump);
#                   done anyway, when tcpdump exists, for a scenario with a failed check
#   --keep          keep the temporary directory (switch and plug logs)
#
# CLEANUP (EXIT trap): kills the processes this script started, by PID; deletes the
#   namespaces it created (with br0 and the taps in them); removes its temp directory.

set -uo pipefail   # not -e: a failed check is reported, and the next one still runs

# log, die, usage, package installation, remove_tmpdir.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
DIE_STATUS=2       # die: exit 2 on a setup error (1 is kept for failed checks)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SWITCH="$REPO/.build/debug/f2f-switch"
ONLY=""
DEADLINE=""
CAPTURE=0
QUICK=0
KEEP=0
DO_INSTALL=1

# Kernel bridge timers in centiseconds (`ip link add type bridge help`; iproute2 passes
# them through as USER_HZ ticks: 400 = 4 s). Short forward delay keeps the test short.
BR_FORWARD_DELAY=400 BR_HELLO=200 BR_MAX_AGE=2000
LOW_PRIORITY=4096       # the bridge meant to be root gets this; all others keep 32768
STABLE_POLLS=3          # a converged topology must look the same for this many polls
POLL_INTERVAL=1
TC_QUIET_SECONDS=6      # topology-change-ends: counters still for this long (3 hellos)
TC_MARGIN=15            # topology-change-ends: slack beyond max_age + forward_delay

PASSED=0 FAILED=0
declare -A STARTED=()   # pid -> description of every background process we started
TMPD=""
HELPER=""

# Per-scenario state (set by setup_scenario).
SCEN="" NS="" DIR1="" DIR2="" MGMT1="" MGMT2="" TCP_PORT=""
SW1_PID="" SW2_PID="" PLUG_A_PID="" PLUG_B_PID=""
SW1_TAP_PORT="" SW1_PEER_PORT="" SW2_TAP_PORT="" SW2_PEER_PORT=""
SCEN_FAILED=0
CONVERGED_AT=""         # $SECONDS when the loop was seen converged (empty: never)
TAPS_UP_AT=0

pass() { PASSED=$((PASSED + 1)); echo "PASS: $1 [$SCEN]"; }
fail() { FAILED=$((FAILED + 1)); SCEN_FAILED=1; echo "FAIL: $1 [$SCEN]: $2"; }

# ---------------------------------------------------------------- arguments
parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --switch)     SWITCH=${2:?--switch needs a path}; shift ;;
            --switch=*)   SWITCH=${1#*=} ;;
            --only)       ONLY=${2:?--only needs a scenario}; shift ;;
            --only=*)     ONLY=${1#*=} ;;
            --deadline)   DEADLINE=${2:?--deadline needs seconds}; shift ;;
            --deadline=*) DEADLINE=${1#*=} ;;
            --capture)    CAPTURE=1 ;;
            --quick)      QUICK=1 ;;
            --keep)       KEEP=1 ;;
            --no-install) DO_INSTALL=0 ;;
            -h|--help)    usage; exit 0 ;;
            *)            die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    case "$ONLY" in ""|kernel-root|f2f-root) ;; *) die "--only: kernel-root or f2f-root" ;; esac
    [ -z "$DEADLINE" ] || [[ $DEADLINE =~ ^[1-9][0-9]*$ ]] || die "--deadline must be whole seconds"
    [ -x "$SWITCH" ] || die "no f2f-switch binary at $SWITCH (build it, or pass --switch PATH)"
}

# ---------------------------------------------------------------- prerequisites
ensure_packages() {
    # shellcheck disable=SC2034  # read through a nameref by packages_for_missing_commands
    local -A need=([ip]=iproute2 [bridge]=iproute2 [vde_plug]=vdeplug [python3]=python3
                   [timeout]=coreutils)
    local missing=()
    mapfile -t missing < <(packages_for_missing_commands need)
    have_vdeplug_tap || missing+=(libvdeplug2)
    install_packages "${missing[@]}"
}

preflight() {
    [ "$(id -u)" = 0 ] || die "must run as root (namespaces, taps, kernel bridge)"
    require_tun
    # With /sbin/bridge-stp present the kernel hands STP to a user-space daemon (mstpd),
    # which may speak RSTP: then this would not be a legacy-bridge test any more.
    if [ -x /sbin/bridge-stp ] || [ -x /usr/sbin/bridge-stp ]; then
        log "WARNING: bridge-stp helper present: br0 may run user-space STP instead of the kernel's"
    fi
}

# ---------------------------------------------------------------- python helper
# Console client, port map and the broadcast observer, in one small python file: the
# vde console and vde_plug's stream mode are framed protocols, awkward in pure bash.
write_helper() {
    HELPER="$TMPD/helper.py"
    cat > "$HELPER" <<'PY'
import os, re, select, socket, struct, subprocess, sys, time

def read_until(sock, marker, deadline):
    buf = b""
    while not buf.endswith(marker):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("console: no %r after %r" % (marker, buf[-200:]))
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("console closed after %r" % buf[-200:])
        buf += chunk
    return buf

def console(path, commands, timeout=5.0):
    """Runs console commands; returns their data lines. Raises unless each says 1000 Success."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    try:
        read_until(sock, b"vde$ ", deadline)            # banner, then the first prompt
        out = []
        for command in commands:
            sock.sendall(command.encode() + b"\n")
            reply = read_until(sock, b"\nvde$ ", deadline).decode(errors="replace")
            lines = reply.split("\n")[:-1]
            status = [l for l in lines if re.match(r"^\d{4} ", l) and not l.startswith("0000 ")]
            if not status or not status[-1].startswith("1000 "):
                raise RuntimeError("%s: %s" % (command, status[-1] if status else reply))
            if lines and lines[0].startswith("0000 DATA"):
                end = lines.index(".", 1)
                out.extend(lines[1:end])
        return out
    finally:
        sock.close()

def port_map(path):
    """port/print -> {port: 'peer' | 'pid=N' | 'other'}"""
    ports, current = {}, None
    for line in console(path, ["port/print"]):
        m = re.match(r"^Port (\d+) ", line)
        if m:
            current = int(m.group(1)); ports[current] = "other"; continue
        if current is not None and "endpoint ID" in line:
            if "module f2f peer" in line:
                ports[current] = "peer"
            else:
                p = re.search(r"pid=(\d+)", line)
                if p: ports[current] = "pid=" + p.group(1)
    return ports

def stp_port(path, port):
    for line in console(path, ["stp/print"]):
        if line.startswith("Port %04d " % port):
            return line
    return None

def frames(buf):
    """Splits vde_plug's stream (2-byte big-endian length + frame); returns frames, rest."""
    out = []
    while len(buf) >= 2:
        n = struct.unpack(">H", buf[:2])[0]
        if len(buf) < 2 + n: break
        out.append(buf[2:2 + n]); buf = buf[2 + n:]
    return out, buf

def observe(send_dir, send_mgmt, recv_dir, recv_mgmt, listen):
    """Attaches one stream client to each switch, sends one broadcast from the first and
    counts its copies at the second (and back at the first) for `listen` seconds."""
    procs = {}
    try:
        for role, d in (("rx", recv_dir), ("tx", send_dir)):
            procs[role] = subprocess.Popen(["vde_plug", "vde://" + d], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # Wait until both client ports exist and forward (VDE client ports start as edge
        # ports, so this should be at once); a frame sent earlier could be dropped.
        deadline = time.monotonic() + 5
        ready = {}
        while time.monotonic() < deadline and len(ready) < 2:
            for role, mgmt in (("rx", recv_mgmt), ("tx", send_mgmt)):
                for port, what in port_map(mgmt).items():
                    if what == "pid=%d" % procs[role].pid:
                        line = stp_port(mgmt, port)
                        if line and "state=forwarding" in line:
                            ready[role] = (port, line)
            time.sleep(0.1)
        if len(ready) < 2:
            print("error=observer-ports-not-forwarding ready=%r" % ready); return 1
        for role in ("tx", "rx"):
            print("observer %s port %d: %s" % (role, ready[role][0], ready[role][1]))
        nonce = os.urandom(6)
        src = b"\x02\x5a" + nonce[:4]
        payload = b"f2f-stp-interop " + nonce
        frame = b"\xff" * 6 + src + b"\x88\xb5" + payload
        frame += b"\x00" * (60 - len(frame))
        for role in ("rx", "tx"):
            os.set_blocking(procs[role].stdout.fileno(), False)
        procs["tx"].stdin.write(struct.pack(">H", len(frame)) + frame)
        procs["tx"].stdin.flush()
        counts = {"rx": 0, "tx": 0}; others = {"rx": 0, "tx": 0}; bufs = {"rx": b"", "tx": b""}
        fds = {procs[r].stdout.fileno(): r for r in ("rx", "tx")}
        end = time.monotonic() + listen
        while True:
            left = end - time.monotonic()
            if left <= 0: break
            readable, _, _ = select.select(list(fds), [], [], left)
            for fd in readable:
                role = fds[fd]
                chunk = os.read(fd, 1 << 20)
                if not chunk: continue
                got, bufs[role] = frames(bufs[role] + chunk)
                for f in got:
                    if payload in f: counts[role] += 1
                    else: others[role] += 1
        print("copies_at_sw2=%d copies_back_at_sw1=%d other_frames_at_sw2=%d other_frames_at_sw1=%d"
              % (counts["rx"], counts["tx"], others["rx"], others["tx"]))
        return 0
    finally:
        for p in procs.values():
            try: p.stdin.close()
            except Exception: pass
            p.terminate()
        for p in procs.values():
            try: p.wait(timeout=3)
            except subprocess.TimeoutExpired: p.kill(); p.wait(timeout=3)

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        if cmd == "console":
            for line in console(args[0], args[1:]): print(line)
        elif cmd == "portmap":
            for port, what in sorted(port_map(args[0]).items()): print(port, what)
        elif cmd == "freeport":
            s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
        elif cmd == "observe":
            return observe(args[0], args[1], args[2], args[3], float(args[4]))
        else:
            print("unknown helper command " + cmd, file=sys.stderr); return 2
    except Exception as e:
        print("helper %s: %s" % (cmd, e), file=sys.stderr); return 1
    return 0

sys.exit(main())
PY
}

# Console of one switch: data lines of the command on stdout; bounded by two timeouts.
con() { timeout 10 python3 "$HELPER" console "$@"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Plugs first (they hold the taps and the switch ports), then the switches.
    stop_started 'plug*'
    ns_delete_all
    remove_tmpdir
    exit $rc
}

peer_established() { con "$1" peer/print | grep -q ESTABLISHED; }
port_of_pid()      { timeout 10 python3 "$HELPER" portmap "$1" | awk -v p="pid=$2" '$2 == p { print $1; exit }'; }
peer_port()        { timeout 10 python3 "$HELPER" portmap "$1" | awk '$2 == "peer" { print $1; exit }'; }

# ---------------------------------------------------------------- kernel bridge readers
br_state_num() { ip netns exec "$NS" cat "/sys/class/net/br0/brif/$1/state" 2>/dev/null || echo "?"; }
br_state_name() {
    case "$1" in 0) echo disabled ;; 1) echo listening ;; 2) echo learning ;;
                 3) echo forwarding ;; 4) echo blocking ;; *) echo "unknown($1)" ;; esac
}
br_attr() { ip netns exec "$NS" cat "/sys/class/net/br0/bridge/$1" 2>/dev/null; }
tap_counter() { ip netns exec "$NS" cat "/sys/class/net/$1/statistics/$2" 2>/dev/null || echo 0; }

# Bridge ids in one spelling: "8000.02:71:a7:32:c8:dd" (f2f-switch) and
# "8000.0271a732c8dd" (kernel sysfs) both become "8000.0271a732c8dd".
norm_id() { tr -d ': \n' <<<"$1" | tr 'A-F' 'a-f'; }

# stp/print of a switch: the "root ..." line's id, the "bridge ..." line's id, a port's line
f2f_root_id()   { con "$1" stp/print | awk '$1 == "root" { print $2; exit }'; }
f2f_bridge_id() { con "$1" stp/print | awk '$1 == "bridge" { print $2; exit }'; }
f2f_port_line() { con "$1" stp/print | grep "^Port $(printf %04d "$2") " ; }
field() { grep -o "$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2; }   # field NAME LINE

# ---------------------------------------------------------------- loop state
# Classifies the six loop ports. Sets LOOP_DESC (one human-readable line),
# LOOP_BLOCKING, LOOP_FORWARDING, LOOP_OTHER, LOOP_SIGNATURE (to detect stability).
classify_loop() {
    local desc="" sig="" blocking=0 forwarding=0 other=0 tap s name line role state class
    for tap in tapA tapB; do
        s=$(br_state_num "$tap"); name=$(br_state_name "$s")
        case "$s" in 3) forwarding=$((forwarding + 1)) ;; 4) blocking=$((blocking + 1)) ;; *) other=$((other + 1)) ;; esac
        desc+="br0:$tap=$name "; sig+="$s,"
    done
    local spec mgmt port label
    for spec in "sw1 $MGMT1 $SW1_TAP_PORT tap" "sw1 $MGMT1 $SW1_PEER_PORT peer" \
                "sw2 $MGMT2 $SW2_PEER_PORT peer" "sw2 $MGMT2 $SW2_TAP_PORT tap"; do
        read -r label mgmt port name <<<"$spec"
        line=$(f2f_port_line "$mgmt" "$port")
        role=$(field role "$line"); state=$(field state "$line")
        if [[ $role =~ ^(alternate|backup)$ && $state == discarding ]]; then
            class=blocking; blocking=$((blocking + 1))
        elif [[ $role =~ ^(root|designated)$ && $state == forwarding ]]; then
            class=forwarding; forwarding=$((forwarding + 1))
        else
            class=other; other=$((other + 1))
        fi
        desc+="$label:p$port($name)=${role:-?}/${state:-?} "; sig+="$role/$state,"
    done
    LOOP_DESC=${desc% } LOOP_BLOCKING=$blocking LOOP_FORWARDING=$forwarding LOOP_OTHER=$other LOOP_SIGNATURE=$sig
}

# Prints the state a reader of the report needs: both stp/print outputs, br0's view.
show_state() {
    echo "  --- state [$SCEN] ---"
    echo "  br0: bridge_id=$(br_attr bridge_id) root_id=$(br_attr root_id) root_port=$(br_attr root_port) root_path_cost=$(br_attr root_path_cost) max_age=$(br_attr max_age) forward_delay=$(br_attr forward_delay) priority=$(br_attr priority) topology_change=$(br_attr topology_change) topology_change_detected=$(br_attr topology_change_detected)"
    local tap
    for tap in tapA tapB; do
        local pid=/sys/class/net/br0/brif/$tap
        echo "  br0 port $tap: state=$(br_state_name "$(br_state_num "$tap")") port_id=$(ip netns exec "$NS" cat "$pid/port_id" 2>/dev/null) path_cost=$(ip netns exec "$NS" cat "$pid/path_cost" 2>/dev/null) designated_root=$(ip netns exec "$NS" cat "$pid/designated_root" 2>/dev/null) designated_bridge=$(ip netns exec "$NS" cat "$pid/designated_bridge" 2>/dev/null)"
    done
    ip netns exec "$NS" bridge link show 2>/dev/null | sed 's/^/  bridge link: /'
    echo "  sw1 ($DIR1): tap port $SW1_TAP_PORT, peer port $SW1_PEER_PORT"
    con "$MGMT1" stp/print 2>&1 | sed 's/^/  sw1| /'
    echo "  sw2 ($DIR2): tap port $SW2_TAP_PORT, peer port $SW2_PEER_PORT"
    con "$MGMT2" stp/print 2>&1 | sed 's/^/  sw2| /'
}

# BPDUs as seen on the taps inside the namespace (diagnostics; needs tcpdump).
capture_bpdus() {
    command -v tcpdump >/dev/null 2>&1 || { echo "  (no tcpdump: no capture)"; return; }
    local tap
    for tap in tapA tapB; do
        echo "  --- BPDUs on $tap [$SCEN] (up to 6, 7 s) ---"
        timeout 7 ip netns exec "$NS" tcpdump -n -i "$tap" -e -vv -c 6 stp 2>/dev/null | sed 's/^/  | /'
    done
}

# ---------------------------------------------------------------- scenario setup
# setup_scenario NAME BR0_PRIORITY SW1_PRIORITY
setup_scenario() {
    SCEN=$1; local br_prio=$2 sw1_prio=$3
    SCEN_FAILED=0 CONVERGED_AT=""
    NS="f2fstp-$$-$SCEN"
    local d="$TMPD/$SCEN"; mkdir -p "$d"
    DIR1="$d/sw1" DIR2="$d/sw2" MGMT1="$d/sw1.mgmt" MGMT2="$d/sw2.mgmt"

    log "[$SCEN] namespace $NS, br0 priority $br_prio, sw1 priority $sw1_prio"
    ns_create "$NS" || return 1
    # No IPv6 inside: br0 and the taps would otherwise send MLD/RS frames, noise for no-storm.
    ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$NS" link add br0 type bridge stp_state 1 forward_delay $BR_FORWARD_DELAY \
        hello_time $BR_HELLO max_age $BR_MAX_AGE priority "$br_prio" || return 1
    ip -n "$NS" link set br0 up || return 1

    # The two f2f-switches, linked over TCP on the loopback (sw2 dials sw1), each with its own
    # identity in the scenario's directory, friends of each other. The taps are VDE clients
    # cabled to another bridge that may be the root: --client-root lifts the clients' root guard.
    TCP_PORT=$(timeout 5 python3 "$HELPER" freeport) || return 1
    local id1 id2
    id1=$("$SWITCH" id --identity "$d/sw1.key" 2>/dev/null) && id2=$("$SWITCH" id --identity "$d/sw2.key" 2>/dev/null) || return 1
    spawn "$d/sw1.log" sw1 "$SWITCH" -s "$DIR1" -M "$MGMT1" --listen "127.0.0.1:$TCP_PORT" --priority "$sw1_prio" \
        --client-root --identity "$d/sw1.key" --friend "$id2"
    SW1_PID=$SPAWNED
    wait_or_log 10 "sw1 console" test -S "$MGMT1" || return 1
    spawn "$d/sw2.log" sw2 "$SWITCH" -s "$DIR2" -M "$MGMT2" --peer "$id1@127.0.0.1:$TCP_PORT" --client-root --identity "$d/sw2.key"
    SW2_PID=$SPAWNED
    wait_or_log 10 "sw2 console" test -S "$MGMT2" || return 1
    wait_or_log 15 "the sw1-sw2 peer link" peer_established "$MGMT1" || return 1
    wait_or_log 15 "the sw2-sw1 peer link" peer_established "$MGMT2" || return 1

    # The taps: vde_plug (vdeplug4) creates tap://NAME itself, in the namespace it runs in.
    # `ip netns exec` execs vde_plug, so $! is vde_plug's own PID (it shows in port/print).
    spawn "$d/plugA.log" plugA ip netns exec "$NS" vde_plug "vde://$DIR1" tap://tapA
    PLUG_A_PID=$SPAWNED
    spawn "$d/plugB.log" plugB ip netns exec "$NS" vde_plug "vde://$DIR2" tap://tapB
    PLUG_B_PID=$SPAWNED
    wait_or_log 10 "tapA in $NS" ns_has_link "$NS" tapA || return 1
    wait_or_log 10 "tapB in $NS" ns_has_link "$NS" tapB || return 1
    ip -n "$NS" link set tapA master br0 up || return 1
    ip -n "$NS" link set tapB master br0 up || return 1
    TAPS_UP_AT=$SECONDS

    # Which f2f port is which: the plug's port carries its pid, the TCP link is "f2f peer".
    local end=$((SECONDS + 10))
    while [ $SECONDS -lt $end ]; do
        SW1_TAP_PORT=$(port_of_pid "$MGMT1" "$PLUG_A_PID"); SW2_TAP_PORT=$(port_of_pid "$MGMT2" "$PLUG_B_PID")
        SW1_PEER_PORT=$(peer_port "$MGMT1"); SW2_PEER_PORT=$(peer_port "$MGMT2")
        [ -n "$SW1_TAP_PORT" ] && [ -n "$SW2_TAP_PORT" ] && [ -n "$SW1_PEER_PORT" ] && [ -n "$SW2_PEER_PORT" ] && break
        sleep 0.2
    done
    [ -n "$SW1_TAP_PORT" ] && [ -n "$SW2_TAP_PORT" ] && [ -n "$SW1_PEER_PORT" ] && [ -n "$SW2_PEER_PORT" ] \
        || { log "could not map f2f ports (sw1 tap=$SW1_TAP_PORT peer=$SW1_PEER_PORT, sw2 tap=$SW2_TAP_PORT peer=$SW2_PEER_PORT)"; return 1; }
    log "[$SCEN] up: sw1 pid $SW1_PID (tap port $SW1_TAP_PORT, peer port $SW1_PEER_PORT), sw2 pid $SW2_PID (tap port $SW2_TAP_PORT, peer port $SW2_PEER_PORT), TCP $TCP_PORT"
}

teardown_scenario() {
    stop_pids "$PLUG_A_PID" "$PLUG_B_PID"
    stop_pids "$SW2_PID" "$SW1_PID"
    ns_delete "$NS"
    SW1_PID="" SW2_PID="" PLUG_A_PID="" PLUG_B_PID=""
}

# ---------------------------------------------------------------- checks
# 1. converges: exactly one blocking port among the six, five forwarding, and the same
#    picture for STABLE_POLLS polls in a row (a transient picture must not count).
check_converges() {
    local deadline=$1
    local end=$((TAPS_UP_AT + deadline)) same=0 last="" converged_at=""
    while :; do   # at least one look, however short the deadline
        classify_loop
        if [ "$LOOP_BLOCKING" = 1 ] && [ "$LOOP_FORWARDING" = 5 ]; then
            if [ "$LOOP_SIGNATURE" = "$last" ]; then same=$((same + 1)); else same=1; converged_at=$((SECONDS - TAPS_UP_AT)); fi
        else
            same=0
        fi
        last=$LOOP_SIGNATURE
        [ $same -ge $STABLE_POLLS ] && break
        [ $SECONDS -ge $end ] && break
        sleep $POLL_INTERVAL
    done
    if [ $same -ge $STABLE_POLLS ]; then
        CONVERGED_AT=$((TAPS_UP_AT + converged_at))
        log "[$SCEN] converged ${converged_at}s after the taps joined br0: $LOOP_DESC"
        pass "converges (${converged_at}s; $LOOP_DESC)"
        return 0
    fi
    fail converges "not converged ${deadline}s after the taps joined br0: blocking=$LOOP_BLOCKING forwarding=$LOOP_FORWARDING other=$LOOP_OTHER; $LOOP_DESC"
    return 1
}

# 2. one-root: the kernel and both f2f-switches name the same root, the expected one.
check_one_root() {
    local expected_from=$1   # br0 or sw1
    local kroot s1 s2 expected
    kroot=$(norm_id "$(br_attr root_id)")
    s1=$(norm_id "$(f2f_root_id "$MGMT1")")
    s2=$(norm_id "$(f2f_root_id "$MGMT2")")
    if [ "$expected_from" = br0 ]; then expected=$(norm_id "$(br_attr bridge_id)")
    else expected=$(norm_id "$(f2f_bridge_id "$MGMT1")"); fi
    if [ -n "$kroot" ] && [ "$kroot" = "$s1" ] && [ "$s1" = "$s2" ] && [ "$s2" = "$expected" ]; then
        pass "one-root (all three: $kroot = $expected_from)"
    else
        fail one-root "br0 root_id=$kroot sw1 root=$s1 sw2 root=$s2 expected ($expected_from)=$expected"
    fi
}

# 3. no-storm: one broadcast in, one copy out at the far switch, counters quiet.
check_no_storm() {
    local tap ctr before=() after=() i=0 out
    for tap in tapA tapB; do for ctr in rx_packets tx_packets; do before+=("$(tap_counter $tap $ctr)"); done; done
    out=$(timeout 20 python3 "$HELPER" observe "$DIR1" "$MGMT1" "$DIR2" "$MGMT2" 2 2>&1)
    local rc=$?
    for tap in tapA tapB; do for ctr in rx_packets tx_packets; do after+=("$(tap_counter $tap $ctr)"); done; done
    local deltas="" max=0 d
    for tap in tapA tapB; do for ctr in rx tx; do
        d=$(( ${after[$i]} - ${before[$i]} )); deltas+="$tap.$ctr+$d "; [ $d -gt $max ] && max=$d; i=$((i + 1))
    done; done
    sed 's/^/  observe| /' <<<"$out"
    local copies back
    copies=$(grep -o 'copies_at_sw2=[0-9]*' <<<"$out" | cut -d= -f2)
    back=$(grep -o 'copies_back_at_sw1=[0-9]*' <<<"$out" | cut -d= -f2)
    # Over the ~3 s of the test each tap carries the broadcast at most once plus a couple
    # of hello BPDUs; 50 leaves room for that and is far below any storm (thousands).
    if [ $rc = 0 ] && [ "$copies" = 1 ] && [ "$back" = 0 ] && [ $max -lt 50 ]; then
        pass "no-storm (1 copy at sw2, 0 back at sw1; tap counters ${deltas% })"
    else
        fail no-storm "helper rc=$rc copies_at_sw2=${copies:-?} copies_back_at_sw1=${back:-?} tap counters ${deltas% } ($(tr '\n' ' ' <<<"$out"))"
    fi
}

# 4. f2f-ports-speak-stp: the f2f ports facing the kernel bridge are no longer edge ports,
#    heard BPDUs, and fell back to legacy BPDUs (protocol=stp).
check_speak_stp() {
    local l1 l2 bad=""
    l1=$(f2f_port_line "$MGMT1" "$SW1_TAP_PORT"); l2=$(f2f_port_line "$MGMT2" "$SW2_TAP_PORT")
    local label line
    for label in sw1 sw2; do
        [ $label = sw1 ] && line=$l1 || line=$l2
        [ "$(field protocol "$line")" = stp ] || bad+="$label tap port protocol=$(field protocol "$line"); "
        [ "$(field edge "$line")" = 0 ]       || bad+="$label tap port edge=$(field edge "$line"); "
        [ "$(field bpdu-in "$line")" -gt 0 ] 2>/dev/null || bad+="$label tap port bpdu-in=$(field bpdu-in "$line"); "
    done
    if [ -z "$bad" ]; then
        pass "f2f-ports-speak-stp (sw1 p$SW1_TAP_PORT and sw2 p$SW2_TAP_PORT: protocol=stp edge=0)"
    else
        fail f2f-ports-speak-stp "${bad% } | sw1: $l1 | sw2: $l2"
    fi
}

# 5. topology-change-ends: 802.1D-2004 17.29 acts on a received TC flag only on a root or
#    designated port that forwards; legacy bridges keep the flag for max_age + forward_delay
#    after the last TCN. So once the loop has converged the topology change must end: br0's
#    topology_change flag drops to 0 and the f2f counters stop. If a bridge re-announces a
#    TC heard on a blocked port, the TC circulates around the loop forever instead.
f2f_tc_count() { con "$1" stp/print | awk '$1 == "topology" && $2 == "changes" { print $3; exit }'; }
check_topology_change_ends() {
    if [ -z "$CONVERGED_AT" ]; then
        fail topology-change-ends "not checked: the loop never converged"; return
    fi
    local max_age fwd
    max_age=$(br_attr max_age); fwd=$(br_attr forward_delay)   # centiseconds, the root's
    local allowed=$(( (${max_age:-2000} + ${fwd:-1500}) / 100 + TC_MARGIN ))
    local end=$((CONVERGED_AT + allowed)) start=$SECONDS
    local c1 c2 tc p1="" p2="" still=0 first1 first2
    first1=$(f2f_tc_count "$MGMT1"); first2=$(f2f_tc_count "$MGMT2")
    log "[$SCEN] waiting up to $((end - SECONDS))s for the topology change to end (max_age+forward_delay+${TC_MARGIN}s after convergence)"
    while :; do
        c1=$(f2f_tc_count "$MGMT1"); c2=$(f2f_tc_count "$MGMT2"); tc=$(br_attr topology_change)
        if [ "$tc" = 0 ] && [ "$c1" = "$p1" ] && [ "$c2" = "$p2" ]; then still=$((still + 1)); else still=0; fi
        p1=$c1 p2=$c2
        [ $still -ge $TC_QUIET_SECONDS ] && break
        [ $SECONDS -ge $end ] && break
        sleep 1
    done
    local span=$((SECONDS - start))
    if [ $still -ge $TC_QUIET_SECONDS ]; then
        pass "topology-change-ends (quiet $((SECONDS - CONVERGED_AT))s after convergence; counters sw1=$c1 sw2=$c2)"
    else
        fail topology-change-ends "still changing $((SECONDS - CONVERGED_AT))s after convergence (allowed ${allowed}s): br0 topology_change=$tc; sw1 topology changes $first1 -> $c1, sw2 $first2 -> $c2 in the last ${span}s"
    fi
}

run_scenario() {
    local name=$1 br_prio=$2 sw1_prio=$3 root=$4 deadline=$5
    local t0=$SECONDS
    echo "=== scenario $name: root should be $root (br0 priority $br_prio, sw1 priority $sw1_prio), deadline ${deadline}s ==="
    if ! setup_scenario "$name" "$br_prio" "$sw1_prio"; then
        fail setup "could not build the topology (logs in $TMPD/$name; use --keep)"
        for f in "$TMPD/$name"/*.log; do [ -f "$f" ] && tail -n 5 "$f" | sed "s#^#  $(basename "$f")| #"; done
        teardown_scenario
        return
    fi
    check_converges "$deadline"
    check_one_root "$root"
    check_no_storm
    check_speak_stp
    [ $QUICK = 1 ] || check_topology_change_ends
    show_state
    if [ $CAPTURE = 1 ] || [ $SCEN_FAILED = 1 ]; then capture_bpdus; fi
    if [ $SCEN_FAILED = 1 ]; then
        local f
        for f in "$TMPD/$name"/*.log; do [ -f "$f" ] && tail -n 15 "$f" | sed "s#^#  $(basename "$f")| #"; done
    fi
    teardown_scenario
    echo "=== scenario $name done in $((SECONDS - t0))s ==="
}

# ---------------------------------------------------------------- main
main() {
    parse_args "$@"
    preflight
    ensure_packages
    TMPD=$(mktemp -d /tmp/f2f-linux-bridge-stp.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    write_helper
    log "switch: $SWITCH"
    if [ -z "$ONLY" ] || [ "$ONLY" = kernel-root ]; then
        run_scenario kernel-root $LOW_PRIORITY 32768 br0 "${DEADLINE:-30}"
    fi
    if [ -z "$ONLY" ] || [ "$ONLY" = f2f-root ]; then
        run_scenario f2f-root 32768 $LOW_PRIORITY sw1 "${DEADLINE:-60}"
    fi
    echo "$PASSED passed, $FAILED failed"
    [ $FAILED = 0 ]
}

main "$@"
