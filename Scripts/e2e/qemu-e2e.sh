#!/usr/bin/env bash
# qemu-e2e.sh - end-to-end test of a VDE-compatible switch with real QEMU guests.
#
# Boots tiny Linux guests (Debian cloud kernel + busybox initramfs) under QEMU
# TCG, plugs them into the switch under test through QEMU's `-netdev vde`
# (libvdeplug, i.e. the real VDE client protocol), and lets them talk.
# Works with any vde_switch-compatible switch: f2f-switch (default) or
# Debian's vde_switch.
#
# Usage:
#   Scripts/e2e/qemu-e2e.sh [--switch CMD] [--scenario NAME]... [options]
#   Scripts/e2e/qemu-e2e.sh --switch /usr/bin/vde_switch
#
# Scenarios: two-guests (two guests, one switch), netdev-options (QEMU's
# port=/mode= netdev options), two-switches (one guest on each of two
# f2f-switches linked over TCP on 127.0.0.1; skipped for other switches),
# stream-dgram (QEMU without VDE: one guest on `-netdev stream` to --stream,
# one on `-netdev dgram` to --dgram, one on `-netdev socket,connect=` (libvirt
# type='client') to --stream over TCP, all ping a `-netdev vde` guest;
# f2f-switch only).
#
# Output: one "PASS: <name>", "FAIL: <name>: <reason>" or "SKIP: <name>: <why>"
# per scenario and a final "N passed, M failed" line (skips count in
# neither); exit status 0 only if nothing failed.
#
# Runs as root on a fresh Debian 12: installs its own packages with apt and
# caches the guest kernel under $E2E_CACHE_DIR. Needs no network in the
# guests beyond the virtual switch (no user-mode networking, no host taps).

set -uo pipefail   # no `set -e`: every step checks its own status and reports

# Process bookkeeping (spawn, stop_pids, reap_pid, stop_started), install_packages,
# pick_free_port, mgmt_cmd (log, die and usage are redefined below: this script keeps its own
# "[e2e ...]" log prefix and exit status 2).
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

# ---------------------------------------------------------------------------
# Configuration (environment variables; the options below override them)
# ---------------------------------------------------------------------------
SWITCH_CMD=${SWITCH_CMD:-f2f-switch}        # command (may include args) of the switch under test
SWITCH_ARGS=${SWITCH_ARGS:-}                 # extra args appended to every switch start
E2E_MGMT=${E2E_MGMT:-1}                      # 1: start the switch with -M and query its console
E2E_CACHE_DIR=${E2E_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/f2f-switch-e2e}
E2E_KEEP=${E2E_KEEP:-0}                      # 1: keep the work dir (logs) after the run
E2E_BULK_MIB=${E2E_BULK_MIB:-8}              # size of the bulk TCP transfer in two-guests
E2E_GUEST_DEADLINE=${E2E_GUEST_DEADLINE:-80} # seconds a guest may run before it powers itself off
E2E_QEMU_TIMEOUT=${E2E_QEMU_TIMEOUT:-100}    # host-side hard limit per QEMU process
E2E_PEER_GRACE=${E2E_PEER_GRACE:-30}         # seconds a guest may outlive its peer
E2E_ACCEL=${E2E_ACCEL:-tcg}                  # KVM is present but unusable on the CI machines
QEMU_BIN=${QEMU_BIN:-qemu-system-x86_64}
KERNEL_META_PKG=${KERNEL_META_PKG:-linux-image-cloud-amd64}

# Scenario registry: "name:function[:needs]". A scenario with a `needs` field
# runs only when the switch under test has that capability (see
# switch_has); otherwise it prints "SKIP: name: needs ..." and counts neither
# as passed nor as failed. Capabilities: peers (f2f-switch --listen/--peer).
ALL_SCENARIOS=(
    "two-guests:scenario_two_guests"
    "netdev-options:scenario_netdev_options"
    "two-switches:scenario_two_switches:peers"
    "stream-dgram:scenario_stream_dgram:qemu-netdevs"
)

# Guest addresses come from TEST-NET-1 (RFC 5737). The traffic only ever
# exists inside QEMU and the switch's unix sockets; no host interface sees it.
NET_PREFIX=192.0.2
BULK_PORT=5001

# virtio-net and what it needs, in load order. On the Debian cloud kernel all
# are modules; whichever is built in (modules.builtin) is simply skipped.
# (The cloud kernel has no e1000, hence virtio.)
VIRTIO_NET_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
                    virtio_pci failover net_failover virtio_net)

# ---------------------------------------------------------------------------
# Logging helpers
# ---------------------------------------------------------------------------
log()  { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }
die()  { printf 'qemu-e2e: error: %s\n' "$*" >&2; exit 2; }

usage() {
    cat <<EOF
Usage: $0 [options]

Options:
  --switch CMD       switch command under test (default: \$SWITCH_CMD or f2f-switch)
  --switch-args ARGS extra arguments for every switch start (\$SWITCH_ARGS)
  --scenario NAME    run only NAME (repeatable); known: $(scenario_names)
  --no-mgmt          do not pass -M to the switch (skips console checks)
  --bulk-mib N       bulk TCP transfer size in MiB (default $E2E_BULK_MIB)
  --cache-dir DIR    kernel/initramfs cache (default $E2E_CACHE_DIR)
  --keep             keep the work directory with all logs
  -h, --help         this help

The switch is started as: CMD -s DIR [-M MGMT] [ARGS]; it must run in the
foreground and exit on SIGTERM. Its stdin is kept open and silent, so
vde_switch (which quits on stdin EOF) works without --daemon.
EOF
}

scenario_names() { local s; for s in "${ALL_SCENARIOS[@]}"; do printf '%s ' "${s%%:*}"; done; }

