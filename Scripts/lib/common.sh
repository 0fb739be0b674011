# shellcheck shell=bash
# Helpers shared by the long scripts (bench/tap-bench.sh, bench/switch-bench.sh,
# e2e/qemu-e2e.sh, interop/linux-bridge-stp.sh). Each was once written out in two or more
# of them; one copy here keeps their behaviour from drifting apart. Source it with
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# It only defines functions and the empty arrays they keep (STARTED, NAMESPACES): nothing
# runs on sourcing, no shell options are changed. Globals some helpers read are named in
# their comments (the sourcing script owns them). The helpers are grouped by topic:
#   lib/procs.sh   starting and stopping processes by PID, waiting for conditions
#   lib/netns.sh   network namespaces, removed on exit
#   lib/load.sh    CPU ticks from /proc: background load, per-process-tree cost
#   this file      messages, prerequisites, TCP ports, switch consoles
# docs/scripts.md lists every function.
declare -gA STARTED 2>/dev/null || true
_lib_dir=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=procs.sh
source "$_lib_dir/procs.sh"
# shellcheck source=netns.sh
source "$_lib_dir/netns.sh"
# shellcheck source=load.sh
source "$_lib_dir/load.sh"
unset _lib_dir

# ---------------------------------------------------------------- messages
# Timestamped progress on stderr, so stdout stays for PASS/FAIL lines and tables.
log()  { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
# DIE_STATUS (default 1): the exit status a script documents for its own errors.
die()  { log "ERROR: $*"; exit "${DIE_STATUS:-1}"; }
# --help text is the script's leading comment block, up to the first blank line.
usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------- prerequisites
# vde_plug's tap:// and ptp:// live in libvdeplug2's plugin directory, not on PATH.
have_vdeplug_tap() { ls /usr/lib/*/vdeplug/libvdeplug_tap.so >/dev/null 2>&1; }

# packages_for_missing_commands MAPNAME: MAPNAME is an associative array command ->
# Debian package; prints (one a line) the package of every command not on PATH.
packages_for_missing_commands() {
    local -n _need=$1
    local c
    for c in "${!_need[@]}"; do
        command -v "$c" >/dev/null 2>&1 || echo "${_need[$c]}"
    done
}

# apt-get update, at most once a run (install_packages, and a script that downloads a
# package itself, both need it). The timeout keeps a hung mirror from stalling CI forever.
APT_UPDATED=0
apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 0
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -qq >&2 || return 1
    APT_UPDATED=1
}

# install_packages MISSING... [-- ALSO...]: nothing when MISSING is empty; otherwise
# apt-get installs ALSO and MISSING (deduplicated), unless DO_INSTALL=0 says not to.
install_packages() {
    local missing=() also=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do missing+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; also=("$@"); }
    [ ${#missing[@]} -eq 0 ] && return 0
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    [ "${DO_INSTALL:-1}" = 1 ] || die "missing packages: ${missing[*]} (run without --no-install)"
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} — install them (needs root)"
    log "installing: ${missing[*]}"
    apt_update_once || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y --no-install-recommends \
        "${also[@]}" "${missing[@]}" >/dev/null || die "apt-get install failed"
}

# Taps need the tun device; it may only be a module not loaded yet.
require_tun() {
    [ -c /dev/net/tun ] || modprobe tun 2>/dev/null || true
    [ -c /dev/net/tun ] || die "/dev/net/tun missing: no tap support"
}

# ---------------------------------------------------------------- report headers
# "kernel K, nproc N, cpu: MODEL": the machine line the benches put in their result headers.
host_summary() {
    echo "kernel $(uname -r), nproc $(nproc), cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
}

# ---------------------------------------------------------------- TCP and consoles
# A TCP port nobody on this host uses (any state, IPv4 or IPv6), taken at random from
# 20000-59999 so that concurrent runs rarely collide; /proc only, no python or ss needed.
# It can still be taken before the caller binds it: callers retry.
pick_free_port() {
    local -A used=()
    local f local_addr hex port
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        while read -r _ local_addr _; do
            hex=${local_addr##*:}
            [[ $hex =~ ^[0-9A-Fa-f]{4}$ ]] && used[$((16#$hex))]=1
        done <"$f"
    done
    for _ in $(seq 50); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        [ -z "${used[$port]+x}" ] && { echo "$port"; return 0; }
    done
    return 1
}

# One line to the management console (-M socket) of an f2f-switch/vde_switch, its answer
# on stdout (socat waits 1 s after our EOF for the answer).
mgmt_cmd() {  # mgmt_cmd SOCKET COMMAND
    printf '%s\n' "$2" | timeout 5 socat -t 1 - "UNIX-CONNECT:$1" 2>/dev/null
}
# Does the console list an established F2F peer link?
mgmt_peer_established() {  # mgmt_peer_established SOCKET
    mgmt_cmd "$1" peer/print | tr -d '\r' | grep -qE '^Peer [0-9]+ ESTABLISHED'
}
