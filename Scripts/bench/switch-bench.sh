#!/usr/bin/env bash
# switch-bench.sh — f2f-switch and Debian's vde_switch, side by side, same run.
#
# WHAT IT MEASURES
#   f2f-bench (built from this repository) attaches two libvdeplug clients to a switch
#   directory and reports, for every frame size:
#     fps               frames/s received by the second client (sender saturating)
#     loss_pct          frames sent but never received
#     gbps              fps x size x 8
#     sw_us_per_frame   switch CPU (all its threads, /proc/PID/task/*/schedstat) per
#                       received frame, in microseconds
#     sw_cpu_s_per_gb   switch CPU-seconds per GB (1e9 bytes) received
#     rtt_p50_us, rtt_p99_us  round trip A → switch → B → switch → A, one frame in flight
#   and this script adds, per run:
#     bg_busy_cores     whole-machine CPU busy (cores) in the 1 s before the run, switch idle
#     bg_other_cores    CPU (cores, 0..nproc) used DURING the run by processes this script
#                       did not start (kernel threads excluded). Above ~0.1 the run was
#                       disturbed (someone's build, a VM): re-run, or use --wait-idle.
#
# HOW
#   Every repetition starts a fresh switch per switch under test, interleaved with the
#   order alternating: rep 1 = vde_switch then f2f-switch, rep 2 = f2f-switch then
#   vde_switch, ... so slow drifts of the machine (thermal, other load) hit both alike.
#   Then, outside the timed reps:
#   - allocations per frame: each switch once more with LD_PRELOAD=malloc-count.so (built
#     from Scripts/bench/malloc-count.c with gcc into the temp dir). A warm-up f2f-bench
#     run first (lazy allocations, MAC learning), counter read (SIGUSR1), one measured run
#     `f2f-bench --sizes 64 --seconds 2 --latency-samples 20`, counter read again.
#     allocs_per_frame = delta / (frames sent + frames received: every frame goes into the
#     switch and out of it); allocs_per_fwd_frame = delta / frames received.
#     The measured run includes its two clients attaching and leaving, so a tiny extra run
#     (--seconds 0.05) gives the per-session cost, reported as session_allocs; net_* are the
#     per-frame figures with that cost taken out.
#   - with --strace: syscalls per frame, from `strace -c -f -p PID` during a 2 s 64-byte run
#     (strace slows the switch a lot: only the ratio is reported, not the rates).
#
# USAGE
#   Scripts/bench/switch-bench.sh [--reps N] [--seconds S] [--sizes 64,512,1514]
#       [--latency-samples N] [--f2f PATH] [--bench PATH] [--wait-idle SECS] [--redo-disturbed N]
#       [--strace] [--no-alloc] [--out PREFIX] [--no-install] [--keep]
#   --reps N            repetitions (default 5, env BENCH_REPS)
#   --seconds S         seconds of saturated load per size (default 3, env BENCH_SECONDS)
#   --sizes LIST        frame sizes in bytes (default 64,512,1514)
#   --latency-samples N round trips per size (default 2000)
#   --f2f PATH          switch under test (default REPO/.build/release/f2f-switch)
#   --bench PATH        load generator (default REPO/.build/release/f2f-bench)
#   --wait-idle SECS    before each run, wait up to SECS for other load to stay below
#                       BENCH_IDLE_MAX (0.15) cores for BENCH_IDLE_STREAK (3) consecutive
#                       seconds — for shared machines
#   --redo-disturbed N  redo a run (up to N times) when other processes used more than
#                       BENCH_DISTURBED (0.10) cores during it; discarded runs go to
#                       PREFIX.discarded.tsv (default 0: keep every run, just report)
#   --strace            also report syscalls per frame (needs strace; installed if missing)
#   --no-alloc          skip the allocations-per-frame runs
#   --out PREFIX        PREFIX.raw.tsv, PREFIX.summary.tsv, PREFIX.alloc.tsv, PREFIX.txt
#                       (default /tmp/switch-bench-YYYYmmdd-HHMMSS)
#   --no-install        never call apt-get (else missing vde2/vdeplug/strace are installed)
#   --keep              keep the temp dir (switch logs, f2f-bench outputs, strace output)
#   --capture-port N    f2f-switch captures port N (pcap/start from a start-up file, to a
#                       file in the temp dir removed before each start, no byte bound that a
#                       run reaches): what a captured port costs (docs/packet-capture.md).
#                       The file goes to BENCH_CAPTURE_DIR (default the temp dir; /dev/shm
#                       measures the switch without the disk's writeback throttling)
#   --capture-compare   with --capture-port: compare f2f-switch with and without the capture
#                       (interleaved, alternating order per rep) instead of against vde_switch;
#                       in the tables "vde" then means f2f-switch without capture, "f2f" with
#                       it; the capture's frames, bytes and drops go to the log after each run
#   Binaries missing?   swift build -c release --product f2f-switch --product f2f-bench
#
# OUTPUT
#   stdout: header (date, kernel, nproc, CPU, versions, parameters), one line per metric x
#   size: median [min..max] for each switch, ratio f2f/vde of the medians and which way is
#   better, then each run's background load and headline figures, then allocations (and
#   syscalls) per frame. PREFIX.raw.tsv has every value (rep, order, switch, metric, size).
#
# NOTES
#   f2f-bench is one thread and the switch one more: on a 2-core box both are busy, so
#   keep the machine otherwise quiet. Compare figures from the same run only.
#   A failed or timed-out measurement is recorded as NA and the run goes on.
#   Cleanup (EXIT trap): the processes this script started are stopped by PID, the temp
#   dir (socket directories, logs) is removed.