# ---------------------------------------------------------------------------
# Process bookkeeping (lib/procs.sh): everything we start is in STARTED and is
# stopped by PID on exit; nothing is ever killed by name. Switches and QEMU run
# under `timeout` wrappers; stop_pids also kills a stopped wrapper's children.
# ---------------------------------------------------------------------------
WORK=""
declare -A STARTED=()

cleanup() {
    stop_started
    release_stdin
    TMPD=$WORK KEEP=$E2E_KEEP remove_tmpdir
}

# ---------------------------------------------------------------------------
# Host prerequisites
# ---------------------------------------------------------------------------
ensure_packages() {
    local missing=()
    command -v "$QEMU_BIN" >/dev/null || missing+=(qemu-system-x86)
    # The guest needs a *static* busybox; the dynamic `busybox` package won't do.
    [[ $(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null) == *" installed" ]] ||
        missing+=(busybox-static)
    command -v socat >/dev/null || missing+=(socat)        # talks to the mgmt console
    command -v xz >/dev/null || missing+=(xz-utils)        # .ko.xz modules (newer kernels)
    command -v timeout >/dev/null || missing+=(coreutils)
    command -v gzip >/dev/null || missing+=(gzip)
    command -v ps >/dev/null || missing+=(procps)
    # Only install vde2 when testing against vde_switch itself.
    if [[ $(basename -- "${SWITCH_ARGV[0]}") == vde_switch ]] && ! command -v vde_switch >/dev/null; then
        missing+=(vde2)
    fi
    install_packages "${missing[@]}"
}

BUSYBOX=/bin/busybox   # from busybox-static

# ---------------------------------------------------------------------------
# Guest kernel: never installed, only downloaded and unpacked into the cache.
# Sets KERNEL (vmlinuz) and KMOD_DIR (directory with the .ko files + "order").
# ---------------------------------------------------------------------------
KERNEL="" KMOD_DIR=""

# linux-image-cloud-amd64 is a meta package; its Depends names the real,
# versioned linux-image-<ver>-cloud-amd64.
resolve_kernel_pkg() {
    apt-cache depends "$KERNEL_META_PKG" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# Copy the virtio-net module chain out of an unpacked kernel package.
extract_modules() {
    local root=$1 ver=$2 dest=$3 m f moddir builtin
    for moddir in "$root/lib/modules/$ver" "$root/usr/lib/modules/$ver" ""; do
        [[ -d $moddir ]] && break
    done
    [[ -n $moddir ]] || { log "no module directory for $ver"; return 1; }
    : >"$dest/order"
    for m in "${VIRTIO_NET_MODULES[@]}"; do
        f=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
        builtin=$(grep -c "/$m\.ko\$" "$moddir/modules.builtin" 2>/dev/null)
        if [[ -z $f ]]; then
            [[ ${builtin:-0} != 0 ]] || log "warning: module $m neither found nor built in"
            continue
        fi
        # busybox insmod cannot read compressed modules: decompress here.
        case $f in
            *.ko.xz)  xz -dc "$f" >"$dest/$m.ko" || return 1 ;;
            *.ko.zst) zstd -qdc "$f" >"$dest/$m.ko" || return 1 ;;
            *)        cp "$f" "$dest/$m.ko" || return 1 ;;
        esac
        echo "$m" >>"$dest/order"
    done
    grep -qx virtio_net "$dest/order" || grep -q '/virtio_net\.ko$' "$moddir/modules.builtin" ||
        { log "virtio_net missing from kernel package"; return 1; }
}

