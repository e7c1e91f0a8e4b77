"""Build the e2e probe filter (envoy/probe-filter), a tiny proxy-wasm module that proves
the harness's wasm wiring without the real mcp-policy filter.

It is built with cargo for wasm32-wasip1 into <repo>/target/e2e-probe (ignored by git).
A machine without cargo or the wasm32-wasip1 target skips (fails under CI=true).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .paths import ENVOY_DIR, REPO_ROOT
from .requirements import missing

PROBE_DIR = ENVOY_DIR / "probe-filter"
PROBE_TARGET_DIR = REPO_ROOT / "target" / "e2e-probe"
PROBE_WASM = PROBE_TARGET_DIR / "wasm32-wasip1" / "release" / "e2e_probe.wasm"


def _has_wasm_target() -> bool:
    try:
        sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True,
                                 timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return (Path(sysroot) / "lib" / "rustlib" / "wasm32-wasip1").is_dir()


def build_probe() -> Path:
    """Build (or reuse) the probe module and return its path."""
    if shutil.which("cargo") is None:
        missing("cargo not found: cannot build the e2e probe filter")
    if not _has_wasm_target():
        missing("the wasm32-wasip1 Rust target is not installed (rustup target add wasm32-wasip1)")
    env = dict(os.environ, CARGO_TARGET_DIR=str(PROBE_TARGET_DIR))
    out = subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1",
         "--manifest-path", str(PROBE_DIR / "Cargo.toml")],
        capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0 or not PROBE_WASM.is_file():
        raise RuntimeError(f"building the probe filter failed:\n{out.stdout}\n{out.stderr}")
    return PROBE_WASM
