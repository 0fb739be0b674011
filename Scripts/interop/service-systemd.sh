#!/usr/bin/env bash
# service-systemd.sh — the template unit f2f-switch@.service under a real systemd.
#
# WHAT IT TESTS
#   This machine's PID 1 (and CI's) is not systemd, so the test boots one: systemd-nspawn
#   (Debian's systemd-container) boots this host's own root as a container, through an
#   overlay whose upper layer is a tmpfs (nothing the container writes reaches the host),
#   with a private network (loopback only) and the repository bound read-only at /f2f-repo.
#   Inside it, Scripts/install-service --binary installs the switch and the unit, and:
#     unit-installed       systemd loads f2f-switch@test (Type=notify)
#     ready-when-active    `systemctl start` returns with the unit active, the switch's
#                          STATUS= text shown, the console answering at once, and systemd
#                          having entered "active" after the main process started
#     inactive-until-ready a second instance whose process gets no NOTIFY_SOCKET (a drop-in:
#                          UnsetEnvironment=NOTIFY_SOCKET, TimeoutStartSec=4s) serves its
#                          console while systemd still says "activating", and fails at the
#                          timeout: "active" comes from READY=1 only
#     reload-in-place      a friend written to /var/lib/f2f-switch/test/friends, then
#                          `systemctl reload`: same MainPID, no restart, the friend in
#                          friend/print, the reload in the journal
#     stop-clean           `systemctl stop`: inactive (not failed), result success, the
#                          switch's own "switch stopped" in the journal, its console gone
#   Output: "PASS: check" / "FAIL: check: detail", then "N passed, M failed"; or one
#   "SKIP: reason" line when this machine cannot run it (not root, no systemd-nspawn and
#   --no-install, no overlayfs, the container does not boot): exit 0 then.
#
# USAGE (as root; installs systemd-container with apt-get if missing, unless --no-install)
#   Scripts/interop/service-systemd.sh [--switch PATH] [--keep] [--no-install]
#   --switch PATH   f2f-switch binary (default: $REPO/.build/debug/f2f-switch)
#   --keep          keep the temporary directory (boot log, journal of the units)
#
# CLEANUP (EXIT trap): powers the container off (SIGKILL to nspawn, by PID, if it has not
#   ended within 20 s), unmounts the overlay and its tmpfs, removes the temporary directory.

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
NSPAWN_PID=""
INIT_PID=""     # the container's systemd, as the host sees it
UNIT=f2f-switch@test

pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1: $2"; }
skip() { echo "SKIP: service under systemd: $*"; exit 0; }

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
    SWITCH=$(readlink -f "$SWITCH")
}

ensure_nspawn() {
    command -v systemd-nspawn >/dev/null && command -v socat >/dev/null && return 0
    [ "$DO_INSTALL" = 1 ] || skip "systemd-nspawn or socat missing (Debian: systemd-container, socat) and --no-install"
    local missing=()
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    command -v socat >/dev/null || missing+=(socat)
    install_packages "${missing[@]}"
}

# A command inside the container, in all its namespaces.
in_ct() { nsenter -t "$INIT_PID" -a -- "$@"; }
# The container's file PATH as the host reaches it (a unix socket too).
ct_path() { echo "/proc/$INIT_PID/root$1"; }
prop() { in_ct systemctl show -P "$2" "$1"; }   # prop UNIT PROPERTY

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        [ -n "$INIT_PID" ] && in_ct systemctl poweroff --no-block >/dev/null 2>&1
        wait_for 20 eval "! kill -0 $NSPAWN_PID 2>/dev/null" \
            || { log "the container did not power off: SIGKILL to nspawn $NSPAWN_PID"; kill -KILL "$NSPAWN_PID" 2>/dev/null; }
        wait "$NSPAWN_PID" 2>/dev/null
    fi
    if [ -n "$TMPD" ]; then
        mountpoint -q "$TMPD/root" && umount "$TMPD/root"
        mountpoint -q "$TMPD/layer" && umount "$TMPD/layer"
        remove_tmpdir
    fi
    exit $rc
}