download_kernel() {
    local pkg=$1 dir=$2 tmp deb ver
    ver=${pkg#linux-image-}
    tmp=$(mktemp -d "$WORK/kernel.XXXXXX") || return 1   # removed with $WORK
    # apt-get download writes into the cwd (as root it warns that _apt
    # cannot read the directory: harmless).
    if ! (cd "$tmp" && apt-get download "$pkg") >"$tmp/apt.log" 2>&1; then
        log "apt-get download $pkg failed: $(tail -n 2 "$tmp/apt.log" | tr '\n' ' ')"
        return 1
    fi
    deb=$(find "$tmp" -maxdepth 1 -name '*.deb' | head -n1)
    mkdir -p "$tmp/root" "$tmp/out/modules"
    if ! dpkg-deb -x "$deb" "$tmp/root" ||
       ! cp "$tmp/root/boot/vmlinuz-$ver" "$tmp/out/vmlinuz" ||
       ! extract_modules "$tmp/root" "$ver" "$tmp/out/modules"; then
        log "unpacking $deb failed"
        return 1
    fi
    # Publish with a rename so an interrupted run never leaves a half cache.
    rm -rf "$dir" "$dir.part" && cp -r "$tmp/out" "$dir.part" && mv "$dir.part" "$dir"
}

prepare_kernel() {
    local pkg dir cached
    mkdir -p "$E2E_CACHE_DIR" || die "cannot create $E2E_CACHE_DIR"
    pkg=$(resolve_kernel_pkg)
    if [[ -z $pkg ]]; then
        apt_update_once && pkg=$(resolve_kernel_pkg)
    fi
    if [[ -z $pkg ]]; then
        # Offline with a warm cache is fine: take the newest cached kernel.
        cached=$(find "$E2E_CACHE_DIR" -maxdepth 2 -path '*/kernel-*/vmlinuz' | sort -V | tail -n1)
        [[ -n $cached ]] || die "cannot resolve $KERNEL_META_PKG and no cached kernel"
        dir=${cached%/vmlinuz}
    else
        dir=$E2E_CACHE_DIR/kernel-${pkg#linux-image-}
        if [[ ! -f $dir/vmlinuz ]]; then
            log "downloading guest kernel $pkg"
            if ! download_kernel "$pkg" "$dir"; then
                # The package lists may be stale (old version gone from the mirror).
                APT_UPDATED=0
                apt_update_once && pkg=$(resolve_kernel_pkg)
                [[ -n $pkg ]] || die "cannot resolve $KERNEL_META_PKG"
                dir=$E2E_CACHE_DIR/kernel-${pkg#linux-image-}
                [[ -f $dir/vmlinuz ]] || download_kernel "$pkg" "$dir" ||
                    die "could not download the guest kernel $pkg"
            fi
        fi
    fi
    KERNEL=$dir/vmlinuz
    KMOD_DIR=$dir/modules
    log "guest kernel: $KERNEL ($(tr '\n' ' ' <"$KMOD_DIR/order"))"
}

# ---------------------------------------------------------------------------
# Guest initramfs: static busybox + /init below + the virtio-net modules.
# Cached by content hash; rebuilding costs about a second anyway.
# ---------------------------------------------------------------------------
INITRD=""

# /init of every guest (busybox ash, PID 1). All parameters arrive as
# e2e.* words on the kernel command line; results leave as "E2E key=value"
# lines on the serial console, which the host parses. Roles:
#   server: pings the peer, then receives the bulk transfer
#   client: generates the bulk data, pings the peer, then sends the data
guest_init_script() {
    cat <<'GUEST_INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

say() { echo "E2E $*"; }
fail() { say "fail=$*"; }
finish() { say "done=1"; sync; poweroff -f; sleep 10; }

# value of e2e.NAME=... on the kernel command line, or $2
param() {
    for w in $(cat /proc/cmdline); do
        case $w in "e2e.$1="*) echo "${w#*=}"; return ;; esac
    done
    echo "$2"
}
now() { cut -d. -f1 /proc/uptime; }

# retry_until SECONDS CMD...: rerun CMD until it succeeds, false after SECONDS
retry_until() {
    end=$(( $(now) + $1 )); shift
    until "$@"; do
        [ "$(now)" -ge "$end" ] && return 1
        usleep 300000
    done
}

# snmp_ip FIELD: a counter from the Ip: lines of /proc/net/snmp
# icmp_in_echos: echo requests this guest has received (someone pinged it)
icmp_in_echos() {
    awk '$1 == "Icmp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "InEchos") c = i; h = 1 }
                         else print $c }' /proc/net/snmp
}
pinged() { [ "$(icmp_in_echos)" -gt 0 ]; }

snmp_ip() {
    awk -v f="$1" '$1 == "Ip:" { if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1 }
                                 else for (i = 2; i <= NF; i++) if (n[i] == f) print $i }' /proc/net/snmp
}

ROLE=$(param role none)
IP=$(param ip "")
PEER=$(param peer "")
BULK_MIB=$(param bulk_mib 1)
BULK_PORT=$(param bulk_port 5001)
DEADLINE=$(param deadline 80)
# More guests (comma-separated) the server must reach before the bulk transfer (stream-dgram).
EXTRA=$(param extra "")

# Whatever happens below, the guest powers off on its own in time.
( sleep "$DEADLINE"; fail "guest_deadline_${DEADLINE}s"; poweroff -f ) &

say "role=$ROLE"

while read -r m; do
    insmod "/lib/modules/$m.ko" || fail "insmod_$m"
done </lib/modules/order

if ! retry_until 10 test -e /sys/class/net/eth0; then
    fail "no_eth0"; finish
fi

if [ "$ROLE" = client ]; then
    # Random but fixed once written: both checksums are taken over this file.
    dd if=/dev/urandom of=/tmp/tx bs=65536 count=$((BULK_MIB * 16)) 2>/dev/null
    say "bulk_tx_sha256=$(sha256sum </tmp/tx | cut -d' ' -f1)"
    say "bulk_tx_bytes=$(wc -c </tmp/tx)"
fi

ip link set lo up
ip addr add "$IP/24" dev eth0
ip link set eth0 up
say "mac=$(cat /sys/class/net/eth0/address)"

# Handshake: the peer boots concurrently; keep pinging until it answers.
if retry_until $((DEADLINE / 2)) ping -c 1 -W 1 "$PEER" >/dev/null 2>&1; then
    say "ping=ok"
else
    fail "peer_${PEER}_unreachable"; finish
fi

# Full-size frames: 1472 bytes of ICMP payload + 8 ICMP + 20 IP = 1500-byte IP
# packets = 1514-byte Ethernet frames. busybox ping cannot set DF, so prove
# "no fragmentation" from the IP counters instead: neither fragments created
# here nor reassembly needed for the replies.
out=$(ping -c 3 -s 1472 -W 3 "$PEER" 2>&1)
frag=$(snmp_ip FragCreates); reasm=$(snmp_ip ReasmReqds)
say "bigping_summary=$(echo "$out" | grep 'packets transmitted' | tr ' ' '_')"
if echo "$out" | grep -q ' 3 packets received' && [ "$frag" = 0 ] && [ "$reasm" = 0 ]; then
    say "bigping=ok"
else
    fail "bigping(frag_creates=$frag,reasm_reqds=$reasm)"
fi

if [ -n "$EXTRA" ]; then
    extra_ok=1
    for x in $(echo "$EXTRA" | tr , ' '); do
        retry_until $((DEADLINE / 2)) ping -c 1 -W 1 "$x" >/dev/null 2>&1 || { fail "extra_${x}_unreachable"; extra_ok=0; }
    done
    [ "$extra_ok" = 1 ] && say "extra_ping=ok"
fi

# A pinger has no bulk transfer: it stays up until the server has pinged it
# (its closing barrier), then powers off.
if [ "$ROLE" = pinger ]; then
    if retry_until $((DEADLINE / 2)) pinged; then say "pinged=ok"; else fail "never_pinged"; fi
fi

# The bulk transfer doubles as the closing barrier: the server only listens
# once its own pings are done and the client retries until it may connect,
# so neither guest powers off while the other still needs it.
if [ "$ROLE" = client ]; then
    if retry_until $((DEADLINE / 2)) timeout $((DEADLINE / 2)) nc "$PEER" "$BULK_PORT" </tmp/tx; then
        say "bulk_sent=ok"
    else
        fail "bulk_send"
    fi
elif [ "$ROLE" = server ]; then
    # nc half-closes as soon as its stdin hits EOF, which would end the
    # transfer early: give it a FIFO opened read-write, which never does.
    mkfifo /tmp/idle
    if timeout $((DEADLINE / 2)) nc -l -p "$BULK_PORT" 0<>/tmp/idle >/tmp/rx; then
        say "bulk_rx_sha256=$(sha256sum </tmp/rx | cut -d' ' -f1)"
        say "bulk_rx_bytes=$(wc -c </tmp/rx)"
    else
        fail "bulk_receive"
    fi
fi
finish
GUEST_INIT
}

