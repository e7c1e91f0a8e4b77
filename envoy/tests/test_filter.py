"""The real mcp_policy.wasm in a real Envoy 1.40 (V8, --concurrency 2) in front of a real
MCP server (official Python SDK), driven by the official MCP client over Streamable HTTP.

What reaches the upstream is recorded by the server, so every denial is checked twice: the
agent got the SPEC §5 answer, and the call never reached the server.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx
import pytest

from e2e import client
from e2e.ports import free_port
from e2e.envoy_proc import EnvoyStartError

POLICY = {
    "version": "1",
    "default": "deny",
    "hide": ["delete_repository"],
    "tools": {
        "echo": {},
        "get_file_contents": {},
        "create_issue": {
            "require": [{"conditions": [{"path": "args.repo", "op": "regex", "value": "^corp/"}],
                         "on_deny": "Issues may only be filed in corp/ repositories"}],
        },
        "create_charge": {
            "rules": [{"name": "max single charge",
                       "conditions": [{"path": "args.amount", "op": "lte", "value": 50000}],
                       "on_deny": "Single charge cannot exceed $500.00"}],
        },
    },
}

GRANTS = {
    "policies": {
        "support": {"version": "1", "default": "deny",
                    "tools": {"echo": {"rate_limit": {"max": 3, "window": 3600}}}},
        "ops": {"version": "1", "default": "deny",
                "tools": {"echo": {"rate_limit": {"max": 5, "window": 3600}}, "create_issue": {}}},
    },
    "grants": {
        "support-agent": {"policy": "support", "match": ["agent-support"]},
        "ops-agent": {"policy": "ops", "match": ["agent-ops-1", "agent-ops-2"]},
    },
    "unmatched": "deny",
    "identity": [{"header": "x-agent-id"}],
}


def wait_for_lines(envoy, done, timeout: float = 5.0) -> list[dict]:
    """Access log lines, once `done(lines)` holds (Envoy flushes the log every 50 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = envoy.access_log_lines()
        if done(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_allowed_calls_answer_and_denied_calls_get_a_tool_error(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)

    async def session(c):
        ok = await c.call_tool("echo", {"text": "hello"})
        hidden = await c.call_tool("delete_repository", {"repo": "corp/x"})
        unlisted = await c.call_tool("jsonrpc_error_tool", {})
        cond = await c.call_tool("create_issue", {"repo": "evil/x", "title": "t"})
        good = await c.call_tool("create_issue", {"repo": "corp/x", "title": "t"})
        wrong_type = await c.call_tool("create_charge", {"amount": "999999", "currency": "usd"})
        return ok, hidden, unlisted, cond, good, wrong_type

    ok, hidden, unlisted, cond, good, wrong_type = client.in_session(envoy.url, session)
    assert not ok.is_error and client.result_text(ok) == "hello"
    assert not good.is_error
    # A hidden tool is answered as an unlisted one (SPEC §3 step 1): an unknown tool.
    assert client.result_text(hidden) == "Unknown tool: delete_repository"
    assert client.result_text(unlisted) == "Unknown tool: jsonrpc_error_tool"
    for denied, rule in [(hidden, "/default"), (unlisted, "/default"),
                         (cond, "/tools/create_issue/require/0"),
                         (wrong_type, "/tools/create_charge/rules/0")]:
        assert denied.is_error
        text = client.result_text(denied)
        assert rule == "/default" or text.startswith("Denied by policy:"), text
        assert denied.meta["decision"] == "deny"
        assert denied.meta["rule"] == rule
        assert denied.meta["code"] == -32060
    assert "corp/ repositories" in client.result_text(cond)
    assert "Single charge cannot exceed" in client.result_text(wrong_type)

    # Only the two allowed calls reached the server.
    assert mcp_server.tool_calls() == [("echo", {"text": "hello"}),
                                       ("create_issue", {"repo": "corp/x", "title": "t"})]


def test_jsonrpc_error_mode(mcp_server, envoy_factory):
    envoy = envoy_factory({"policy": POLICY, "deny_as": "jsonrpc_error"})
    r = client.post(envoy.url, client.tool_call_message("delete_repository", {"repo": "a"}, id="x-1"))
    assert r.status_code == 200
    (msg,) = client.parse_messages(r)
    assert msg["id"] == "x-1"
    assert msg["error"]["code"] == -32060
    assert msg["error"]["data"]["decision"] == "deny"
    assert msg["error"]["data"]["rule"] == "/default"  # hidden: answered as unlisted
    assert msg["error"]["message"] == "Unknown tool: delete_repository"
    assert mcp_server.tool_calls() == []


def test_a_per_grant_limit_holds_exactly_per_grant(mcp_server, envoy_factory):
    envoy = envoy_factory(GRANTS, concurrency=2)

    def burst(agent: str, n: int) -> list[bool]:
        # Separate sessions on separate connections, so both workers take part.
        def one(i: int) -> bool:
            res = client.call_tool(envoy.url, "echo", {"text": f"{agent}-{i}"}, {"x-agent-id": agent})
            return not res.is_error

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(one, range(n)))

    support = burst("agent-support", 6)
    ops1 = burst("agent-ops-1", 8)
    ops2 = burst("agent-ops-2", 7)
    assert sum(support) == 3
    assert sum(ops1) == 5, "grant counters are per identity"
    assert sum(ops2) == 5
    stranger = client.call_tool(envoy.url, "echo", {"text": "x"}, {"x-agent-id": "agent-unknown"})
    assert stranger.is_error and stranger.meta["rule"] == "/unmatched"
    reached = [a["text"] for name, a in mcp_server.tool_calls() if name == "echo"]
    assert len(reached) == 13
    assert sum(t.startswith("agent-support") for t in reached) == 3

    limited = client.call_tool(envoy.url, "echo", {"text": "again"}, {"x-agent-id": "agent-support"})
    assert limited.is_error
    assert limited.meta["decision"] == "rate_limited"
    assert limited.meta["code"] == -32061
    assert 0 < limited.meta["retry_after_ms"] <= 3_600_000
    assert "Retry in" in client.result_text(limited)


def test_access_log_and_metrics(mcp_server, envoy_factory):
    envoy = envoy_factory(GRANTS)
    client.call_tools(envoy.url, [("echo", {"text": "a"}), ("create_issue", {"repo": "x", "title": "t"})],
                      {"x-agent-id": "agent-support"})
    lines = wait_for_lines(envoy, lambda ls: sum(1 for l in ls if l["tool"]) >= 2)
    calls = [l for l in lines if l["tool"]]
    assert [(l["decision"], l["tool"], l["grant"]) for l in calls] == [
        ("allow", "echo", "support-agent"), ("deny", "create_issue", "support-agent")]
    assert calls[0]["rule"] == "/tools/echo"
    assert calls[1]["rule"] == "/default"
    assert all(l["decision"] == "allow" for l in lines if not l["tool"] and l["method"] == "POST")

    prom = envoy.stats_prometheus()
    for metric in ["mcp_policy_decision_allow", "mcp_policy_decision_deny",
                   "mcp_policy_tool_echo_allowed", "mcp_policy_tool__other_blocked",
                   "mcp_policy_counter_cas_retries"]:
        assert metric in prom, metric
    assert envoy.stat("wasmcustom.mcp_policy.tool.echo.allowed") == 1
    assert envoy.stat("wasmcustom.mcp_policy.decision.deny") == 1
    log = envoy.log_text()
    assert 'mcp_policy decision {"decision":"deny","tool":"create_issue"' in log
    assert '"t"' not in log.split("mcp_policy decision", 1)[1], "argument values are never logged"


def test_the_2026_07_28_client_is_judged_too(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)

    async def session(c):
        ok = await c.call_tool("echo", {"text": "stateless"})
        denied = await c.call_tool("delete_repository", {"repo": "corp/x"})
        return ok, denied

    ok, denied = client.in_session(envoy.url, session, mode="auto")
    assert client.result_text(ok) == "stateless"
    assert denied.is_error and denied.meta["decision"] == "deny"
    assert mcp_server.tool_calls() == [("echo", {"text": "stateless"})]


def test_quota_comes_back_only_for_calls_that_never_ran(mcp_server, envoy_factory):
    """SPEC §4.1: a call answered with a JSON-RPC error counts (the tool may have acted, and
    the answer's id is the client's to choose); a call the server refused with a 4xx before
    reading it, or one Envoy could not deliver, costs nothing."""
    config = {"version": "1", "default": "deny",
              "tools": {"jsonrpc_error_tool": {"rate_limit": "2/hour"}, "echo": {"rate_limit": "2/hour"}}}
    envoy = envoy_factory(config)
    for _ in range(2):
        with pytest.raises(Exception) as failed:
            client.call_tool(envoy.url, "jsonrpc_error_tool", {})
        assert "rate" not in str(failed.value).lower()
    third = client.call_tool(envoy.url, "jsonrpc_error_tool", {})
    assert third.is_error and third.meta["decision"] == "rate_limited"
    assert sum(1 for n, _ in mcp_server.tool_calls() if n == "jsonrpc_error_tool") == 2

    # The server's own 4xx: an unknown session is refused before the call is read.
    hdrs = client.raw_initialize(envoy.url)
    stale = dict(hdrs, **{"mcp-session-id": "f" * 32})
    for i in range(3):
        r = client.post(envoy.url, client.tool_call_message("echo", {"text": str(i)}), stale)
        assert r.status_code in (400, 404), r.text
    results = [client.call_tool(envoy.url, "echo", {"text": str(i)}) for i in range(3)]
    assert [r.is_error for r in results] == [False, False, True]
    assert envoy.stat("wasmcustom.mcp_policy.counter.rollbacks") == 3


def test_a_call_envoy_never_delivered_costs_no_quota(envoy_factory):
    config = {"version": "1", "default": "deny", "tools": {"echo": {"rate_limit": "1/hour"}}}
    envoy = envoy_factory(config, upstream=free_port())  # nothing listens there
    for _ in range(3):
        r = client.post(envoy.url, client.tool_call_message("echo", {"text": "x"}))
        assert r.status_code == 503, r.text
    assert envoy.stat("wasmcustom.mcp_policy.counter.rollbacks") == 3
    details = {line["details"] for line in envoy.access_log_lines(min_count=3)}
    assert all("connection_failure" in d for d in details), details


def test_an_invalid_configuration_is_refused_with_a_clear_log_line(mcp_server, envoy_factory):
    bad = {"policies": {"ops": {"version": "1", "tools": {"create_charge": {"rules": [
        {"name": "cap", "conditions": [{"path": "args.amount", "op": "gtt", "value": 1}]}]}}}},
        "grants": {"g": {"policy": "ops", "match": ["a"]}}}
    with pytest.raises(EnvoyStartError) as failed:
        envoy_factory(bad, start_timeout=20)
    text = str(failed.value)
    assert 'mcp_policy: configuration error: policies.ops.tools.create_charge.rules[0].conditions[0].op: unknown operator "gtt"' in text, text
    assert mcp_server.records() == []


def test_without_allow_on_headers_stop_iteration_the_request_hangs(mcp_server, envoy_factory):
    """Why the README insists on allow_on_headers_stop_iteration: without it, the filter's
    pause at headers becomes StopAllIteration, the body never comes, and nothing passes."""
    envoy = envoy_factory(POLICY, allow_on_headers_stop_iteration=None)
    with pytest.raises(httpx.ReadTimeout):
        client.post(envoy.url, client.tool_call_message("echo", {"text": "x"}), timeout=1.5)
    assert mcp_server.records() == []


def test_envoy_buffer_limit_below_max_body_bytes(mcp_server, envoy_factory):
    """A body over Envoy's per-connection buffer limit is answered 413 by Envoy before the
    filter has seen all of it; nothing reaches the upstream either way."""
    envoy = envoy_factory(POLICY, buffer_limit=16 * 1024)
    ok = client.post(envoy.url, client.tool_call_message("delete_repository", {"repo": "a"}))
    assert ok.status_code == 200 and client.parse_messages(ok)[0]["result"]["isError"]
    big = client.post(envoy.url, client.tool_call_message("echo", {"text": "a" * 64 * 1024}))
    assert big.status_code == 413
    assert mcp_server.records() == []