# The host's root, writable through an overlay; boots it and waits for systemd to settle.
boot_container() {
    mkdir -p "$TMPD/layer" "$TMPD/root" || return 1
    mount -t tmpfs -o mode=0755 f2f-service-test "$TMPD/layer" || skip "cannot mount a tmpfs"
    mkdir -p "$TMPD/layer/upper" "$TMPD/layer/work"
    mount -t overlay f2f-service-test -o "lowerdir=/,upperdir=$TMPD/layer/upper,workdir=$TMPD/layer/work" "$TMPD/root" \
        || skip "cannot mount an overlay of / (overlayfs missing?)"
    # A machine id of its own: journald and nspawn refuse to share the host's.
    systemd-id128 new > "$TMPD/root/etc/machine-id" 2>/dev/null || rm -f "$TMPD/root/etc/machine-id"
    # --register=no --keep-unit: no machined and no systemd on the host to ask for a scope.
    systemd-nspawn -D "$TMPD/root" --register=no --keep-unit --link-journal=no --private-network \
        --machine=f2f-service-test --bind-ro="$REPO:/f2f-repo" --bind-ro="$SWITCH:/f2f-switch-under-test" \
        --console=pipe -b </dev/null >"$TMPD/boot.log" 2>&1 &
    NSPAWN_PID=$!
    for _ in $(seq 300); do
        INIT_PID=$(pgrep -P "$NSPAWN_PID" -x systemd | head -1)
        [ -n "$INIT_PID" ] && break
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$INIT_PID" ]; then
        sed 's/^/  boot| /' "$TMPD/boot.log" >&2
        skip "systemd-nspawn did not start the container's systemd (see the boot log above)"
    fi
    # Until systemd has its private socket, systemctl answers nothing: ask again.
    local state="" end=$((SECONDS + 90))
    while [ $SECONDS -lt $end ] && kill -0 "$NSPAWN_PID" 2>/dev/null; do
        state=$(timeout 90 nsenter -t "$INIT_PID" -a -- systemctl is-system-running --wait 2>/dev/null)
        case "$state" in running|degraded) break ;; esac
        sleep 0.5
    done
    case "$state" in
        running|degraded) log "container booted (state $state), its systemd is host PID $INIT_PID" ;;
        *) tail -n 20 "$TMPD/boot.log" | sed 's/^/  boot| /' >&2
           skip "the container's systemd did not finish booting (state '${state:-none}')" ;;
    esac
}

install_unit() {
    if ! in_ct /f2f-repo/Scripts/install-service --binary /f2f-switch-under-test test >"$TMPD/install.log" 2>&1; then
        sed 's/^/  install| /' "$TMPD/install.log"
        return 1
    fi
    # The loopback only: the container has a private network.
    in_ct sh -c 'echo "F2F_SWITCH_OPTS=\"--listen 127.0.0.1:7000\"" > /etc/f2f-switch/test.env' || return 1
    [ "$(prop "$UNIT" LoadState)" = loaded ] && [ "$(prop "$UNIT" Type)" = notify ]
}

console() {  # console INSTANCE COMMAND: the answer of the instance's console
    printf '%s\n' "$2" | timeout 5 socat -t 1 - "UNIX-CONNECT:$(ct_path "/run/f2f-switch/$1/mgmt")" 2>/dev/null | tr -d '\r'
}
console_answers() { console "$1" "friend/print" | grep -q '^Self '; }

journal_tail() {  # journal_tail UNIT
    in_ct journalctl -u "$1" --no-pager -n 15 -o cat 2>/dev/null | sed 's/^/  journal| /'
}

check_ready_when_active() {
    if ! in_ct timeout 60 systemctl start "$UNIT"; then
        fail ready-when-active "systemctl start failed"; journal_tail "$UNIT"; return 1
    fi
    # Right as start returns, without waiting: active means serving.
    local answered=no active status started entered
    console_answers test && answered=yes
    active=$(in_ct systemctl is-active "$UNIT")
    status=$(prop "$UNIT" StatusText)
    started=$(prop "$UNIT" ExecMainStartTimestampMonotonic)
    entered=$(prop "$UNIT" ActiveEnterTimestampMonotonic)
    if [ "$active" = active ] && [ "$answered" = yes ] && [[ "$status" == *ready* ]] && [ "${entered:-0}" -gt "${started:-0}" ]; then
        pass ready-when-active
        log "  status '$status', active $(( (entered - started) / 1000 )) ms after the process started"
    else
        fail ready-when-active "is-active '$active', console answered: $answered, status '$status', main started at $started, active at $entered"
        journal_tail "$UNIT"
    fi
}

