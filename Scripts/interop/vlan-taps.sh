#!/usr/bin/env bash
# vlan-taps.sh — 802.1Q VLANs seen by real Linux network stacks, on f2f-switch and vde_switch.
#
# WHAT IT TESTS
#   Four hosts, each a network namespace with a tap that vde_plug cables to a switch port:
#     h1  port 11, untagged in VLAN 10          10.10.0.1/24
#     h2  port 12, untagged in VLAN 10          10.10.0.2/24
#     h3  port 13, untagged in VLAN 20          10.10.0.3/24 and 10.20.0.3/24
#     h4  port 14, tagged member of 10 and 20   vt10 10.10.0.4/24, vt20 10.20.0.4/24
#   h3 shares h1's subnet on purpose: only the VLANs keep them apart. h4 is a host with a
#   VLAN-aware NIC: this kernel has neither 802.1Q devices nor VLAN-filtering bridges, so
#   a small relay does what the 8021q driver would: it tags what h4's taps vt10 and vt20
#   send with VLAN 10 and 20 on the way to trunk port 14, and hands each tagged frame
#   from the port, untagged, to the tap of its VLAN. Checks (pings):
#     same-vlan            h1 -> h2 answers
#     other-vlan-isolated  h1 -> h3 (10.10.0.3) gets no answer
#     trunk-to-access      h4's vt10 (tagged 10) -> h1 answers (tag removed towards h1)
#     trunk-other-vlan     h4's vt20 (tagged 20) -> h3 (10.20.0.3) answers
#     trunk-tag-isolated   h4's vt10 -> h3's 10.10.0.3 gets no answer (h3 is in VLAN 20)
#   Scenarios, each on fresh switches and namespaces:
#     vde_switch   Debian's vde_switch 2.3.2, the reference
#     f2f-switch   one f2f-switch
#     f2f-pair     two f2f-switches, friends over UDP on the loopback: h1 and h3 on the
#                  first, h2 and h4 on the second, so every check crosses the friend link
#   and one more check per f2f scenario, same-as-vde_switch: its results equal vde_switch's.
#   Output: "PASS: check [scenario]" / "FAIL: check [scenario]: detail", then "N passed, M failed".
#
# USAGE (as root; installs missing Debian packages with apt-get unless --no-install)
#   Scripts/interop/vlan-taps.sh [--switch PATH] [--keep] [--no-install]
#   --switch PATH   f2f-switch binary (default: $REPO/.build/debug/f2f-switch)
#   --keep          keep the temporary directory (switch and plug logs)
#
# CLEANUP (EXIT trap): stops the processes this script started, by PID; deletes its
#   namespaces (with the taps in them); removes its temporary directory.

set -uo pipefail

# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
DIE_STATUS=2

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SWITCH="$REPO/.build/debug/f2f-switch"
KEEP=0
DO_INSTALL=1
PASSED=0 FAILED=0
TMPD=""
SCEN=""
HOSTS=(h1 h2 h3 h4)
CHECKS=(same-vlan other-vlan-isolated trunk-to-access trunk-other-vlan trunk-tag-isolated)
declare -A RESULTS=()   # "scenario check" -> reach | silent

pass() { PASSED=$((PASSED + 1)); echo "PASS: $1 [$SCEN]"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1 [$SCEN]: $2"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --switch)     SWITCH=${2:?--switch needs a path}; shift ;;
            --switch=*)   SWITCH=${1#*=} ;;
            --keep)       KEEP=1 ;;
            --no-install) DO_INSTALL=0 ;;
            -h|--help)    usage; exit 0 ;;
            *)            die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    [ -x "$SWITCH" ] || die "no f2f-switch binary at $SWITCH (build it, or pass --switch PATH)"
}

ensure_packages() {
    # shellcheck disable=SC2034  # read through a nameref
    local -A need=([ip]=iproute2 [vde_plug]=vdeplug [vde_switch]=vde2 [socat]=socat [ping]=iputils-ping)
    local missing=()
    mapfile -t missing < <(packages_for_missing_commands need)
    have_vdeplug_tap || missing+=(libvdeplug2)
    install_packages "${missing[@]}"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_started 'plug*'
    ns_delete_all
    [ $KEEP = 1 ] && log "kept $TMPD" || remove_tmpdir
    exit $rc
}

# Console lines; a line whose answer is not "1000 Success" fails the setup.
configure() {  # configure MGMT COMMAND...
    local mgmt=$1 line answer; shift
    for line in "$@"; do
        answer=$(mgmt_cmd "$mgmt" "$line" | tr -d '\r')
        # Each answer follows the prompt: "vde$ 1000 Success".
        grep -qE '(^|\$ )1000 Success' <<<"$answer" || { log "[$SCEN] '$line': $(grep -oE '[0-9]{4} .*' <<<"$answer" | tail -1)"; return 1; }
    done
}

