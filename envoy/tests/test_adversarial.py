"""Adversarial corpus and failure modes, through a real Envoy 1.40 (V8) with the real filter in
front of the recording MCP server.

Every case asserts three things:
  (a) the reply is exactly what README documents ("What is judged", "Responses to the agent"):
      HTTP status, JSON-RPC error code (id as spelled, or null), or a tool_error with
      `_meta.decision` deny;
  (b) no denied call reached the upstream (the recorded bodies are searched as bytes, as
      UTF-8, as UTF-16 and JSON-unescaped);
  (c) the VM is alive: the next normal request (a raw allowed call, and a call through the
      official SDK client) still works, and Envoy logged no wasm failure.

Most cases share one Envoy per module (`--concurrency 1`, so the "next request" lands on the
very VM that handled the case; a trap would fail every later case too). Raw sockets
(`e2e.rawhttp`) send what httpx will not: lying Content-Length, 1-byte chunks with pauses,
non-UTF-8 header bytes, trailers, HTTP/2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e import client, rawhttp
from e2e.envoy_config import EnvoyConfig
from e2e.envoy_proc import EnvoyProcess
from e2e.requirements import require

POLICY: dict[str, Any] = {
    "version": "1",
    "default": "deny",
    "hide": ["get_file_contents"],
    "tools": {
        "echo": {},
        "create_issue": {},
        "get_file_contents": {},
        "delete_repository": {"action": "deny", "reason": "never"},
        "create_charge": {"rules": [{"name": "cap", "on_deny": "over the cap",
                                     "conditions": [{"path": "args.amount", "op": "lte", "value": 50000}]}]},
    },
}
SMALL_LIMIT = 4096

ACCEPT = "application/json, text/event-stream"
JSON_HEADERS = [("Content-Type", "application/json"), ("Accept", ACCEPT)]


# -- fixtures: one Envoy per configuration for the whole module ------------------------------
class Rig:
    """An Envoy with the filter, the MCP server behind it, and an open MCP session."""

    def __init__(self, envoy: EnvoyProcess, server):
        self.envoy = envoy
        self.server = server
        self.session: dict[str, str] = {}

    @property
    def url(self) -> str:
        return self.envoy.url

    @property
    def port(self) -> int:
        return self.envoy.port

    def open_session(self) -> None:
        self.session = client.raw_initialize(self.url)

    def post(self, body: bytes | str | dict | list, path: str = "/mcp", headers: dict | None = None,
             **kw) -> httpx.Response:
        return client.post(self.envoy.url_for(path), body, {**self.session, **(headers or {})}, **kw)

    def upstream_requests(self) -> int:
        return self.envoy.stat("cluster.mcp_upstream.upstream_rq_total", 0)


def start_envoy(work: Path, upstream_port: int, plugin_config: Any, *, name: str = "envoy",
                concurrency: int = 1, buffer_limit: int | None = None, extra_hcm: dict | None = None,
                failure_policy: str | None = None) -> EnvoyProcess:
    found = require(envoy=True, wasm=True)
    cfg = EnvoyConfig(upstream_port=upstream_port, access_log_path=work / f"{name}.access.log",
                      wasm_path=found["wasm"], plugin_config=plugin_config,
                      per_connection_buffer_limit_bytes=buffer_limit, failure_policy=failure_policy,
                      extra_hcm=dict(extra_hcm or {}))
    return EnvoyProcess(cfg, work, concurrency=concurrency, name=name, envoy_bin=found["envoy"]).start()


@pytest.fixture(scope="module")
def _upstream(mcp_server_pool):
    return mcp_server_pool.get()


@pytest.fixture(scope="module")
def _main_rig(tmp_path_factory, _upstream):
    # Buffer limit above max_body_bytes (1 MiB), so the filter's own 413 is what a client sees.
    envoy = start_envoy(tmp_path_factory.mktemp("adv_main"), _upstream.port, POLICY, buffer_limit=4 << 20)
    yield Rig(envoy, _upstream)
    envoy.stop()


@pytest.fixture(scope="module")
def _small_rig(tmp_path_factory, _upstream):
    envoy = start_envoy(tmp_path_factory.mktemp("adv_small"), _upstream.port,
                        {"policy": POLICY, "mcp": {"max_body_bytes": SMALL_LIMIT}})
    yield Rig(envoy, _upstream)
    envoy.stop()


def _envoy_log(envoy: EnvoyProcess) -> str:
    return envoy.log_path.read_text(errors="replace") if envoy.log_path.exists() else ""


def _fresh(rig: Rig) -> Rig:
    if not rig.server.alive():
        pytest.fail("the MCP server died")
    if not rig.session:
        rig.open_session()
    rig.server.clear_records()
    rig.log_mark = len(_envoy_log(rig.envoy))
    return rig


@pytest.fixture
def rig(_main_rig) -> Rig:
    r = _fresh(_main_rig)
    yield r
    assert_alive(r)


@pytest.fixture
def small(_small_rig) -> Rig:
    r = _fresh(_small_rig)
    yield r
    assert_alive(r)


# -- what is checked after every case ----------------------------------------------------------
WASM_FAILURES = ("RuntimeError", "panicked", "wasm trap", "Plugin configured to fail closed",
                 "failed: Uncaught", "Function: proxy_on")


def assert_alive(r: Rig) -> None:
    """(c): Envoy logged no wasm failure, and the next normal requests work (raw, then SDK)."""
    log = _envoy_log(r.envoy)[getattr(r, "log_mark", 0):]
    bad = [line for line in log.splitlines() if any(w in line for w in WASM_FAILURES)]
    assert not bad, f"wasm failure in Envoy's log: {bad[:5]}"
    assert r.envoy.alive(), "Envoy exited"
    ok = r.post(client.tool_call_message("echo", {"text": "still-alive"}, id="alive"))
    assert ok.status_code == 200, (ok.status_code, ok.text[:300])
    (msg,) = client.parse_messages(ok)
    assert msg["result"]["content"][0]["text"] == "still-alive", msg
    sdk = client.call_tool(r.url, "echo", {"text": "sdk-alive"})
    assert not sdk.is_error and client.result_text(sdk) == "sdk-alive"


DENIED_TOOLS = ("delete_repository", "get_file_contents")


def _texts(raw: bytes) -> list[str]:
    """The body as a client, a lenient server or a UTF-16 decoder would read it."""
    out = [raw.decode("utf-8", "replace"), raw.replace(b"\0", b"").decode("utf-8", "replace")]
    for enc in ("utf-16", "utf-16-le", "utf-16-be"):
        try:
            out.append(raw.decode(enc))
        except UnicodeDecodeError:
            pass
    for text in list(out):
        try:  # Python's json is lenient (NaN, lone surrogates, last duplicate wins): unescaped
            out.append(json.dumps(json.loads(text), ensure_ascii=False))
        except (ValueError, RecursionError):
            pass
    return [t.lower() for t in out]


def denied_reached(server) -> list:
    """(b): every recorded request whose body carries a denied tool's name or an over-the-cap
    charge, in any spelling the detectors can undo."""
    found = []
    for rec in server.records():
        texts = _texts(rec.raw_body)
        if any(("delete" in t or "get_file_contents" in t or "\\u0065" in t or "\\u005f" in t)
               for t in texts):
            found.append(rec)
            continue
        for m in rec.jsonrpc_messages():
            p = m.get("params") if isinstance(m.get("params"), dict) else {}
            amount = (p.get("arguments") or {}).get("amount") if isinstance(p.get("arguments"), dict) else None
            if p.get("name") == "create_charge" and isinstance(amount, (int, float)) and amount > 50000:
                found.append(rec)
    return found


def json_body(resp: httpx.Response | rawhttp.Http1Response) -> dict:
    text = resp.text if isinstance(resp, httpx.Response) else resp.body.decode("utf-8", "replace")
    return json.loads(text)


def assert_invalid(resp, code: int, status: int = 400, id_text: str = "null") -> dict:
    """A JSON-RPC error answered by the filter: HTTP `status`, `code`, the id as spelled."""
    st = resp.status_code if isinstance(resp, httpx.Response) else resp.status
    raw = resp.text if isinstance(resp, httpx.Response) else resp.body.decode("utf-8", "replace")
    assert st == status, (st, raw[:400])
    msg = json.loads(raw)
    assert msg["jsonrpc"] == "2.0"
    assert msg["error"]["code"] == code, msg
    assert msg["error"]["data"]["decision"] == "invalid", msg
    assert f'"id":{id_text},' in raw.replace(" ", ""), (id_text, raw[:200])
    return msg


def assert_denied(resp, rule: str | None = None, id_text: str | None = None) -> dict:
    """A denied tools/call as README's default tool_error: HTTP 200, isError, decision deny."""
    st = resp.status_code if isinstance(resp, httpx.Response) else resp.status
    raw = resp.text if isinstance(resp, httpx.Response) else resp.body.decode("utf-8", "replace")
    assert st == 200, (st, raw[:400])
    msg = json.loads(raw)
    assert msg["result"]["isError"] is True, msg
    meta = msg["result"]["_meta"]
    assert meta["decision"] == "deny" and meta["code"] == -32060, meta
    text = msg["result"]["content"][0]["text"]
    if meta["rule"] == "/default":
        # Hidden and unlisted tools are unknown to the agent (SPEC §3 step 1).
        assert text.startswith("Unknown tool: ") and text == meta["reason"], msg
    else:
        assert text.startswith("Denied by policy:"), msg
    if rule is not None:
        assert meta["rule"] == rule, meta
    if id_text is not None:
        assert raw.startswith('{"jsonrpc":"2.0","id":' + id_text + ","), raw[:120]
    return msg


