"""Hidden tools stay hidden (SPEC §3 step 1): through a real Envoy, an agent on an official
MCP SDK client cannot tell a tool its policy hides from a tool that does not exist. Same
text, same code, same `_meta`, no word "hidden"; the audit keeps the truth (rule /hide/0).

Under `default: deny` the filter answers every tool the caller cannot see (hidden,
unlisted, or not on the server at all) with one reply. Under `default: allow` a tool the
server lacks reaches the server, which answers in its own words: the last tests record what
the official Python and TypeScript SDK servers say, the words the filter's reply borrows
(Python's) and where the two differ (README, "What the agent is told").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from e2e import client
from e2e.procs import ManagedProcess
from e2e.requirements import missing

TS_DIR = Path(__file__).resolve().parent.parent / "ts"

HIDDEN = "delete_repository"   # the server has it; the policy hides it
UNLISTED = "create_charge"     # the server has it; the policy does not list it
MISSING = "drop_database"      # the server does not have it

POLICY = {
    "version": "1",
    "default": "deny",
    "hide": [HIDDEN],
    "tools": {"echo": {}, HIDDEN: {}},
}


def same_shape(a: str, name_a: str, b: str, name_b: str) -> bool:
    return a.replace(name_a, "TOOL") == b.replace(name_b, "TOOL")


def no_hint(text: str) -> None:
    lowered = text.lower()
    assert "hid" not in lowered and "/hide" not in lowered, text


def audit(envoy, tool: str, timeout: float = 5.0) -> list[dict]:
    """The decisions the filter logged for calls of `tool`."""
    marker = "mcp_policy decision "
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for line in envoy.log_text().splitlines():
            at = line.find(marker)
            if at >= 0:
                d = json.loads(line[at + len(marker):])
                if d.get("tool") == tool:
                    found.append(d)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_python_sdk_client_tool_error(mcp_server, envoy_factory, mode):
    """deny_as tool_error; protocol 2025-11-25 (legacy) or 2026-07-28 (auto)."""
    envoy = envoy_factory(POLICY)

    async def session(c):
        tools = await c.list_tools()
        results = {name: await c.call_tool(name, {"repo": "corp/x"}) for name in (HIDDEN, UNLISTED, MISSING)}
        return [t.name for t in tools.tools], results

    names, results = client.in_session(envoy.url, session, headers={"x-agent-id": "py"}, mode=mode)
    assert HIDDEN not in names and UNLISTED not in names and "echo" in names
    hidden = results[HIDDEN]
    assert hidden.is_error
    assert client.result_text(hidden) == f"Unknown tool: {HIDDEN}"
    for name in (UNLISTED, MISSING):
        other = results[name]
        assert other.is_error == hidden.is_error
        assert same_shape(hidden.model_dump_json(), HIDDEN, other.model_dump_json(), name), (hidden, other)
        assert other.meta == {**hidden.meta, "reason": f"Unknown tool: {name}"}
    assert hidden.meta["decision"] == "deny" and hidden.meta["code"] == -32060
    assert hidden.meta["rule"] == "/default"
    no_hint(hidden.model_dump_json())
    assert mcp_server.tool_calls() == []
    # The audit keeps the truth.
    (logged,) = audit(envoy, HIDDEN)
    assert logged["rule"] == "/hide/0"
    assert logged["reason"] == f'Tool "{HIDDEN}" is hidden by policy'
    assert [d["rule"] for d in audit(envoy, MISSING)] == ["/default"]


def test_python_sdk_client_jsonrpc_error(mcp_server, envoy_factory):
    envoy = envoy_factory({"policy": POLICY, "deny_as": "jsonrpc_error"})
    errors = {}
    for name in (HIDDEN, UNLISTED, MISSING):
        with pytest.raises(MCPError) as raised:
            client.call_tool(envoy.url, name, {"repo": "corp/x"})
        errors[name] = raised.value
    hidden = errors[HIDDEN]
    assert hidden.code == -32060
    assert hidden.message == f"Unknown tool: {HIDDEN}"
    for name in (UNLISTED, MISSING):
        other = errors[name]
        assert other.code == hidden.code
        assert same_shape(str(hidden), HIDDEN, str(other), name)
        assert same_shape(json.dumps(hidden.data, sort_keys=True), HIDDEN,
                          json.dumps(other.data, sort_keys=True), name)
    no_hint(str(hidden) + json.dumps(hidden.data))
    assert mcp_server.tool_calls() == []


def test_raw_replies_are_the_same_bytes(mcp_server, envoy_factory):
    """Below the SDK: status, content type and body, for the same call and id."""
    hides = envoy_factory(POLICY)
    lists_nothing = envoy_factory({"version": "1", "default": "deny", "tools": {"echo": {}}})
    for protocol in ("2025-03-26", "2025-06-18", "2025-11-25"):
        replies = []
        for envoy in (hides, lists_nothing):
            session = client.raw_initialize(envoy.url, {"x-agent-id": "raw"}, protocol_version=protocol)
            r = client.post(envoy.url, client.tool_call_message(HIDDEN, {"repo": "corp/x"}, id=41), session)
            replies.append((r.status_code, r.headers.get("content-type"), r.content))
        assert replies[0] == replies[1], (protocol, replies)
        no_hint(replies[0][2].decode())
    assert mcp_server.tool_calls() == []


# -- the official TypeScript SDK client ------------------------------------------------------------
def node() -> str:
    exe = shutil.which("node")
    if exe is None or not (TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        missing("node or envoy/ts/node_modules missing (run envoy/setup.sh)")
    return exe


def ts_client(url: str, headers: dict[str, str], script: list) -> dict:
    out = subprocess.run([node(), str(TS_DIR / "client.mjs"), url, json.dumps(headers), json.dumps(script)],
                         capture_output=True, text=True, timeout=60, cwd=TS_DIR)
    assert out.returncode == 0, f"TypeScript client failed\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("deny_as", ["tool_error", "jsonrpc_error"])
def test_typescript_sdk_client(mcp_server, envoy_factory, deny_as):
    envoy = envoy_factory({"policy": POLICY, "deny_as": deny_as})
    names = (HIDDEN, UNLISTED, MISSING)
    out = ts_client(envoy.url, {"x-agent-id": "ts"}, [[n, {"repo": "corp/x"}] for n in names])
    assert HIDDEN not in out["tools"] and "echo" in out["tools"]
    hidden, *others = out["calls"]
    if deny_as == "tool_error":
        assert hidden["result"]["isError"] is True
        assert hidden["result"]["content"] == [{"type": "text", "text": f"Unknown tool: {HIDDEN}"}]
        assert hidden["result"]["_meta"]["rule"] == "/default"
    else:
        assert hidden["error"]["code"] == -32060, hidden
        assert hidden["error"]["message"].endswith(f"Unknown tool: {HIDDEN}"), hidden
    no_hint(json.dumps(hidden))
    for name, other in zip(names[1:], others):
        assert same_shape(json.dumps(hidden, sort_keys=True), HIDDEN, json.dumps(other, sort_keys=True), name)
    assert mcp_server.tool_calls() == []


# -- what the official SDK servers say for a tool they do not have -------------------------------
ALLOWING = {"version": "1", "default": "allow", "hide": [HIDDEN], "tools": {}}


def test_the_reply_borrows_the_python_sdk_servers_words(mcp_server, envoy_factory):
    """Under default allow, a tool the server lacks reaches the (Python SDK) server. Its
    answer and the filter's answer for a hidden tool read alike to the model: the same text
    shape, isError; only the filter's carries _meta (why default deny is the airtight one)."""
    envoy = envoy_factory(ALLOWING)
    hidden, missing_ = client.call_tools(envoy.url, [(HIDDEN, {"repo": "corp/x"}), (MISSING, {"repo": "corp/x"})])
    assert client.result_text(missing_) == f"Unknown tool: {MISSING}", "the Python SDK server's own words"
    assert missing_.is_error and hidden.is_error
    assert same_shape(client.result_text(hidden), HIDDEN, client.result_text(missing_), MISSING)
    assert [c.model_dump() for c in hidden.content] == [
        {**c.model_dump(), "text": c.text.replace(MISSING, HIDDEN)} for c in missing_.content]
    assert missing_.meta is None and hidden.meta["rule"] == "/default"
    assert [name for name, _ in mcp_server.tool_calls()] == [MISSING]


