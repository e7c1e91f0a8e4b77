"""Subprocesses that always stop, with stdout/stderr captured to files.

Every ManagedProcess is registered while it runs; stop_all() (called at interpreter exit
and at the end of a pytest session) stops whatever is left. Children run in their own
session (process group) and get SIGKILL if the Python process that started them dies
(Linux PR_SET_PDEATHSIG), so even a killed test run leaves nothing behind.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Sequence

_LIVE: set["ManagedProcess"] = set()
_LOCK = threading.Lock()

try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux: no parent-death signal
    _LIBC = None

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    # Runs in the child between fork and exec.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def tail(path: Path, max_lines: int = 200) -> str:
    """The last max_lines lines of a text file ("" when it does not exist)."""
    try:
        data = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    lines = data.splitlines()
    if len(lines) > max_lines:
        return f"[... {len(lines) - max_lines} earlier lines ...]\n" + "\n".join(lines[-max_lines:])
    return "\n".join(lines)


class ManagedProcess:
    """A subprocess whose output goes to <log_dir>/<name>.stdout and .stderr.

    Use as a context manager, or call start() and stop() (stop is idempotent).
    """

    def __init__(self, name: str, argv: Sequence[str | os.PathLike], log_dir: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_dir = Path(log_dir)
        self.env = env
        self.cwd = cwd
        self.stdout_path = self.log_dir / f"{name}.stdout"
        self.stderr_path = self.log_dir / f"{name}.stderr"
        self.proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "ManagedProcess":
        if self.proc is not None:
            raise RuntimeError(f"{self.name} already started")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.log_dir / f"{self.name}.cmd").write_text(" ".join(self.argv) + "\n")
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=self.env, cwd=self.cwd, start_new_session=True,
                preexec_fn=_child_setup, close_fds=True,
            )
        with _LOCK:
            _LIVE.add(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the process group, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    proc.wait(timeout=10)
        finally:
            with _LOCK:
                _LIVE.discard(self)
        return proc.returncode

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)  # start_new_session: pgid == pid
        except ProcessLookupError:
            pass
        except PermissionError:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to `timeout` for the process to exit on its own; its code or None."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    # -- logs --------------------------------------------------------------------------
    def log_files(self) -> list[Path]:
        return [self.stdout_path, self.stderr_path]

    def output(self, max_lines: int = 200) -> str:
        parts = []
        for p in self.log_files():
            text = tail(p, max_lines)
            if text:
                parts.append(f"--- {p.name} ---\n{text}")
        return "\n".join(parts)

    def __enter__(self) -> "ManagedProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, alive={self.alive()})"


def live_processes() -> list[ManagedProcess]:
    with _LOCK:
        return list(_LIVE)


def stop_all() -> None:
    """Stop every ManagedProcess still running."""
    for p in live_processes():
        try:
            p.stop(timeout=3)
        except Exception:
            pass


def wait_until(pred, timeout: float, interval: float = 0.02, proc: ManagedProcess | None = None) -> bool:
    """Poll pred() until it is truthy (True), the timeout passes or `proc` exits (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if proc is not None and not proc.alive():
            return bool(pred())
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


atexit.register(stop_all)
