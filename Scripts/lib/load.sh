# shellcheck shell=bash
# CPU accounting from /proc for the benchmarks: what the processes under test used, and
# what everyone else on the machine used meanwhile (a build or a VM makes figures suspect).
# CLK_TCK (ticks per second, getconf CLK_TCK) is the sourcing script's. Sourced by lib/common.sh.

# ---------------------------------------------------------------- background load
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

# CPU ticks of each given PID's process tree (itself + live descendants), one number per
# PID, from a single pass over /proc (so all trees are sampled at the same moment).
tree_ticks() {  # tree_ticks PID...
    [ $# -gt 0 ] || return 0
    proc_table | awk -v roots="$*" '
        { par[$1] = $2; t[$1] = $3 }
        END {
            n = split(roots, R, " ")
            for (i = 1; i <= n; i++) { idx[R[i]] = i; s[i] = 0 }
            for (p in t) for (q = p; q != "" && q != 0; q = par[q]) if (q in idx) { s[idx[q]] += t[p]; break }
            for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), s[i]
            print ""
        }'
}

# Sample busy_cores until IDLE_STREAK (default 1) consecutive 1 s samples are below
# IDLE_MAX (a build on a shared box idles for a second between compiler jobs: one quiet
# sample is not proof) or WAIT_IDLE seconds are spent; print the last sample and log a
# note when it is still busy. With WAIT_IDLE=0 this is a single 1 s sample.
wait_idle() {
    local deadline=$((SECONDS + WAIT_IDLE)) b quiet=0
    while :; do
        b=$(busy_cores)
        if awk -v b="$b" -v m="$IDLE_MAX" 'BEGIN { exit !(b == "NA" || b + 0 < m + 0) }'; then
            quiet=$((quiet + 1))
            [ "$WAIT_IDLE" = 0 ] || [ $quiet -ge "${IDLE_STREAK:-1}" ] && break
        else
            quiet=0
        fi
        [ $SECONDS -ge $deadline ] && break
    done
    awk -v b="$b" -v m="$IDLE_MAX" 'BEGIN { exit !(b != "NA" && b + 0 >= m + 0) }' &&
        log "note: machine busy (${b} cores) before this run — figures suspect"
    echo "$b"
}