set -uo pipefail   # not -e: a failed measurement must not abort the whole comparison

# log, die, usage, package installation, spawn/wait_for, /proc load accounting.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)

# ---------------------------------------------------------------- parameters
REPS=${BENCH_REPS:-5}
RUN_SECONDS=${BENCH_SECONDS:-3}
SIZES=${BENCH_SIZES:-64,512,1514}
LAT_SAMPLES=${BENCH_LATENCY_SAMPLES:-2000}
F2F="$REPO/.build/release/f2f-switch"
BENCH="$REPO/.build/release/f2f-bench"
WAIT_IDLE=${BENCH_WAIT_IDLE:-0}    # seconds to wait per run for other load to go away
IDLE_MAX=${BENCH_IDLE_MAX:-0.15}   # "idle enough": busy cores below this
IDLE_STREAK=${BENCH_IDLE_STREAK:-3}  # ... for this many consecutive 1 s samples (with --wait-idle)
REDO=0                             # --redo-disturbed: attempts to redo a disturbed run
DISTURBED=${BENCH_DISTURBED:-0.10} # bg_other_cores above this = run disturbed
DISCARDED=""                       # PREFIX.discarded.tsv
DO_STRACE=0
DO_ALLOC=1
DO_INSTALL=1
KEEP=0
OUT=""
CAPTURE_PORT=""                    # --capture-port: f2f-switch captures this port
CAPTURE_COMPARE=0                  # --capture-compare: f2f-switch without capture vs with it
REF_SW=vde_switch SUT_SW=f2f-switch  # the pair compared (f2f-switch and f2f-capture with --capture-compare)

declare -A STARTED=()              # pid -> description, for every background process
STOP_GRACE=5                       # seconds a stopped process gets between SIGTERM and SIGKILL
TMPD=""
HOLD_FD=""
CLK_TCK=100
RAW=""

# ---------------------------------------------------------------- arguments
parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --reps)            REPS=${2:?--reps needs N}; shift ;;
            --seconds)         RUN_SECONDS=${2:?--seconds needs S}; shift ;;
            --sizes)           SIZES=${2:?--sizes needs a list}; shift ;;
            --latency-samples) LAT_SAMPLES=${2:?}; shift ;;
            --f2f)             F2F=${2:?--f2f needs a path}; shift ;;
            --bench)           BENCH=${2:?--bench needs a path}; shift ;;
            --wait-idle)       WAIT_IDLE=${2:?}; shift ;;
            --redo-disturbed)  REDO=${2:?}; shift ;;
            --strace)          DO_STRACE=1 ;;
            --no-alloc)        DO_ALLOC=0 ;;
            --out)             OUT=${2:?}; shift ;;
            --no-install)      DO_INSTALL=0 ;;
            --keep)            KEEP=1 ;;
            --capture-port)    CAPTURE_PORT=${2:?--capture-port needs N}; shift ;;
            --capture-compare) CAPTURE_COMPARE=1 ;;
            -h|--help)         usage; exit 0 ;;
            *)                 die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    [[ $REPS =~ ^[1-9][0-9]*$ ]]                  || die "--reps must be a positive integer"
    [[ $RUN_SECONDS =~ ^[0-9]+(\.[0-9]+)?$ ]]     || die "--seconds must be a positive number"
    awk -v s="$RUN_SECONDS" 'BEGIN { exit !(s > 0) }' || die "--seconds must be > 0"
    [[ $SIZES =~ ^[0-9]+(,[0-9]+)*$ ]]            || die "--sizes wants e.g. 64,512,1514"
    [[ $LAT_SAMPLES =~ ^[0-9]+$ ]] && [ "$LAT_SAMPLES" -gt 10 ] || die "--latency-samples must be > 10"
    [[ $WAIT_IDLE =~ ^[0-9]+$ ]]                  || die "--wait-idle must be a number of seconds"
    [[ $REDO =~ ^[0-9]+$ ]]                       || die "--redo-disturbed must be a count"
    [ -n "$OUT" ] || OUT="/tmp/switch-bench-$(date +%Y%m%d-%H%M%S)"
    if [ $CAPTURE_COMPARE = 1 ]; then
        [ -n "$CAPTURE_PORT" ] || die "--capture-compare needs --capture-port N"
        REF_SW=f2f-switch SUT_SW=f2f-capture
    fi
}

