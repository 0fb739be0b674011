# shellcheck shell=bash
# Helpers shared by the long scripts (bench/tap-bench.sh, bench/switch-bench.sh,
# e2e/qemu-e2e.sh, interop/linux-bridge-stp.sh). Each was once written out in two or more
# of them; one copy here keeps their behaviour from drifting apart. Source it with
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# It only defines functions: nothing runs on sourcing, no shell options are changed.
# Globals some helpers read are named in their comments (the sourcing script owns them).

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

# install_packages MISSING... [-- ALSO...]: nothing when MISSING is empty; otherwise
# apt-get installs ALSO and MISSING (deduplicated), unless DO_INSTALL=0 says not to.
# The timeouts keep a hung mirror from stalling CI forever.
install_packages() {
    local missing=() also=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do missing+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; also=("$@"); }
    [ ${#missing[@]} -eq 0 ] && return 0
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    [ "$DO_INSTALL" = 1 ] || die "missing packages: ${missing[*]} (run without --no-install)"
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} — install them (needs root)"
    log "installing: ${missing[*]}"
    timeout 600 apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y --no-install-recommends \
        "${also[@]}" "${missing[@]}" >/dev/null || die "apt-get install failed"
}

# Taps need the tun device; it may only be a module not loaded yet.
require_tun() {
    [ -c /dev/net/tun ] || modprobe tun 2>/dev/null || true
    [ -c /dev/net/tun ] || die "/dev/net/tun missing: no tap support"
}

# ---------------------------------------------------------------- processes
# Start a background process with stdin on the script's held-open FIFO HOLD_FD (Debian's
# vde_switch exits on stdin EOF), output to LOGFILE; remember its PID in the associative
# array STARTED (PID -> DESCRIPTION) for cleanup. Sets SPAWNED.
spawn() {  # spawn LOGFILE DESCRIPTION CMD...
    local logf=$1 desc=$2; shift 2
    "$@" <&"$HOLD_FD" >"$logf" 2>&1 &
    SPAWNED=$!
    # shellcheck disable=SC2034,SC2004  # STARTED: the script's associative array
    STARTED[$SPAWNED]=$desc
}

# Poll a condition (a command) every 0.1 s for at most $1 seconds; its last try decides.
wait_for() {  # wait_for SECONDS CMD...
    local secs=$1; shift
    for _ in $(seq $((secs * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}

# Remove the script's scratch directory TMPD on exit, or keep it (and say where) with KEEP=1.
remove_tmpdir() {
    if [ -n "$TMPD" ] && [ -d "$TMPD" ]; then
        if [ "$KEEP" = 1 ]; then log "kept $TMPD"; else rm -rf "$TMPD"; fi
    fi
}

# ---------------------------------------------------------------- background load (/proc)
# One line per process: "pid ppid own_ticks reaped_children_ticks" (utime+stime and
# cutime+cstime from /proc/PID/stat). The kernel here may lack /proc/PID/task/*/children,
# so process trees are rebuilt from the ppid column.
proc_table() {
    local f line rest ppid ut st cut cst
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        rest=${line##*) }                    # fields after "(comm) ", comm may hold spaces
        read -r _ ppid _ _ _ _ _ _ _ _ _ ut st cut cst _ <<<"$rest"
        [[ $ut$st$cut$cst =~ ^[0-9]+$ ]] || continue
        echo "${line%% *} $ppid $((ut + st)) $((cut + cst))"
    done
}

# Ticks used by everything NOT started by this script (our tree is rooted at $$) and
# not a kernel thread (those also carry our own softirq work): other people's builds,
# VMs, ... Each process counts own + reaped-children ticks, so short-lived compiler jobs
# are seen. Writes "pid ticks" lines to $1; others_cores FILE0 FILE1 SECONDS gives cores.
others_snapshot() {
    proc_table | awk -v me="$$" '
        { par[$1] = $2; t[$1] = $3 + $4 }
        END {
            for (p in t) {
                if (p == 2 || par[p] == 2) continue
                mine = 0
                for (q = p; q != "" && q != 0; q = par[q]) if (q == me) { mine = 1; break }
                if (!mine) print p, t[p]
            }
        }' >"$1"
}
# Cores used by others between two snapshots taken SECONDS apart (CLK_TCK: ticks per
# second). Difference of the two sums, not per-PID deltas: a process alive at FILE0 and
# reaped before FILE1 moves its whole total into its parent's reaped-children ticks, and
# subtracting its FILE0 total cancels the part it had used before the window.
others_cores() {  # others_cores FILE0 FILE1 SECONDS
    awk -v secs="$3" -v hz="$CLK_TCK" '
        NR == FNR { s0 += $2; next }
        { s1 += $2 }
        END { d = s1 - s0; if (d < 0) d = 0; if (secs > 0) printf "%.2f\n", d / hz / secs; else print "NA" }' "$1" "$2"
}

# Whole-machine CPU busy over 1 s, in cores (0..nproc). Anything well above 0 while we
# are idle means someone else is loading the box (a build, a VM): figures are suspect.
cpu_idle_total() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
busy_cores() {
    local idle0 tot0 idle1 tot1
    read -r idle0 tot0 <<<"$(cpu_idle_total)"
    sleep 1
    read -r idle1 tot1 <<<"$(cpu_idle_total)"
    awk -v i=$((idle1 - idle0)) -v t=$((tot1 - tot0)) -v n="$(nproc)" \
        'BEGIN { if (t > 0) printf "%.2f\n", n * (t - i) / t; else print "NA" }'
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
