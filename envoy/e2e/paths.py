"""Repository paths used by the e2e helpers."""

from __future__ import annotations

import os
from pathlib import Path

ENVOY_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = ENVOY_DIR.parent
DEFAULT_WASM = REPO_ROOT / "target" / "wasm32-wasip1" / "release" / "mcp_policy.wasm"


def wasm_path() -> Path:
    """The filter artifact: $MCP_POLICY_WASM, else the cargo release output."""
    env = os.environ.get("MCP_POLICY_WASM")
    return Path(env).resolve() if env else DEFAULT_WASM