def assert_ran(resp: httpx.Response, text: str | None = None) -> dict:
    """An allowed call answered by the MCP server with a tool result."""
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    (msg,) = client.parse_messages(resp)
    assert "result" in msg and msg["result"].get("isError") is False, msg
    if text is not None:
        assert msg["result"]["content"][0]["text"] == text
    return msg


def assert_not_run(resp: httpx.Response) -> None:
    """A message the filter lets through because it is not a tools/call: whatever the server
    answers, it did not run a tool."""
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])
    body = resp.text
    assert "deleted " not in body and "charged " not in body, body[:300]
    for msg in client.parse_messages(resp) if body.strip() else []:
        assert "result" not in msg or "content" not in msg.get("result", {}), msg


def call(tool: str, args: str = "{}", id_text: str = "1", method: str = "tools/call") -> bytes:
    return ('{"jsonrpc":"2.0","id":%s,"method":"%s","params":{"name":"%s","arguments":%s}}'
            % (id_text, method, tool, args)).encode()


EVIL = call("delete_repository", '{"repo":"corp/prod"}')
EVIL_RULE = "/tools/delete_repository/action"


# -- 1. parser differentials -----------------------------------------------------------------
# Two readers of one body must never disagree: every ambiguity is refused (-32700, 400, id null).
DUPLICATES = {
    "dup-jsonrpc": b'{"jsonrpc":"2.0","jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"delete_repository","arguments":{}}}',
    "dup-id": b'{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"delete_repository","arguments":{}}}',
    "dup-method-call-last": b'{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"delete_repository","arguments":{}}}',
    "dup-method-call-first": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping","params":{"name":"delete_repository","arguments":{}}}',
    "dup-params": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}},"params":{"name":"delete_repository","arguments":{}}}',
    "dup-name": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_repository","arguments":{}}}',
    "dup-arguments": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_charge","arguments":{"amount":1,"currency":"usd"},"arguments":{"amount":99999999,"currency":"usd"}}}',
    "dup-argument": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_charge","arguments":{"amount":1,"amount":99999999,"currency":"usd"}}}',
    "dup-deep": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a","x":{"y":[{"z":1,"z":2}]}}}}',
    "escaped-dup-method": b'{"jsonrpc":"2.0","id":1,"method":"ping","m\\u0065thod":"tools/call","params":{"name":"delete_repository","arguments":{}}}',
    "escaped-dup-name": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","n\\u0061me":"delete_repository","arguments":{}}}',
    "escaped-dup-params": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}},"p\\u0061rams":{"name":"delete_repository"}}',
    "escaped-dup-id": b'{"jsonrpc":"2.0","id":1,"\\u0069d":2,"method":"tools/call","params":{"name":"delete_repository"}}',
    "escaped-dup-jsonrpc": b'{"jsonrpc":"2.0","jsonrpc\\u0000":"2.0","\\u006asonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository"}}',
    "escaped-dup-argument": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_charge","arguments":{"amount":1,"\\u0061mount":99999999,"currency":"usd"}}}',
    "surrogate-escaped-dup": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a","\\ud83d\\ude00":1,"\U0001F600":2}}}'.encode(),
    "slash-escaped-dup": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a/b":1,"a\\/b":2,"text":"x"}}}',
}

