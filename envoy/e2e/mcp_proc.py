"""Run the test MCP server (e2e.mcp_server) as a subprocess and read what reached it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx

from .paths import ENVOY_DIR
from .ports import HOST
from .procs import ManagedProcess
from .recording import Record, read_records, tool_calls


class McpServerError(RuntimeError):
    pass


class McpServerProcess:
    """`python -m e2e.mcp_server` on 127.0.0.1 (port chosen by the kernel) with a record file."""

    def __init__(self, work_dir: str | Path, *, json_response: bool = False, stateless: bool = False,
                 extra_tools: int = 0, name: str = "mcp_server", port: int = 0):
        self.work_dir = Path(work_dir)
        self.json_response = json_response
        self.stateless = stateless
        self.extra_tools = extra_tools
        self.name = name
        self.requested_port = port
        self.record_path = self.work_dir / f"{name}.records.jsonl"
        self.port_file = self.work_dir / f"{name}.port"
        self.port: int | None = None
        self.proc: ManagedProcess | None = None

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "e2e.mcp_server", "--port", str(self.requested_port),
                "--port-file", str(self.port_file), "--record", str(self.record_path),
                "--extra-tools", str(self.extra_tools)]
        if self.json_response:
            args.append("--json-response")
        if self.stateless:
            args.append("--stateless")
        return args

    def start(self, timeout: float = 20.0) -> "McpServerProcess":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port_file.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ENVOY_DIR) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = ManagedProcess(self.name, self.argv(), self.work_dir, env=env, cwd=ENVOY_DIR).start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=1.0) as http:
            while True:
                if not self.proc.alive():
                    raise McpServerError(f"MCP server exited with code {self.proc.returncode}\n"
                                         f"{self.proc.output()}")
                if time.monotonic() > deadline:
                    raise McpServerError(f"MCP server not ready after {timeout}s\n{self.proc.output()}")
                if self.port is None and self.port_file.exists():
                    self.port = int(self.port_file.read_text())
                if self.port is not None:
                    try:
                        if http.get(self.base_url + "/healthz").status_code == 200:
                            # The health check itself is not something a test sent.
                            self.clear_records()
                            return
                    except httpx.HTTPError:
                        pass
                time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> int | None:
        return self.proc.stop(timeout) if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def __enter__(self) -> "McpServerProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The MCP endpoint, directly (not through Envoy)."""
        return self.base_url + "/mcp"

    # -- what reached the server ---------------------------------------------------------
    def records(self) -> list[Record]:
        return read_records(self.record_path)

    def tool_calls(self) -> list[tuple[str, dict]]:
        """(name, arguments) of every tools/call that reached this server."""
        return tool_calls(self.records())

    def clear_records(self) -> None:
        self.record_path.write_text("")

    def log_text(self) -> str:
        return self.proc.output(max_lines=10_000) if self.proc else ""

    def log_files(self) -> list[Path]:
        return ([self.record_path] + self.proc.log_files()) if self.proc else []
