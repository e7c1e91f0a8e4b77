"""A fleet-wide rate limit service for the Envoy e2e tests (SPEC §7.1): a real redis-server
and the test RLS (`test-rls`, crate envoy/rls: Kuadrant Limitador's counting on that Redis,
behind Envoy's gRPC `ShouldRateLimit`, answered as limitador-server answers it), each on a
free 127.0.0.1 port.

    with RateLimitService(tmp_path, [rls_limit("mcp", KEY, 3, 60)]) as rls:
        cluster = rls.cluster("ratelimit")   # EnvoyConfig(extra_clusters=[cluster])
        ...                                  # plugin config: "rls": {"cluster": "ratelimit", ...}
        rls.redis.stop(); rls.redis.start()  # Redis down and back (empty: no persistence)
        rls.restart()                        # the RLS again, same port (re-reads its limits)
        rls.redis.keys()                     # what Limitador stored, to look for identities

or the fixture `rate_limit_service` (import it into a test module or conftest.py:
`from e2e.rls import rate_limit_service  # noqa: F401`), a factory whose services stop when
the test ends:

    def test_x(rate_limit_service):
        rls = rate_limit_service([rls_limit("mcp", KEY, 3, 60)])

A second RLS on the same Redis shares its counts:
RateLimitService(work_dir, limits, redis=rls.redis, name="rls2").

Limits are a list of dicts (written as JSON, which is YAML) or YAML text, in Limitador's
format: namespace, name, max_value, seconds, conditions, variables (CEL over
`descriptors`, a list with one map per request descriptor). `rls_limit()` writes one in
the layout the filter sends: descriptors[0] holds one entry per counter, key
`mcp_policy.c.<16 hex>`, value a scope digest or `_`. `validate()` runs
`test-rls --validate`, which accepts what `limitador-server --validate` accepts.

The binary: $MCP_POLICY_TEST_RLS, else target/debug/test-rls, built once per run with
`cargo build -q -p mcp-policy-test-rls` (a no-op after `cargo test --workspace`). Without
redis-server (apt redis-server, via envoy/setup.sh) or cargo, a test skips, and fails under
CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from .envoy_config import static_cluster
from .paths import REPO_ROOT
from .ports import HOST, free_port, port_accepts, wait_port
from .procs import ManagedProcess
from .requirements import missing

TEST_RLS = REPO_ROOT / "target" / "debug" / "test-rls"
_BUILD_LOCK = threading.Lock()
_BUILT: list[Path] = []


def redis_server_bin() -> str:
    """The redis-server binary ($REDIS_SERVER, else PATH, else Debian's); skips or fails."""
    path = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if not path and Path("/usr/bin/redis-server").is_file():
        path = "/usr/bin/redis-server"
    if not path:
        missing("redis-server is not installed (apt redis-server, via envoy/setup.sh)")
    return str(path)


def rls_binary() -> Path:
    """The test-rls binary: $MCP_POLICY_TEST_RLS, else built with cargo (once per process)."""
    env = os.environ.get("MCP_POLICY_TEST_RLS")
    if env:
        path = Path(env).resolve()
        if not path.is_file():
            missing(f"MCP_POLICY_TEST_RLS={env} is not a file")
        return path
    with _BUILD_LOCK:
        if _BUILT:
            return _BUILT[0]
        cargo = shutil.which("cargo")
        if cargo is None:
            if TEST_RLS.is_file():
                _BUILT.append(TEST_RLS)
                return TEST_RLS
            missing("cargo is not installed and target/debug/test-rls is not built")
        done = subprocess.run([cargo, "build", "-q", "-p", "mcp-policy-test-rls"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=3600)
        if done.returncode != 0 or not TEST_RLS.is_file():
            raise RuntimeError(f"cargo build -p mcp-policy-test-rls failed ({done.returncode}):\n"
                               f"{done.stderr[-5000:]}")
        _BUILT.append(TEST_RLS)
        return TEST_RLS


def rls_limit(namespace: str, key: str, max_value: int, seconds: int, *,
              name: str | None = None, descriptor: int = 0) -> dict[str, Any]:
    """One Limitador limit counting `key` of descriptors[descriptor], each value apart (a
    scope digest, or `_` for a global counter)."""
    path = f'descriptors[{descriptor}]["{key}"]'
    return {
        "namespace": namespace,
        "name": name if name is not None else f"{key}, {max_value} per {seconds} s",
        "max_value": max_value,
        "seconds": seconds,
        "conditions": [f'{path} != ""'],
        "variables": [path],
    }


def limits_text(limits: str | Sequence[dict[str, Any]]) -> str:
    """A limits file's text: YAML as given, or a list of limits as JSON (a YAML subset)."""
    if isinstance(limits, str):
        return limits
    return json.dumps(list(limits), indent=2) + "\n"


class Redis:
    """A redis-server on 127.0.0.1 without persistence: a restart starts it empty.

    start() / stop() / restart() keep the port. command(*args) sends one command
    (RESP) and returns its answer; keys() lists every key; flushall() empties it.
    """

    def __init__(self, work_dir: str | Path, *, name: str = "redis"):
        self.bin = redis_server_bin()
        self.work_dir = Path(work_dir)
        self.name = name
        self.port = free_port()
        self.proc: ManagedProcess | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/"

    def argv(self) -> list[str]:
        return [self.bin, "--port", str(self.port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--dir", str(self.work_dir), "--logfile", ""]

    def start(self, timeout: float = 10.0) -> "Redis":
        if self.proc is not None and self.proc.alive():
            return self
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.proc = ManagedProcess(f"{self.name}{self.starts}", self.argv(), self.work_dir).start()
        deadline = time.monotonic() + timeout
        while not port_accepts(self.port):
            if not self.proc.alive():
                raise RuntimeError(f"redis-server exited ({self.proc.returncode})\n{self.proc.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server not listening on {self.port} after {timeout}s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            deadline = time.monotonic() + 5
            while port_accepts(self.port) and time.monotonic() < deadline:
                time.sleep(0.02)

    def restart(self) -> "Redis":
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def command(self, *args: str | bytes | int, timeout: float = 5.0) -> Any:
        """One Redis command; its answer as bytes, int, list or None (an error raises)."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        msg = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection((HOST, self.port), timeout=timeout) as s:
            s.sendall(msg)
            return _read_resp(s.makefile("rb"))

    def keys(self) -> list[bytes]:
        return sorted(self.command("KEYS", "*"))

    def flushall(self) -> None:
        self.command("FLUSHALL")

    def log_files(self) -> list[Path]:
        return self.proc.log_files() if self.proc else []

    def __enter__(self) -> "Redis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_resp(f) -> Any:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise RuntimeError(f"Redis closed the connection ({line!r})")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(f"Redis: {rest.decode(errors='replace')}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_resp(f) for _ in range(n)]
    raise RuntimeError(f"Redis: unexpected answer {line!r}")


class RateLimitService:
    """test-rls on a free 127.0.0.1 port, over `redis` (its own Redis when None).

    start() / stop() / restart() keep the port; the limits file is read at each start
    (write_limits() then restart() to change it). stop() also stops a Redis it started.
    """

    def __init__(self, work_dir: str | Path, limits: str | Sequence[dict[str, Any]], *,
                 redis: Redis | None = None, name: str = "rls"):
        self.bin = rls_binary()
        self.work_dir = Path(work_dir)
        self.name = name
        self.own_redis = redis is None
        self.redis = redis if redis is not None else Redis(self.work_dir, name=f"{name}-redis")
        self.limits_path = self.work_dir / f"{name}-limits.yaml"
        self.port = free_port()
        self.proc: ManagedProcess | None = None
        self.starts = 0
        self.write_limits(limits)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def cluster(self, name: str = "ratelimit", connect_timeout: str = "1s") -> dict[str, Any]:
        """The Envoy cluster for the plugin's `rls.cluster`: HTTP/2, as gRPC needs."""
        return static_cluster(name, self.port, http2=True, connect_timeout=connect_timeout)

    def write_limits(self, limits: str | Sequence[dict[str, Any]]) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.limits_path.write_text(limits_text(limits))
        return self.limits_path

    def validate(self, limits: str | Sequence[dict[str, Any]] | None = None) -> subprocess.CompletedProcess:
        """`test-rls --validate` of `limits` (default: the current file); check .returncode."""
        path = self.limits_path
        if limits is not None:
            path = self.work_dir / f"{self.name}-validate.yaml"
            path.write_text(limits_text(limits))
        return subprocess.run([str(self.bin), "--validate", str(path)], capture_output=True,
                              text=True, timeout=60)

    def argv(self) -> list[str]:
        return [str(self.bin), "--listen", self.address, "--redis", self.redis.url,
                "--limits", str(self.limits_path)]

    def start(self, timeout: float = 20.0) -> "RateLimitService":
        if self.proc is not None and self.proc.alive():
            return self
        if self.own_redis and not self.redis.alive():
            self.redis.start()
        self.starts += 1
        self.proc = ManagedProcess(f"{self.name}{self.starts}", self.argv(), self.work_dir).start()
        deadline = time.monotonic() + timeout
        while True:
            if f"listening on {self.address}" in _read(self.proc.stdout_path):
                break
            if not self.proc.alive():
                raise RuntimeError(f"test-rls exited ({self.proc.returncode})\n{self.proc.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"test-rls not ready after {timeout}s\n{self.proc.output()}")
            time.sleep(0.02)
        if not wait_port(self.port, timeout=5):
            raise RuntimeError(f"test-rls said it listens but {self.address} refuses")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        if self.own_redis:
            self.redis.stop()

    def restart(self) -> "RateLimitService":
        """The RLS alone again (its Redis, and so the counts, stay)."""
        if self.proc is not None:
            self.proc.stop()
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log_text(self) -> str:
        return self.proc.output(max_lines=2000) if self.proc else ""

    def log_files(self) -> list[Path]:
        files = self.proc.log_files() if self.proc else []
        return files + [p for p in self.redis.log_files() if p not in files]

    def __enter__(self) -> "RateLimitService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class RateLimitServices:
    """What the fixture hands a test: call it to start a RateLimitService; all stop at its end."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.started: list[RateLimitService] = []

    def __call__(self, limits: str | Sequence[dict[str, Any]], *, redis: Redis | None = None,
                 name: str | None = None) -> RateLimitService:
        name = name or f"rls{len(self.started) + 1}"
        service = RateLimitService(self.work_dir, limits, redis=redis, name=name)
        self.started.append(service)
        return service.start()

    def stop_all(self) -> None:
        # Services on a shared Redis first, then those that own theirs.
        for service in sorted(self.started, key=lambda s: s.own_redis):
            try:
                service.stop()
            except Exception:
                pass

    def log_files(self) -> list[Path]:
        return [p for s in self.started for p in s.log_files()]


@pytest.fixture
def rate_limit_service(tmp_path) -> Iterator[RateLimitServices]:
    """A factory of RateLimitService (limits, redis=None, name=None), each stopped, with its
    Redis, when the test ends, pass or fail. Its log_files() go into a failed test's report."""
    services = RateLimitServices(tmp_path / "rls")
    try:
        yield services
    finally:
        services.stop_all()