NOT_JSON = {
    "nan": call("create_charge", '{"amount":NaN,"currency":"usd"}'),
    "infinity": call("create_charge", '{"amount":Infinity,"currency":"usd"}'),
    "minus-infinity": call("create_charge", '{"amount":-Infinity,"currency":"usd"}'),
    "block-comment": b'{"jsonrpc":"2.0",/* c */"id":1,"method":"tools/call","params":{"name":"delete_repository"}}',
    "line-comment": b'{"jsonrpc":"2.0", // c\n"id":1,"method":"tools/call","params":{"name":"delete_repository"}}',
    "hash-comment": b'# c\n{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository"}}',
    "single-quotes": b"{'jsonrpc':'2.0','id':1,'method':'tools/call','params':{'name':'delete_repository'}}",
    "trailing-comma-object": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository",},}',
    "trailing-comma-array": call("echo", '{"text":"a","l":[1,2,]}'),
    "unquoted-key": b'{jsonrpc:"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository"}}',
    "hex-number": call("create_charge", '{"amount":0x1,"currency":"usd"}'),
    "leading-zero": call("create_charge", '{"amount":00001,"currency":"usd"}'),
    "plus-number": call("create_charge", '{"amount":+1,"currency":"usd"}'),
    "bare-fraction": call("create_charge", '{"amount":.5,"currency":"usd"}'),
    "huge-exponent": call("create_charge", '{"amount":1e400,"currency":"usd"}'),
    "raw-control-char": call("echo", '{"text":"a\x01b"}'),
    "raw-tab": call("echo", '{"text":"a\tb"}'),
    "raw-newline": call("echo", '{"text":"a\nb"}'),
    "raw-nul-in-string": call("echo", '{"text":"a\x00b"}'),
    "raw-nul-in-name": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository\x00","arguments":{}}}',
    "nul-before": b"\x00" + EVIL,
    "nul-after": EVIL + b"\x00",
    "invalid-utf8-string": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a\xffb"}}}',
    "invalid-utf8-key": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"te\xfext":"a"}}}',
    "invalid-utf8-name": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository\xff","arguments":{}}}',
    "overlong-utf8": b'{"jsonrpc":"2.0","id":1,"method":"tools\xc0\xafcall","params":{"name":"delete_repository"}}',
    "utf8-encoded-surrogate": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\xed\xa0\x80"}}}',
    "truncated-utf8": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\xe2\x82"}}}',
    "lone-high-surrogate": call("echo", '{"text":"\\ud800"}'),
    "lone-low-surrogate": call("echo", '{"text":"\\udc00"}'),
    "reversed-surrogates": call("echo", '{"text":"\\ude00\\ud83d"}'),
    "high-then-letter": call("echo", '{"text":"\\ud800\\u0041"}'),
    "lone-surrogate-in-name": call("delete_repository\\ud800"),
    "lone-surrogate-in-key": call("echo", '{"text":"a","\\udc00":1}'),
    "two-documents": EVIL + b'{"jsonrpc":"2.0","id":2,"method":"ping"}',
    "trailing-garbage": EVIL + b"x",
    "truncated": EVIL[:-1],
    "bad-escape": call("echo", '{"text":"\\x41"}'),
}


@pytest.mark.parametrize("body", [pytest.param(b, id=k) for k, b in {**DUPLICATES, **NOT_JSON}.items()])
def test_ambiguous_or_invalid_json_is_refused(rig, body):
    """Duplicate keys at every level (also when they differ only by escapes), non-JSON
    literals, comments, quotes, trailing commas, bad numbers, invalid UTF-8, lone surrogates,
    raw control characters and NULs: -32700, HTTP 400, id null, on the MCP path and off it
    (off the MCP path a body is read when its first significant byte is `{` or `[`; the one
    starting with `#` is released unread there, by design, and the server cannot take it as
    JSON either)."""
    assert_invalid(rig.post(body), -32700)
    if not body.startswith(b"#"):
        assert_invalid(rig.post(body, "/other"), -32700)
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("method", ["tools/call ", " tools/call", "Tools/Call", "TOOLS/CALL", "tools/call\\u0000",
                                    "tools/call\\n", "tools//call", "tools/call/", "tools/calls",
                                    "tools\\u2215call", "tools/cal\\u006c\\u0020"])
def test_method_that_is_not_tools_call_passes_and_is_not_run(rig, method):
    """Not `tools/call` once unescaped: the filter lets it pass as any other method (README:
    every other method passes), the server answers Method not found, and nothing runs."""
    resp = rig.post(call("delete_repository", '{"repo":"corp/prod"}', id_text="5", method=method))
    assert_not_run(resp)
    (msg,) = client.parse_messages(resp)
    assert msg["error"]["code"] == -32601, msg
    reached = [m["method"] for rec in rig.server.records() for m in rec.jsonrpc_messages()]
    assert reached and all(m != "tools/call" for m in reached), reached


@pytest.mark.parametrize("method", ["tools\\/call", "tool\\u0073/call", "\\u0074\\u006f\\u006f\\u006c\\u0073\\u002f\\u0063\\u0061\\u006c\\u006c"])
def test_method_that_is_tools_call_once_unescaped_is_judged(rig, method):
    assert_denied(rig.post(call("delete_repository", '{"repo":"corp/prod"}', method=method)), EVIL_RULE)
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("body,id_text", [
    pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"ping","METHOD":"tools/call","params":{"name":"delete_repository"}}', "1", id="case-variant-member"),
    pytest.param(b'{"JSONRPC":"2.0","ID":1,"METHOD":"tools/call","PARAMS":{"NAME":"delete_repository"}}', "null", id="all-upper"),
    pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"delete_repository"}}', "1", id="case-variant-params"),
])
def test_case_variant_members_are_refused_on_the_mcp_path(rig, body, id_text):
    """A case-insensitive decoder (Go's encoding/json) would read these as a tools/call; the
    filter refuses them, HTTP 400: as an unknown member (-32600, the id when it could be read)
    or, where two members differ only by case, as a duplicate key (-32700, id null)."""
    resp = rig.post(body)
    code = json_body(resp).get("error", {}).get("code")
    assert code in (-32600, -32700), resp.text[:300]
    assert_invalid(resp, code, id_text=id_text if code == -32600 else "null")
    assert denied_reached(rig.server) == []


