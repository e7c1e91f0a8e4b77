"""The harness's wasm switch, proven with the probe filter (envoy/probe-filter).

The probe holds the request headers until the body is complete, then denies (body holds
"deny-me") or adds x-probe-body-len and continues; it sets the filter-state keys the
access log prints and counts requests in a custom metric. These tests check Envoy 1.40's
behaviour that the real filter relies on, independently of the real filter.
"""

from __future__ import annotations

import json

import httpx
import pytest

from e2e import client
from e2e.envoy_proc import EnvoyStartError
from e2e.probe import build_probe


@pytest.fixture(scope="session")
def probe_wasm():
    return build_probe()


def test_probe_holds_headers_until_body_then_allows(mcp_server, envoy_factory, probe_wasm):
    envoy = envoy_factory({"probe": True}, wasm_path=probe_wasm, concurrency=2)
    result = client.call_tool(envoy.url, "echo", {"text": "via wasm"}, {"x-agent-id": "a1"})
    assert client.result_text(result) == "via wasm"

    call = next(r for r in mcp_server.records() if "tools/call" in r.jsonrpc_methods())
    # The header was added from the body callback: the headers were still held then.
    assert call.header("x-probe-body-len") == str(call["body_len"])
    assert call.header("x-agent-id") == "a1"

    lines = envoy.access_log_lines(min_count=len(mcp_server.records()))
    assert lines and all(l["decision"] == "allow" and l["tool"] == "probe" for l in lines)
    prom = envoy.stats_prometheus()
    # define_metric puts it in the wasmcustom namespace, which /stats/prometheus drops.
    assert "mcp_probe_requests_total" in prom
    assert envoy.stat("wasmcustom.mcp_probe_requests_total") >= 3


def test_probe_denies_before_anything_reaches_upstream(mcp_server, envoy_factory, probe_wasm):
    envoy = envoy_factory(json.dumps({"probe": True}), wasm_path=probe_wasm)
    r = client.post(envoy.url, client.tool_call_message("echo", {"text": "deny-me"}))
    assert r.status_code == 403 and r.text == "probe denied"
    assert mcp_server.records() == []
    (line,) = envoy.access_log_lines(min_count=1)
    assert (line["status"], line["decision"], line["tool"]) == (403, "deny", "probe")


def test_without_allow_on_headers_stop_iteration_the_request_hangs(mcp_server, envoy_factory, probe_wasm):
    envoy = envoy_factory({"probe": True}, wasm_path=probe_wasm, allow_on_headers_stop_iteration=None)
    with pytest.raises(httpx.ReadTimeout):
        client.post(envoy.url, client.tool_call_message("echo", {"text": "x"}), timeout=1.5)
    assert mcp_server.records() == []


def test_refused_plugin_configuration_stops_envoy_start(mcp_server, envoy_factory, probe_wasm):
    with pytest.raises(EnvoyStartError, match="Unable to create Wasm plugin mcp_policy") as err:
        envoy_factory({"refuse": True}, wasm_path=probe_wasm)
    assert "probe: configuration refused" in str(err.value)


def test_per_connection_buffer_limit_applies_to_a_held_body(mcp_server, envoy_factory, probe_wasm):
    """A filter that holds the body is bounded by per_connection_buffer_limit_bytes: past it
    Envoy answers 413 and the filter never sees the whole body."""
    envoy = envoy_factory({"probe": True}, wasm_path=probe_wasm, buffer_limit=16 * 1024)
    small = client.post(envoy.url, client.tool_call_message("echo", {"text": "deny-me"}))
    assert small.status_code == 403
    big = client.post(envoy.url, client.tool_call_message("echo", {"text": "a" * 64 * 1024}))
    assert big.status_code == 413
    assert mcp_server.records() == []
