"""Start and stop a real Envoy; wait until it is ready; read its stats and logs.

EnvoyProcess(config, work_dir).start():
  - writes the bootstrap to <work_dir>/envoy.json;
  - runs the binary with --concurrency N, a --base-id unique to this instance (and
    --disable-hot-restart, so no shared memory or domain sockets are shared between
    parallel Envoys), -l LEVEL, --log-path <work_dir>/envoy.log,
    --admin-address-path (admin may bind port 0), --file-flush-interval-msec 50 (so the
    access log is on disk a moment after each request);
  - waits until admin /ready says LIVE and the listener accepts connections; the listener
    may bind port 0, its real port is read from admin /listeners;
  - raises EnvoyStartError with the end of Envoy's log if it exits or times out.
stop(): SIGTERM, then SIGKILL after a timeout (see procs.ManagedProcess).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from .envoy_bin import find_envoy
from .envoy_config import EnvoyConfig
from .ports import HOST, port_accepts
from .procs import ManagedProcess, tail

_instance_counter = itertools.count(1)


class EnvoyStartError(RuntimeError):
    pass


def unique_base_id() -> int:
    """A --base-id no other Envoy started by this machine's test runs is likely to use."""
    return (os.getpid() % 200_000) * 100 + next(_instance_counter) % 100


class EnvoyProcess:
    def __init__(self, config: EnvoyConfig | dict[str, Any], work_dir: str | Path, *,
                 concurrency: int = 2, log_level: str = "info",
                 component_log_level: str | None = None, extra_args: list[str] | None = None,
                 name: str = "envoy", envoy_bin: str | Path | None = None):
        self.config = config
        self.work_dir = Path(work_dir)
        self.concurrency = concurrency
        self.log_level = log_level
        self.component_log_level = component_log_level
        self.extra_args = list(extra_args or [])
        self.name = name
        self.envoy_bin = Path(envoy_bin) if envoy_bin else find_envoy()
        self.config_path = self.work_dir / f"{name}.json"
        self.log_path = self.work_dir / f"{name}.log"
        self.admin_address_path = self.work_dir / f"{name}.admin"
        self.base_id = unique_base_id()
        self.proc: ManagedProcess | None = None
        self.admin_port: int | None = None
        self.port: int | None = None

    # -- paths and URLs ------------------------------------------------------------------
    @property
    def access_log_path(self) -> Path | None:
        if isinstance(self.config, EnvoyConfig) and self.config.access_log_path is not None:
            return Path(self.config.access_log_path)
        return None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url_for(self, path: str = "/mcp") -> str:
        return self.base_url + path

    @property
    def url(self) -> str:
        """The MCP endpoint through Envoy."""
        return self.url_for("/mcp")

    @property
    def admin_url(self) -> str:
        return f"http://{HOST}:{self.admin_port}"

    # -- lifecycle -----------------------------------------------------------------------
    def argv(self) -> list[str]:
        args = [str(self.envoy_bin), "-c", str(self.config_path),
                "--concurrency", str(self.concurrency),
                "--base-id", str(self.base_id), "--disable-hot-restart",
                "-l", self.log_level, "--log-path", str(self.log_path),
                "--admin-address-path", str(self.admin_address_path),
                "--file-flush-interval-msec", "50"]
        if self.component_log_level:
            args += ["--component-log-level", self.component_log_level]
        return args + self.extra_args

    def start(self, timeout: float = 30.0) -> "EnvoyProcess":
        if self.envoy_bin is None:
            raise EnvoyStartError("Envoy binary not found")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(self.config, EnvoyConfig):
            self.config.write(self.config_path)
        else:
            self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")
        self.admin_address_path.unlink(missing_ok=True)
        self.proc = ManagedProcess(self.name, self.argv(), self.work_dir).start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _fail(self, why: str) -> None:
        raise EnvoyStartError(f"Envoy {why}\n--- command ---\n{' '.join(self.argv())}\n"
                              f"{self.log_text(max_lines=80)}")

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=1.0) as http:
            while True:
                if not self.proc.alive():
                    self._fail(f"exited with code {self.proc.returncode} while starting")
                if time.monotonic() > deadline:
                    self._fail(f"not ready after {timeout}s")
                if self.admin_port is None and self.admin_address_path.exists():
                    text = self.admin_address_path.read_text().strip()
                    if text:
                        self.admin_port = int(text.rsplit(":", 1)[1])
                if self.admin_port is not None:
                    try:
                        r = http.get(self.admin_url + "/ready")
                        if r.status_code == 200 and r.text.strip() == "LIVE":
                            if self.port is None:
                                self.port = self._listener_port(http)
                            if self.port and port_accepts(self.port):
                                return
                    except httpx.HTTPError:
                        pass
                time.sleep(0.02)

    def _listener_port(self, http: httpx.Client) -> int | None:
        r = http.get(self.admin_url + "/listeners", params={"format": "json"})
        if r.status_code != 200:
            return None
        for st in r.json().get("listener_statuses", []):
            sa = st.get("local_address", {}).get("socket_address", {})
            if sa.get("port_value"):
                return int(sa["port_value"])
        return None

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.proc is None:
            return None
        return self.proc.stop(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def __enter__(self) -> "EnvoyProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- admin ---------------------------------------------------------------------------
    def admin_get(self, path: str, **params) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=5.0) as http:
            return http.get(self.admin_url + path, params=params or None)

    def stats(self, filter: str | None = None) -> dict[str, str]:
        """/stats as {name: value-as-text} (histograms keep their summary text)."""
        r = self.admin_get("/stats", **({"filter": filter} if filter else {}))
        r.raise_for_status()
        out = {}
        for line in r.text.splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                out[name] = value
        return out

    def stat(self, name: str, default: int | None = None) -> int | None:
        """One counter or gauge as an int (default when absent)."""
        value = self.stats().get(name)
        return default if value is None else int(value)

    def stats_prometheus(self) -> str:
        r = self.admin_get("/stats/prometheus")
        r.raise_for_status()
        return r.text

    # -- logs ----------------------------------------------------------------------------
    def log_text(self, max_lines: int | None = None) -> str:
        """Envoy's own log (--log-path) plus anything it wrote to stdout/stderr."""
        parts = []
        files = [self.log_path] + (self.proc.log_files() if self.proc else [])
        for p in files:
            if max_lines is None:
                text = p.read_text(errors="replace") if p.exists() else ""
            else:
                text = tail(p, max_lines)
            if text:
                parts.append(f"--- {p.name} ---\n{text}")
        return "\n".join(parts)

    def access_log_text(self) -> str:
        p = self.access_log_path
        return p.read_text(errors="replace") if p and p.exists() else ""

    def access_log_lines(self, min_count: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The access log, one dict per request (JSON lines).

        Waits up to `timeout` for at least `min_count` lines (the log is flushed every 50 ms).
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(l) for l in self.access_log_text().splitlines() if l.strip()]
            if len(lines) >= min_count or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def log_files(self) -> list[Path]:
        files = [self.config_path, self.log_path]
        if self.access_log_path:
            files.append(self.access_log_path)
        if self.proc:
            files += self.proc.log_files()
        return files