def test_case_variant_members_off_the_mcp_path(rig):
    body = b'{"JSONRPC":"2.0","ID":1,"METHOD":"tools/call","PARAMS":{"NAME":"delete_repository","ARGUMENTS":{"repo":"corp/prod"}}}'
    rig.post(body, "/other")
    assert denied_reached(rig.server) == []


# -- 2. nesting, numbers, strings ----------------------------------------------------------------
def nested(levels: int, leaf: str = "1") -> str:
    """`levels` nested objects around `leaf`: {"a":{"a":...leaf...}}."""
    return '{"a":' * levels + leaf + "}" * levels


@pytest.mark.parametrize("levels,accepted", [(1, True), (100, True), (125, True), (126, False), (127, False),
                                             (128, False), (129, False), (10_000, False)])
def test_deep_nesting_in_arguments(rig, levels, accepted):
    """serde_json's recursion limit bounds the whole document at 127 levels: the message and
    `params` take 2, so `arguments` (itself the first of its levels) may be 125 deep; deeper is
    -32700 (fail closed, never a stack overflow). Denied and allowed tools alike."""
    args = '{"text":"deep","x":' + nested(levels - 1) + "}"
    for tool in ("delete_repository", "echo"):
        resp = rig.post(call(tool, args))
        if not accepted:
            assert_invalid(resp, -32700)
            assert "recursion limit" in json_body(resp)["error"]["message"]
        elif tool == "echo":
            assert_ran(resp, "deep")
        else:
            assert_denied(resp, EVIL_RULE)
    # arrays count the same
    if levels in (125, 126):
        resp = rig.post(call("delete_repository", '{"x":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"))
        assert_invalid(resp, -32700) if levels == 126 else assert_denied(resp)
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("number,over_cap", [
    ("18446744073709551616", True),             # 2^64
    ("123456789012345678901234567890", True),
    ("9007199254740993", True),                 # 2^53 + 1, exact
    ("50001", True),
    ("5.0000001e4", True),
    ("-9223372036854775809", False),            # -2^63 - 1
    ("1e-400", False),                          # underflows to 0
    ("5e4", False),
    ("-0", False),
])
def test_huge_and_tiny_numbers_in_arguments(rig, number, over_cap):
    """Numbers beyond 64 bits and denormals compare by value; a huge amount never wraps into
    an allowed one."""
    resp = rig.post(call("create_charge", '{"amount":%s,"currency":"usd"}' % number))
    if over_cap:
        msg = assert_denied(resp, "/tools/create_charge/rules/0")
        assert "over the cap" in msg["result"]["content"][0]["text"]
    else:
        assert_ran(resp)
        assert [n for n, _ in rig.server.tool_calls()] == ["create_charge"]
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("id_text", ["18446744073709551616", "-9223372036854775809", "1e-400",
                                     "123456789012345678901234567890", "1.50", "-0", "1E2", '"\\u0041"',
                                     '"\\ud83d\\ude00"', '""', "0"])
def test_ids_are_echoed_as_spelled(rig, id_text):
    assert_denied(rig.post(call("delete_repository", id_text=id_text)), EVIL_RULE, id_text=id_text)
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("id_text", ["1e400", "-1e400", "NaN", "Infinity", "01", "0x10"])
def test_ids_that_are_not_json_numbers(rig, id_text):
    assert_invalid(rig.post(call("delete_repository", id_text=id_text)), -32700)
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("text,expected", [
    ("\\ud83d\\ude00", "\U0001F600"),          # a paired surrogate escape is one code point
    ("\U0001F600", "\U0001F600"),
    ("a\\u0000b", "a\x00b"),                    # escaped NUL is a valid string
    ("\\u0001\\u001f\\u007f", "\x01\x1f\x7f"),
    ("\\u2028\\u2029", "\u2028\u2029"),
    ("\\uFEFF", "\ufeff"),
])
def test_valid_escapes_in_allowed_arguments_reach_the_server(rig, text, expected):
    resp = rig.post(call("echo", '{"text":"%s"}' % text))
    assert_ran(resp, expected)


@pytest.mark.parametrize("name,rule", [
    ("delete_repository\\u0000", "/default"),
    ("delete_repository\\ud83d\\ude00", "/default"),
    ("delete_repository ", "/default"),
    ("Delete_Repository", "/default"),
    ("delete\\u005frepository", EVIL_RULE),
    ("get_file_contents", "/default"),
    ("get\\u005ffile\\u005fcontents", "/default"),
])
def test_tool_names_with_escapes_and_controls(rig, name, rule):
    """An escaped name is the same tool; a name with a NUL, an emoji or a space is another
    (unlisted) tool, denied under default deny. Neither reaches the server. A hidden tool
    (get_file_contents) is answered as an unlisted one: rule /default, whatever the audit says."""
    assert_denied(rig.post(call(name, '{"repo":"corp/prod"}')), rule)
    assert denied_reached(rig.server) == []


# -- 3. sizes -------------------------------------------------------------------------------------
def sized_call(tool: str, size: int, id_text: str = "1") -> bytes:
    """A tools/call of exactly `size` bytes (padding in the text argument)."""
    empty = call(tool, '{"text":""}', id_text)
    pad = size - len(empty)
    assert pad >= 0
    body = call(tool, '{"text":"%s"}' % ("a" * pad), id_text)
    assert len(body) == size
    return body


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_bodies_at_the_limit(small, delta):
    """max_body_bytes 4096: a body of 4095 or 4096 bytes is judged; 4097 is 413 / -32064."""
    size = SMALL_LIMIT + delta
    allowed = small.post(sized_call("echo", size))
    denied = small.post(sized_call("delete_repository", size))
    if delta <= 0:
        assert_ran(allowed)
        assert_denied(denied, EVIL_RULE)
        assert len(small.server.records()) == 1
    else:
        assert_invalid(allowed, -32064, status=413)
        assert_invalid(denied, -32064, status=413)
        assert small.server.records() == []
    assert denied_reached(small.server) == []


def test_over_the_limit_is_refused_as_soon_as_it_is(small):
    """README: a body over max_body_bytes is refused (413) as soon as it is: the reply comes
    while the client is still sending (Content-Length claims 100 MB; 5000 bytes are sent)."""
    with rawhttp.Http1Conn(small.port) as conn:
        conn.send(rawhttp.http1_request("POST", "/mcp", JSON_HEADERS, b"", content_length=100_000_000))
        conn.send(sized_call("echo", 5000))
        assert_invalid(conn.response(timeout=5), -32064, status=413)
    assert small.server.records() == []


def test_giant_string_under_the_limit_is_judged_and_over_it_refused(rig):
    """Default max_body_bytes (1 MiB): a 900 KiB string argument is judged like any other
    (allowed for echo, denied for delete_repository); 1 MiB + 1 byte is 413 / -32064."""
    big = "b" * (900 * 1024)
    ok = rig.post(call("echo", '{"text":"%s"}' % big), timeout=30)
    assert_ran(ok, big)
    assert_denied(rig.post(call("delete_repository", '{"repo":"%s"}' % big), timeout=30), EVIL_RULE)
    assert_ran(rig.post(sized_call("echo", 1 << 20), timeout=30))
    for tool in ("echo", "delete_repository"):
        assert_invalid(rig.post(sized_call(tool, (1 << 20) + 1), timeout=30), -32064, status=413)
    assert [n for n, _ in rig.server.tool_calls()] == ["echo", "echo"]
    assert denied_reached(rig.server) == []


def test_over_the_limit_with_envoys_default_buffer_limit(mcp_server, envoy_factory):
    """With Envoy's default per_connection_buffer_limit_bytes (1 MiB) equal to the default
    max_body_bytes, a body of 1 MiB + 1 gets Envoy's own 413 (text/plain "Payload Too Large"),
    not the filter's JSON -32064: Envoy's limit trips first. Still refused, never forwarded."""
    envoy = envoy_factory(POLICY)
    resp = client.post(envoy.url, sized_call("delete_repository", (1 << 20) + 1), timeout=30)
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("text/plain") and resp.text == "Payload Too Large"
    assert_denied(client.post(envoy.url, sized_call("delete_repository", 1 << 20), timeout=30))
    assert mcp_server.records() == []


# -- 4. body framing: chunks, pauses, lies ----------------------------------------------------------
def test_twenty_thousand_one_byte_chunks(rig):
    """A chunked upload of ~20 000 1-byte chunks is reassembled and judged as one body."""
    for tool, check in (("delete_repository", "deny"), ("echo", "ran")):
        body = sized_call(tool, 20_000)
        wire = rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + [("Transfer-Encoding", "chunked")]
                                     + list(rig.session.items()),
                                     rawhttp.chunked_body([body[i:i + 1] for i in range(len(body))]),
                                     content_length=False)
        with rawhttp.Http1Conn(rig.port, timeout=30) as conn:
            for i in range(0, len(wire), 6 * 50):  # 50 chunks a write
                conn.send(wire[i:i + 300])
            resp = conn.response()
        if check == "deny":
            assert_denied(resp, EVIL_RULE)
        else:
            assert resp.status == 200 and b'"isError":false' in resp.body, resp.raw[:300]
    assert [n for n, _ in rig.server.tool_calls()] == ["echo"]
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("tool", ["echo", "delete_repository"])
def test_slow_body_holds_the_headers_until_the_end(rig, tool):
    """Body sent in 10 pieces over ~2.5 s: nothing (not even the headers) reaches the upstream
    before the last byte; then the call is judged."""
    body = call(tool, '{"text":"slow"}' if tool == "echo" else '{"repo":"corp/prod"}')
    before = rig.upstream_requests()
    with rawhttp.Http1Conn(rig.port, timeout=15) as conn:
        conn.send(rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + list(rig.session.items()), b"",
                                        content_length=len(body)))
        pieces = [body[i:i + len(body) // 10 + 1] for i in range(0, len(body), len(body) // 10 + 1)]
        for piece in pieces[:-1]:
            conn.send(piece)
            time.sleep(0.25)
            assert rig.upstream_requests() == before, "headers went upstream before the body was judged"
            assert rig.server.records() == []
        conn.send(pieces[-1])
        resp = conn.response()
    if tool == "echo":
        assert resp.status == 200 and b'"text":"slow"' in resp.body, resp.raw[:300]
        assert rig.upstream_requests() == before + 1
    else:
        assert_denied(resp, EVIL_RULE)
        assert rig.upstream_requests() == before
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("how", ["close", "half-close", "stall"])
def test_content_length_larger_than_the_body(rig, how):
    """Content-Length promises 100 more bytes than are sent (the JSON sent is complete and
    allowed). Envoy waits for the rest; the filter never sees the end of the body, so nothing
    reaches the upstream. The client gets no HTTP response: close / half-close end the stream
    (Envoy resets it), a stalled client just waits."""
    body = call("echo", '{"text":"never"}')
    before = rig.upstream_requests()
    conn = rawhttp.Http1Conn(rig.port, timeout=5)
    conn.send(rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + list(rig.session.items()), body,
                                    content_length=len(body) + 100))
    if how == "close":
        time.sleep(0.3)
        conn.close()
        time.sleep(0.3)
    else:
        if how == "half-close":
            conn.half_close()
        resp = conn.response(timeout=1.5)
        conn.close()
        assert resp.status is None, resp.raw[:200]
        assert resp.closed if how == "half-close" else resp.timed_out
    assert rig.upstream_requests() == before
    assert rig.server.records() == []


def test_content_length_smaller_than_the_body_is_a_second_request(rig):
    """HTTP/1.1 framing: the bytes after Content-Length are the next request on the connection
    (pipelining). A denied call smuggled there is judged like any other."""
    first = call("echo", '{"text":"first"}')
    second = rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + list(rig.session.items()), EVIL)
    wire = rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + list(rig.session.items()), first + second,
                                 content_length=len(first))
    with rawhttp.Http1Conn(rig.port) as conn:
        conn.send(wire)
        r1 = conn.response()
        r2 = conn.response()
    assert r1.status == 200 and b'"text":"first"' in r1.body
    assert_denied(r2, EVIL_RULE)
    # Garbage after the body: Envoy's codec answers 400 for it; the first request is judged.
    with rawhttp.Http1Conn(rig.port) as conn:
        conn.send(rawhttp.http1_request("POST", "/mcp", JSON_HEADERS, EVIL + b"garbage\r\n\r\n",
                                        content_length=len(EVIL)))
        assert_denied(conn.response(), EVIL_RULE)
        assert conn.response().status in (400, None)
    assert [n for n, _ in rig.server.tool_calls()] == ["echo"]
    assert denied_reached(rig.server) == []