class TsServer:
    """envoy/ts/server.mjs on 127.0.0.1, a kernel-chosen port."""

    def __init__(self, work: Path):
        work.mkdir(parents=True, exist_ok=True)
        port_file = work / "ts_server.port"
        self.proc = ManagedProcess("ts_server", [node(), TS_DIR / "server.mjs", "--port-file", port_file,
                                                 "--record", work / "records.jsonl"], work, cwd=TS_DIR).start()
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if not self.proc.alive() or time.monotonic() > deadline:
                out = self.proc.output()
                self.proc.stop()
                raise RuntimeError(f"TypeScript MCP server did not start\n{out}")
            time.sleep(0.05)
        self.port = int(port_file.read_text())

    def stop(self) -> None:
        self.proc.stop()


def test_the_typescript_sdk_server_says_it_otherwise(tmp_path, envoy_factory):
    """The TypeScript SDK server answers a tool it lacks in other words: which is why the
    filter promises indistinguishability from a tool the policy does not list, not from any
    server's own answer."""
    ts = TsServer(tmp_path / "ts")
    try:
        envoy = envoy_factory(ALLOWING, upstream=ts.port)
        out = ts_client(envoy.url, {}, [[MISSING, {}], [HIDDEN, {}]])
        missing_, hidden = out["calls"]
        assert missing_["result"]["isError"] is True
        assert missing_["result"]["content"][0]["text"] == f"MCP error -32602: Tool {MISSING} not found"
        assert hidden["result"]["content"][0]["text"] == f"Unknown tool: {HIDDEN}"
    finally:
        ts.stop()