build_initramfs() {
    local hash stage out
    hash=$( { guest_init_script; cat "$KMOD_DIR/order"; sha256sum "$KERNEL" "$BUSYBOX"; } |
            sha256sum | cut -c1-16)
    out=$E2E_CACHE_DIR/initramfs-$hash.cpio.gz
    if [[ ! -f $out ]]; then
        stage=$(mktemp -d "$WORK/initramfs.XXXXXX") || return 1
        mkdir -p "$stage"/{bin,dev,proc,sys,tmp,lib/modules} &&
            cp "$BUSYBOX" "$stage/bin/busybox" &&
            cp "$KMOD_DIR"/*.ko "$KMOD_DIR/order" "$stage/lib/modules/" &&
            guest_init_script >"$stage/init" && chmod 755 "$stage/init" ||
            return 1
        # newc is the format the kernel unpacks; busybox cpio is always at hand.
        (cd "$stage" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -9 >"$out.tmp" &&
            mv "$out.tmp" "$out" || return 1
        rm -rf "$stage"
        # Drop initramfs images of older script versions.
        find "$E2E_CACHE_DIR" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${out##*/}" -delete
    fi
    INITRD=$out
}

# ---------------------------------------------------------------------------
# Switch instances. State lives in associative arrays keyed by instance name.
# ---------------------------------------------------------------------------
declare -A SW_DIR SW_MGMT SW_PID

