"""Phase 1: the e2e infrastructure itself, with Envoy but without the wasm filter.

A real Envoy 1.40 (buffer filter + router, --concurrency 2) in front of a real MCP server
(official SDK), driven by the official SDK client and by raw HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from e2e import client
from e2e.envoy_config import EnvoyConfig, wasm_filter
from e2e.envoy_proc import EnvoyProcess
from e2e.requirements import require

SERVER_TOOLS = {"get_file_contents", "create_issue", "delete_repository", "create_charge",
                "echo", "fail_tool", "jsonrpc_error_tool", "sleep_ms"}


def _assert_sdk_roundtrip(envoy, mcp_server, mode: str = "legacy") -> None:
    headers = {"x-agent-id": "agent-7"}

    async def session(c):
        tools = await c.list_tools()
        echoed = await c.call_tool("echo", {"text": "hello through envoy"})
        return tools, echoed

    tools, echoed = client.in_session(envoy.url, session, headers, mode=mode)
    names = {t.name for t in tools.tools}
    assert SERVER_TOOLS <= names
    schema = next(t for t in tools.tools if t.name == "create_charge").input_schema
    assert schema["properties"]["amount"]["type"] == "integer"
    assert not echoed.is_error
    assert client.result_text(echoed) == "hello through envoy"

    # What reached the upstream: the tools/call, with the agent header Envoy forwarded.
    assert mcp_server.tool_calls() == [("echo", {"text": "hello through envoy"})]
    recs = [r for r in mcp_server.records() if "tools/call" in r.jsonrpc_methods()]
    assert len(recs) == 1
    assert recs[0].header("x-agent-id") == "agent-7"
    assert recs[0]["path"] == "/mcp"
    assert recs[0].header("x-envoy-expected-rq-timeout-ms") is None  # route timeout is off

    # One access log line per request that went through Envoy.
    n_upstream = len(mcp_server.records())
    lines = envoy.access_log_lines(min_count=n_upstream)
    assert len(lines) == n_upstream
    calls = [l for l in lines if l["method"] == "POST" and l["path"] == "/mcp"]
    assert calls and all(l["status"] in (200, 202) for l in calls)  # 202: notifications
    assert {"decision", "tool", "grant", "rule"} <= set(lines[0])
    assert all(l["decision"] is None for l in lines)  # no filter: no filter state
    assert any(l["agent"] == "agent-7" for l in lines)


def test_sdk_client_through_envoy_sse(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=True, concurrency=2)
    _assert_sdk_roundtrip(envoy, mcp_server)
    # stateful server: the session id travelled through Envoy
    assert any(r.header("mcp-session-id") for r in mcp_server.records())


@pytest.mark.parametrize("mcp_server", [{"json_response": True}], indirect=True)
def test_sdk_client_through_envoy_json(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=True, concurrency=2)
    _assert_sdk_roundtrip(envoy, mcp_server)
    r = client.post(envoy.url, client.jsonrpc("initialize", {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("mcp_server", [{"stateless": True}], indirect=True)
def test_stateless_server_through_envoy(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=True, concurrency=2)
    _assert_sdk_roundtrip(envoy, mcp_server)
    assert not any(r.header("mcp-session-id") for r in mcp_server.records())


def test_sdk_auto_mode_through_envoy(mcp_server, envoy_factory):
    """mode="auto": the SDK probes server/discover and may speak the 2026-07-28 revision."""
    envoy = envoy_factory(buffer=True)
    result = client.call_tool(envoy.url, "echo", {"text": "modern"}, mode="auto")
    assert client.result_text(result) == "modern"
    assert mcp_server.tool_calls() == [("echo", {"text": "modern"})]
    # mcp 2.x and its server settle on 2026-07-28: no initialize, no session, and the
    # method and tool name also travel as Mcp-Method / Mcp-Name headers.
    call = next(r for r in mcp_server.records() if "tools/call" in r.jsonrpc_methods())
    assert call.header("mcp-protocol-version") == "2026-07-28"
    assert (call.header("mcp-method"), call.header("mcp-name")) == ("tools/call", "echo")
    assert call.header("mcp-session-id") is None
    assert "initialize" not in [m for r in mcp_server.records() for m in r.jsonrpc_methods()]


def test_tool_errors_through_envoy(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=True)
    results = client.call_tools(envoy.url, [
        ("fail_tool", {}),
        ("jsonrpc_error_tool", {}),
        ("create_charge", {"amount": 5, "currency": "EUR"}),
    ])
    assert results[0].is_error and "on purpose" in client.result_text(results[0])
    assert isinstance(results[1], Exception) and "on purpose" in str(results[1])
    assert client.result_text(results[2]) == "charged 5 EUR"
    assert [n for n, _ in mcp_server.tool_calls()] == ["fail_tool", "jsonrpc_error_tool", "create_charge"]


def test_raw_http_and_other_routes(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=True, direct_responses={"/direct": (200, "direct answer")})

    # A session opened by hand, then a raw tools/call (SSE answer) through Envoy.
    hdrs = client.raw_initialize(envoy.url, {"x-agent-id": "raw-agent"})
    assert "mcp-session-id" in hdrs
    r = client.post(envoy.url, client.tool_call_message("echo", {"text": "raw"}, id=42), hdrs)
    assert r.status_code == 200
    msgs = client.parse_messages(r)
    assert msgs[-1]["id"] == 42 and msgs[-1]["result"]["content"][0]["text"] == "raw"

    # Bytes arrive unchanged.
    body = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\\u00e9"}}}'
    r = client.post(envoy.url, body, hdrs)
    assert r.status_code == 200
    assert mcp_server.records()[-1].raw_body == body

    # Non-MCP routes.
    assert client.post(envoy.url_for("/healthz"), None, method="GET").text == "ok"
    tok = client.post(envoy.url_for("/oauth/token"), "grant_type=client_credentials&client_id=x",
                      content_type="application/x-www-form-urlencoded")
    assert tok.status_code == 200 and tok.json()["grant_type"] == "client_credentials"
    echo = client.post(envoy.url_for("/echo"), b"\xff\x00 not json", content_type="application/octet-stream")
    assert echo.content == b"\xff\x00 not json"
    assert "body_b64" in mcp_server.records()[-1]

    # /mcp-500: MCP works, but a tools/call gets HTTP 500.
    h500 = client.raw_initialize(envoy.url_for("/mcp-500"))
    r = client.post(envoy.url_for("/mcp-500"), client.tool_call_message("echo", {"text": "x"}), h500)
    assert r.status_code == 500

    # A direct response never reaches the upstream.
    before = len(mcp_server.records())
    d = client.post(envoy.url_for("/direct"), client.tool_call_message("echo", {"text": "d"}))
    assert d.status_code == 200 and d.text == "direct answer"
    assert len(mcp_server.records()) == before


@pytest.mark.parametrize("mcp_server", [{"extra_tools": 300, "json_response": True}], indirect=True)
def test_large_tools_list(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=True)
    tools = client.list_tools(envoy.url)
    names = {t.name for t in tools.tools}
    assert {f"extra_{i}" for i in range(300)} <= names
    r = client.post(envoy.url, client.jsonrpc("tools/list", {}, id=3), client.raw_initialize(envoy.url))
    assert len(r.content) > 64 * 1024


def test_buffer_limit_413(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=4096)
    big = client.tool_call_message("echo", {"text": "a" * 10_000})
    r = client.post(envoy.url, big)
    assert r.status_code == 413
    assert mcp_server.tool_calls() == []


def test_stats_and_prometheus(mcp_server, envoy_factory):
    envoy = envoy_factory(buffer=True, concurrency=2)
    client.call_tool(envoy.url, "echo", {"text": "s"})
    prom = envoy.stats_prometheus()
    assert "envoy_http_downstream_rq_total" in prom
    assert envoy.stat("http.mcp.downstream_rq_completed") >= 3  # initialize, initialized, call...
    assert envoy.stat("cluster.mcp_upstream.upstream_rq_total") >= 3
    assert envoy.stats(filter="^server\\.").get("server.concurrency") == "2"


def test_parallel_envoys_and_clean_stop(mcp_server_factory, envoy_factory):
    mcp_server = mcp_server_factory()
    a = envoy_factory(buffer=True, upstream=mcp_server)
    b = envoy_factory(concurrency=1, upstream=mcp_server)
    assert a.port != b.port and a.admin_port != b.admin_port and a.base_id != b.base_id
    for e in (a, b):
        assert client.call_tool(e.url, "echo", {"text": e.name}).content[0].text == e.name
    pids = [a.proc.pid, b.proc.pid, mcp_server.proc.pid]
    a.stop()
    b.stop()
    mcp_server.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_envoy_start_failure_reports_log(tmp_path, mcp_server):
    require(envoy=True)
    cfg = EnvoyConfig(upstream_port=mcp_server.port).bootstrap()
    cfg["static_resources"]["clusters"][0]["type"] = "NOT_A_TYPE"
    env = EnvoyProcess(cfg, tmp_path / "bad")
    with pytest.raises(RuntimeError, match="exited with code"):
        env.start(timeout=20)
    assert not env.alive()


def test_wasm_filter_config_shape():
    """The wasm switch emits the fields the product contract names, in the right messages."""
    cfg = EnvoyConfig(upstream_port=1, wasm_path="/x/mcp_policy.wasm", plugin_config={"policy": {}},
                      buffer_max_request_bytes=1024)
    names = [f["name"] for f in cfg.http_filters()]
    assert names == ["envoy.filters.http.wasm", "envoy.filters.http.buffer", "envoy.filters.http.router"]
    wasm = cfg.http_filters()[0]["typed_config"]
    assert wasm["@type"] == "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
    plugin = wasm["config"]  # envoy.extensions.wasm.v3.PluginConfig
    assert plugin["root_id"] == "mcp_policy"
    assert plugin["allow_on_headers_stop_iteration"] is True
    assert plugin["vm_config"] == {"vm_id": "mcp_policy", "runtime": "envoy.wasm.runtime.v8",
                                   "code": {"local": {"filename": "/x/mcp_policy.wasm"}}}
    assert plugin["configuration"]["@type"] == "type.googleapis.com/google.protobuf.StringValue"
    assert json.loads(plugin["configuration"]["value"]) == {"policy": {}}
    assert "allow_on_headers_stop_iteration" not in wasm_filter("/x", allow_on_headers_stop_iteration=None)["typed_config"]["config"]
    with pytest.raises(ValueError):
        wasm_filter("/x", failure_policy="FAIL_SOMETIMES")


@pytest.mark.parametrize("failure_policy", ["FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"])
def test_envoy_accepts_wasm_fields(tmp_path, failure_policy):
    """Envoy 1.40 parses our PluginConfig (fields and enum values); only loading the
    (deliberately empty) module fails. A misspelt field would fail in the proto parser."""
    envoy_bin = require(envoy=True)["envoy"]
    module = tmp_path / "empty.wasm"
    module.write_bytes(b"\0asm\1\0\0\0")
    path = EnvoyConfig(upstream_port=1, wasm_path=module, plugin_config={"policy": {}},
                       failure_policy=failure_policy).write(tmp_path / "envoy.json")
    out = subprocess.run([str(envoy_bin), "--mode", "validate", "-c", str(path), "-l", "error",
                          "--disable-hot-restart"], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert "INVALID_ARGUMENT" not in text and "unknown field" not in text, text
    assert "Unable to create Wasm plugin mcp_policy" in text, text

    bad = json.loads(path.read_text())
    hcm = bad["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][0]["typed_config"]["config"]["allow_on_headers_stop_iteratio"] = True
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = subprocess.run([str(envoy_bin), "--mode", "validate", "-c", str(tmp_path / "bad.json"),
                          "-l", "error", "--disable-hot-restart"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "INVALID_ARGUMENT" in out.stdout + out.stderr


def test_require_skips_or_fails_under_ci(monkeypatch, tmp_path):
    missing = tmp_path / "nope.wasm"
    monkeypatch.setenv("MCP_POLICY_WASM", str(missing))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require(wasm=True)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require(wasm=True)
    with pytest.raises(pytest.fail.Exception):
        require(modules=("no_such_module_e2e",))