# ---------------------------------------------------------------- prerequisites
ensure_packages() {
    local missing=()
    command -v vde_switch >/dev/null 2>&1 || missing+=(vde2)
    # f2f-bench links libvdeplug.so.2 (package libvdeplug2, pulled in by vdeplug).
    ls /usr/lib/*/libvdeplug.so.2 /lib/*/libvdeplug.so.2 >/dev/null 2>&1 || missing+=(vdeplug)
    command -v timeout >/dev/null 2>&1 || missing+=(coreutils)
    [ $DO_STRACE = 1 ] && ! command -v strace >/dev/null 2>&1 && missing+=(strace)
    install_packages "${missing[@]}"
}

preflight() {
    local b
    for b in "$F2F" "$BENCH"; do
        [ -x "$b" ] && [ ! -d "$b" ] || die "'$b' is not an executable file — build it with:
    (cd $REPO && swift build -c release --product f2f-switch --product f2f-bench)"
    done
    F2F=$(readlink -f "$F2F") BENCH=$(readlink -f "$BENCH")
    CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
    [ "$(nproc)" -ge 2 ] || log "note: 1 CPU — generator and switch share it, rates are halved"
}

# The repository is shared: someone may `swift build` while we measure. Copies of the two
# binaries taken now keep every rep on the same build (their RUNPATH points at /opt/swift,
# so they run from anywhere). The header names the originals and the build's hash.
F2F_ORIG="" BENCH_ORIG="" F2F_BUILT="" F2F_SHA=""
snapshot_binaries() {
    F2F_ORIG=$F2F BENCH_ORIG=$BENCH
    F2F_BUILT=$(date -r "$F2F" -Is) F2F_SHA=$(sha256sum "$F2F" | cut -d' ' -f1)
    mkdir -p "$TMPD/bin" &&
    cp "$F2F" "$TMPD/bin/f2f-switch" && cp "$BENCH" "$TMPD/bin/f2f-bench" || die "cannot copy the binaries"
    F2F="$TMPD/bin/f2f-switch" BENCH="$TMPD/bin/f2f-bench"
}

# ---------------------------------------------------------------- switches
# Start switch NAME with socket directory DIR; extra leading args (VAR=value) go to env,
# e.g. LD_PRELOAD. Sets SW_PID; fails if the ctl socket does not appear within 10 s.
# `env` execs the switch, so $! is the switch itself (no wrapper left to signal).
SW_PID=""
start_switch() {  # start_switch NAME DIR TAG [VAR=value...]
    local name=$1 dir=$2 tag=$3; shift 3
    local cmd
    case "$name" in
        vde_switch) cmd=(vde_switch -s "$dir") ;;          # foreground; stdin = our FIFO
        f2f-switch|f2f-capture)
            cmd=("$F2F" -s "$dir" -q -M "$dir.mgmt")
            if [ -n "$CAPTURE_PORT" ] && { [ $CAPTURE_COMPARE = 0 ] || [ "$name" = f2f-capture ]; }; then
                local capture_file="${BENCH_CAPTURE_DIR:-$TMPD}/f2f-bench-capture.$$.pcap"
                rm -f "$capture_file"
                printf 'pcap/start %s %s 1000000000000\n' "$CAPTURE_PORT" "$capture_file" > "$TMPD/capture.rc"
                chmod 600 "$TMPD/capture.rc"
                cmd+=(-f "$TMPD/capture.rc")
            fi ;;
        *) die "unknown switch $name" ;;
    esac
    spawn "$TMPD/$tag.switch.log" "$name" env "$@" "${cmd[@]}"
    SW_PID=$SPAWNED
    if ! wait_for 10 test -S "$dir/ctl"; then
        log "$name did not create $dir/ctl within 10 s:"; tail -5 "$TMPD/$tag.switch.log" >&2
        stop_pid "$SW_PID"; SW_PID=""
        return 1
    fi
}

switch_alive() { [ -n "$SW_PID" ] && kill -0 "$SW_PID" 2>/dev/null; }

# Run f2f-bench against DIR with a bounded timeout; output to FILE. Extra args follow.
# Bound: per size the load time + 200 ms drain + slack, latency ≤ ~2 ms per sample
# unless frames are lost (1 s each); past that the run is broken anyway.
run_bench() {  # run_bench DIR FILE SIZES SECONDS SAMPLES
    local dir=$1 out=$2 sizes=$3 secs=$4 samples=$5 n limit
    n=$(awk -F, '{ print NF }' <<<"$sizes")
    limit=$(awk -v n="$n" -v s="$secs" -v l="$samples" 'BEGIN { printf "%d", n * (s + 2) + n * l * 0.002 + 30 }')
    timeout -k 5 "$limit" "$BENCH" -s "$dir" --switch-pid "$SW_PID" --sizes "$sizes" \
        --seconds "$secs" --latency-samples "$samples" >"$out" 2>&1
    local rc=$?
    [ $rc = 124 ] && log "f2f-bench timed out after $limit s"
    [ $rc = 0 ] || log "f2f-bench failed (rc $rc): $(tail -c 300 "$out" | tr '\n' ' ')"
    return $rc
}

