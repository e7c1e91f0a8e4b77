"""The approval service (`mcp-policy approvals serve`) as a subprocess, and the person
who approves: headless Debian chromium driven by playwright-core (envoy/ts/approver.mjs).

ApprovalService(work_dir, approvers={"alice": "token"}).start() runs the release CLI on a
free 127.0.0.1 port with its SQLite file in work_dir; .restart() stops it and starts it
again on the same port and file; .stop() ends it. approve(url, token, action) signs in
and presses Approve or Deny, as a person would, and returns what the page then says.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from .paths import ENVOY_DIR, REPO_ROOT
from .ports import HOST, free_port
from .procs import ManagedProcess
from .requirements import missing

CLI = REPO_ROOT / "target" / "release" / "mcp-policy"
APPROVER_SCRIPT = ENVOY_DIR / "ts" / "approver.mjs"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ApprovalService:
    def __init__(self, work_dir: str | Path, approvers: dict[str, str], *,
                 pending_ttl_secs: int | None = None, approved_ttl_secs: int | None = None,
                 name: str = "approvals"):
        if not CLI.is_file():
            missing(f"the CLI is not built: {CLI} (scripts/setup.sh builds it)")
        self.work_dir = Path(work_dir)
        self.approvers = approvers
        self.pending_ttl_secs = pending_ttl_secs
        self.approved_ttl_secs = approved_ttl_secs
        self.name = name
        self.db = self.work_dir / f"{name}.sqlite"
        self.port = free_port()
        self.proc: ManagedProcess | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def argv(self) -> list[str]:
        args = [str(CLI), "approvals", "serve", "--listen", f"{HOST}:{self.port}",
                "--db", str(self.db), "--public-url", self.base_url]
        for name, token in self.approvers.items():
            args += ["--approver", f"{name}={sha256_hex(token)}"]
        if self.pending_ttl_secs is not None:
            args += ["--pending-ttl-secs", str(self.pending_ttl_secs)]
        if self.approved_ttl_secs is not None:
            args += ["--approved-ttl-secs", str(self.approved_ttl_secs)]
        return args

    def start(self, timeout: float = 15.0) -> "ApprovalService":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.proc = ManagedProcess(f"{self.name}{self.starts}", self.argv(), self.work_dir).start()
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=1.0) as http:
            while True:
                if not self.proc.alive():
                    raise RuntimeError(f"approval service exited ({self.proc.returncode})\n"
                                       f"{self.proc.output()}")
                try:
                    if http.get(self.base_url + "/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"approval service not ready after {timeout}s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def restart(self) -> "ApprovalService":
        self.stop()
        return self.start()

    def log_text(self) -> str:
        return self.proc.output(max_lines=2000) if self.proc else ""

    def log_files(self) -> list[Path]:
        return self.proc.log_files() if self.proc else []


def chromium() -> str:
    """The Debian chromium binary; a test without it fails under CI=true."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not path:
        missing("chromium is not installed (apt chromium, via envoy/setup.sh)")
    if not (ENVOY_DIR / "ts" / "node_modules" / "playwright-core").is_dir():
        missing("playwright-core is not installed (npm ci in envoy/ts, via envoy/setup.sh)")
    return path


def approve(url: str, token: str, action: str = "approve", *, reason: str | None = None,
            screenshot: str | Path | None = None, timeout: float = 60.0) -> dict:
    """A person opens `url`, signs in with `token` and presses Approve / Deny ("look":
    only signs in). Returns {"signed_in", "clicked", "status", "text"}."""
    argv = ["node", str(APPROVER_SCRIPT), url, token, action]
    if reason is not None:
        argv += ["--reason", reason]
    if screenshot is not None:
        argv += ["--screenshot", str(screenshot)]
    env = dict(os.environ, CHROMIUM=chromium())
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ENVOY_DIR / "ts")
    if done.returncode != 0:
        raise RuntimeError(f"approver.mjs failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
