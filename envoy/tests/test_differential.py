"""Judge what the server will run (SPEC §4.1): the reader differentials, against the
official SDK servers.

Each family is a way the filter once read a request, a response or an identity one way
while the server read it another, and so let through a call the policy stops. The
servers here are witnesses (e2e.witness): the official Python SDK (MCPServer, in JSON
and in SSE mode with an event store) and the official TypeScript SDK set up as its
docs say (createMcpExpressApp), whose tools write down exactly what they received.
Every attack asserts on what the tools really got, and comes with controls that must
still work.

Families: 1 declared charsets, 2 strings servers decode as JSON, 3 responses the filter
never read (resumed GET streams), 4 refunds a client provokes, 5 identity namespaces,
6 numbers read differently, 7 ids read differently, 8 counters shared across plugin
configurations.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from e2e import client
from e2e.envoy_config import EnvoyConfig, wasm_filter
from e2e.envoy_proc import EnvoyProcess
from e2e.ports import free_port
from e2e.requirements import require
from e2e.witness import Witness

ACCEPT = client.ACCEPT_BOTH
MODERN = "2025-11-25"


# -- witnesses, shared by the module ----------------------------------------------------
@pytest.fixture(scope="module")
def witness_pool(tmp_path_factory):
    started: dict[tuple[str, bool], Witness] = {}
    base = tmp_path_factory.mktemp("witnesses")

    def get(kind: str, json_response: bool) -> Witness:
        key = (kind, json_response)
        w = started.get(key)
        if w is None or not w.alive():
            w = started[key] = Witness(base, kind, json_response=json_response).start()
        w.clear()
        return w

    yield get
    for w in started.values():
        w.stop()


def witness(request, witness_pool) -> Witness:
    kind, mode = request.param
    return witness_pool(kind, mode == "json")


@pytest.fixture
def py_json(witness_pool):
    return witness_pool("python", True)


@pytest.fixture
def py_sse(witness_pool):
    return witness_pool("python", False)


@pytest.fixture
def ts_json(witness_pool):
    return witness_pool("typescript", True)


@pytest.fixture
def ts_sse(witness_pool):
    return witness_pool("typescript", False)


@pytest.fixture(params=[("python", "json"), ("python", "sse"), ("typescript", "json"), ("typescript", "sse")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def any_witness(request, witness_pool):
    return witness(request, witness_pool)


@pytest.fixture(params=[("typescript", "json"), ("typescript", "sse")], ids=lambda p: f"typescript-{p[1]}")
def ts_witness(request, witness_pool):
    return witness(request, witness_pool)


@pytest.fixture(params=[("python", "json"), ("python", "sse")], ids=lambda p: f"python-{p[1]}")
def py_witness(request, witness_pool):
    return witness(request, witness_pool)


def envoy_for(envoy_factory, w: Witness, config) -> object:
    return envoy_factory(config, upstream=w.port)


def session(url: str, headers: dict | None = None, version: str = MODERN) -> dict[str, str]:
    return client.raw_initialize(url, headers, protocol_version=version)


def call(url: str, hdrs: dict, name: str, arguments, id=7, **kw) -> httpx.Response:
    return client.post(url, client.tool_call_message(name, arguments, id), hdrs, **kw)


def messages(resp: httpx.Response) -> list[dict]:
    """JSON-RPC messages of an answer (SSE priming events, with no data, left out)."""
    if "text/event-stream" in resp.headers.get("content-type", ""):
        return [json.loads(d) for _, d in sse_events(resp.text) if d.strip()]
    return client.parse_messages(resp)


def answer(resp: httpx.Response) -> dict:
    msgs = [m for m in messages(resp) if "id" in m]
    assert msgs, f"no answer: {resp.status_code} {resp.text[:300]}"
    return msgs[-1]


def decision_of(resp: httpx.Response) -> str:
    """'allow' for a call the server answered, else the filter's decision."""
    if resp.status_code >= 400:
        return "invalid"
    msg = answer(resp)
    meta = (msg.get("result") or {}).get("_meta") or (msg.get("error") or {}).get("data") or {}
    return meta.get("decision", "allow")


def tools_seen(w: Witness, tool: str) -> list[dict]:
    return [args for name, args in w.saw() if name == tool]


# -- family 1: declared charsets ---------------------------------------------------------
DENY_DELETE = {"version": "1", "tools": {"delete_repository": {"action": "deny", "reason": "never"}}}