def test_transfer_encoding_variants(rig):
    """Chunked HTTP/1.1 is judged (any case of `chunked`); Content-Length with
    Transfer-Encoding is refused by Envoy (400); transfer codings Envoy cannot decode are
    refused by Envoy (501). Nothing denied reaches the upstream either way."""
    headers = JSON_HEADERS + list(rig.session.items())

    def send(te: str, with_length: bool = False) -> rawhttp.Http1Response:
        wire = rawhttp.http1_request("POST", "/mcp", headers + [("Transfer-Encoding", te)],
                                     rawhttp.chunked_body([EVIL[:20], EVIL[20:]]), content_length=with_length)
        return rawhttp.http1(rig.port, wire)

    for te in ("chunked", "Chunked", "CHUNKED"):
        assert_denied(send(te), EVIL_RULE)
    assert send("chunked", with_length=True).status == 400
    for te in ("gzip, chunked", "chunked, chunked", "identity", "compress"):
        assert send(te).status == 501, te
    assert denied_reached(rig.server) == []


def test_expect_100_continue(rig):
    with rawhttp.Http1Conn(rig.port) as conn:
        conn.send(rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + [("Expect", "100-continue")], b"",
                                        content_length=len(EVIL)))
        assert conn.response().status == 100
        conn.send(EVIL)
        assert_denied(conn.response(), EVIL_RULE)
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_http_methods_with_a_body_are_judged(rig, method):
    """Every request with a body is held and judged, whatever its HTTP method."""
    assert_denied(rawhttp.http1(rig.port, rawhttp.http1_request(method, "/mcp", JSON_HEADERS, EVIL)), EVIL_RULE)
    assert denied_reached(rig.server) == []


