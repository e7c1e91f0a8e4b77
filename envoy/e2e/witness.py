"""Witness servers as subprocesses: official-SDK MCP servers whose tools write down what
they received (e2e.witness_server for Python, envoy/ts/witness.mjs for TypeScript).

    with Witness(work_dir, "python", json_response=True) as w:
        w.url           # http://127.0.0.1:<port>/mcp (direct, not through Envoy)
        w.port
        w.saw()         # [(tool, args), ...] in the order the tools ran
        w.clear()
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import httpx

from .paths import ENVOY_DIR
from .procs import ManagedProcess
from .requirements import missing

TS_DIR = ENVOY_DIR / "ts"
KINDS = ("python", "typescript")


class Witness:
    def __init__(self, work_dir: str | Path, kind: str, *, json_response: bool = False):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind = kind
        self.json_response = json_response
        mode = "json" if json_response else "sse"
        self.name = f"witness_{kind}_{mode}"
        self.work_dir = Path(work_dir) / self.name
        self.record = self.work_dir / "saw.jsonl"
        self.port_file = self.work_dir / "port"
        self.port: int | None = None
        self.proc: ManagedProcess | None = None

    def argv(self) -> list[str]:
        extra = ["--json-response"] if self.json_response else []
        common = ["--port-file", str(self.port_file), "--record", str(self.record), *extra]
        if self.kind == "python":
            return [sys.executable, "-m", "e2e.witness_server", *common]
        node = shutil.which("node")
        if node is None or not (TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
            missing("node or envoy/ts/node_modules missing (run envoy/setup.sh)")
        return [node, str(TS_DIR / "witness.mjs"), *common]

    def start(self, timeout: float = 20.0) -> "Witness":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port_file.unlink(missing_ok=True)
        self.record.write_text("")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ENVOY_DIR) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cwd = ENVOY_DIR if self.kind == "python" else TS_DIR
        self.proc = ManagedProcess(self.name, self.argv(), self.work_dir, env=env, cwd=cwd).start()
        deadline = time.monotonic() + timeout
        try:
            with httpx.Client(trust_env=False, timeout=1.0) as http:
                while True:
                    if not self.proc.alive() or time.monotonic() > deadline:
                        raise RuntimeError(f"{self.name} did not start\n{self.proc.output()}")
                    if self.port is None and self.port_file.exists() and self.port_file.read_text().strip():
                        self.port = int(self.port_file.read_text())
                    if self.port is not None:
                        try:
                            if http.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                                return self
                        except httpx.HTTPError:
                            pass
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def __enter__(self) -> "Witness":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def saw(self) -> list[tuple[str, dict]]:
        """What the tools received, in the order they ran."""
        out = []
        for line in self.record.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                out.append((entry["tool"], entry["args"]))
        return out

    def clear(self) -> None:
        self.record.write_text("")

    def log_files(self) -> list[Path]:
        return ([self.record] + self.proc.log_files()) if self.proc else []