# The tap of host H on port P of the switch at DIR, made by vde_plug inside H's namespace.
plug_host() {  # plug_host HOST DIR PORT
    ns_create "vlt-$1" || return 1
    ip netns exec "vlt-$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    spawn "$TMPD/$SCEN/plug-$1.log" "plug $1" ip netns exec "vlt-$1" vde_plug "vde://$2[$3]" tap://vt0
    wait_or_log 10 "the tap of $1" ns_has_link "vlt-$1" vt0
}

# h4: taps vt10 and vt20 in its namespace, tagged onto port P of the switch at DIR by the relay.
plug_trunk_host() {  # plug_trunk_host DIR PORT
    ns_create vlt-h4 || return 1
    ip netns exec vlt-h4 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    spawn "$TMPD/$SCEN/plug-h4.log" "plug h4" python3 "$TMPD/tagger.py" "vde://$1[$2]" vlt-h4 10 vt10 20 vt20
    wait_or_log 10 "the tap vt10 of h4" ns_has_link vlt-h4 vt10 && wait_or_log 10 "the tap vt20 of h4" ns_has_link vlt-h4 vt20
}

# The relay: vde_plug in stream mode (2-byte big-endian length, then the frame) on each side.
write_tagger() {
    cat >"$TMPD/tagger.py" <<'PY'
import os, select, struct, subprocess, sys
trunk_url, ns, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
vlan_of_tap = {pairs[i + 1]: int(pairs[i]) for i in range(0, len(pairs), 2)}
def plug(args):
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
trunk = plug(["vde_plug", trunk_url])
taps = {name: plug(["ip", "netns", "exec", ns, "vde_plug", "tap://" + name]) for name in vlan_of_tap}
tap_of_vlan = {vlan: taps[name] for name, vlan in vlan_of_tap.items()}
source = {trunk.stdout.fileno(): None}
source.update({p.stdout.fileno(): vlan_of_tap[name] for name, p in taps.items()})
pending = {fd: b"" for fd in source}
def send(p, frame):
    p.stdin.write(struct.pack(">H", len(frame)) + frame)
while True:
    for fd in select.select(list(source), [], [])[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            sys.exit(0)
        buf = pending[fd] + chunk
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            n = struct.unpack(">H", buf[:2])[0]
            frame, buf = buf[2:2 + n], buf[2 + n:]
            vlan = source[fd]
            if vlan is not None:                      # from a tap: tag it for the trunk
                send(trunk, frame[:12] + struct.pack(">HH", 0x8100, vlan) + frame[12:])
            elif frame[12:14] == b"\x81\x00":           # from the trunk: untag into its VLAN's tap
                tap = tap_of_vlan.get(struct.unpack(">H", frame[14:16])[0] & 0x0FFF)
                if tap is not None:
                    send(tap, frame[:12] + frame[16:])
        pending[fd] = buf
PY
}

address_hosts() {
    local n
    for n in 1 2 3; do
        ip -n "vlt-h$n" addr add "10.10.0.$n/24" dev vt0 && ip -n "vlt-h$n" link set vt0 up || return 1
    done
    ip -n vlt-h3 addr add 10.20.0.3/24 dev vt0 || return 1
    for n in 10 20; do
        ip -n vlt-h4 addr add "10.$n.0.4/24" dev "vt$n" && ip -n vlt-h4 link set "vt$n" up || return 1
    done
}

vlan_setup() {  # vlan_setup MGMT  (the console of the switch whose ports are named)
    local mgmt=$1; shift
    configure "$mgmt" "vlan/create 10" "vlan/create 20" "$@"
}

reaches() {  # reaches HOST [ping options] ADDRESS
    local host=$1; shift
    ip netns exec "vlt-$host" ping -q -c 3 -i 0.3 -W 1 "$@" >/dev/null 2>&1
}

record() {  # record CHECK EXPECTED(reach|silent) HOST [ping options] ADDRESS
    local check=$1 expected=$2 got=silent; shift 2
    reaches "$@" && got=reach
    RESULTS["$SCEN $check"]=$got
    if [ "$got" = "$expected" ]; then pass "$check"; else fail "$check" "expected $expected, got $got"; fi
}

run_checks() {
    # A first ping in each direction may be lost to ARP while STP settles: warm up once.
    reaches h1 -c 1 10.10.0.2 || true
    record same-vlan reach h1 10.10.0.2
    record other-vlan-isolated silent h1 10.10.0.3
    record trunk-to-access reach h4 -I vt10 10.10.0.1
    record trunk-other-vlan reach h4 -I vt20 10.20.0.3
    record trunk-tag-isolated silent h4 -I vt10 10.10.0.3
}

compare_with_reference() {
    local check differing=""
    for check in "${CHECKS[@]}"; do
        [ "${RESULTS["$SCEN $check"]:-none}" = "${RESULTS["vde_switch $check"]:-none}" ] || differing+=" $check"
    done
    if [ -z "$differing" ]; then pass same-as-vde_switch; else fail same-as-vde_switch "differs in$differing"; fi
}

teardown() {
    stop_started 'plug*'
    ns_delete_all
}

# Runs SETUP (a function that starts switches, plugs hosts and sets VLANs), then the checks.
scenario() {  # scenario NAME SETUP
    SCEN=$1
    mkdir -p "$TMPD/$SCEN"
    local t0=$SECONDS
    if "$2" && address_hosts; then
        run_checks
        [ "$SCEN" = vde_switch ] || compare_with_reference
    else
        fail setup "see the logs"
        local f
        for f in "$TMPD/$SCEN"/*.log; do [ -f "$f" ] && tail -n 8 "$f" | sed "s#^#  $(basename "$f")| #"; done
    fi
    teardown
    log "[$SCEN] done in $((SECONDS - t0))s"
}

setup_vde_switch() {
    local d="$TMPD/$SCEN" h
    spawn "$d/switch.log" switch vde_switch -s "$d/sw" -M "$d/mgmt" || return 1
    wait_or_log 10 "vde_switch's console" test -S "$d/mgmt" || return 1
    # vde_switch sets VLANs only on ports that have a client: plug the hosts first.
    for h in 1 2 3; do plug_host "h$h" "$d/sw" "1$h" || return 1; done
    plug_trunk_host "$d/sw" 14 || return 1
    vlan_setup "$d/mgmt" "port/setvlan 11 10" "port/setvlan 12 10" "port/setvlan 13 20" \
        "vlan/addport 10 14" "vlan/addport 20 14"
}

setup_f2f_switch() {
    local d="$TMPD/$SCEN" h
    spawn "$d/switch.log" switch "$SWITCH" -s "$d/sw" -M "$d/mgmt" --identity "$d/sw.key" || return 1
    wait_or_log 10 "f2f-switch's console" test -S "$d/mgmt" || return 1
    for h in 1 2 3; do plug_host "h$h" "$d/sw" "1$h" || return 1; done
    plug_trunk_host "$d/sw" 14 || return 1
    vlan_setup "$d/mgmt" "port/setvlan 11 10" "port/setvlan 12 10" "port/setvlan 13 20" \
        "vlan/addport 10 14" "vlan/addport 20 14"
}

setup_f2f_pair() {
    local d="$TMPD/$SCEN" port id1 id2
    port=$(pick_free_port) || return 1
    id1=$("$SWITCH" id --identity "$d/a.key" 2>/dev/null) && id2=$("$SWITCH" id --identity "$d/b.key" 2>/dev/null) || return 1
    spawn "$d/a.log" "switch a" "$SWITCH" -s "$d/a" -M "$d/a.mgmt" --identity "$d/a.key" \
        --listen "127.0.0.1:$port" --friend "$id2" || return 1
    wait_or_log 10 "switch a's console" test -S "$d/a.mgmt" || return 1
    spawn "$d/b.log" "switch b" "$SWITCH" -s "$d/b" -M "$d/b.mgmt" --identity "$d/b.key" \
        --peer "$id1@127.0.0.1:$port" || return 1
    wait_or_log 10 "switch b's console" test -S "$d/b.mgmt" || return 1
    wait_or_log 15 "the friend link" mgmt_peer_established "$d/a.mgmt" || return 1
    plug_host h1 "$d/a" 11 && plug_host h3 "$d/a" 13 || return 1
    plug_host h2 "$d/b" 12 && plug_trunk_host "$d/b" 14 || return 1
    # Both switches know both VLANs, so the friend link (a trunk) carries them tagged.
    vlan_setup "$d/a.mgmt" "port/setvlan 11 10" "port/setvlan 13 20" || return 1
    vlan_setup "$d/b.mgmt" "port/setvlan 12 10" "vlan/addport 10 14" "vlan/addport 20 14"
}

main() {
    parse_args "$@"
    [ "$(id -u)" = 0 ] || die "must run as root (namespaces, taps)"
    require_tun
    ensure_packages
    TMPD=$(mktemp -d /tmp/f2f-vlan-taps.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    hold_stdin "$TMPD"   # vde_switch quits at the end of its stdin
    write_tagger
    log "switch: $SWITCH"
    scenario vde_switch setup_vde_switch
    scenario f2f-switch setup_f2f_switch
    scenario f2f-pair setup_f2f_pair
    echo "$PASSED passed, $FAILED failed"
    [ $FAILED = 0 ]
}

main "$@"
