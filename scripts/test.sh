#!/usr/bin/env bash
# Every test: formatting and the no-panic lint gate, unit tests of the pure logic, the CLI
# on every policy in ../shared/policies, the real .wasm in the wasmtime harness, a short
# fuzz run, and the real .wasm in a real Envoy in front of a real MCP server. Installs
# what it needs.
# Under CI=true a test whose real part is missing fails instead of skipping.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh

echo "== cargo fmt --check, cargo clippy (native and wasm32; no unwrap/expect/panic/indexing in filter code)"
cargo fmt --all -- --check
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-wasip1 -p mcp-policy-filter -- -D warnings

echo "== cargo test (pure logic, CLI, wasmtime harness on the release .wasm)"
MCP_POLICY_WASM="$repo/target/wasm32-wasip1/release/mcp_policy.wasm" cargo test --quiet --workspace

echo "== fuzzing, short: replay the regressions and seeds, then 15 s per target (scripts/fuzz.sh 600 for a long run)"
bash scripts/fuzz.sh 15

echo "== Envoy end to end"
bash envoy/run-tests.sh