def utf7_brace_body(message: dict) -> bytes:
    """A JSON-RPC body in UTF-7 whose first character, `{`, is written `+AHs-`: not JSON
    to a UTF-8 reader, JSON to one that decodes the declared charset."""
    text = json.dumps(message, separators=(",", ":"))
    assert "+" not in text and "\\" not in text and "~" not in text
    return b"+AHs-" + text[1:].encode()


def test_utf7_name_on_the_mcp_path_never_reaches_the_tool(envoy_factory, ts_witness):
    env = envoy_for(envoy_factory, ts_witness, DENY_DELETE)
    hdrs = session(env.url)
    # The filter reads "delete+AF8-repository"; UTF-7 makes it "delete_repository".
    body = json.dumps(client.tool_call_message("delete+AF8-repository", {"repo": "corp/prod"}, 9))
    r = client.post(env.url, body, hdrs, content_type="application/json; charset=utf-7")
    assert r.status_code == 415, r.text
    assert answer(r)["error"]["code"] == -32065
    assert tools_seen(ts_witness, "delete_repository") == []
    # Controls: UTF-8 declared or not, the call is judged and served.
    for ct in ("application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json"):
        assert decision_of(call(env.url, hdrs, "echo", {"text": ct}, content_type=ct)) == "allow"
        assert decision_of(call(env.url, hdrs, "delete_repository", {"repo": "x"}, content_type=ct)) == "deny"
    assert [a["text"] for a in tools_seen(ts_witness, "echo")] == [
        "application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json"]
    assert tools_seen(ts_witness, "delete_repository") == []


def test_a_body_json_only_in_its_charset_is_not_released_off_the_mcp_paths(envoy_factory, ts_sse):
    env = envoy_for(envoy_factory, ts_sse, DENY_DELETE)
    alt = env.url_for("/alt")
    hdrs = session(alt)
    body = utf7_brace_body(client.tool_call_message("delete_repository", {"repo": "corp/prod"}, 3))
    r = client.post(alt, body, hdrs, content_type="application/json; charset=utf-7")
    assert r.status_code == 415, r.text
    assert tools_seen(ts_sse, "delete_repository") == []
    # Control: JSON-RPC off the MCP paths is judged like on them.
    assert decision_of(call(alt, hdrs, "echo", {"text": "alt"})) == "allow"
    assert decision_of(call(alt, hdrs, "delete_repository", {"repo": "x"})) == "deny"
    assert [a["text"] for a in tools_seen(ts_sse, "echo")] == ["alt"]


# -- family 2: strings servers decode as JSON ---------------------------------------------
DECODED_POLICY = {
    "version": "1",
    "default": "deny",
    "tools": {
        "echo": {},
        "configure": {"deny_if": [{"conditions": [{"path": "args.config.admin", "op": "exists", "value": True}],
                                   "on_deny": "admin settings are not for agents"}]},
        "spend": {"limits": [{"counter": "budget", "window": "hour", "max": 100,
                              "increment_from": "args.cost.amount"}]},
    },
}


def test_json_text_in_a_string_is_judged_as_the_python_server_decodes_it(envoy_factory, py_witness):
    env = envoy_for(envoy_factory, py_witness, DECODED_POLICY)
    hdrs = session(env.url)
    # Attacks: the condition on args.config.admin, and the amount that counts.
    assert decision_of(call(env.url, hdrs, "configure", {"config": '{"admin": true}'})) == "deny"
    assert decision_of(call(env.url, hdrs, "configure", {"config": ' {"admin":1} '})) == "deny"
    assert decision_of(call(env.url, hdrs, "spend", {"cost": '{"amount": 5000}'})) == "rate_limited"
    # Text only Python's lenient reader takes cannot be judged.
    assert decision_of(call(env.url, hdrs, "configure", {"config": '{"mode": NaN}'})) == "deny"
    assert tools_seen(py_witness, "configure") == []
    assert tools_seen(py_witness, "spend") == []
    # Controls: objects are judged as before; plain strings stay strings.
    assert decision_of(call(env.url, hdrs, "configure", {"config": {"mode": "safe"}})) == "allow"
    assert decision_of(call(env.url, hdrs, "configure", {"config": {"admin": True}})) == "deny"
    assert decision_of(call(env.url, hdrs, "spend", {"cost": {"amount": 60}})) == "allow"
    assert decision_of(call(env.url, hdrs, "spend", {"cost": '{"amount": 30}'})) == "allow"
    assert decision_of(call(env.url, hdrs, "spend", {"cost": {"amount": 20}})) == "rate_limited"
    assert decision_of(call(env.url, hdrs, "echo", {"text": '{"admin": true}'})) == "allow"
    assert tools_seen(py_witness, "configure") == [{"config": {"mode": "safe"}}]
    assert tools_seen(py_witness, "spend") == [{"cost": {"amount": 60}}, {"cost": {"amount": 30}}]
    assert tools_seen(py_witness, "echo") == [{"text": '{"admin": true}'}]


