"""Client helpers: the official MCP SDK client over Streamable HTTP, and raw HTTP.

SDK (mcp 2.x): `connect()` opens `mcp.Client` on a `mcp.client.streamable_http`
transport whose httpx2 client carries the extra headers (e.g. x-agent-id). `client.session`
is the SDK's `ClientSession`. mode "legacy" runs the initialize handshake (protocol
revisions up to 2025-11-25, with Mcp-Session-Id when the server is stateful); "auto"
lets the SDK probe `server/discover` and speak 2026-07-28 when the server does. The
client-side response cache is off, so every call really goes over the wire.

Sync wrappers (list_tools, call_tool, in_session) run one session each with anyio.run,
so plain (non-async) pytest tests can use them. They return the SDK result objects
(ListToolsResult, CallToolResult); a JSON-RPC error answer raises mcp.MCPError (unwrapped
from the SDK's exception groups), a transport failure the httpx2 error.

Raw HTTP (httpx, trust_env off): post() sends arbitrary bytes/headers; jsonrpc() builds
a message; parse_messages() reads JSON-RPC messages from a JSON or SSE answer;
raw_initialize() opens a session by hand and returns its headers.
"""

from __future__ import annotations

import json
import re
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

T = TypeVar("T")

ACCEPT_BOTH = "application/json, text/event-stream"
DEFAULT_PROTOCOL_VERSION = "2025-06-18"


# -- official SDK client -----------------------------------------------------------------
@asynccontextmanager
async def connect(url: str, headers: dict[str, str] | None = None, *, mode: str = "legacy",
                  timeout: float = 15.0) -> AsyncIterator[Client]:
    """An initialized mcp.Client talking Streamable HTTP to `url`."""
    http = httpx2.AsyncClient(headers=headers or {}, trust_env=False,
                              timeout=httpx2.Timeout(timeout, read=timeout))
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, cache=None, read_timeout_seconds=timeout) as client:
            yield client


def in_session(url: str, fn: Callable[[Client], Awaitable[T]], headers: dict[str, str] | None = None,
               *, mode: str = "legacy", timeout: float = 15.0) -> T:
    """Run `await fn(client)` in one MCP session; return its result (sync)."""

    async def main() -> T:
        async with connect(url, headers, mode=mode, timeout=timeout) as client:
            return await fn(client)

    try:
        return anyio.run(main)
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap errors; a test wants the MCPError / ConnectError itself.
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from group
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out.extend(_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])
    return out


def list_tools(url: str, headers: dict[str, str] | None = None, *, mode: str = "legacy",
               timeout: float = 15.0):
    """tools/list through the SDK: a ListToolsResult (`.tools`, each with `.name`)."""
    return in_session(url, lambda c: c.list_tools(), headers, mode=mode, timeout=timeout)


def call_tool(url: str, name: str, arguments: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None, *, mode: str = "legacy", timeout: float = 15.0):
    """tools/call through the SDK: a CallToolResult (`.content`, `.is_error`, `.meta`)."""
    return in_session(url, lambda c: c.call_tool(name, arguments or {}), headers, mode=mode,
                      timeout=timeout)


def call_tools(url: str, calls: list[tuple[str, dict[str, Any]]], headers: dict[str, str] | None = None,
               *, mode: str = "legacy", timeout: float = 15.0) -> list[Any]:
    """Several tools/call in one session, in order. An MCPError is returned in place, not raised."""

    async def run(client: Client) -> list[Any]:
        out = []
        for name, args in calls:
            try:
                out.append(await client.call_tool(name, args))
            except Exception as e:  # noqa: BLE001 - the caller inspects it
                out.append(e)
        return out

    return in_session(url, run, headers, mode=mode, timeout=timeout)


def result_text(result) -> str:
    """All text content of a CallToolResult joined by newlines."""
    return "\n".join(getattr(c, "text", "") for c in result.content)


# -- raw HTTP ----------------------------------------------------------------------------
def jsonrpc(method: str, params: Any = None, id: int | str | None = 1) -> dict[str, Any]:
    """A JSON-RPC 2.0 request (id=None gives a notification)."""
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        msg["id"] = id
    if params is not None:
        msg["params"] = params
    return msg


def tool_call_message(name: str, arguments: dict[str, Any] | None = None, id: int | str = 1) -> dict:
    return jsonrpc("tools/call", {"name": name, "arguments": arguments or {}}, id)


def post(url: str, body: bytes | str | dict | list | None = None, headers: dict[str, str] | None = None,
         *, content_type: str | None = "application/json", accept: str | None = ACCEPT_BOTH,
         method: str = "POST", timeout: float = 10.0) -> httpx.Response:
    """Send exactly `body` (dict/list are JSON-encoded; bytes/str as is) with `headers`.

    content_type / accept set those headers unless `headers` already has them; pass None to
    send no such header.
    """
    if isinstance(body, (dict, list)):
        content = json.dumps(body).encode()
    elif isinstance(body, str):
        content = body.encode()
    else:
        content = body
    h: dict[str, str] = {}
    if content_type is not None:
        h["content-type"] = content_type
    if accept is not None:
        h["accept"] = accept
    for k, v in (headers or {}).items():
        h = {kk: vv for kk, vv in h.items() if kk.lower() != k.lower()}
        h[k] = v
    with httpx.Client(trust_env=False, timeout=timeout) as http:
        return http.request(method, url, content=content, headers=h)


def parse_messages(resp: httpx.Response) -> list[dict]:
    """JSON-RPC messages of an answer: a JSON body (object or batch) or an SSE stream."""
    ctype = resp.headers.get("content-type", "")
    text = resp.text
    if "text/event-stream" in ctype:
        out, data = [], []
        # SSE lines end at CR, LF or CRLF only (str.splitlines would also split at U+2028).
        for line in re.split(r"\r\n|\r|\n", text) + [""]:
            if line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
            elif line == "" and data:
                out.append(json.loads("\n".join(data)))
                data = []
        return out
    if not text.strip():
        return []
    doc = json.loads(text)
    return doc if isinstance(doc, list) else [doc]


def raw_initialize(url: str, headers: dict[str, str] | None = None,
                   protocol_version: str = DEFAULT_PROTOCOL_VERSION) -> dict[str, str]:
    """initialize + notifications/initialized by hand; the headers later requests need
    (Mcp-Session-Id when the server gave one, MCP-Protocol-Version, and `headers`)."""
    r = post(url, jsonrpc("initialize", {
        "protocolVersion": protocol_version, "capabilities": {},
        "clientInfo": {"name": "mcp-policy-e2e-raw", "version": "1"}}), headers)
    r.raise_for_status()
    out = dict(headers or {})
    out["mcp-protocol-version"] = protocol_version
    sid = r.headers.get("mcp-session-id")
    if sid:
        out["mcp-session-id"] = sid
    n = post(url, jsonrpc("notifications/initialized", id=None), out)
    if n.status_code >= 300:
        raise RuntimeError(f"notifications/initialized answered {n.status_code}: {n.text}")
    return out
