#!/usr/bin/env bash
# Fuzzes the parsers with libFuzzer: builds .build-fuzz/release/F2FFuzz (every harness of
# Sources/F2FFuzzHarness, instrumented for libFuzzer and AddressSanitizer), seeds each target
# from its fixtures, runs each for a bounded time and keeps every crash, timeout, leak or
# out-of-memory input in Fixtures/fuzz/<target>/ (crash-<sha1>, timeout-<sha1>, ...), where
# `swift test` (FuzzRegressionTests) replays it from then on.
#   Scripts/fuzz.sh                      every target, 60 s each
#   Scripts/fuzz.sh 300 bpdu console     those targets, 300 s each
#   Scripts/fuzz.sh --list               the targets and the Fixtures/ folders that seed them
# One PASS:/FAIL: line per target on stdout; exit 1 if anything was found, 2 on a usage or
# build error. The growing corpus stays in .build-fuzz/corpus/<target> between runs, logs in
# .build-fuzz/logs/<target>.log. FUZZ_ARGS adds libFuzzer options (e.g. FUZZ_ARGS=-max_len=70000).
# Replay a found input in a normal build: swift run F2FFuzz <target> Fixtures/fuzz/<target>/crash-…

set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/common.sh
source Scripts/lib/common.sh
DIE_STATUS=2

scratch=.build-fuzz
binary=$scratch/release/F2FFuzz

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac
list_only=0
seconds=60
if [[ "${1:-}" == --list ]]; then
    list_only=1
    shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi

log "building $binary (libFuzzer + AddressSanitizer)"
mkdir -p "$scratch/logs"
# Both spellings are needed (Swift 6.3): SwiftPM's --sanitize=fuzzer stops it from renaming the
# executable's entry point (F2FFuzz_main), so libFuzzer's main links, but it leaves Swift code
# uninstrumented (3 counters, no "cov:"); -Xswiftc -sanitize=fuzzer,address instruments it.
# -DFUZZING swaps the replay main out for the libFuzzer entry points.
if ! nice -n 10 swift build -c release --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --product F2FFuzz >"$scratch/logs/build.log" 2>&1; then
    tail -30 "$scratch/logs/build.log" >&2
    die "build failed (log: $scratch/logs/build.log)"
fi

# "name seed-folder..." per target, from the harness registry itself.
declare -A seed_folders=()
all_targets=()
while read -r name folders; do
    [[ -n "$name" ]] || continue
    all_targets+=("$name")
    seed_folders[$name]=$folders
done < <(F2F_FUZZ_TARGET=list "$binary")
((${#all_targets[@]})) || die "the fuzz binary lists no targets"

if ((list_only)); then
    for name in "${all_targets[@]}"; do echo "$name: Fixtures/{${seed_folders[$name]// /,}}/*.hex + Fixtures/fuzz/$name/"; done
    exit 0
fi

targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for name in "${targets[@]}"; do
    [[ -n "${seed_folders[$name]+x}" ]] || die "unknown target '$name' (known: ${all_targets[*]})"
done

# Hex fixtures become raw inputs; files in Fixtures/fuzz/<target>/ are raw already (or .hex).
hex_to_bytes() { sed 's/#.*//' "$1" | xxd -r -p; }
seed_corpus() {  # seed_corpus TARGET DIR
    local name=$1 dir=$2 folder file
    rm -rf "$dir"
    mkdir -p "$dir"
    for folder in ${seed_folders[$name]} "fuzz/$name"; do
        for file in Fixtures/"$folder"/*; do
            [[ -f "$file" ]] || continue
            case "$file" in
                *.hex) hex_to_bytes "$file" >"$dir/$(basename "$file" .hex)" ;;
                *.md) ;;
                *) cp "$file" "$dir/" ;;
            esac
        done
    done
}

# The last libFuzzer status line ("#N DONE cov: C ft: F corp: U/S ...") and the final stats.
summarize() {  # summarize LOG
    local log=$1 runs rate cov ft corpus
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE ' cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    ft=$(grep -oE ' ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    corpus=$(grep -oE ' corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | sed 's/ corp: //')
    echo "${runs:-?} runs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corpus:-?}"
}

failures=0
for name in "${targets[@]}"; do
    corpus=$scratch/corpus/$name
    seeds=$scratch/seeds/$name
    artifacts=Fixtures/fuzz/$name
    target_log=$scratch/logs/$name.log
    mkdir -p "$corpus" "$artifacts"
    seed_corpus "$name" "$seeds"
    before=$(ls "$artifacts")
    log "fuzzing $name for $seconds s ($(ls "$seeds" | wc -l) seeds, $(ls "$corpus" | wc -l) corpus inputs)"
    # New inputs go to the first folder (the kept corpus); seeds are read only.
    # shellcheck disable=SC2086  # FUZZ_ARGS is a list of options
    F2F_FUZZ_TARGET=$name "$binary" "$corpus" "$seeds" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -report_slow_units=100000 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} >"$target_log" 2>&1
    status=$?
    found=$(comm -13 <(echo "$before") <(ls "$artifacts") | grep -E '^(crash|timeout|oom|leak)-' | sed "s|^|$artifacts/|" | tr '\n' ' ')
    if ((status == 0)) && [[ -z "$found" ]]; then
        echo "PASS: $name ${seconds}s: $(summarize "$target_log")"
    else
        failures=$((failures + 1))
        # The Swift runtime's message and the first frame in our code; the sanitizer's summary
        # when there is none. (After a Swift trap ASan may also complain about the Swift
        # backtracer reading memory: that report is noise.)
        reason=$(grep -m1 -E 'Swift runtime failure:|Fatal error|Precondition failed' "$target_log" | sed 's/^[* ]*//; s/ *\**$//')
        frame=$(grep -m1 -E '^ *[0-9]+ .* at /.*/(Sources|Tests)/' "$target_log" | sed -E 's/^ *[0-9]+ +(\[[a-z]+\] )*0x[0-9a-f]+ +//')
        [[ -n "$reason" ]] && reason="$reason in $frame"
        [[ -n "$reason" ]] || reason=$(grep -m1 -E '^==[0-9]+==ERROR:|^SUMMARY:|deadly signal' "$target_log")
        # No new file: an input already kept here (or a seed) still fails, before any fuzzing.
        echo "FAIL: $name (exit $status): ${found:-a kept input or seed still fails} ${reason:+— $reason} (log: $target_log)"
    fi
done
((failures == 0)) || exit 1
