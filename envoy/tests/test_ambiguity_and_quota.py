"""Requests two readers could read differently, and ways to buy quota back, through a real
Envoy with mcp_policy.wasm in front of the recording Python MCP server.

Each case found by probing the filter: a second `Mcp-Name` header, arguments or params
spelled in another case (a Go server reads `AMOUNT` as `amount`), a call cancelled after
it started (the server answers -32800), a 4xx that means the call never ran.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

from e2e import client, rawhttp

POLICY = {
    "version": "1",
    "default": "deny",
    "tools": {
        "echo": {"rate_limit": {"max": 1, "window": "hour"}},
        "sleep_ms": {"rate_limit": {"max": 2, "window": "hour"}},
        "create_charge": {
            "deny_if": [{"conditions": [{"path": "args.amount", "op": "gt", "value": 50000}]}],
        },
    },
}
CONFIG = {"policy": POLICY, "identity": [{"header": "x-agent-id"}]}


def agent() -> dict[str, str]:
    return {"x-agent-id": "agent-" + uuid.uuid4().hex[:8]}


def call(name: str, arguments: str, id_text: str = "1", params_key: str = "arguments") -> str:
    return ('{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","%s":%s}}'
            % (id_text, name, params_key, arguments))


def test_a_repeated_mcp_name_header_is_judged_whole(mcp_server, envoy_factory):
    envoy = envoy_factory(CONFIG)
    headers = [("Host", "x"), ("Content-Type", "application/json"), ("Accept", client.ACCEPT_BOTH),
               ("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"),
               ("Mcp-Name", "echo"), ("Mcp-Name", "delete_repository"), ("x-agent-id", "a1")]
    body = call("echo", '{"text":"x"}').encode()
    r = rawhttp.http1(envoy.port, rawhttp.http1_request("POST", "/mcp", headers, body))
    assert r.status == 400, r.body
    assert json.loads(r.body)["error"]["code"] == -32020
    assert mcp_server.tool_calls() == []


def test_keys_spelled_in_another_case_cannot_slip_past(mcp_server, envoy_factory):
    envoy = envoy_factory(CONFIG)
    session = client.raw_initialize(envoy.url, agent())
    # `ARGUMENTS` for `arguments`: refused outright.
    r = client.post(envoy.url, call("create_charge", '{"amount":99999999,"currency":"usd"}',
                                    params_key="ARGUMENTS"), session)
    (msg,) = client.parse_messages(r)
    assert msg["error"]["code"] == -32602, msg
    # `AMOUNT` for `amount`: the deny_if cannot be judged, so it fires.
    r = client.post(envoy.url, call("create_charge", '{"AMOUNT":99999999,"currency":"usd"}'), session)
    (msg,) = client.parse_messages(r)
    assert msg["result"]["isError"] is True, msg
    assert msg["result"]["_meta"]["decision"] == "deny"
    assert "another case" in msg["result"]["_meta"]["reason"]
    # Two spellings at once are duplicate keys, folded as Go folds them: dotted İ and
    # dotless ı are both I.
    r = client.post(envoy.url, call("create_charge", '{"amount":1,"id":1,"\\u0130D":2,"currency":"usd"}'),
                    session)
    assert client.parse_messages(r)[0]["error"]["code"] == -32700
    r = client.post(envoy.url, call("echo", '{"text":"a","t\\u0131tle":1,"TITLE":2}'), session)
    assert client.parse_messages(r)[0]["error"]["code"] == -32700
    assert mcp_server.tool_calls() == []
    # The exact spelling is judged as usual.
    r = client.post(envoy.url, call("create_charge", '{"amount":100,"currency":"usd"}'), session)
    assert not client.parse_messages(r)[0]["result"].get("isError")
    assert [name for name, _ in mcp_server.tool_calls()] == ["create_charge"]


def test_a_cancelled_call_still_counts(mcp_server, envoy_factory):
    """Cancelling a started call (the server answers -32800) must not give its quota back,
    or an agent could run a 2/hour tool without end."""
    envoy = envoy_factory(CONFIG)
    session = client.raw_initialize(envoy.url, agent())
    headers = [("Host", "x"), ("Content-Type", "application/json"),
               ("Accept", client.ACCEPT_BOTH)] + list(session.items())
    answers = []
    for i in range(2):
        with rawhttp.Http1Conn(envoy.port, timeout=10) as conn:
            conn.send(rawhttp.http1_request("POST", "/mcp", headers,
                                            call("sleep_ms", '{"ms":1500}', str(100 + i)).encode()))
            time.sleep(0.4)
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 100 + i, "reason": "test"}}
            assert client.post(envoy.url, cancel, session).status_code < 300
            answers.append(conn.response(timeout=5))
    assert any(b"-32800" in a.body for a in answers), [a.body for a in answers]
    r = client.post(envoy.url, call("sleep_ms", '{"ms":1}', "200"), session)
    (msg,) = client.parse_messages(r)
    assert msg["result"]["_meta"]["decision"] == "rate_limited", msg
    assert [name for name, _ in mcp_server.tool_calls()] == ["sleep_ms", "sleep_ms"]


def test_a_call_the_server_refused_with_a_4xx_costs_nothing(mcp_server, envoy_factory):
    envoy = envoy_factory(CONFIG)
    who = agent()
    # A session the server does not know: 404, the call never ran (the recording sits
    # before the SDK, so it shows the request arriving).
    r = client.post(envoy.url, call("echo", '{"text":"x"}'),
                    {**who, "mcp-session-id": "no-such-session", "mcp-protocol-version": "2025-06-18"})
    assert r.status_code == 404, (r.status_code, r.text)
    # Its reservation was given back: the one call an hour is still there.
    session = client.raw_initialize(envoy.url, who)
    r = client.post(envoy.url, call("echo", '{"text":"y"}'), session)
    (msg,) = client.parse_messages(r)
    assert msg["result"]["content"][0]["text"] == "y", msg
    assert envoy.stat("wasmcustom.mcp_policy.counter.rollbacks") == 1


def test_many_concurrent_calls_cannot_beat_the_limit(mcp_server, envoy_factory):
    envoy = envoy_factory(CONFIG)
    session = client.raw_initialize(envoy.url, agent())
    results: list[dict] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        r = client.post(envoy.url, call("sleep_ms", '{"ms":200}', str(i)), session)
        with lock:
            results.extend(client.parse_messages(r))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    allowed = [m for m in results if not m.get("result", {}).get("isError")]
    assert len(allowed) == 2, results
    assert [name for name, _ in mcp_server.tool_calls()] == ["sleep_ms", "sleep_ms"]
