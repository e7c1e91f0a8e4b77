#!/usr/bin/env bash
# Idempotent set-up of the e2e test environment: <repo>/.venv with envoy/requirements.txt.
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

# Check that the pieces the tests need are really there.
envoy_bin="$(PYTHONPATH="$here" "$venv/bin/python" -m e2e.envoy_bin)"
echo "envoy e2e ready: $("$envoy_bin" --version 2>/dev/null | grep -o '1\.[0-9]*\.[0-9]*' | head -1) at $envoy_bin, venv $venv"