# -- family 3: responses the filter never read --------------------------------------------
HIDE_DELETE = {"version": "1", "hide": ["delete_repository"], "tools": {}}


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(id, data) of each event of an SSE text."""
    out, eid, data = [], None, []
    for line in re.split(r"\r\n|\r|\n", text) + [""]:
        if line.startswith("id:"):
            eid = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "":
            if eid is not None or data:
                out.append((eid, "\n".join(data)))
            eid, data = None, []
    return out


def resume(url: str, hdrs: dict, last_event_id: str, want: str, seconds: float = 5.0) -> str:
    """GET the stream again from `last_event_id`; the text read until `want` shows up."""
    h = dict(hdrs, accept="text/event-stream", **{"last-event-id": last_event_id})
    got = ""
    deadline = time.monotonic() + seconds
    try:
        with httpx.Client(trust_env=False, timeout=httpx.Timeout(seconds, read=1.0)) as http:
            with http.stream("GET", url, headers=h) as r:
                assert r.status_code == 200, r.read()
                for chunk in r.iter_text():
                    got += chunk
                    if want in got or time.monotonic() > deadline:
                        break
    except httpx.ReadTimeout:
        pass
    return got


@pytest.mark.parametrize("kind", ["python", "typescript"])
def test_a_resumed_stream_replays_no_hidden_tool(envoy_factory, witness_pool, kind):
    w = witness_pool(kind, False)
    env = envoy_for(envoy_factory, w, HIDE_DELETE)
    hdrs = session(env.url)
    r = client.post(env.url, client.jsonrpc("tools/list", {}, 5), hdrs)
    events = sse_events(r.text)
    listed = [json.loads(d) for _, d in events if d]
    names = [t["name"] for m in listed if "result" in m for t in m["result"]["tools"]]
    assert "echo" in names and "delete_repository" not in names, "control: the POST answer is cut"
    first_id = next(eid for eid, _ in events if eid)
    replay = resume(env.url, hdrs, first_id, '"tools"')
    assert '"tools"' in replay, f"the server replayed nothing: {replay!r}"
    assert "delete_repository" not in replay
    assert "echo" in replay


# -- family 4: refunds a client provokes ---------------------------------------------------
ONE_AN_HOUR = {"version": "1", "default": "deny",
               "tools": {"slow": {"rate_limit": "1/hour"}, "transfer": {"rate_limit": "1/hour"},
                         "echo": {}}}


def test_ending_the_session_while_the_call_runs_gives_no_quota_back(envoy_factory, py_json):
    env = envoy_for(envoy_factory, py_json, ONE_AN_HOUR)
    hdrs = session(env.url)
    out: dict = {}

    def run():
        out["r"] = call(env.url, hdrs, "slow", {"ms": 1500}, timeout=10)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 5
    while not tools_seen(py_json, "slow") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert tools_seen(py_json, "slow"), "the call started"
    client.post(env.url, None, hdrs, method="DELETE", content_type=None)
    t.join(10)
    assert out["r"].status_code == 500, out["r"].text  # the SDK: session terminated
    again = session(env.url)
    assert decision_of(call(env.url, again, "slow", {"ms": 1})) == "rate_limited"
    assert len(tools_seen(py_json, "slow")) == 1


def test_an_error_the_client_provokes_after_the_tool_acted_gives_no_quota_back(envoy_factory, any_witness):
    env = envoy_for(envoy_factory, any_witness, ONE_AN_HOUR)
    hdrs = session(env.url)
    r = call(env.url, hdrs, "transfer", {"account": 1, "to": "nobody"})
    msg = answer(r)
    assert msg.get("error", {}).get("code") == -32602 or (msg.get("result") or {}).get("isError"), msg
    assert decision_of(call(env.url, hdrs, "transfer", {"account": 1, "to": "bob"})) == "rate_limited"
    assert len(tools_seen(any_witness, "transfer")) == 1


MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {}}


def modern_call(url: str, name: str, arguments: dict, headers: dict | None = None, id=10) -> httpx.Response:
    """A stateless 2026-07-28 tools/call: no handshake, routing headers, _meta."""
    body = {"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": MODERN_META}}
    h = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": name, **(headers or {})}
    return client.post(url, body, h)


def test_a_tool_error_sent_as_a_4xx_gives_no_quota_back(envoy_factory, py_witness):
    """On 2026-07-28 requests the Python SDK sends a tool's own JSON-RPC errors with a 4xx
    status (-32602 as 400): a 4xx that answers the call by id came after it was read."""
    env = envoy_for(envoy_factory, py_witness, ONE_AN_HOUR)
    for _ in range(3):
        r = modern_call(env.url, "transfer", {"account": 7, "to": "nobody"})
        assert r.status_code in (200, 400), r.text
    assert len(tools_seen(py_witness, "transfer")) == 1
    assert decision_of(modern_call(env.url, "transfer", {"account": 7, "to": "bob"})) == "rate_limited"
    assert len(tools_seen(py_witness, "transfer")) == 1


def test_a_session_id_a_stateless_request_invents_keys_no_fresh_count(envoy_factory, py_json):
    """A 2026-07-28 request runs whatever Mcp-Session-Id it carries: session limits count it
    as the caller's own session."""
    policy = {"version": "1", "default": "deny", "tools": {
        "echo": {"rate_limit": {"max": 1, "window": 3600, "scope": "session"}}}}
    env = envoy_for(envoy_factory, py_json, policy)
    verdicts = [decision_of(modern_call(env.url, "echo", {"text": str(i)}, {"mcp-session-id": f"made-up-{i}"}))
                for i in range(3)]
    assert verdicts == ["allow", "rate_limited", "rate_limited"]
    assert [a["text"] for a in tools_seen(py_json, "echo")] == ["0"]