# Value of key K in the RESULT line of KIND and SIZE ("" if absent).
result_field() {  # result_field FILE KIND SIZE KEY
    awk -v kind="kind=$2" -v size="size=$3" -v key="$4" '
        $1 == "RESULT" && $2 == kind && $3 == size {
            for (i = 4; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit }
        }' "$1"
}

RUN_TSV=""      # record() target: each timed run is collected apart, then kept or discarded
record() {  # record REP ORDER SWITCH METRIC SIZE VALUE
    local v=${6:-NA}
    [ "$v" = nan ] && v=NA
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$v" >>"${RUN_TSV:-$RAW}"
}

# Copy f2f-bench's RESULT lines into the raw TSV under our metric names.
record_results() {  # record_results REP ORDER SWITCH FILE
    local rep=$1 ord=$2 sw=$3 f=$4 size
    local -A tput=([fps]=fps [loss_pct]=loss_pct [gbps]=gbps [sw_us_per_frame]=switch_cpu_us_per_frame
                   [sw_cpu_s_per_gb]=switch_cpu_s_per_gb [sent]=sent [received]=received)
    local -A lat=([rtt_p50_us]=rtt_p50_us [rtt_p99_us]=rtt_p99_us [lat_lost]=lost)
    local m
    for size in ${SIZES//,/ }; do
        for m in fps loss_pct gbps sw_us_per_frame sw_cpu_s_per_gb sent received; do
            record "$rep" "$ord" "$sw" "$m" "$size" "$(result_field "$f" throughput "$size" "${tput[$m]}")"
        done
        for m in rtt_p50_us rtt_p99_us lat_lost; do
            record "$rep" "$ord" "$sw" "$m" "$size" "$(result_field "$f" latency "$size" "${lat[$m]}")"
        done
    done
}

# One timed run: fresh switch, idle check, f2f-bench, background-load accounting, stop.
# Values go to RUN_TSV; see run_kept for where they end up.
run_one() {  # run_one REP ORDER SWITCH ATTEMPT
    local rep=$1 ord=$2 sw=$3 tag="rep$1-$3-try$4" dir t0 t1 out
    dir="$TMPD/$tag"
    out="$TMPD/$tag.bench.txt"
    log "rep $rep/$REPS #$ord: $sw$([ "$4" -gt 1 ] && echo " (attempt $4)")"
    if ! start_switch "$sw" "$dir" "$tag"; then record "$rep" "$ord" "$sw" setup_failed - 1; return; fi
    record "$rep" "$ord" "$sw" bg_busy_cores - "$(wait_idle)"
    others_snapshot "$TMPD/others.0"
    t0=$EPOCHREALTIME
    run_bench "$dir" "$out" "$SIZES" "$RUN_SECONDS" "$LAT_SAMPLES"
    t1=$EPOCHREALTIME
    others_snapshot "$TMPD/others.1"
    record "$rep" "$ord" "$sw" bg_other_cores - \
        "$(others_cores "$TMPD/others.0" "$TMPD/others.1" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")"
    record_results "$rep" "$ord" "$sw" "$out"
    # A switch that died mid-run makes its figures meaningless: say so loudly.
    if ! switch_alive; then
        log "WARNING: $sw exited during rep $rep — see $TMPD/$tag.switch.log"
        record "$rep" "$ord" "$sw" switch_died - 1
    fi
    log "  $(grep '^RESULT' "$out" | awk '{ printf "%s:%s ", $3, $6 }')"
    [ "$sw" = f2f-capture ] && log "  capture: $(mgmt_cmd "$dir.mgmt" pcap/print | tr -d '\r' | grep -oE 'frames [0-9]+ bytes [0-9]+/[0-9]+ dropped [0-9]+' | head -1)"
    stop_pid "$SW_PID"; SW_PID=""
}

# Run REP/ORDER/SWITCH; with --redo-disturbed N, a run during which others used more than
# BENCH_DISTURBED cores is moved to PREFIX.discarded.tsv and redone, up to N times (the
# last attempt is kept whatever happened, so every rep has a value).
run_kept() {  # run_kept REP ORDER SWITCH
    local attempt bg
    for attempt in $(seq $((REDO + 1))); do
        RUN_TSV="$TMPD/run.tsv"; : >"$RUN_TSV"
        run_one "$1" "$2" "$3" "$attempt"
        RUN_TSV=""
        bg=$(awk -F'\t' '$4 == "bg_other_cores" { print $6 }' "$TMPD/run.tsv")
        if [ "$attempt" -le "$REDO" ] &&
           awk -v b="${bg:-NA}" -v m="$DISTURBED" 'BEGIN { exit !(b != "NA" && b + 0 > m + 0) }'; then
            log "  disturbed (others used $bg cores during the run): discarded, redoing"
            cat "$TMPD/run.tsv" >>"$DISCARDED"
            continue
        fi
        cat "$TMPD/run.tsv" >>"$RAW"
        return
    done
}