# -- 5. JSON-RPC shapes ------------------------------------------------------------------------------
SHAPES = {
    "empty-object": (b"{}", -32600, "null"),
    "empty-array": (b"[]", -32600, "null"),
    "empty-string": (b'""', -32600, "null"),
    "string": (b'"tools/call"', -32600, "null"),
    "null": (b"null", -32600, "null"),
    "number": (b"1", -32600, "null"),
    "true": (b"true", -32600, "null"),
    "whitespace-only": (b" \r\n\t ", -32700, "null"),
    "notification-tools-call": (b'{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_repository","arguments":{}}}', -32600, "null"),
    "null-id-tools-call": (call("delete_repository", id_text="null"), -32600, "null"),
    "object-id": (call("delete_repository", id_text="{}"), -32600, "null"),
    "array-id": (call("delete_repository", id_text="[1]"), -32600, "null"),
    "bool-id": (call("delete_repository", id_text="true"), -32600, "null"),
    "response-with-method": (b'{"jsonrpc":"2.0","id":1,"result":{},"method":"tools/call","params":{"name":"delete_repository"}}', -32600, "1"),
    "error-with-method": (b'{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"},"method":"tools/call","params":{"name":"delete_repository"}}', -32600, "1"),
    "response-with-params": (b'{"jsonrpc":"2.0","id":1,"result":{},"params":{"name":"delete_repository"}}', -32600, "1"),
    "result-and-error": (b'{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}', -32600, "1"),
    "response-without-id": (b'{"jsonrpc":"2.0","result":{"name":"delete_repository"}}', -32600, "null"),
    "jsonrpc-1.0": (b'{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"delete_repository"}}', -32600, "1"),
    "jsonrpc-number": (b'{"jsonrpc":2.0,"id":1,"method":"tools/call","params":{"name":"delete_repository"}}', -32600, "1"),
    "no-jsonrpc": (b'{"id":1,"method":"tools/call","params":{"name":"delete_repository"}}', -32600, "1"),
    "unknown-member": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository"},"x":1}', -32600, "1"),
    "method-number": (b'{"jsonrpc":"2.0","id":1,"method":1,"params":{"name":"delete_repository"}}', -32600, "1"),
    "params-string": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"delete_repository"}', -32600, "1"),
    "positional-params": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["delete_repository",{}]}', -32602, "1"),
    "no-params": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call"}', -32602, "1"),
    "name-number": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}', -32602, "1"),
    "name-empty": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}', -32602, "1"),
    "name-array": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["delete_repository"]}}', -32602, "1"),
    "arguments-array": (call("delete_repository", "[]"), -32602, "1"),
    "arguments-string": (call("delete_repository", '"repo"'), -32602, "1"),
    "batch-of-garbage": (b'[1]', -32600, "null"),
    "batch-nested": (b'[[' + EVIL + b']]', -32600, "null"),
}


@pytest.mark.parametrize("body,code,id_text", [pytest.param(*v, id=k) for k, v in SHAPES.items()])
def test_json_that_is_not_an_acceptable_message(rig, body, code, id_text):
    assert_invalid(rig.post(body), code, id_text=id_text)
    assert denied_reached(rig.server) == []


def test_empty_post_is_refused(rig):
    assert_invalid(rig.post(b""), -32700)
    assert_invalid(rawhttp.http1(rig.port, rawhttp.http1_request("POST", "/mcp", JSON_HEADERS, b"")), -32700)
    assert rig.server.records() == []


@pytest.mark.parametrize("body", [
    pytest.param(b'{"jsonrpc":"2.0","id":1,"result":{"name":"delete_repository","arguments":{"repo":"corp/prod"}}}', id="result"),
    pytest.param(b'{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"delete_repository"}}', id="error"),
    pytest.param(b'{"jsonrpc":"2.0","method":"notifications/tools/call","params":{"name":"delete_repository"}}', id="notification"),
])
def test_client_responses_and_notifications_shaped_like_a_call_pass_and_run_nothing(rig, body):
    """A client's response (to a server request) or a notification passes (README); the
    server acknowledges it (202) and runs nothing."""
    resp = rig.post(body)
    assert resp.status_code == 202, (resp.status_code, resp.text[:200])
    assert_not_run(resp)


