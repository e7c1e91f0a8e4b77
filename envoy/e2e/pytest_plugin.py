"""pytest hooks for the e2e suite: logs of failed tests, and no process left behind.

- When a test fails (setup, call or teardown), the end of every log file of the Envoys
  and MCP servers it used is added to its report, so the failure shows what they said.
  Any fixture value with a `log_files()` method contributes.
- At the end of the session (and on SIGTERM) every process still running is stopped.

tests/conftest.py imports these hooks.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .procs import stop_all, tail

MAX_LOG_LINES = 150


def _log_files(item) -> list[Path]:
    seen: list[Path] = []
    for value in getattr(item, "funcargs", {}).values():
        fn = getattr(value, "log_files", None)
        if not callable(fn):
            continue
        try:
            files = fn()
        except Exception:
            continue
        for p in files:
            p = Path(p)
            if p not in seen:
                seen.append(p)
    return seen


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for p in _log_files(item):
        text = tail(p, MAX_LOG_LINES)
        if text:
            rep.sections.append((f"e2e {p.name} ({p})", text))


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    # SIGTERM -> KeyboardInterrupt: pytest unwinds, fixture finalizers stop the processes.
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        pass


def pytest_sessionfinish(session, exitstatus):
    stop_all()