def test_a_server_that_refuses_the_request_itself_gives_quota_back(envoy_factory, py_json):
    """Control: a 4xx from the server (an unknown session) means the call never ran."""
    env = envoy_for(envoy_factory, py_json, ONE_AN_HOUR)
    hdrs = session(env.url)
    stale = dict(hdrs, **{"mcp-session-id": "0" * 32})
    r = call(env.url, stale, "slow", {"ms": 1})
    assert r.status_code in (400, 404), r.text
    assert decision_of(call(env.url, hdrs, "slow", {"ms": 1})) == "allow"
    assert decision_of(call(env.url, hdrs, "slow", {"ms": 1})) == "rate_limited"
    assert len(tools_seen(py_json, "slow")) == 1


# -- family 5: identity sources are namespaces ---------------------------------------------
TOKEN = "s3cret-admin-token"
DIGEST = hashlib.sha256(TOKEN.encode()).hexdigest()
GRANTS = {
    "policies": {
        "admin": {"version": "1", "tools": {}},
        "readonly": {"version": "1", "default": "deny", "tools": {"echo": {}}},
    },
    "grants": {"admins": {"policy": "admin", "match": [DIGEST]},
               "support": {"policy": "readonly", "match": ["support"]}},
    "unmatched": "readonly",
    "identity": [{"header": "x-agent-id"}, {"bearer_sha256": True, "strip_authorization": True}],
}


def test_callers_no_grant_knows_share_one_count(envoy_factory, py_json):
    """A made-up bearer token (or header value) per call must not buy fresh quota."""
    config = copy.deepcopy(GRANTS)
    config["policies"]["readonly"]["tools"]["echo"] = {"rate_limit": "1/hour"}
    env = envoy_for(envoy_factory, py_json, config)
    verdicts = []
    for i in range(3):
        hdrs = session(env.url, {"authorization": f"Bearer made-up-{i}"})
        verdicts.append(decision_of(call(env.url, hdrs, "echo", {"text": str(i)})))
    hdrs = session(env.url, {"x-agent-id": "nobody-knows-me"})
    verdicts.append(decision_of(call(env.url, hdrs, "echo", {"text": "h"})))
    assert verdicts == ["allow", "rate_limited", "rate_limited", "rate_limited"]
    assert [a["text"] for a in tools_seen(py_json, "echo")] == ["0"]


