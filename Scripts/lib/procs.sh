# shellcheck shell=bash
# Processes a script starts and stops. Every background process is remembered by PID in the
# associative array STARTED (PID -> description) and stopped by that PID, never by name, so a
# run never touches another user's switches, plugs or guests. Sourced by lib/common.sh.

# Switches run in the foreground and Debian's vde_switch quits on stdin EOF: hold_stdin DIR
# makes a FIFO in DIR and opens it read-write as HOLD_FD (never written, never at EOF);
# spawn gives it to every child as stdin.
hold_stdin() {  # hold_stdin DIR
    mkfifo "$1/stdin" && exec {HOLD_FD}<>"$1/stdin"
}
release_stdin() { [ -n "${HOLD_FD:-}" ] && exec {HOLD_FD}>&-; HOLD_FD=""; }

# Start a background process, output to LOGFILE, stdin HOLD_FD (or /dev/null without one);
# remember it in STARTED. Sets SPAWNED to its PID.
spawn() {  # spawn LOGFILE DESCRIPTION CMD...
    local logf=$1 desc=$2; shift 2
    if [ -n "${HOLD_FD:-}" ]; then
        "$@" <&"$HOLD_FD" >"$logf" 2>&1 &
    else
        "$@" </dev/null >"$logf" 2>&1 &
    fi
    SPAWNED=$!
    # shellcheck disable=SC2034  # STARTED: the script's associative array
    STARTED[$SPAWNED]=$desc
}

# Signal a PID; if it leads its own process group (a process started under setsid), signal
# the group so a forking wrapper's children get it too.
signal_pid() {  # signal_pid SIG PID
    local line pgid
    read -r line 2>/dev/null <"/proc/$2/stat" || return 0
    read -r _ _ _ pgid _ <<<"${line##*) }"
    if [ "$pgid" = "$2" ]; then kill "-$1" -- "-$2" 2>/dev/null; else kill "-$1" "$2" 2>/dev/null; fi
    return 0  # gone already: nothing to signal (and no exit under set -e)
}

# (Every helper here is safe under set -e: a process that is already gone is no error.)
# Stop processes this script started: SIGTERM to all at once, up to STOP_GRACE seconds
# (default 3, fractions allowed) for them to exit, then SIGKILL to the rest (logged). The direct children seen
# before SIGTERM are SIGKILLed afterwards if still alive: a `timeout` wrapper killed hard
# must not leave its QEMU or switch behind. PIDs not in STARTED are left alone.
stop_pids() {  # stop_pids PID...
    local pid kids=() alive tries ours=()
    for pid in "$@"; do [ -n "$pid" ] && [ -n "${STARTED[$pid]+x}" ] && ours+=("$pid"); done
    [ ${#ours[@]} -gt 0 ] || return 0
    for pid in "${ours[@]}"; do
        # shellcheck disable=SC2207
        kids+=($(ps -o pid= --ppid "$pid" 2>/dev/null || true))
        signal_pid TERM "$pid"
    done
    tries=$(awk -v g="${STOP_GRACE:-3}" 'BEGIN { print int(g * 10) }')
    while :; do
        alive=0
        for pid in "${ours[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive = 0 ] || [ "$tries" -le 0 ] && break
        tries=$((tries - 1))
        sleep 0.1
    done
    for pid in "${ours[@]}"; do
        kill -0 "$pid" 2>/dev/null && { log "${STARTED[$pid]} ($pid) ignored SIGTERM: SIGKILL"; signal_pid KILL "$pid"; }
    done
    for pid in "${kids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${ours[@]}"; do wait "$pid" 2>/dev/null || true; unset "STARTED[$pid]"; done
    return 0
}
stop_pid() { stop_pids "$1"; }  # stop_pid PID

# A process that ended by itself: collect its exit status (in $?) and forget it.
reap_pid() {  # reap_pid PID
    local rc
    wait "$1" 2>/dev/null && rc=0 || rc=$?
    unset "STARTED[$1]"
    return $rc
}

# Stop everything still in STARTED; those whose description matches FIRST (a glob, e.g.
# 'plug*': the clients that hold switch ports and taps) go before the rest.
stop_started() {  # stop_started [FIRST]
    local pid first=() rest=()
    for pid in "${!STARTED[@]}"; do
        # shellcheck disable=SC2053  # $1 is a glob on purpose
        if [ -n "${1:-}" ] && [[ ${STARTED[$pid]} == $1 ]]; then first+=("$pid"); else rest+=("$pid"); fi
    done
    stop_pids "${first[@]}"
    stop_pids "${rest[@]}"
}

# Poll a condition (a command) every 0.1 s for at most $1 seconds; its last try decides.
wait_for() {  # wait_for SECONDS CMD...
    local secs=$1; shift
    for _ in $(seq $((secs * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}

# wait_for with a log line naming what did not come (output of CMD discarded).
wait_or_log() {  # wait_or_log SECONDS DESCRIPTION CMD...
    local secs=$1 what=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && { log "timed out after ${secs}s waiting for $what"; return 1; }
        sleep 0.1
    done
}

# Remove the script's scratch directory TMPD on exit, or keep it (and say where) with KEEP=1.
remove_tmpdir() {
    if [ -n "${TMPD:-}" ] && [ -d "$TMPD" ]; then
        if [ "${KEEP:-0}" = 1 ]; then log "kept $TMPD"; else rm -rf "$TMPD"; fi
    fi
}
