#!/usr/bin/env bash
# Run the Envoy end-to-end tests: set up <repo>/.venv, then pytest envoy/tests.
# Extra arguments go to pytest (e.g. -k stateless, -x, -vv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bash "$here/setup.sh"
cd "$repo"
exec "$repo/.venv/bin/python" -m pytest envoy/tests -q "$@"