# ---------------------------------------------------------------- allocations per frame
ALLOC_SO=""
build_alloc_lib() {
    command -v gcc >/dev/null 2>&1 || { log "gcc missing: allocation counts skipped"; return 1; }
    ALLOC_SO="$TMPD/malloc-count.so"
    timeout 120 gcc -shared -fPIC -O2 -Wall -o "$ALLOC_SO" "$SCRIPT_DIR/malloc-count.c" -ldl \
        >"$TMPD/malloc-count.build.log" 2>&1 ||
        { log "building malloc-count.so failed:"; cat "$TMPD/malloc-count.build.log" >&2; return 1; }
}

# Ask the preloaded switch for its counters (SIGUSR1) and print "name value" lines.
# Only if the library is really mapped: without it SIGUSR1 would kill the switch.
read_alloc_counts() {  # read_alloc_counts FILE
    local f=$1
    grep -q "$ALLOC_SO" "/proc/$SW_PID/maps" 2>/dev/null || { log "malloc-count.so not loaded in $SW_PID"; return 1; }
    rm -f "$f"
    kill -USR1 "$SW_PID" || return 1
    wait_for 5 test -s "$f" || { log "no counter dump from $SW_PID"; return 1; }
    cat "$f"
}

ALLOC_TSV=""
measure_allocs() {  # measure_allocs SWITCH
    local sw=$1 tag="alloc-$1" dir cnt c0 c1 c2 sent recv ssent srecv
    dir="$TMPD/$tag" cnt="$TMPD/$tag.counts"
    log "allocations: $sw under LD_PRELOAD=malloc-count.so"
    start_switch "$sw" "$dir" "$tag" LD_PRELOAD="$ALLOC_SO" MALLOC_COUNT_FILE="$cnt" || { alloc_row "$sw" NA; return; }
    # Warm-up: first attach, MAC learning, lazily grown buffers — not the steady state.
    run_bench "$dir" "$TMPD/$tag.warmup.txt" 64 1 20 &&
    c0=$(read_alloc_counts "$cnt") &&
    run_bench "$dir" "$TMPD/$tag.bench.txt" 64 2 20 &&
    c1=$(read_alloc_counts "$cnt") &&
    run_bench "$dir" "$TMPD/$tag.session.txt" 64 0.05 11 &&
    c2=$(read_alloc_counts "$cnt") ||
        { log "$sw: allocation measurement failed"; alloc_row "$sw" NA; stop_pid "$SW_PID"; SW_PID=""; return; }
    switch_alive || log "WARNING: $sw died under LD_PRELOAD"
    sent=$(result_field "$TMPD/$tag.bench.txt" throughput 64 sent)
    recv=$(result_field "$TMPD/$tag.bench.txt" throughput 64 received)
    ssent=$(result_field "$TMPD/$tag.session.txt" throughput 64 sent)
    srecv=$(result_field "$TMPD/$tag.session.txt" throughput 64 received)
    stop_pid "$SW_PID"; SW_PID=""
    alloc_row "$sw" ok "$c0" "$c1" "$c2" "$sent" "$recv" "$ssent" "$srecv"
}

# One line of PREFIX.alloc.tsv from the three dumps.
# Columns: switch, delta (allocating calls in the measured run), frames_sent, frames_received,
# allocs_per_frame = delta/(sent+received), allocs_per_fwd_frame = delta/received,
# session_allocs (the tiny run: mostly attach/detach), net_allocs_per_frame =
# (delta - session)/(frames of the big run - frames of the tiny run), by_function.
alloc_row() {  # alloc_row SWITCH ok|NA C0 C1 C2 SENT RECV SSENT SRECV
    if [ "$2" != ok ]; then printf '%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$1" >>"$ALLOC_TSV"; return; fi
    awk -v sw="$1" -v c0="$3" -v c1="$4" -v c2="$5" -v s="${6:-0}" -v r="${7:-0}" -v ss="${8:-0}" -v sr="${9:-0}" '
        function parse(text, arr,   n, i, L, f) { n = split(text, L, "\n"); for (i = 1; i <= n; i++) { split(L[i], f, " "); arr[f[1]] = f[2] } }
        BEGIN {
            parse(c0, a); parse(c1, b); parse(c2, c)
            d = b["total"] - a["total"]; sd = c["total"] - b["total"]
            by = ""
            for (k in b) if (k != "total" && b[k] - a[k] != 0) by = by (by == "" ? "" : ",") k "=" b[k] - a[k]
            fr = s + r; sfr = ss + sr
            printf "%s\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%s\n", sw, d, s, r,
                (fr > 0 ? sprintf("%.6f", d / fr) : "NA"), (r > 0 ? sprintf("%.6f", d / r) : "NA"), sd,
                (fr - sfr > 0 ? sprintf("%.6f", (d - sd) / (fr - sfr)) : "NA"), (by == "" ? "-" : by)
        }' >>"$ALLOC_TSV"
}

