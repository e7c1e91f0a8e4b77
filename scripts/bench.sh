#!/usr/bin/env bash
# Benchmarks against the SPEC §8 budgets. Not part of scripts/test.sh: it takes a few
# minutes and wants a quiet machine with at least 2 cores. See envoy/bench/README.md.
#
#   scripts/bench.sh            # everything: wasmtime cost + scale, then Envoy (3 rounds x 10 s)
#   scripts/bench.sh --quick    # a short smoke run of both (figures are rough)
#   scripts/bench.sh [--rounds N --duration S ...]   # options for envoy/bench/run.py
#   BENCH_QUIET_WAIT=600 scripts/bench.sh   # wait longer for other work to stop (default 120 s)
#
# Installs what it needs, idempotently: wrk (apt), then scripts/setup.sh (the .wasm, the
# CLI, the venv with Envoy 1.40). Results: stdout, and target/bench/*.json.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

quick=0
run_args=()
for a in "$@"; do
  if [ "$a" = "--quick" ]; then quick=1; else run_args+=("$a"); fi
done

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (apt)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash scripts/setup.sh

# The cost binary runs wasmtime natively: an optimised build, without the workspace's
# fat LTO (minutes of linking for no measurable change in what is measured), in its own
# target directory so it never invalidates the other builds.
echo "building the wasmtime cost binary (release, first build takes several minutes)"
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo build --quiet --release -p mcp-policy-host-tests --bin cost --target-dir target/bench-host

# The calibration filter of the "wasm-floor" variant (a crate of its own, not a member
# of the workspace).
CARGO_TARGET_DIR=target/bench-floor cargo build --quiet --release --target wasm32-wasip1 \
  --manifest-path envoy/bench/floor/Cargo.toml

mkdir -p target/bench
# Both parts measure one copy of the .wasm, even if a build replaces the original meanwhile.
cp target/wasm32-wasip1/release/mcp_policy.wasm target/bench/mcp_policy.wasm
wasm=target/bench/mcp_policy.wasm
export MCP_POLICY_WASM="$repo/$wasm"
envoy_bin="$(PYTHONPATH=envoy .venv/bin/python -m e2e.envoy_bin)"
echo
echo "== machine"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpus:    $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "kernel:  $(uname -r)"
echo "envoy:   $("$envoy_bin" --version 2>/dev/null | grep -o '[0-9a-f]*/1\.[0-9]*\.[0-9]*/[A-Za-z]*/[A-Z]*' | head -1)"
echo "wrk:     $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- filter || echo ' (filter/ has uncommitted changes)')"
echo "wasm:    $wasm $(wc -c <"$wasm") bytes, sha256 $(sha256sum "$wasm" | cut -c1-16)"

echo
echo "== wasmtime harness: cost per decision, 1 MiB decision time, scale"
PYTHONPATH=envoy .venv/bin/python -m bench.configs >target/bench/plugin-config.json
cost_args=(--wasm "$wasm" --config target/bench/plugin-config.json --json target/bench/cost-results.json)
[ "$quick" = 1 ] && cost_args+=(--quick)
quiet_wait="${BENCH_QUIET_WAIT:-120}"
[ "$quick" = 1 ] && quiet_wait=10
PYTHONPATH=envoy .venv/bin/python -m bench.quiet --wait "$quiet_wait"
target/bench-host/release/cost "${cost_args[@]}"

echo
echo "== Envoy: buffer-only vs native mcp+rbac vs wasm-floor vs mcp-policy"
if [ "$quick" = 1 ]; then
  run_args=(--rounds 1 --duration 3 --latency-duration 2 --warmup 1 --attempts 1 "${run_args[@]+"${run_args[@]}"}")
fi
run_args=(--quiet-wait "$quiet_wait" "${run_args[@]+"${run_args[@]}"}")
PYTHONPATH=envoy .venv/bin/python -m bench.run "${run_args[@]+"${run_args[@]}"}"
