"""A second real MCP stack: the official TypeScript SDK (npm @modelcontextprotocol/sdk) as
client and as server, through a real Envoy with mcp_policy.wasm.

The Python SDK answers and sends differently from the TypeScript one (header order,
Accept values, SSE framing, session handling, JSON key order), so each denial is checked
with both: the TypeScript client against the TypeScript server, the TypeScript client
against the Python server, and the Python client against the TypeScript server. The
TypeScript server records every POST body before its SDK reads it; no denied call may be
in that record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from e2e import client
from e2e.procs import ManagedProcess
from e2e.requirements import missing

TS_DIR = Path(__file__).resolve().parent.parent / "ts"

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
            "rate_limit": {"max": 2, "window": 3600},
        },
    },
}

SCRIPT = [
    ["echo", {"text": "hello"}],
    ["create_issue", {"repo": "evil/x", "title": "exfiltrate"}],
    ["create_issue", {"repo": "corp/x", "title": "one"}],
    ["create_issue", {"repo": "corp/x", "title": "two"}],
    ["create_issue", {"repo": "corp/x", "title": "three"}],
    ["delete_repository", {"repo": "corp/x"}],
    ["create_charge", {"amount": 1, "currency": "usd"}],
]


def node() -> str:
    exe = shutil.which("node")
    if exe is None or not (TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        missing("node or envoy/ts/node_modules missing (run envoy/setup.sh)")
    return exe


class TsServer:
    """envoy/ts/server.mjs on 127.0.0.1, a kernel-chosen port; stopped by the fixture."""

    def __init__(self, work: Path, *args: str):
        work.mkdir(parents=True, exist_ok=True)
        self.record = work / "ts_server.records.jsonl"
        self.record.write_text("")
        port_file = work / "ts_server.port"
        self.proc = ManagedProcess("ts_server", [node(), TS_DIR / "server.mjs", "--port-file", port_file,
                                                 "--record", self.record, *args], work, cwd=TS_DIR).start()
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if not self.proc.alive() or time.monotonic() > deadline:
                out = self.proc.output()
                self.proc.stop()
                raise RuntimeError(f"TypeScript MCP server did not start\n{out}")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def tool_calls(self) -> list[tuple[str, dict]]:
        calls = []
        for line in self.record.read_text().splitlines():
            body = json.loads(json.loads(line)["body"])
            for msg in body if isinstance(body, list) else [body]:
                if isinstance(msg, dict) and msg.get("method") == "tools/call":
                    calls.append((msg["params"]["name"], msg["params"].get("arguments", {})))
        return calls

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture(params=[[], ["--stateless", "--json-response"]], ids=["sse-sessions", "json-stateless"])
def ts_server(request, tmp_path):
    srv = TsServer(tmp_path / "ts", *request.param)
    yield srv
    srv.stop()


def ts_client(url: str, headers: dict[str, str], script: list) -> dict:
    out = subprocess.run([node(), str(TS_DIR / "client.mjs"), url, json.dumps(headers), json.dumps(script)],
                         capture_output=True, text=True, timeout=60, cwd=TS_DIR)
    assert out.returncode == 0, f"TypeScript client failed\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_tool_error(call: dict, decision: str, rule: str) -> None:
    result = call["result"]
    assert result["isError"] is True, call
    assert result["_meta"]["decision"] == decision, call
    assert result["_meta"]["rule"] == rule, call


def check_script(out: dict) -> None:
    assert sorted(out["tools"]) == ["create_issue", "echo", "get_file_contents"], out["tools"]
    echo, evil, one, two, three, delete, charge = out["calls"]
    assert echo["result"]["content"][0]["text"] == "hello"
    assert not echo["result"].get("isError")
    check_tool_error(evil, "deny", "/tools/create_issue/require/0")
    assert "corp/" in evil["result"]["content"][0]["text"]
    assert not one["result"].get("isError") and not two["result"].get("isError")
    check_tool_error(three, "rate_limited", "/tools/create_issue/rate_limit")
    # Hidden and unlisted read alike: an unknown tool (SPEC §3 step 1).
    check_tool_error(delete, "deny", "/default")
    check_tool_error(charge, "deny", "/default")
    assert delete["result"]["content"][0]["text"] == "Unknown tool: delete_repository"
    assert charge["result"]["content"][0]["text"] == "Unknown tool: create_charge"


ALLOWED = [("echo", {"text": "hello"}), ("create_issue", {"repo": "corp/x", "title": "one"}),
           ("create_issue", {"repo": "corp/x", "title": "two"})]


def test_typescript_client_and_server(ts_server, envoy_factory):
    envoy = envoy_factory(POLICY, upstream=ts_server.port)
    out = ts_client(envoy.url, {"x-agent-id": "ts-agent"}, SCRIPT)
    check_script(out)
    assert ts_server.tool_calls() == ALLOWED


def test_typescript_client_python_server(mcp_server, envoy_factory):
    envoy = envoy_factory(POLICY)
    out = ts_client(envoy.url, {"x-agent-id": "ts-agent"}, SCRIPT)
    check_script(out)
    assert mcp_server.tool_calls() == ALLOWED


def test_typescript_client_gets_jsonrpc_errors(ts_server, envoy_factory):
    envoy = envoy_factory({"policy": POLICY, "deny_as": "jsonrpc_error"}, upstream=ts_server.port)
    out = ts_client(envoy.url, {}, [["echo", {"text": "hi"}], ["delete_repository", {"repo": "corp/x"}]])
    ok, denied = out["calls"]
    assert ok["result"]["content"][0]["text"] == "hi"
    # The SDK raises McpError with the JSON-RPC error code of SPEC §5.
    assert denied["error"]["code"] == -32060, denied
    assert ts_server.tool_calls() == [("echo", {"text": "hi"})]


def test_python_client_typescript_server(ts_server, envoy_factory):
    envoy = envoy_factory(POLICY, upstream=ts_server.port)

    async def session(c):
        tools = await c.list_tools()
        results = [await c.call_tool(name, args) for name, args in SCRIPT]
        return [t.name for t in tools.tools], results

    names, results = client.in_session(envoy.url, session, headers={"x-agent-id": "py-agent"})
    assert sorted(names) == ["create_issue", "echo", "get_file_contents"]
    echo, evil, one, two, three, delete, charge = results
    assert client.result_text(echo) == "hello" and not echo.is_error
    for denied, decision in [(evil, "deny"), (three, "rate_limited"), (delete, "deny"), (charge, "deny")]:
        assert denied.is_error
        assert denied.meta["decision"] == decision
    assert not one.is_error and not two.is_error
    assert ts_server.tool_calls() == ALLOWED


def test_a_batch_reusing_an_id_cannot_buy_quota_back(ts_server, envoy_factory):
    """The TypeScript server accepts 2025-03-26 batches. With two requests of one id, its
    error for the second (-32601) would read as the call's failure and give its quota
    back, so `create_issue` (2 an hour) could run without end: such batches are refused."""
    envoy = envoy_factory(POLICY, upstream=ts_server.port)
    session = client.raw_initialize(envoy.url, {"x-agent-id": "batcher"}, protocol_version="2025-03-26")
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "create_issue", "arguments": {"repo": "corp/x", "title": "t"}}}
    for other_id in (7, 7.0):
        r = client.post(envoy.url, [call, {"jsonrpc": "2.0", "id": other_id, "method": "no/such/method"}],
                        session)
        (msg,) = client.parse_messages(r)
        assert msg["error"]["code"] == -32600, msg
    assert ts_server.tool_calls() == []
    # Distinct ids are judged as usual, and the limit holds across batches.
    ran = 0
    for i in range(4):
        r = client.post(envoy.url, [dict(call, id=10 + i),
                                    {"jsonrpc": "2.0", "id": 20 + i, "method": "no/such/method"}], session)
        ran += sum(1 for m in client.parse_messages(r)
                   if m.get("id") == 10 + i and "result" in m and not m["result"].get("isError"))
    assert ran == 2
    assert len(ts_server.tool_calls()) == 2