# ---------------------------------------------------------------- syscalls per frame
SYSCALL_TSV=""
measure_syscalls() {  # measure_syscalls SWITCH
    local sw=$1 tag="strace-$1" dir so spid calls sent recv top
    dir="$TMPD/$tag" so="$TMPD/$tag.strace.txt"
    log "syscalls: $sw under strace -c -f"
    start_switch "$sw" "$dir" "$tag" || { printf '%s\tNA\tNA\tNA\tNA\tNA\t-\n' "$sw" >>"$SYSCALL_TSV"; return; }
    run_bench "$dir" "$TMPD/$tag.warmup.txt" 64 1 20     # same warm state as the alloc run
    wait_idle >/dev/null                                  # batching, hence calls/frame, varies with load
    spawn "$TMPD/$tag.strace.log" strace timeout -s INT 120 strace -c -f -o "$so" -p "$SW_PID"
    spid=$SPAWNED
    wait_for 5 grep -q "TracerPid:[[:space:]]*[1-9]" "/proc/$SW_PID/status" || log "strace did not attach?"
    run_bench "$dir" "$TMPD/$tag.bench.txt" 64 2 20
    kill -INT "$spid" 2>/dev/null                           # strace prints its summary on SIGINT
    wait_for 10 eval "! kill -0 $spid 2>/dev/null"
    stop_pid "$spid"
    stop_pid "$SW_PID"; SW_PID=""
    calls=$(awk '$NF == "total" { print $4 }' "$so" 2>/dev/null)
    # Top syscalls by count: "name=calls,..." (lines: %time seconds usecs/call calls [errors] name)
    top=$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, $NF }' "$so" 2>/dev/null | sort -rn | head -5 |
          awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $2, $1 }')
    sent=$(result_field "$TMPD/$tag.bench.txt" throughput 64 sent)
    recv=$(result_field "$TMPD/$tag.bench.txt" throughput 64 received)
    awk -v sw="$sw" -v c="${calls:-}" -v s="${sent:-}" -v r="${recv:-}" -v top="${top:--}" 'BEGIN {
        ok = (c != "" && s != "" && r != "")
        # (parenthesised: a bare ">" in a printf argument list is an output redirection)
        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sw, (ok ? c : "NA"), (ok ? s : "NA"), (ok ? r : "NA"),
            ((ok && s + r > 0) ? sprintf("%.4f", c / (s + r)) : "NA"), ((ok && r > 0) ? sprintf("%.4f", c / r) : "NA"), top }' >>"$SYSCALL_TSV"
}

# ---------------------------------------------------------------- report
# Aligned columns for TSV text (column(1) is in bsdextrautils; plain TSV without it).
tabulate() { if command -v column >/dev/null 2>&1; then column -t -s$'\t'; else cat; fi; }

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }

header_lines() {
    local git_rev
    git_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "?")
    [ -n "$(git -C "$REPO" status --porcelain -- Sources Package.swift 2>/dev/null)" ] && git_rev="$git_rev+dirty"
    echo "# switch-bench $(date -Is)"
    echo "# host: $(host_summary), loadavg at start: $LOADAVG0"
    echo "# vde_switch: $(vde_switch -v 2>/dev/null | head -1) (Debian vde2 $(pkg_version vde2), vde-switch $(pkg_version vde-switch)); vdeplug $(pkg_version vdeplug), libvdeplug2 $(pkg_version libvdeplug2), glibc $(pkg_version libc6)"
    echo "# f2f-switch: $F2F_ORIG (repo $git_rev, built $F2F_BUILT, sha256 ${F2F_SHA:0:16}); f2f-bench: $BENCH_ORIG; $SWIFT_VERSION"
    echo "# params: reps=$REPS seconds=$RUN_SECONDS sizes=$SIZES latency_samples=$LAT_SAMPLES wait_idle=$WAIT_IDLE redo_disturbed=$REDO order=alternating (odd reps $REF_SW first)${CAPTURE_PORT:+ f2f_capture_port=$CAPTURE_PORT}$([ $CAPTURE_COMPARE = 1 ] && echo " compare: vde columns = f2f-switch without capture, f2f columns = with it")"
}

