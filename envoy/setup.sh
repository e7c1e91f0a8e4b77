#!/usr/bin/env bash
# Idempotent set-up of the e2e test environment: <repo>/.venv with envoy/requirements.txt,
# envoy/ts/node_modules (npm ci; nodejs and npm from apt when missing), and chromium (apt).
# Prints one short line on success; pip's output is shown only when it fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$repo/.venv"
req="$here/requirements.txt"
stamp="$venv/.envoy-e2e-requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  log="$(mktemp)"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "envoy/setup.sh: pip install failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
fi

# The official TypeScript SDK, a second real MCP client and server (envoy/ts).
if ! command -v npm >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
ts="$here/ts"
ts_want="$(sha256sum "$ts/package-lock.json" | cut -d' ' -f1)"
ts_stamp="$ts/node_modules/.mcp-policy-lock.sha256"
if [ "$ts_want" != "$(cat "$ts_stamp" 2>/dev/null || true)" ]; then
  log="$(mktemp)"
  if ! (cd "$ts" && npm ci --no-audit --no-fund >"$log" 2>&1); then
    cat "$log" >&2
    rm -f "$log"
    echo "envoy/setup.sh: npm ci in envoy/ts failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$ts_want" >"$ts_stamp"
fi

# The approver in the approval tests: headless Debian chromium (driven by playwright-core,
# installed above with the TypeScript SDK).
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

# The fleet-wide limit tests (SPEC §7.1): Redis behind the test RLS (envoy/rls), and what
# that crate's redis client links (openssl-sys: libssl-dev, found through pkg-config).
apt_missing=""
command -v redis-server >/dev/null 2>&1 || apt_missing="$apt_missing redis-server"
command -v pkg-config >/dev/null 2>&1 || apt_missing="$apt_missing pkg-config"
dpkg -s libssl-dev >/dev/null 2>&1 || apt_missing="$apt_missing libssl-dev"
if [ -n "$apt_missing" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $apt_missing >/dev/null
fi

# Check that the pieces the tests need are really there.
envoy_bin="$(PYTHONPATH="$here" "$venv/bin/python" -m e2e.envoy_bin)"
echo "envoy e2e ready: $("$envoy_bin" --version 2>/dev/null | grep -o '1\.[0-9]*\.[0-9]*' | head -1) at $envoy_bin, venv $venv"
