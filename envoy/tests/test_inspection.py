"""MCP protocol coverage and no way around inspection, through a real Envoy 1.40 with the
real filter, in front of a real MCP server (official Python SDK) that records every request
reaching it. Each evasion attempt asserts the denied call never reached the upstream.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from e2e import client

POLICY = {
    "version": "1",
    "default": "deny",
    "hide": ["get_file_contents"],
    "tools": {
        "echo": {},
        "create_issue": {"require": [{"conditions": [{"path": "args.repo", "op": "regex", "value": "^corp/"}]}]},
        "get_file_contents": {},
        "delete_repository": {"action": "deny", "reason": "never"},
        **{f"extra_{i}": {} for i in range(0, 400, 2)},
    },
}
VISIBLE = {"echo", "create_issue"} | {f"extra_{i}" for i in range(0, 400, 2)}


def denied_reached(server) -> list:
    """Every request that reached the upstream carrying the denied tool's name, in any form."""
    found = []
    for r in server.records():
        body = r.raw_body.decode("utf-8", "replace").lower()
        utf16 = r.raw_body.replace(b"\0", b"").decode("utf-8", "replace").lower()
        if any("delete" in b or "\\u0065" in b or "\\u005f" in b for b in (body, utf16)):
            found.append(r)
    return found


def names(result) -> set[str]:
    return {t.name for t in result.tools}


@pytest.mark.parametrize("mcp_server", [{"extra_tools": 400}, {"extra_tools": 400, "json_response": True}],
                         ids=["sse", "json"], indirect=True)
def test_tools_list_shows_exactly_what_the_caller_may_call(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)
    direct = client.list_tools(mcp_server.url)
    assert len(direct.tools) >= 408, "the server lists everything"
    listed = client.list_tools(envoy.url)
    assert names(listed) == VISIBLE
    # The same through the 2026-07-28 client, which has no session.
    assert names(client.list_tools(envoy.url, mode="auto")) == VISIBLE


def test_tools_list_for_unmatched_callers_is_empty(mcp_server, envoy_factory):
    config = {"policies": {"p": POLICY}, "grants": {"g": {"policy": "p", "match": ["agent-g"]}},
              "identity": [{"header": "x-agent-id"}]}
    envoy = envoy_factory(config)
    assert names(client.list_tools(envoy.url, {"x-agent-id": "agent-g"})) == {"echo", "create_issue"}
    assert names(client.list_tools(envoy.url, {"x-agent-id": "stranger"})) == set()


def test_a_batch_with_a_denied_element_runs_nothing(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)
    headers = client.raw_initialize(envoy.url, protocol_version="2025-03-26")
    mcp_server.clear_records()
    batch = [client.tool_call_message("echo", {"text": "a"}, id=1),
             client.tool_call_message("delete_repository", {"repo": "corp/x"}, id="two"),
             client.jsonrpc("notifications/progress", {"progressToken": 1, "progress": 1}, id=None)]
    r = client.post(envoy.url, batch, headers)
    assert r.status_code == 200
    replies = r.json()
    assert [m["id"] for m in replies] == [1, "two"]
    assert replies[0]["error"]["code"] == -32063
    assert replies[0]["error"]["message"] == "not executed: batch contained a denied call"
    assert replies[1]["result"]["isError"] is True
    assert replies[1]["result"]["_meta"]["decision"] == "deny"
    assert mcp_server.records() == []


