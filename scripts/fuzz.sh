#!/usr/bin/env bash
# Coverage-guided fuzzing of the filter's pure logic (cargo-fuzz / libFuzzer).
#
#   scripts/fuzz.sh [SECONDS]      every target for SECONDS each (default 30)
#   scripts/fuzz.sh 0              no fuzzing: build, then replay the seed corpus and
#                                  fuzz/regressions once (fast; for the test command)
#   scripts/fuzz.sh 600            a long run: 10 minutes per target
#
# Installs what it needs, idempotently: a nightly toolchain (rustup), cargo-fuzz, the
# release CLI (to convert ../shared's Intercept YAML). Rebuilds the seed corpus from
# ../shared into fuzz/corpus/ (ignored by git), replays fuzz/regressions/<target>/, then
# fuzzes. Exits non-zero if any target crashes, i.e. a property failed or the filter
# panicked; the input is in fuzz/artifacts/<target>/ and the panic message in the log.
#
# Environment:
#   FUZZ_TARGETS="mcp config"   targets to run (default: all seven)
#   FUZZ_JOBS=2                 targets run at once (default: number of cores, at most 7)
#   FUZZ_SANITIZER=address      libFuzzer sanitizer (default none: the pure modules fuzzed
#                               hold two unsafe blocks, each over bytes checked ASCII just
#                               before, and without ASan it runs 2-3x faster)
#   MCP_POLICY_FUZZ_KNOWN=a,b   findings whose property is switched off; when unset, the
#                               names in fuzz/known-findings (open findings, not fixed yet).
#                               Set it empty to check every property:
#                               MCP_POLICY_FUZZ_KNOWN= scripts/fuzz.sh 0
#   MCP_POLICY_SHARED=dir       where the shared policies are (default ../shared)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS]" >&2
    exit 2
fi
all_targets="config mcp engine tool_call stream regex toolslist"
targets="${FUZZ_TARGETS:-$all_targets}"
cores="$(nproc 2>/dev/null || echo 2)"
jobs="${FUZZ_JOBS:-$(( cores < 7 ? cores : 7 ))}"
sanitizer="${FUZZ_SANITIZER:-none}"
shared="${MCP_POLICY_SHARED:-$(dirname "$repo")/shared}"

if [[ -z "${MCP_POLICY_FUZZ_KNOWN+set}" ]]; then
    MCP_POLICY_FUZZ_KNOWN="$(grep -v '^\s*#' fuzz/known-findings 2>/dev/null | awk '{print $1}' | grep -v '^$' | paste -sd, - || true)"
fi
export MCP_POLICY_FUZZ_KNOWN

echo "== fuzz: toolchain and cargo-fuzz"
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1 && ! [[ -x "$HOME/.cargo/bin/cargo-fuzz" ]]; then
    cargo install cargo-fuzz --locked
fi

echo "== fuzz: seed corpus from $shared"
cargo build --quiet --release -p mcp-policy-cli
python3 fuzz/build_corpus.py --shared "$shared" --cli "$repo/target/release/mcp-policy"

echo "== fuzz: build ($sanitizer sanitizer, debug assertions)"
build_flags=(-O -a -s "$sanitizer")
(cd fuzz && cargo +nightly fuzz build "${build_flags[@]}")

if [[ -n "$MCP_POLICY_FUZZ_KNOWN" ]]; then
    echo "== fuzz: open findings, their properties switched off: $MCP_POLICY_FUZZ_KNOWN"
fi

logs="$repo/fuzz/artifacts/logs"
mkdir -p "$logs"

run_target() {
    local t="$1" log="$logs/$1.log"
    mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t" "fuzz/artifacts/$t"
    local args=(-dict=dict/mcp.dict -timeout=10 -rss_limit_mb=2048 -max_len=16384
                -print_final_stats=1 -artifact_prefix="artifacts/$t/")
    if [[ "$seconds" -eq 0 ]]; then
        args+=(-runs=0)
    else
        args+=(-max_total_time="$seconds")
    fi
    # Seeds and regressions are read first (a regression that fails stops the run);
    # new inputs go to corpus/<target>.
    (cd fuzz && cargo +nightly fuzz run "${build_flags[@]}" "$t" "corpus/$t" "regressions/$t" -- "${args[@]}") \
        >"$log" 2>&1
}

summary() {
    local t="$1" status="$2" log="$logs/$1.log"
    local execs rate cov ft
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')"
    ft="$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')"
    printf '%-10s %-6s execs %-10s exec/s %-7s cov %-6s ft %-7s log %s\n' \
        "$t" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${log#"$repo"/}"
}

echo "== fuzz: $targets, ${seconds}s each, $jobs at a time"
declare -A pids=()
failed=()
results=()
wait_one() {
    local t="$1" rc=0
    wait "${pids[$t]}" || rc=$?
    unset "pids[$t]"
    if [[ $rc -eq 0 ]]; then
        results+=("$(summary "$t" ok)")
    else
        results+=("$(summary "$t" CRASH)")
        failed+=("$t")
    fi
}
queue=($targets)
running=()
for t in "${queue[@]}"; do
    run_target "$t" &
    pids[$t]=$!
    running+=("$t")
    if [[ ${#running[@]} -ge $jobs ]]; then
        wait_one "${running[0]}"
        running=("${running[@]:1}")
    fi
done
for t in "${running[@]}"; do
    wait_one "$t"
done

echo "== fuzz: results"
printf '%s\n' "${results[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    for t in "${failed[@]}"; do
        echo "-- $t crashed:"
        grep -E "panicked at|^(assertion|thread)|Test unit written|SUMMARY" -A2 "$logs/$t.log" | head -30 || true
    done
    echo "fuzz: FAILED (${failed[*]}); reproduce with: (cd fuzz && cargo +nightly fuzz run ${build_flags[*]} <target> <artifact>)" >&2
    exit 1
fi
echo "fuzz: ok"