def test_a_header_cannot_pose_as_a_bearer_digest(envoy_factory, py_json):
    env = envoy_for(envoy_factory, py_json, GRANTS)
    forged = session(env.url, {"x-agent-id": DIGEST})
    assert decision_of(call(env.url, forged, "delete_repository", {"repo": "corp/prod"})) == "deny"
    assert tools_seen(py_json, "delete_repository") == []
    # Controls: the token itself, and a header entry, match their own grants.
    real = session(env.url, {"authorization": f"Bearer {TOKEN}"})
    assert decision_of(call(env.url, real, "delete_repository", {"repo": "corp/x"})) == "allow"
    support = session(env.url, {"x-agent-id": "support"})
    assert decision_of(call(env.url, support, "echo", {"text": "hi"})) == "allow"
    assert tools_seen(py_json, "delete_repository") == [{"repo": "corp/x"}]
    # An entry may name its source outright.
    named = copy.deepcopy(GRANTS)
    named["grants"]["admins"]["match"] = [{"bearer_sha256": DIGEST}]
    named["grants"]["ops"] = {"policy": "admin", "match": [{"header": "x-agent-id", "value": "ops"}]}
    env2 = envoy_for(envoy_factory, py_json, named)
    ops = session(env2.url, {"x-agent-id": "ops"})
    assert decision_of(call(env2.url, ops, "delete_repository", {"repo": "corp/y"})) == "allow"
    forged = session(env2.url, {"x-agent-id": DIGEST})
    assert decision_of(call(env2.url, forged, "delete_repository", {"repo": "corp/z"})) == "deny"
    assert tools_seen(py_json, "delete_repository") == [{"repo": "corp/x"}, {"repo": "corp/y"}]


# -- family 6: numbers read differently ----------------------------------------------------
BLOCKED_ACCOUNT = {"version": "1", "default": "deny", "tools": {
    "lookup": {"deny_if": [{"conditions": [{"path": "args.account", "op": "in", "value": [9007199254740992]}],
                            "on_deny": "account 9007199254740992 is frozen"}]}}}


def raw_call(url: str, hdrs: dict, name: str, args_text: str, id_text: str = "4") -> httpx.Response:
    body = ('{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}'
            % (id_text, name, args_text))
    return client.post(url, body, hdrs)


def test_an_integer_a_double_cannot_hold_is_judged_as_both_readers_see_it(envoy_factory, ts_witness):
    env = envoy_for(envoy_factory, ts_witness, BLOCKED_ACCOUNT)
    hdrs = session(env.url)
    # JavaScript reads 2^53 + 1 as 2^53: the frozen account.
    assert decision_of(raw_call(env.url, hdrs, "lookup", '{"account":9007199254740993}')) == "deny"
    assert tools_seen(ts_witness, "lookup") == []
    # Controls.
    assert decision_of(raw_call(env.url, hdrs, "lookup", '{"account":9007199254740992}')) == "deny"
    assert decision_of(raw_call(env.url, hdrs, "lookup", '{"account":12345}')) == "allow"
    assert decision_of(raw_call(env.url, hdrs, "lookup", '{"account":9007199254740994}')) == "allow"
    assert tools_seen(ts_witness, "lookup") == [{"account": 12345}, {"account": 9007199254740994}]


# -- family 7: ids read differently ---------------------------------------------------------
@pytest.mark.parametrize("id_text", ["9007199254740993", "1.0", "18446744073709551617", "-0"])
def test_a_tool_list_is_cut_whatever_id_the_server_answers_under(envoy_factory, any_witness, id_text):
    """Lists are cut by their shape, not by matching ids: a server may round an id (a
    JavaScript one keeps doubles; Python answers 1.0 as 1), or refuse it."""
    env = envoy_for(envoy_factory, any_witness, HIDE_DELETE)
    hdrs = session(env.url)
    body = '{"jsonrpc":"2.0","id":%s,"method":"tools/list","params":{}}' % id_text
    r = client.post(env.url, body, hdrs)
    assert "delete_repository" not in r.text
    lists = [m for m in messages(r) if "tools" in (m.get("result") or {})]
    for m in lists:
        assert "echo" in [t["name"] for t in m["result"]["tools"]]
    if not lists:
        # Not every server answers: the TypeScript SDK (zod 4) refuses an id beyond a
        # safe integer (400), Python's reads {"id": 1.0, ...} as a notification (202).
        assert r.status_code in (202, 400), r.text
    # Control: an ordinary id.
    r = client.post(env.url, client.jsonrpc("tools/list", {}, 11), hdrs)
    names = [t["name"] for t in answer(r)["result"]["tools"]]
    assert "echo" in names and "delete_repository" not in names