def test_batch_of_a_thousand_with_one_denied(rig):
    """A 2025-03-26 batch of 1000 calls, one denied: nothing is forwarded; the reply is a batch
    of 1000 with the denial and -32063 for the 999 others."""
    batch = [client.tool_call_message("echo", {"text": str(i)}, id=i) for i in range(1000)]
    batch[637] = client.tool_call_message("delete_repository", {"repo": "corp/prod"}, id=637)
    batch.append(client.jsonrpc("notifications/progress", {"progressToken": 1, "progress": 1}, id=None))
    resp = rig.post(batch, headers={"mcp-protocol-version": "2025-03-26"}, timeout=30)
    assert resp.status_code == 200
    replies = resp.json()
    assert [m["id"] for m in replies] == list(range(1000))
    assert replies[637]["result"]["isError"] is True
    assert replies[637]["result"]["_meta"]["decision"] == "deny"
    others = [m for i, m in enumerate(replies) if i != 637]
    assert all(m["error"]["code"] == -32063 for m in others)
    assert all(m["error"]["message"] == "not executed: batch contained a denied call" for m in others)
    assert rig.server.records() == []


def test_batch_of_a_thousand_with_one_invalid_element(rig):
    batch = [client.tool_call_message("echo", {"text": str(i)}, id=i) for i in range(1000)]
    raw = json.dumps(batch).encode().replace(b'"id": 999,', b'"id": null,')
    assert_invalid(rig.post(raw), -32600)
    assert rig.server.records() == []


# -- 6. encodings and headers -------------------------------------------------------------------------
@pytest.mark.parametrize("encoding,refused", [
    ("identity", False), ("IDENTITY", False),
    ("gzip", True), ("br", True), ("deflate", True), ("zstd", True), ("gzip, identity", True),
    ("identity, gzip", True), ("x-unknown", True), ("identity;q=1", True),
])
def test_content_encoding(rig, encoding, refused):
    """Only `identity` is read; any other Content-Encoding is 415 / -32065, on any path."""
    for path in ("/mcp", "/other"):
        resp = rig.post(EVIL, path, headers={"content-encoding": encoding})
        if refused:
            assert_invalid(resp, -32065, status=415)
        else:
            assert_denied(resp, EVIL_RULE)
    if not refused:
        ok = rig.post(call("echo", '{"text":"plain"}'), headers={"content-encoding": encoding})
        assert_ran(ok, "plain")
    assert denied_reached(rig.server) == []


def test_repeated_content_encoding_headers(rig):
    """Two Content-Encoding headers (identity, then gzip) reach the filter joined
    ("identity,gzip"): refused, so a second header cannot smuggle a compressed body."""
    import gzip
    for path in ("/mcp", "/other"):
        wire = rawhttp.http1_request("POST", path, JSON_HEADERS + [("Content-Encoding", "identity"),
                                                                    ("Content-Encoding", "gzip")],
                                     gzip.compress(EVIL))
        assert_invalid(rawhttp.http1(rig.port, wire), -32065, status=415)
    assert rig.server.records() == []


@pytest.mark.parametrize("header,value,expect", [
    ("x-agent-id", b"\xff\xfe", "deny"),
    ("x-agent-id", b"agent-\xc3\x28", "deny"),
    ("mcp-session-id", b"\xff\xfe\xfd", "deny"),
    ("mcp-protocol-version", b"2026-07-28\xff", "deny"),
    ("authorization", b"Bearer \xff\xfe", "deny"),
    ("x-request-id", b"\xff" * 64, "deny"),
    ("mcp-method", b"tools/call\xff", "mismatch"),
    ("mcp-name", b"delete_repository\xff", "mismatch"),
    ("content-encoding", b"\xff", "encoding"),
])
def test_header_values_that_are_not_utf8(rig, header, value, expect):
    """Header bytes that are not UTF-8 (sent on a raw socket): never a crash, and the call is
    still judged."""
    wire = rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + [(header, value)], EVIL)
    resp = rawhttp.http1(rig.port, wire)
    if expect == "deny":
        assert_denied(resp, EVIL_RULE)
    elif expect == "mismatch":
        assert_invalid(resp, -32020, id_text="1")
    else:
        assert_invalid(resp, -32065, status=415)
    assert denied_reached(rig.server) == []


def test_non_utf8_path_is_refused_by_envoy(rig):
    resp = rawhttp.http1(rig.port, rawhttp.http1_request("POST", b"/mcp\xff", JSON_HEADERS, EVIL))
    assert resp.status == 400
    assert rig.server.records() == []


def test_many_headers(rig):
    """Under Envoy's header-count limit (100) the call is judged; over it Envoy answers 431
    before the filter. Either way nothing denied reaches the upstream."""
    few = JSON_HEADERS + [(f"x-h{i}", "v") for i in range(90)]
    assert_denied(rawhttp.http1(rig.port, rawhttp.http1_request("POST", "/mcp", few, EVIL)), EVIL_RULE)
    many = JSON_HEADERS + [(f"x-h{i}", "v") for i in range(2000)]
    assert rawhttp.http1(rig.port, rawhttp.http1_request("POST", "/mcp", many, EVIL)).status == 431
    big = JSON_HEADERS + [("x-big", "a" * 50_000)]
    assert_denied(rawhttp.http1(rig.port, rawhttp.http1_request("POST", "/mcp", big, EVIL)), EVIL_RULE)
    huge = JSON_HEADERS + [("x-big", "a" * 100_000)]
    assert rawhttp.http1(rig.port, rawhttp.http1_request("POST", "/mcp", huge, EVIL)).status == 431
    assert denied_reached(rig.server) == []


@pytest.mark.parametrize("value", ["=?base64?!!!!?=", "=?base64?ZGVsZXRlX3JlcG9zaXRvcnk?=", "=?base64??=",
                                   "=?base64?ZGVsZXRlX3JlcG9zaXRvcnl=?=", "=?base64?/w==?=", "=?base64?ZWNobw==",
                                   "=?BASE64?ZGVsZXRlX3JlcG9zaXRvcnk=?=",
                                   "=?base64?ZGVsZXRl X3JlcG9zaXRvcnk=?="])
def test_mcp_name_with_invalid_base64(rig, value):
    """Mcp-Name whose `=?base64?...?=` payload is not canonical Base64 (or not the body's name):
    HTTP 400 / -32020, the request's id echoed."""
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": value}
    assert_invalid(rig.post(EVIL, headers=headers), -32020, id_text="1")
    assert denied_reached(rig.server) == []


def test_mcp_name_with_valid_base64_passes(rig):
    headers = {"mcp-method": "tools/call", "mcp-name": "=?base64?ZWNobw==?="}
    assert_ran(rig.post(call("echo", '{"text":"b64"}'), headers=headers), "b64")


RATE_1 = {"policy": {"version": "1", "default": "deny", "tools": {"echo": {"rate_limit": "1/hour"}}},
          "identity": [{"header": "x-agent-id"}]}


