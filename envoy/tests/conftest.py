"""Fixtures for the e2e tests: a real MCP server, real Envoys in front of it.

mcp_server -> McpServerProcess, by default SSE answers and stateful sessions. Shared by
    the session (one per option set, from mcp_server_pool); its record file is emptied
    before each test, so .records() shows only this test's requests. Options through
    indirect parametrization (json_response, stateless, extra_tools):
    @pytest.mark.parametrize("mcp_server", [{"json_response": True}], indirect=True)
    Attributes: .url (direct /mcp), .base_url, .port, .record_path, .records(),
    .tool_calls(), .clear_records(), .log_text(), .stop().
mcp_server_factory(json_response=False, stateless=False, extra_tools=0) -> a fresh
    McpServerProcess of this test alone, stopped at its end.
envoy_factory(plugin_config=None, **opts) -> EnvoyProcess, started and ready, stopped at
    the end of the test. See EnvoyFactory.__call__ for the options. Attributes: .url
    (http://127.0.0.1:<port>/mcp), .url_for(path), .base_url, .port, .admin_url,
    .access_log_lines(min_count=0, timeout=5), .access_log_text(), .log_text(),
    .stats(), .stat(name), .stats_prometheus(), .stop().
wasm_file -> Path of the built filter (skips, or fails under CI=true, when missing).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

ENVOY_DIR = Path(__file__).resolve().parent.parent
if str(ENVOY_DIR) not in sys.path:
    sys.path.insert(0, str(ENVOY_DIR))

from e2e.envoy_config import EnvoyConfig  # noqa: E402
from e2e.envoy_proc import EnvoyProcess  # noqa: E402
from e2e.mcp_proc import McpServerProcess  # noqa: E402
from e2e.pytest_plugin import (  # noqa: E402,F401  (hooks, picked up by name)
    pytest_configure,
    pytest_runtest_makereport,
    pytest_sessionfinish,
)
from e2e.requirements import require  # noqa: E402


class McpServerFactory:
    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self.instances: list[McpServerProcess] = []
        self._n = itertools.count(1)

    def __call__(self, *, json_response: bool = False, stateless: bool = False,
                 extra_tools: int = 0) -> McpServerProcess:
        require(modules=("mcp", "uvicorn"))
        n = next(self._n)
        srv = McpServerProcess(self.base_dir / f"mcp{n}", json_response=json_response,
                               stateless=stateless, extra_tools=extra_tools, name=f"mcp_server{n}")
        self.instances.append(srv)
        srv.start()
        return srv

    def stop_all(self) -> None:
        for s in reversed(self.instances):
            s.stop()

    def log_files(self) -> list[Path]:
        return [p for s in self.instances for p in s.log_files()]


class EnvoyFactory:
    def __init__(self, base_dir: Path, request: pytest.FixtureRequest):
        self.base_dir = base_dir
        self.request = request
        self.instances: list[EnvoyProcess] = []
        self.upstreams: list[McpServerProcess] = []  # for the logs of a failed test
        self._n = itertools.count(1)

    def __call__(self, plugin_config: Any = None, *,
                 upstream: McpServerProcess | int | None = None,
                 wasm: bool | None = None,
                 wasm_path: str | Path | None = None,
                 concurrency: int = 2,
                 buffer: bool | int | None = None,
                 buffer_limit: int | None = None,
                 allow_on_headers_stop_iteration: bool | None = True,
                 failure_policy: str | None = None,
                 extra_filters: list[dict] | None = None,
                 extra_filters_after: list[dict] | None = None,
                 extra_clusters: list[dict] | None = None,
                 direct_responses: dict[str, tuple[int, str]] | None = None,
                 log_level: str = "info",
                 component_log_level: str | None = None,
                 start_timeout: float = 30.0) -> EnvoyProcess:
        """Start an Envoy in front of `upstream` (default: the `mcp_server` fixture).

        plugin_config: the mcp-policy plugin JSON (dict or str). Giving one turns the wasm
            filter on; wasm=True/False forces it on or off. The .wasm is wasm_path, else
            $MCP_POLICY_WASM, else target/wasm32-wasip1/release/mcp_policy.wasm.
        buffer: True (1 MiB) or max_request_bytes: add envoy.filters.http.buffer.
        buffer_limit: per_connection_buffer_limit_bytes on the listener and the cluster.
        extra_filters / extra_filters_after: raw HTTP filter entries placed before the wasm
            filter / just before the router. extra_clusters: raw cluster entries.
        direct_responses: {path prefix: (status, body)} answered by Envoy itself.
        """
        use_wasm = wasm if wasm is not None else plugin_config is not None
        found = require(envoy=True, wasm=use_wasm and wasm_path is None)
        if use_wasm and wasm_path is None:
            wasm_path = found["wasm"]
        if upstream is None:
            upstream = self.request.getfixturevalue("mcp_server")
        upstream_port = upstream if isinstance(upstream, int) else upstream.port
        if buffer is True:
            buffer = 1 << 20
        n = next(self._n)
        work = self.base_dir / f"envoy{n}"
        work.mkdir(parents=True, exist_ok=True)
        cfg = EnvoyConfig(
            upstream_port=upstream_port,
            access_log_path=work / "access.log",
            wasm_path=wasm_path if use_wasm else None,
            plugin_config=plugin_config,
            allow_on_headers_stop_iteration=allow_on_headers_stop_iteration,
            failure_policy=failure_policy,
            buffer_max_request_bytes=buffer or None,
            per_connection_buffer_limit_bytes=buffer_limit,
            extra_filters=list(extra_filters or []),
            extra_filters_after=list(extra_filters_after or []),
            extra_clusters=list(extra_clusters or []),
            direct_responses=dict(direct_responses or {}),
        )
        env = EnvoyProcess(cfg, work, concurrency=concurrency, log_level=log_level,
                           component_log_level=component_log_level, name=f"envoy{n}",
                           envoy_bin=found["envoy"])
        self.instances.append(env)
        if isinstance(upstream, McpServerProcess) and upstream not in self.upstreams:
            self.upstreams.append(upstream)
        env.start(timeout=start_timeout)
        return env

    def stop_all(self) -> None:
        for e in reversed(self.instances):
            e.stop()

    def log_files(self) -> list[Path]:
        return ([p for e in self.instances for p in e.log_files()]
                + [p for s in self.upstreams for p in s.log_files()])


class McpServerPool:
    """One running server per option set, shared by the whole session (the SDK import makes
    a server start take about a second). Restarted if a test stopped it."""

    def __init__(self, base_dir: Path):
        self.factory = McpServerFactory(base_dir)
        self.servers: dict[tuple, McpServerProcess] = {}

    def get(self, **opts) -> McpServerProcess:
        key = tuple(sorted(opts.items()))
        srv = self.servers.get(key)
        if srv is None or not srv.alive():
            srv = self.servers[key] = self.factory(**opts)
        return srv

    def stop_all(self) -> None:
        self.factory.stop_all()


@pytest.fixture(scope="session")
def mcp_server_pool(tmp_path_factory):
    pool = McpServerPool(tmp_path_factory.mktemp("mcp_pool"))
    yield pool
    pool.stop_all()


@pytest.fixture
def mcp_server_factory(tmp_path):
    factory = McpServerFactory(tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture
def mcp_server(request, mcp_server_pool) -> McpServerProcess:
    opts = getattr(request, "param", None) or {}
    srv = mcp_server_pool.get(**opts)
    srv.clear_records()
    return srv


@pytest.fixture
def envoy_factory(tmp_path, request):
    factory = EnvoyFactory(tmp_path, request)
    yield factory
    factory.stop_all()


@pytest.fixture
def wasm_file() -> Path:
    return require(wasm=True)["wasm"]