def test_2026_07_28_routing_headers_must_match_the_body(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)
    modern = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}
    body = client.tool_call_message("delete_repository", {"repo": "corp/x"}, id=5)
    r = client.post(envoy.url, body, {**modern, "mcp-name": "echo"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == -32020
    assert r.json()["id"] == 5
    r = client.post(envoy.url, client.tool_call_message("echo", {"text": "x"}, id=6),
                    {**modern, "mcp-method": "tools/list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    # Base64-encoded Mcp-Name, decoded before the comparison.
    r = client.post(envoy.url, client.tool_call_message("echo", {"text": "x"}, id=7),
                    {**modern, "mcp-name": "=?base64?ZGVsZXRlX3JlcG9zaXRvcnk=?="})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    assert denied_reached(mcp_server) == []
    assert all(m != "tools/call" for rec in mcp_server.records() for m in rec.jsonrpc_methods())


EVIL = client.tool_call_message("delete_repository", {"repo": "corp/prod"}, id=66)
EVIL_BYTES = json.dumps(EVIL).encode()


def assert_refused(resp: httpx.Response) -> None:
    if resp.status_code == 200:
        (msg,) = client.parse_messages(resp)
        assert msg["result"]["isError"] is True and msg["result"]["_meta"]["decision"] == "deny", msg
    else:
        assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
        assert "error" in resp.json()


@pytest.mark.parametrize("path", ["/mcp", "/mcp/", "/MCP", "//mcp", "/mcp?x=1", "/%6dcp", "/mcp/../mcp",
                                  "/other", "/", "/mcp-500"])
def test_no_escape_by_path(mcp_server, envoy_factory, path):
    envoy = envoy_factory(POLICY)
    assert_refused(client.post(envoy.url_for(path), EVIL_BYTES))
    assert denied_reached(mcp_server) == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/json; charset=utf-16"])
def test_no_escape_by_content_type(mcp_server, envoy_factory, content_type):
    envoy = envoy_factory(POLICY)
    assert_refused(client.post(envoy.url, EVIL_BYTES, content_type=content_type))
    assert denied_reached(mcp_server) == []


def test_no_escape_by_transfer_encoding_or_chunk_boundaries(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)

    def one_byte_chunks():
        for b in EVIL_BYTES:
            yield bytes([b])

    with httpx.Client(trust_env=False, timeout=10) as http:
        r = http.post(envoy.url, content=one_byte_chunks(),
                      headers={"content-type": "application/json", "accept": client.ACCEPT_BOTH})
    assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
    assert_refused(r)
    assert denied_reached(mcp_server) == []


def test_no_escape_by_compression(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)
    for path in ["/mcp", "/other"]:
        r = client.post(envoy.url_for(path), gzip.compress(EVIL_BYTES), {"content-encoding": "gzip"})
        assert r.status_code == 415 and r.json()["error"]["code"] == -32065
    assert mcp_server.records() == []


@pytest.mark.parametrize("body", [
    rb'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"del\u0065te_repository","arguments":{}}}',
    rb'{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"n\u0061me":"delete\u005frepository"}}',
    rb'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_repository"}}',
    rb'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"params":{"name":"delete_repository"}}',
    rb'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository"}}{"jsonrpc":"2.0","id":2,"method":"ping"}',
    b'\xef\xbb\xbf' + EVIL_BYTES,
    EVIL_BYTES.decode().encode("utf-16-le"),
    EVIL_BYTES.decode().encode("utf-16"),
    b"  \r\n\t" + EVIL_BYTES + b"\n",
    json.dumps([EVIL]).encode(),
], ids=["escaped-name", "escaped-keys", "dup-name", "dup-params", "trailing-message", "bom", "utf16le",
        "utf16-bom", "whitespace", "batch-of-one"])
def test_no_escape_by_encoding_tricks(mcp_server, envoy_factory, body):
    envoy = envoy_factory(POLICY)
    for path in ["/mcp", "/other"]:
        assert_refused(client.post(envoy.url_for(path), body))
    assert denied_reached(mcp_server) == []


def test_no_escape_by_size(mcp_server, envoy_factory):
    envoy = envoy_factory({"policy": POLICY, "mcp": {"max_body_bytes": 4096}})
    padded = client.tool_call_message("delete_repository", {"repo": "corp/x", "pad": "p" * 8192}, id=1)
    r = client.post(envoy.url, padded)
    assert r.status_code == 413 and r.json()["error"]["code"] == -32064
    ok = client.post(envoy.url_for("/other"), b"grant_type=" + b"x" * 9000, content_type="application/x-www-form-urlencoded")
    assert ok.status_code != 413, "a large form off the MCP paths is not read"
    assert denied_reached(mcp_server) == []


def test_non_mcp_traffic_on_the_same_listener_keeps_working(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)
    token = client.post(envoy.url_for("/oauth/token"), "grant_type=client_credentials&client_id=a",
                        content_type="application/x-www-form-urlencoded")
    assert token.status_code == 200 and "access_token" in token.json()
    with httpx.Client(trust_env=False, timeout=10) as http:
        assert http.get(envoy.url_for("/healthz")).text == "ok"
    echoed = client.post(envoy.url_for("/echo"), {"hello": "world", "items": [1, 2]})
    assert echoed.status_code == 200 and echoed.json()["hello"] == "world"
    paths = [r["path"] for r in mcp_server.records()]
    assert paths == ["/oauth/token", "/healthz", "/echo"]


def test_resources_and_prompts_pass(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)
    headers = client.raw_initialize(envoy.url)
    for method, params in [("resources/read", {"uri": "file:///nothing"}), ("prompts/get", {"name": "nothing"}),
                           ("resources/list", {}), ("prompts/list", {})]:
        r = client.post(envoy.url, client.jsonrpc(method, params, id=method), headers)
        assert r.status_code == 200, (method, r.status_code)
        (msg,) = client.parse_messages(r)
        assert msg["id"] == method
    reached = [m for rec in mcp_server.records() for m in rec.jsonrpc_methods()]
    assert {"resources/read", "prompts/get", "resources/list", "prompts/list"} <= set(reached)


def test_the_detector_sees_a_denied_call_that_does_reach_the_server(mcp_server):
    """Control: without the filter, the denied call reaches the server and the detector the
    other tests rely on finds it, in every encoding they try."""
    for body in [EVIL_BYTES, EVIL_BYTES.decode().encode("utf-16-le"),
                 rb'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"del\u0065te_repository"}}']:
        mcp_server.clear_records()
        client.post(mcp_server.url, body)
        assert len(denied_reached(mcp_server)) == 1