def _echo_as(envoy, session: dict, agent: bytes) -> rawhttp.Http1Response:
    wire = rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + list(session.items()) + [("x-agent-id", agent)],
                                 call("echo", '{"text":"x"}'))
    return rawhttp.http1(envoy.port, wire)


def _decision(resp: rawhttp.Http1Response) -> str:
    if b"event: message" in resp.body:
        return "allow"
    return json.loads(resp.body)["result"]["_meta"]["decision"]


def test_distinct_identities_have_distinct_counters(mcp_server, envoy_factory):
    """Control for the test below: per-identity counters, with UTF-8 identities."""
    envoy = envoy_factory(RATE_1)
    session = client.raw_initialize(envoy.url)
    assert _decision(_echo_as(envoy, session, b"agent-a")) == "allow"
    assert _decision(_echo_as(envoy, session, b"agent-b")) == "allow"
    assert _decision(_echo_as(envoy, session, b"agent-a")) == "rate_limited"


def test_non_utf8_identities_do_not_alias(mcp_server, envoy_factory):
    envoy = envoy_factory(RATE_1)
    session = client.raw_initialize(envoy.url)
    assert _decision(_echo_as(envoy, session, b"\xff")) == "allow"
    assert _decision(_echo_as(envoy, session, b"\xfe")) == "allow", "another caller's limit was used"


# -- 7. trailers and HTTP/2 -----------------------------------------------------------------------------
def h2_headers(rig: Rig, path: str = "/mcp") -> list[tuple[str, str]]:
    return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "mcp.test"),
            ("content-type", "application/json"), ("accept", ACCEPT),
            *[(k.lower(), v) for k, v in rig.session.items()]]


def test_http2_is_judged(rig):
    """HTTP/2 (h2c, prior knowledge) bodies are judged: denied in one or many DATA frames,
    allowed ones run."""
    r = rawhttp.h2_request(rig.port, h2_headers(rig), [EVIL])
    assert r.status == 200 and json.loads(r.body)["result"]["_meta"]["decision"] == "deny", r
    r = rawhttp.h2_request(rig.port, h2_headers(rig), [EVIL[i:i + 7] for i in range(0, len(EVIL), 7)])
    assert r.status == 200 and json.loads(r.body)["result"]["_meta"]["decision"] == "deny", r
    r = rawhttp.h2_request(rig.port, h2_headers(rig), [call("echo", '{"text":"h2"}')])
    assert r.status == 200 and b'"text":"h2"' in r.body, r
    assert [n for n, _ in rig.server.tool_calls()] == ["echo"]
    assert denied_reached(rig.server) == []


def test_http1_trailers_are_dropped_by_default(rig):
    """Envoy's HTTP/1 codec drops request trailers unless `enable_trailers` is set: the body
    ends at the last chunk and is judged."""
    wire = rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + [("Transfer-Encoding", "chunked")]
                                 + list(rig.session.items()),
                                 rawhttp.chunked_body([EVIL], trailers=[("x-trailer", "1")]), content_length=False)
    assert_denied(rawhttp.http1(rig.port, wire), EVIL_RULE)
    assert denied_reached(rig.server) == []




@pytest.mark.parametrize("path", ["/mcp", "/other"])
def test_http2_request_trailers(rig, path):
    """HTTP/2 always carries request trailers (DATA without END_STREAM, then a HEADERS frame
    with END_STREAM): the default configuration is exposed."""
    r = rawhttp.h2_request(rig.port, h2_headers(rig, path), [EVIL], trailers=[("x-trailer", "1")])
    assert b"deleted corp/prod" not in r.body, "delete_repository ran"
    assert denied_reached(rig.server) == []


def test_http1_trailers_with_enable_trailers(tmp_path, mcp_server):
    """HTTP/1.1 with `http_protocol_options.enable_trailers: true` on the connection manager."""
    envoy = start_envoy(tmp_path, mcp_server.port, POLICY,
                        extra_hcm={"http_protocol_options": {"enable_trailers": True}})
    try:
        headers = client.raw_initialize(envoy.url)
        mcp_server.clear_records()
        wire = rawhttp.http1_request("POST", "/mcp", JSON_HEADERS + [("Transfer-Encoding", "chunked")]
                                     + list(headers.items()),
                                     rawhttp.chunked_body([EVIL], trailers=[("x-trailer", "1")]),
                                     content_length=False)
        resp = rawhttp.http1(envoy.port, wire)
        assert b"deleted corp/prod" not in resp.body, "delete_repository ran"
        assert denied_reached(mcp_server) == []
    finally:
        envoy.stop()


# -- 8. quota and disconnects ---------------------------------------------------------------------------
def test_disconnecting_before_the_response_does_not_refund_quota(mcp_server, envoy_factory):
    envoy = envoy_factory({"version": "1", "default": "deny", "tools": {"sleep_ms": {"rate_limit": "2/hour"}}})
    session = client.raw_initialize(envoy.url)
    mcp_server.clear_records()
    headers = JSON_HEADERS + list(session.items())
    for i in range(5):
        body = call("sleep_ms", '{"ms":500}', id_text=str(i))
        conn = rawhttp.Http1Conn(envoy.port)
        conn.send(rawhttp.http1_request("POST", "/mcp", headers, body))
        time.sleep(0.15)  # forwarded, the tool is running
        conn.close()
    time.sleep(0.5)
    reached = [n for n, _ in mcp_server.tool_calls() if n == "sleep_ms"]
    assert len(reached) <= 2, f"{len(reached)} calls of a 2/hour tool reached the server"


def test_a_completed_call_counts_even_if_the_client_leaves_right_after(mcp_server, envoy_factory):
    """Control: once the response is complete the call counts, whatever the client does next."""
    envoy = envoy_factory({"version": "1", "default": "deny", "tools": {"echo": {"rate_limit": "2/hour"}}})
    session = client.raw_initialize(envoy.url)
    headers = JSON_HEADERS + list(session.items())
    for i in range(2):
        with rawhttp.Http1Conn(envoy.port) as conn:
            conn.send(rawhttp.http1_request("POST", "/mcp", headers, call("echo", '{"text":"x"}', str(i))))
            assert b'"isError":false' in conn.response().body
    third = client.post(envoy.url, call("echo", '{"text":"x"}', "3"), session)
    assert json_body(third)["result"]["_meta"]["decision"] == "rate_limited"