check_inactive_until_ready() {
    local blind=f2f-switch@blind state seen_activating=no
    in_ct sh -c 'touch /etc/f2f-switch/blind.rc &&
        mkdir -p /etc/systemd/system/f2f-switch@blind.service.d &&
        printf "[Service]\nUnsetEnvironment=NOTIFY_SOCKET\nTimeoutStartSec=4s\nRestart=no\n" \
            > /etc/systemd/system/f2f-switch@blind.service.d/no-notify.conf &&
        systemctl daemon-reload' || { fail inactive-until-ready "cannot add the drop-in"; return; }
    in_ct systemctl start --no-block "$blind"
    # While systemd waits for a READY=1 that never comes, the switch already serves.
    for _ in $(seq 30); do
        state=$(in_ct systemctl is-active "$blind")
        if [ "$state" = activating ] && console_answers blind; then seen_activating=yes; break; fi
        sleep 0.1
    done
    wait_for 15 eval "[ \"\$(in_ct systemctl is-active $blind)\" = failed ]"
    state=$(in_ct systemctl is-active "$blind")
    local result
    result=$(prop "$blind" Result)
    if [ "$seen_activating" = yes ] && [ "$state" = failed ] && [ "$result" = timeout ]; then
        pass inactive-until-ready
    else
        fail inactive-until-ready "seen activating while its console answered: $seen_activating, then '$state' (result '$result')"
        journal_tail "$blind"
    fi
    in_ct systemctl reset-failed "$blind" >/dev/null 2>&1
}

check_reload_in_place() {
    local pid_before pid_after friend shown=no
    friend=$("$SWITCH" id --identity "$TMPD/friend.key" 2>/dev/null) || { fail reload-in-place "no friend id"; return; }
    pid_before=$(prop "$UNIT" MainPID)
    in_ct sh -c "printf '# added while it runs\n%s  # a friend\n' '$friend' > /var/lib/f2f-switch/test/friends &&
        chown f2f-switch:f2f-switch /var/lib/f2f-switch/test/friends && chmod 600 /var/lib/f2f-switch/test/friends" \
        || { fail reload-in-place "cannot write the friends file"; return; }
    if ! in_ct timeout 30 systemctl reload "$UNIT"; then
        fail reload-in-place "systemctl reload failed"; journal_tail "$UNIT"; return
    fi
    wait_for 10 eval "console test friend/print | grep -q '^Friend $friend'" && shown=yes
    pid_after=$(prop "$UNIT" MainPID)
    local restarts active reloaded=no
    restarts=$(prop "$UNIT" NRestarts)
    active=$(in_ct systemctl is-active "$UNIT")
    in_ct journalctl -u "$UNIT" --no-pager -o cat 2>/dev/null | grep -q 'friends reloaded' && reloaded=yes
    if [ "$pid_after" = "$pid_before" ] && [ "$pid_before" != 0 ] && [ "$shown" = yes ] && [ "$active" = active ] \
        && [ "$restarts" = 0 ] && [ "$reloaded" = yes ]; then
        pass reload-in-place
    else
        fail reload-in-place "MainPID $pid_before -> $pid_after, restarts $restarts, '$active', friend shown: $shown, journal says reloaded: $reloaded"
        journal_tail "$UNIT"
    fi
}

check_stop_clean() {
    if ! in_ct timeout 30 systemctl stop "$UNIT"; then
        fail stop-clean "systemctl stop failed"; journal_tail "$UNIT"; return
    fi
    local active result socket=gone stopped=no
    active=$(in_ct systemctl is-active "$UNIT")
    result=$(prop "$UNIT" Result)
    [ -e "$(ct_path /run/f2f-switch/test/mgmt)" ] && socket=present
    # Result=success alone would also follow a death by SIGTERM (a success for systemd):
    # the switch's own last line says it shut down in order.
    in_ct journalctl -u "$UNIT" --no-pager -o cat 2>/dev/null | grep -q 'switch stopped' && stopped=yes
    if [ "$active" = inactive ] && [ "$result" = success ] && [ "$stopped" = yes ] && [ "$socket" = gone ]; then
        pass stop-clean
    else
        fail stop-clean "'$active', result '$result', the switch logged its stop: $stopped, console socket $socket"
        journal_tail "$UNIT"
    fi
}

main() {
    parse_args "$@"
    [ "$(id -u)" = 0 ] || skip "needs root (mounts, systemd-nspawn)"
    ensure_nspawn
    TMPD=$(mktemp -d /tmp/f2f-service-systemd.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    log "switch: $SWITCH"
    boot_container
    if install_unit; then
        pass unit-installed
        check_ready_when_active
        check_inactive_until_ready
        check_reload_in_place
        check_stop_clean
    else
        fail unit-installed "load state '$(prop "$UNIT" LoadState)', type '$(prop "$UNIT" Type)'"
    fi
    in_ct journalctl -u 'f2f-switch@*' --no-pager -o short-monotonic >"$TMPD/journal.log" 2>&1
    echo "$PASSED passed, $FAILED failed"
    [ $FAILED = 0 ]
}

main "$@"