# "higher" or "lower": which way is better for a metric.
# Per (metric, size): median/min/max for both switches, ratio f2f/vde of the medians, and a
# verdict: "f2f better"/"f2f worse" only when the two min..max ranges do not overlap,
# else "overlap". mawk has no sort, so values arrive pre-sorted from sort(1).
summarize() {
    local metrics="fps loss_pct gbps sw_us_per_frame sw_cpu_s_per_gb rtt_p50_us rtt_p99_us lat_lost bg_busy_cores bg_other_cores"
    grep -v '^#' "$RAW" | awk -F'\t' 'NR > 1 && $6 != "NA"' | sort -t$'\t' -k3,3 -k4,4 -k5,5 -k6,6g |
    awk -F'\t' -v metrics="$metrics" -v sizes="${SIZES//,/ }" -v ref="$REF_SW" -v sut="$SUT_SW" '
        { key = $4 SUBSEP $5 SUBSEP $3; n[key]++; v[key, n[key]] = $6 }
        function median(k,   c) { c = n[k]; return (c % 2) ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2 }
        function better(m) { return (m == "fps" || m == "gbps") ? "higher" : (m ~ /^bg_/ ? "-" : "lower") }
        function stats(k) { return (k in n) ? sprintf("%d\t%.6g\t%.6g\t%.6g", n[k], median(k), v[k, 1], v[k, n[k]]) : "0\tNA\tNA\tNA" }
        BEGIN { OFS = "\t" }
        END {
            nm = split(metrics, M, " "); ns = split(sizes, S, " ")
            print "metric", "size", "better", "vde_n", "vde_median", "vde_min", "vde_max", "f2f_n", "f2f_median", "f2f_min", "f2f_max", "ratio_f2f_vde", "verdict"
            for (i = 1; i <= nm; i++) {
                m = M[i]; nz = (m ~ /^bg_/) ? 1 : ns
                for (j = 1; j <= nz; j++) {
                    sz = (m ~ /^bg_/) ? "-" : S[j]
                    kv = m SUBSEP sz SUBSEP ref; kf = m SUBSEP sz SUBSEP sut
                    if (!(kv in n) && !(kf in n)) continue
                    ratio = "NA"; verdict = "-"
                    if ((kv in n) && (kf in n) && median(kv) != 0 && better(m) != "-") ratio = sprintf("%.3f", median(kf) / median(kv))
                    if ((kv in n) && (kf in n) && better(m) != "-") {
                        fmin = v[kf, 1]; fmax = v[kf, n[kf]]; vmin = v[kv, 1]; vmax = v[kv, n[kv]]
                        if (fmin > vmax) verdict = (better(m) == "higher") ? "f2f better" : "f2f worse"
                        else if (fmax < vmin) verdict = (better(m) == "higher") ? "f2f worse" : "f2f better"
                        else verdict = "overlap"
                    }
                    print m, sz, better(m), stats(kv), stats(kf), ratio, verdict
                }
            }
        }'
}

# Human table from the summary TSV.
print_table() {
    awk -F'\t' '
        function num(x) { return x == "NA" ? "NA" : (x + 0 >= 100000 ? sprintf("%.0f", x) : sprintf("%.4g", x)) }
        function cell(med, lo, hi) { return sprintf("%9s [%s..%s]", num(med), num(lo), num(hi)) }
        NR == 1 { printf "%-16s %5s %-7s %-32s %-32s %7s  %s\n", "metric", "size", "better", "vde_switch median [min..max]", "f2f-switch median [min..max]", "f2f/vde", "verdict"; next }
        $1 != last { print ""; last = $1 }
        { printf "%-16s %5s %-7s %-32s %-32s %7s  %s\n", $1, $2, $3, cell($5, $6, $7), cell($9, $10, $11), $12, $13 }' "$1"
}

# One line per run (raw TSV on stdin): order, background load, fps per size, rtt p50 at the
# first size; runs with bg_other_cores above BENCH_DISTURBED are flagged.
print_runs() {
    local first=${SIZES%%,*}
    grep -v '^#' | awk -F'\t' -v sizes="${SIZES//,/ }" -v first="$first" -v dist="$DISTURBED" '
        NR == 1 { next }
        { k = $1 SUBSEP $3; if (!(k in ord)) { ord[k] = $2; keys[++nk] = k }; val[k, $4, $5] = $6 }
        END {
            ns = split(sizes, S, " ")
            printf "%-4s %-3s %-11s %8s %8s", "rep", "#", "switch", "bg_busy", "bg_other"
            for (j = 1; j <= ns; j++) printf " %10s", "fps" S[j]
            printf " %9s  %s\n", "p50us" first, "note"
            for (i = 1; i <= nk; i++) {
                split(keys[i], p, SUBSEP)
                printf "%-4s %-3s %-11s %8s %8s", p[1], ord[keys[i]], p[2], val[keys[i], "bg_busy_cores", "-"], val[keys[i], "bg_other_cores", "-"]
                for (j = 1; j <= ns; j++) printf " %10s", val[keys[i], "fps", S[j]]
                bg = val[keys[i], "bg_other_cores", "-"]
                printf " %9s%s\n", val[keys[i], "rtt_p50_us", first], (bg != "" && bg != "NA" && bg + 0 > dist + 0) ? "  DISTURBED" : ""
            }
        }'
}