# -- family 8: counters of two plugin configurations ---------------------------------------
def two_listener_envoy(tmp_path: Path, upstream_port: int, configs: list[dict],
                       hosts: list[str] | None = None) -> tuple[EnvoyProcess, list[str]]:
    """One Envoy, one listener per plugin configuration: the same plugin name and vm_id
    (the README's wiring copied), different configurations. With `hosts`, the listeners
    bind those addresses and share one port."""
    found = require(envoy=True, wasm=True)
    base = EnvoyConfig(upstream_port=upstream_port, wasm_path=found["wasm"], plugin_config=configs[0])
    boot = base.bootstrap()
    first = boot["static_resources"]["listeners"][0]
    if hosts:
        ports = [free_port()] * len(configs)
    else:
        hosts = ["127.0.0.1"] * len(configs)
        ports = [free_port() for _ in configs]
    listeners = []
    for i, (port, cfg) in enumerate(zip(ports, configs)):
        listener = copy.deepcopy(first)
        listener["name"] = f"mcp_listener_{i}"
        listener["address"]["socket_address"]["address"] = hosts[i]
        listener["address"]["socket_address"]["port_value"] = port
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["http_filters"][0] = wasm_filter(found["wasm"], cfg)
        listeners.append(listener)
    boot["static_resources"]["listeners"] = listeners
    env = EnvoyProcess(boot, tmp_path / "envoy2", envoy_bin=found["envoy"], name="envoy2")
    env.start()
    return env, [f"http://{h}:{p}/mcp" for h, p in zip(hosts, ports)]


def limited(extra: dict | None = None, **counters) -> dict:
    policy = {"version": "1", "default": "deny", "tools": {"echo": {"rate_limit": "2/hour"}, **(extra or {})}}
    return {"policy": policy, **counters}


def test_two_plugin_configurations_never_share_counters_unless_told(tmp_path, py_json):
    env, (a, b) = two_listener_envoy(tmp_path, py_json.port, [
        limited({"lookup": {}}), limited()])
    try:
        ha, hb = session(a), session(b)
        assert [decision_of(call(a, ha, "echo", {"text": str(i)})) for i in range(3)] == [
            "allow", "allow", "rate_limited"]
        assert decision_of(call(b, hb, "echo", {"text": "b"})) == "allow", "listener b has its own count"
    finally:
        env.stop()
    # Sharing is a choice: the same counters.namespace.
    shared = {"counters": {"namespace": "team-gw"}}
    env, (a, b) = two_listener_envoy(tmp_path / "shared", py_json.port, [
        limited({"lookup": {}}, **shared), limited(**shared)])
    try:
        ha, hb = session(a), session(b)
        assert decision_of(call(a, ha, "echo", {"text": "1"})) == "allow"
        assert decision_of(call(b, hb, "echo", {"text": "2"})) == "allow"
        assert decision_of(call(a, ha, "echo", {"text": "3"})) == "rate_limited"
        assert decision_of(call(b, hb, "echo", {"text": "4"})) == "rate_limited"
    finally:
        env.stop()


def test_two_definitions_of_one_counter_never_wipe_each_other(tmp_path, py_json):
    """Listeners on one port number with one plugin name share the default namespace
    (README, "Counter namespaces"). A counter defined with another window there is
    another counter: using one never resets the other."""
    hourly = {"policy": {"version": "1", "default": "deny", "tools": {
        "echo": {"limits": [{"counter": "calls", "window": "hour", "max": 2}]}}}}
    daily = {"policy": {"version": "1", "default": "deny", "tools": {
        "echo": {"limits": [{"counter": "calls", "window": "day", "max": 1000}]}}}}
    env, (a, b) = two_listener_envoy(tmp_path, py_json.port, [hourly, daily],
                                     hosts=["127.0.0.1", "127.0.0.2"])
    try:
        ha, hb = session(a), session(b)
        verdicts = []
        for i in range(3):
            verdicts += [decision_of(call(a, ha, "echo", {"text": f"a{i}"})),
                         decision_of(call(b, hb, "echo", {"text": f"b{i}"}))]
        assert verdicts == ["allow", "allow", "allow", "allow", "rate_limited", "allow"]
    finally:
        env.stop()