# start_switch NAME [EXTRA_ARGS...]: run the switch under test in the
# foreground (wrapped in `timeout` so it can never outlive us by much) and
# wait until its control socket exists: QEMU refuses to start before that.
start_switch() {
    local name=$1; shift
    local dir=$SCEN_DIR/$name.sock mgmt=$SCEN_DIR/$name.mgmt log=$SCEN_DIR/$name.log
    local pid argv deadline
    argv=("${SWITCH_ARGV[@]}" -s "$dir")
    [[ $E2E_MGMT == 1 ]] && argv+=(-M "$mgmt")
    # shellcheck disable=SC2206  # SWITCH_ARGS is deliberately word-split
    argv+=($SWITCH_ARGS "$@")

    # vde_switch reads console commands from stdin and quits on EOF: spawn
    # gives it the run's held FIFO (hold_stdin in main), silent and never at EOF.
    spawn "$log" "switch $name" timeout -k 5 600 "${argv[@]}"
    pid=$SPAWNED
    SW_DIR[$name]=$dir SW_MGMT[$name]=$mgmt SW_PID[$name]=$pid
    log "$name: ${argv[*]} (pid $pid)"

    deadline=$((SECONDS + 15))
    until [[ -S $dir/ctl && ( $E2E_MGMT != 1 || -S $mgmt ) ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            reap_pid "$pid"
            SCEN_ERR+=("switch $name exited early (status $?): $(tail -n 3 "$log" | tr '\n' ' ')")
            return 1
        fi
        if ((SECONDS >= deadline)); then
            SCEN_ERR+=("switch $name: control/mgmt socket missing after 15s")
            return 1
        fi
        sleep 0.1
    done
}

stop_switch() {
    local name=$1
    STOP_GRACE=5 stop_pid "${SW_PID[$name]}"
}

# switch_mgmt NAME COMMAND: send one line to switch NAME's management console
# and print what comes back (mgmt_cmd, by socket path, is in lib/common.sh).
switch_mgmt() { mgmt_cmd "${SW_MGMT[$1]}" "$2"; }

# ---------------------------------------------------------------------------
# Guests
# ---------------------------------------------------------------------------
declare -A G_PID G_LOG

# start_guest NAME SWITCH ROLE IP PEER_IP MAC [NETDEV_OPTS] [BULK_MIB (>= 1)] [EXTRA_IP]
# NETDEV_OPTS "netdev:SPEC" replaces the VDE netdev by -netdev SPEC,id=n0
# (stream, dgram); anything else is appended to the vde netdev's options.
# Every QEMU gets a distinct MAC (they would all default to the same one)
# and exactly one NIC: -nic none drops the default user-mode network.
start_guest() {
    local name=$1 sw=$2 role=$3 ip=$4 peer=$5 mac=$6 nopts=${7:-} bulk=${8:-1} extra=${9:-}
    local log=$SCEN_DIR/$name.serial cmdline pid netdev
    if [[ $nopts == netdev:* ]]; then
        netdev="${nopts#netdev:},id=n0"
    else
        netdev="vde,id=n0,sock=${SW_DIR[$sw]}${nopts:+,$nopts}"
    fi
    cmdline="console=ttyS0 quiet panic=-1 e2e.role=$role e2e.ip=$ip e2e.peer=$peer"
    cmdline+=" e2e.bulk_mib=$bulk e2e.bulk_port=$BULK_PORT e2e.deadline=$E2E_GUEST_DEADLINE"
    [[ -n $extra ]] && cmdline+=" e2e.extra=$extra"
    # -display none + -monitor none instead of -nographic: same effect for
    # us, but QEMU never touches the terminal or stdin of a background job.
    # romfile= skips the iPXE option ROM we would never use.
    spawn "$SCEN_DIR/$name.qemu.log" "guest $name" \
        timeout -k 5 "$E2E_QEMU_TIMEOUT" "$QEMU_BIN" \
        -accel "$E2E_ACCEL" -m 256 -smp 1 \
        -nodefaults -no-user-config -display none -monitor none \
        -serial "file:$log" -no-reboot -nic none \
        -kernel "$KERNEL" -initrd "$INITRD" -append "$cmdline" \
        -netdev "$netdev" \
        -device "virtio-net-pci,netdev=n0,mac=$mac,romfile="
    pid=$SPAWNED
    G_PID[$name]=$pid G_LOG[$name]=$log
    log "$name: $role $ip on ${SW_DIR[$sw]} ($netdev) mac $mac (pid $pid)"
}

# Wait for the guests to power off. Guests of one scenario finish within
# seconds of each other (the bulk transfer is their closing barrier), so once
# one is done the others get E2E_PEER_GRACE more seconds and are then
# stopped: a guest stuck on a broken switch does not cost the whole QEMU
# timeout.
wait_guests() {
    local g rc pending=("$@") still first_done=""
    while ((${#pending[@]})); do
        still=()
        for g in "${pending[@]}"; do
            if guest_running "$g"; then still+=("$g"); continue; fi
            reap_pid "${G_PID[$g]}"; rc=$?
            first_done=${first_done:-$SECONDS}
            case $rc in
                0) ;;
                124) SCEN_ERR+=("$g: QEMU killed after ${E2E_QEMU_TIMEOUT}s") ;;
                *) SCEN_ERR+=("$g: QEMU exited $rc: $(tail -n 2 "$SCEN_DIR/$g.qemu.log" | tr '\n' ' ')") ;;
            esac
        done
        pending=("${still[@]}")
        if ((${#pending[@]})) && [[ -n $first_done ]] && ((SECONDS - first_done >= E2E_PEER_GRACE)); then
            for g in "${pending[@]}"; do
                stop_pid "${G_PID[$g]}"
                SCEN_ERR+=("$g: still running ${E2E_PEER_GRACE}s after its peer finished (stopped)")
            done
            return
        fi
        sleep 0.2
    done
}

guest_running() { kill -0 "${G_PID[$1]}" 2>/dev/null; }

# "E2E key=value" lines from a guest's serial log (console may add \r and
# kernel messages may precede our text on the same line).
guest_results() {
    [[ -f ${G_LOG[$1]} ]] || return 0
    tr -d '\r' <"${G_LOG[$1]}" | sed -n 's/.*E2E \([a-z_0-9]*=.*\)$/\1/p'
}

# guest_value GUEST KEY: last value reported for KEY (empty if none)
guest_value() { guest_results "$1" | sed -n "s/^$2=//p" | tail -n1; }

# Generic per-guest checks: it booted, reported no failure, reached its peer,
# passed full-size frames and finished. The guest reports a fail= line for
# each step that goes wrong; the host-side checks catch a guest that died
# without saying anything.
check_guest_basics() {
    local g=$1 f fails=0
    if [[ ! -s ${G_LOG[$g]} ]]; then
        SCEN_ERR+=("$g: no serial output (QEMU never started the guest: stuck connecting to the switch?)")
        return
    fi
    while read -r f; do
        SCEN_ERR+=("$g: guest reported $f"); fails=$((fails + 1))
    done < <(guest_results "$g" | sed -n 's/^fail=//p')
    ((fails)) && return
    [[ $(guest_value "$g" ping) == ok ]] || SCEN_ERR+=("$g: no ping reply from peer")
    [[ $(guest_value "$g" bigping) == ok ]] || SCEN_ERR+=("$g: 1514-byte frames not confirmed")
    [[ $(guest_value "$g" "done") == 1 ]] || SCEN_ERR+=("$g: guest did not finish")
}

# check_bulk SERVER CLIENT MIB: the host compares the checksums both guests
# printed for the transferred data.
check_bulk() {
    local srv=$1 cli=$2 mib=$3 tx rx txb rxb
    tx=$(guest_value "$cli" bulk_tx_sha256); rx=$(guest_value "$srv" bulk_rx_sha256)
    txb=$(guest_value "$cli" bulk_tx_bytes); rxb=$(guest_value "$srv" bulk_rx_bytes)
    if [[ -z $tx || -z $rx ]]; then
        SCEN_ERR+=("bulk: missing checksum (tx='$tx' rx='$rx')")
    elif [[ $tx != "$rx" || $rxb != $((mib * 1048576)) ]]; then
        SCEN_ERR+=("bulk: data differs (sent $txb bytes sha256 ${tx:0:12}.., received $rxb bytes sha256 ${rx:0:12}..)")
    else
        log "bulk: $rxb bytes, sha256 ${rx:0:16}.. identical on both sides"
    fi
}

# ---------------------------------------------------------------------------
# Scenarios. Each appends failure reasons to SCEN_ERR; run_scenario turns
# that into PASS/FAIL and tears down whatever is still running.
# ---------------------------------------------------------------------------

# (a) two guests on one switch: pings both ways, full-size frames, bulk TCP.
scenario_two_guests() {
    start_switch sw1 || return
    start_guest g1 sw1 server "$NET_PREFIX.1" "$NET_PREFIX.2" 52:54:00:e2:e0:01 "" "$E2E_BULK_MIB"
    start_guest g2 sw1 client "$NET_PREFIX.2" "$NET_PREFIX.1" 52:54:00:e2:e0:02 "" "$E2E_BULK_MIB"
    wait_guests g1 g2
    check_guest_basics g1
    check_guest_basics g2
    check_bulk g1 g2 "$E2E_BULK_MIB"
    stop_switch sw1
}

# (c) QEMU netdev options port=N and mode=: the switch must hand out the
# requested port, and the data socket libvdeplug connects to must get the
# requested permissions. (libvdeplug binds its own socket DIR/.PID-NNNNN
# with `mode`, and after the handshake unlinks it and chmods the data socket
# the switch answered with to `mode`: that one is what stays observable.)
scenario_netdev_options() {
    local port=5 mode=0770 port_ok=0 mode_ok=0 deadline out socks=""
    start_switch sw1 || return
    # Default guest first, so the mode=0770 guest's chmod is the last one
    # even if a switch used one data socket for all ports.
    start_guest g1 sw1 server "$NET_PREFIX.1" "$NET_PREFIX.2" 52:54:00:e2:e0:11 "" 1
    start_guest g2 sw1 client "$NET_PREFIX.2" "$NET_PREFIX.1" 52:54:00:e2:e0:12 "port=$port,mode=$mode" 1

    # Observe while the guests are connected (QEMU connects at start-up,
    # long before the guests finish).
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)) && guest_running g1 && guest_running g2; do
        if [[ $E2E_MGMT == 1 && $port_ok == 0 ]]; then
            out=$(switch_mgmt sw1 port/print | grep -E "Port $(printf %04d "$port")[^0-9].*ACTIVE")
            [[ -n $out ]] && port_ok=1 && log "mgmt port/print: $out"
        fi
        socks=$(find "${SW_DIR[sw1]}" -maxdepth 1 -type s ! -name ctl -printf '%f:%m ' 2>/dev/null)
        [[ " $socks" == *":${mode#0} "* ]] && mode_ok=1
        [[ ($port_ok == 1 || $E2E_MGMT != 1) && $mode_ok == 1 ]] && break
        sleep 0.3
    done
    if [[ $E2E_MGMT == 1 ]]; then
        ((port_ok)) || SCEN_ERR+=("mgmt port/print never showed 'Port $(printf %04d "$port") ... ACTIVE'")
    else
        log "NOTE: management console disabled (--no-mgmt): port number not verified"
    fi
    ((mode_ok)) || SCEN_ERR+=("no data socket with mode ${mode#0} in ${SW_DIR[sw1]} (saw: ${socks:-none})")
    ((mode_ok)) && log "sockets in switch dir: $socks"

    wait_guests g1 g2
    check_guest_basics g1
    check_guest_basics g2
    check_bulk g1 g2 1
    stop_switch sw1
}

# (b) two switches linked over TCP: sw1 accepts F2F peers on a loopback port,
# sw2 dials it; g1 sits on sw1, g2 on sw2, so every frame between them
# (pings, 1514-byte frames, the bulk transfer) crosses the TCP link.
# Same guest-side checks as two-guests. f2f-switch only (needs "peers").
scenario_two_switches() {
    local port attempt nerr out1 out2 id1 id2 key1=$SCEN_DIR/sw1.key key2=$SCEN_DIR/sw2.key
    # Friends only: each switch gets its own identity and admits the other's id.
    id1=$("${SWITCH_ARGV[@]}" id --identity "$key1" 2>/dev/null) &&
        id2=$("${SWITCH_ARGV[@]}" id --identity "$key2" 2>/dev/null) ||
        { SCEN_ERR+=("f2f-switch id could not create the identities"); return; }
    # A port found free may be taken before sw1 binds it: sw1 then exits
    # (listen failed; it may have created its sockets already), and we try
    # again with another port.
    for attempt in 1 2 3; do
        port=$(pick_free_port) || { SCEN_ERR+=("no free TCP port on 127.0.0.1"); return; }
        nerr=${#SCEN_ERR[@]}
        start_switch sw1 --listen "127.0.0.1:$port" --name e2e-sw1 --identity "$key1" --friend "$id2" &&
            wait_tcp_listen sw1 "$port" 15 && break
        if ((attempt < 3)) && grep -q 'listen on .* failed' "$SCEN_DIR/sw1.log" 2>/dev/null; then
            log "sw1: port $port taken meanwhile, retrying with another one"
            SCEN_ERR=("${SCEN_ERR[@]:0:nerr}")
            kill -0 "${SW_PID[sw1]}" 2>/dev/null && stop_switch sw1
            rm -rf -- "$SCEN_DIR/sw1.sock" "$SCEN_DIR/sw1.mgmt" "$SCEN_DIR/sw1.stdin"
            mv -f -- "$SCEN_DIR/sw1.log" "$SCEN_DIR/sw1.attempt$attempt.log"
            continue
        fi
        return
    done
    start_switch sw2 --peer "$id1@127.0.0.1:$port" --name e2e-sw2 --identity "$key2" || return

    # Wait for the peer link before booting the guests, so a link that never
    # comes up is reported as such and not as "peer unreachable" 40 s later.
    # Without the console (--no-mgmt) the guests' ping retries cover it.
    if [[ $E2E_MGMT == 1 ]]; then
        if ! wait_peer_link sw1 15 || ! wait_peer_link sw2 5; then
            SCEN_ERR+=("peer link sw2 -> sw1 (127.0.0.1:$port) not ESTABLISHED within 20s")
            log "sw1 peer/print: $(switch_mgmt sw1 peer/print | tr -d '\r' | tr '\n' '|')"
            log "sw2 peer/print: $(switch_mgmt sw2 peer/print | tr -d '\r' | tr '\n' '|')"
            return
        fi
        log "peer link up: $(switch_mgmt sw2 peer/print | grep -E "$PEER_UP_RE")"
    else
        log "NOTE: management console disabled (--no-mgmt): peer link state not checked"
    fi

    start_guest g1 sw1 server "$NET_PREFIX.1" "$NET_PREFIX.2" 52:54:00:e2:e0:21 "" "$E2E_BULK_MIB"
    start_guest g2 sw2 client "$NET_PREFIX.2" "$NET_PREFIX.1" 52:54:00:e2:e0:22 "" "$E2E_BULK_MIB"
    wait_guests g1 g2
    check_guest_basics g1
    check_guest_basics g2
    check_bulk g1 g2 "$E2E_BULK_MIB"

    if [[ $E2E_MGMT == 1 ]]; then
        # For the log: link counters after the run (a flapping link shows
        # up as reconnects > 0 or a short uptime).
        out1=$(switch_mgmt sw1 peer/print | tr -d '\r' | sed -n '/^Peer /,/^ frames/p' | tr '\n' ' ')
        out2=$(switch_mgmt sw2 peer/print | tr -d '\r' | sed -n '/^Peer /,/^ frames/p' | tr '\n' ' ')
        log "sw1 after run: ${out1:-no peer}"
        log "sw2 after run: ${out2:-no peer}"
        # UDP is the default path: the bulk transfer into g1 must have crossed as datagrams
        # (at least half its full-size segments; TCP is only the fallback).
        local datagrams_in wanted=$((E2E_BULK_MIB * 1048576 / 1448 / 2))
        datagrams_in=$(grep -o 'datagrams in [0-9]*' <<<"$out1" | head -1 | awk '{ print $3 }')
        if [[ " ${SWITCH_ARGV[*]} " != *" --no-udp "* ]] && { [[ $out1 != *" path udp "* ]] || ((${datagrams_in:-0} < wanted)); }; then
            SCEN_ERR+=("the guests' bulk did not cross the link over UDP (${datagrams_in:-no} datagrams in, wanted $wanted)")
        fi
    fi
    stop_switch sw2
    stop_switch sw1
}

# (d) QEMU without VDE: g2 attaches with `-netdev stream` (4-byte length
# framing on the switch's --stream unix socket), g3 with `-netdev dgram` (one
# frame per datagram to the switch's --dgram socket), g4 with the socket
# netdev libvirt's <interface type='client'> uses (`-netdev socket,connect=`,
# the same framing over TCP to --stream 127.0.0.1:PORT); all ping g1, which
# attaches with `-netdev vde`, and g1 pings them all. The bulk transfer
# g2 -> g1 runs over the stream port. f2f-switch only (needs "qemu-netdevs").
scenario_stream_dgram() {
    local stream=$SCEN_DIR/sw1.stream dgram=$SCEN_DIR/sw1.dgram deadline out port
    port=$(pick_free_port) || { SCEN_ERR+=("no free TCP port on 127.0.0.1"); return; }
    start_switch sw1 --stream "$stream" --stream "127.0.0.1:$port" --dgram "$dgram" || return
    # ctl appears before the stream and dgram sockets: QEMU's stream client
    # gives up at once when nothing listens yet.
    deadline=$((SECONDS + 15))
    until [[ -S $stream && -S $dgram ]]; do
        if ((SECONDS >= deadline)); then
            SCEN_ERR+=("switch sw1: --stream/--dgram sockets missing after 15s")
            return
        fi
        sleep 0.1
    done
    wait_tcp_listen sw1 "$port" 15 || return
    start_guest g1 sw1 server "$NET_PREFIX.1" "$NET_PREFIX.2" 52:54:00:e2:e0:31 "" "$E2E_BULK_MIB" "$NET_PREFIX.3,$NET_PREFIX.4"
    start_guest g2 sw1 client "$NET_PREFIX.2" "$NET_PREFIX.1" 52:54:00:e2:e0:32 \
        "netdev:stream,server=off,addr.type=unix,addr.path=$stream" "$E2E_BULK_MIB"
    start_guest g3 sw1 pinger "$NET_PREFIX.3" "$NET_PREFIX.1" 52:54:00:e2:e0:33 \
        "netdev:dgram,local.type=unix,local.path=$SCEN_DIR/g3.dgram,remote.type=unix,remote.path=$dgram" 1
    start_guest g4 sw1 pinger "$NET_PREFIX.4" "$NET_PREFIX.1" 52:54:00:e2:e0:34 "netdev:socket,connect=127.0.0.1:$port" 1
    if [[ $E2E_MGMT == 1 ]]; then
        sleep 2
        out=$(switch_mgmt sw1 port/print | tr -d '\r' | grep -E 'stream unix|stream tcp|dgram unix' | tr '\n' ' ')
        log "sw1 ports: ${out:-none}"
    fi
    wait_guests g1 g2 g3 g4
    check_guest_basics g1
    check_guest_basics g2
    check_guest_basics g3
    check_guest_basics g4
    [[ $(guest_value g1 extra_ping) == ok ]] || SCEN_ERR+=("g1: no ping reply from g3 (dgram) or g4 (socket netdev over TCP)")
    [[ $(guest_value g3 pinged) == ok ]] || SCEN_ERR+=("g3: never pinged by g1")
    [[ $(guest_value g4 pinged) == ok ]] || SCEN_ERR+=("g4: never pinged by g1")
    check_bulk g1 g2 "$E2E_BULK_MIB"
    stop_switch sw1
}

# wait_tcp_listen NAME PORT SECONDS: until switch NAME itself listens on TCP
# PORT (a LISTEN socket in /proc/net/tcp* whose inode is an open fd of the
# switch or of its `timeout` wrapper); fails early if NAME exits meanwhile.
wait_tcp_listen() {
    local name=$1 hex deadline=$((SECONDS + $3)) pid=${SW_PID[$1]} inodes p i
    hex=$(printf '%04X' "$2")
    while ((SECONDS < deadline)); do
        inodes=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
                     /proc/net/tcp /proc/net/tcp6 2>/dev/null)
        for p in "$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null); do
            for i in $inodes; do
                find "/proc/$p/fd" -lname "socket:\[$i\]" 2>/dev/null | grep -q . && return 0
            done
        done
        if ! kill -0 "$pid" 2>/dev/null; then
            reap_pid "$pid"
            SCEN_ERR+=("switch $name exited (status $?) instead of listening on port $2: $(tail -n 3 "$SCEN_DIR/$name.log" | tr '\n' ' ')")
            return 1
        fi
        sleep 0.1
    done
    SCEN_ERR+=("switch $name: not listening on TCP port $2 after $3s")
    return 1
}

# An established F2F link in peer/print.
PEER_UP_RE='^Peer [0-9]+ ESTABLISHED'

# wait_peer_link NAME SECONDS: until NAME's console lists an established peer.
wait_peer_link() {
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        switch_mgmt "$1" peer/print | tr -d '\r' | grep -qE "$PEER_UP_RE" && return 0
        kill -0 "${SW_PID[$1]}" 2>/dev/null || { log "$1 exited: $(tail -n 3 "$SCEN_DIR/$1.log" | tr '\n' ' ')"; return 1; }
        sleep 0.3
    done
    return 1
}

# switch_has CAPABILITY: does the switch under test support it?
#   peers: F2F peer links (--listen/--peer): any f2f-switch binary, or a
#          command whose --help mentions --listen and --peer.
switch_has() {
    local w help
    case $1 in
        peers)
            for w in "${SWITCH_ARGV[@]}"; do
                [[ $(basename -- "$w") == f2f-switch* ]] && return 0
            done
            [[ $(basename -- "${SWITCH_ARGV[0]}") == vde_switch ]] && return 1
            help=$(timeout 20 "${SWITCH_ARGV[@]}" --help </dev/null 2>&1)
            [[ $help == *--listen* && $help == *--peer* ]] ;;
        qemu-netdevs)
            for w in "${SWITCH_ARGV[@]}"; do
                [[ $(basename -- "$w") == f2f-switch* ]] && return 0
            done
            [[ $(basename -- "${SWITCH_ARGV[0]}") == vde_switch ]] && return 1
            help=$(timeout 20 "${SWITCH_ARGV[@]}" --help </dev/null 2>&1)
            [[ $help == *--stream* && $help == *--dgram* ]] ;;
        *) return 1 ;;
    esac
}

# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------
PASSED=0 FAILED=0
SCEN_DIR="" SCEN_ERR=()

# Show the tail of every log of a failed scenario, for CI output.
dump_logs() {
    local f
    for f in "$SCEN_DIR"/*.log "$SCEN_DIR"/*.serial; do
        [[ -s $f ]] || continue
        printf -- '----- %s (last 15 lines)\n' "${f##*/}" >&2
        tail -n 15 "$f" | tr -d '\r' >&2
    done
}

run_scenario() {
    local name=$1 fn=$2 start=$SECONDS reason
    SCEN_DIR=$WORK/$name SCEN_ERR=()
    mkdir -p "$SCEN_DIR"
    log "=== $name"
    "$fn"
    # Anything the scenario left running (e.g. after an early return).
    stop_started
    if ((${#SCEN_ERR[@]} == 0)); then
        PASSED=$((PASSED + 1))
        log "$name took $((SECONDS - start))s"
        echo "PASS: $name"
    else
        FAILED=$((FAILED + 1))
        log "$name took $((SECONDS - start))s"
        dump_logs
        reason=$(printf '%s; ' "${SCEN_ERR[@]}")
        echo "FAIL: $name: ${reason%; }"
    fi
}

main() {
    local selected=() s found needs sname sfn sneeds
    while (($#)); do
        case $1 in
            --switch) SWITCH_CMD=${2:?--switch needs a command}; shift ;;
            --switch-args) SWITCH_ARGS=${2-}; shift ;;
            --scenario) selected+=("${2:?--scenario needs a name}"); shift ;;
            --no-mgmt) E2E_MGMT=0 ;;
            --bulk-mib) E2E_BULK_MIB=${2:?--bulk-mib needs a number}; shift ;;
            --cache-dir) E2E_CACHE_DIR=${2:?}; shift ;;
            --keep) E2E_KEEP=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done
    # shellcheck disable=SC2206  # allow "swift run f2f-switch" style commands
    SWITCH_ARGV=($SWITCH_CMD)
    ((${#SWITCH_ARGV[@]})) || die "empty switch command"
    [[ $E2E_BULK_MIB =~ ^[1-9][0-9]*$ ]] || die "--bulk-mib must be a positive integer"

    ensure_packages
    command -v "${SWITCH_ARGV[0]}" >/dev/null || die "switch command not found: ${SWITCH_ARGV[0]}"

    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP   # make signals run the EXIT trap
    WORK=$(mktemp -d /tmp/f2f-e2e.XXXXXX) || die "mktemp failed"
    hold_stdin "$WORK" || die "cannot make the switches' stdin FIFO"

    prepare_kernel
    build_initramfs || die "building the initramfs failed"
    log "switch under test: $SWITCH_CMD; work dir $WORK"

    ((${#selected[@]})) || for s in "${ALL_SCENARIOS[@]}"; do selected+=("${s%%:*}"); done
    for name in "${selected[@]}"; do
        found="" needs=""
        for s in "${ALL_SCENARIOS[@]}"; do
            IFS=: read -r sname sfn sneeds <<<"$s"
            [[ $sname == "$name" ]] && found=$sfn needs=$sneeds
        done
        if [[ -z $found ]]; then
            FAILED=$((FAILED + 1)); echo "FAIL: $name: unknown scenario (known: $(scenario_names))"
            continue
        fi
        if [[ -n $needs ]] && ! switch_has "$needs"; then
            case $needs in
                peers) echo "SKIP: $name: needs f2f-switch peers" ;;
                qemu-netdevs) echo "SKIP: $name: needs --stream and --dgram" ;;
                *)     echo "SKIP: $name: needs $needs" ;;
            esac
            continue
        fi
        run_scenario "$name" "$found"
    done

    echo "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main "$@"