# ---------------------------------------------------------------- cleanup
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    STOP_GRACE=0.5 stop_started
    release_stdin
    [ -n "$CAPTURE_PORT" ] && rm -f "${BENCH_CAPTURE_DIR:-/nonexistent}/f2f-bench-capture.$$.pcap"
    remove_tmpdir
    exit $rc
}

# ---------------------------------------------------------------- main
main() {
    parse_args "$@"
    ensure_packages
    preflight
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    TMPD=$(mktemp -d /tmp/f2fsb-$$.XXXXXX)
    # f2f-switch creates its identity key on first start ($XDG_CONFIG_HOME/f2f-switch): keep
    # the benchmark's keys in its temp directory, not in the user's home.
    export XDG_CONFIG_HOME="$TMPD/config"
    # Debian's vde_switch quits on stdin EOF: every child reads a FIFO we hold open.
    hold_stdin "$TMPD"
    snapshot_binaries
    LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
    SWIFT_VERSION=$(timeout 20 swift --version 2>/dev/null | head -1 || true)
    mkdir -p "$(dirname "$OUT")"
    RAW="$OUT.raw.tsv" ALLOC_TSV="$OUT.alloc.tsv" SYSCALL_TSV="$OUT.syscalls.tsv" DISCARDED="$OUT.discarded.tsv"
    { header_lines; printf 'rep\torder\tswitch\tmetric\tsize\tvalue\n'; } | tee "$DISCARDED" >"$RAW"

    local rep t0=$SECONDS order
    for rep in $(seq "$REPS"); do
        # Alternate who goes first: odd reps vde_switch first, even reps f2f-switch first.
        if [ $((rep % 2)) = 1 ]; then order=("$REF_SW" "$SUT_SW"); else order=("$SUT_SW" "$REF_SW"); fi
        run_kept "$rep" 1 "${order[0]}"
        run_kept "$rep" 2 "${order[1]}"
    done
    log "timed runs done in $((SECONDS - t0)) s"

    { header_lines; printf 'switch\tdelta_allocs\tframes_sent\tframes_received\tallocs_per_frame\tallocs_per_fwd_frame\tsession_allocs\tnet_allocs_per_frame\tby_function\n'; } >"$ALLOC_TSV"
    if [ $DO_ALLOC = 1 ] && build_alloc_lib; then
        measure_allocs "$REF_SW"
        measure_allocs "$SUT_SW"
    fi
    if [ $DO_STRACE = 1 ]; then
        { header_lines; printf 'switch\tsyscalls\tframes_sent\tframes_received\tsyscalls_per_frame\tsyscalls_per_fwd_frame\ttop5\n'; } >"$SYSCALL_TSV"
        measure_syscalls "$REF_SW"
        measure_syscalls "$SUT_SW"
    fi

    { header_lines; summarize; } >"$OUT.summary.tsv"
    {
        header_lines | sed 's/^# //'
        echo
        grep -v '^#' "$OUT.summary.tsv" | print_table /dev/stdin
        echo
        echo "f2f/vde = f2f-switch median / vde_switch median. better=higher: ratio > 1 favours f2f-switch;"
        echo "better=lower: ratio < 1 favours f2f-switch. verdict: 'f2f better/worse' only if the min..max ranges"
        echo "of the two switches do not overlap. fps/gbps: frames received; sw_*: switch CPU per received frame/GB."
        echo "bg_other_cores: CPU used during a run by processes this script did not start; > 0.1 = run disturbed."
        echo
        echo "Runs (order alternates per rep):"
        print_runs <"$RAW"
        if grep -qv '^#' "$DISCARDED" && [ "$(grep -vc '^#' "$DISCARDED")" -gt 1 ]; then
            echo "Discarded as disturbed (redone; not in the statistics above):"
            print_runs <"$DISCARDED"
        fi
        if [ $DO_ALLOC = 1 ]; then
            echo
            echo "Allocations per frame (LD_PRELOAD malloc-count.so; 64-byte frames, 2 s, after a warm-up run):"
            grep -v '^#' "$ALLOC_TSV" | tabulate
            echo "allocs_per_frame = delta/(sent+received); per_fwd_frame = delta/received; session_allocs = a"
            echo "0.05 s run (mostly the two clients attaching/leaving); net = per frame with that cost removed."
        fi
        if [ $DO_STRACE = 1 ]; then
            echo
            echo "Syscalls per frame (strace -c -f -p, 64-byte frames, 2 s; strace slows the switch):"
            grep -v '^#' "$SYSCALL_TSV" | tabulate
        fi
        echo
        echo "files: $RAW  $OUT.summary.tsv  $ALLOC_TSV  $DISCARDED$([ $DO_STRACE = 1 ] && echo "  $SYSCALL_TSV")"
    } | tee "$OUT.txt"
}

main "$@"
