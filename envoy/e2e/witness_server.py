"""A witness: a real MCP server (official Python SDK, MCPServer) whose tools write down
exactly what they received, for the reader-differential tests (SPEC §4.1).

    python -m e2e.witness_server --port-file F --record R [--json-response]

Streamable HTTP at 127.0.0.1:<port>/mcp, stateful sessions. SSE mode keeps every event
in an in-memory event store, so a client can resume a stream with Last-Event-ID (the
SDK then replays the stored events, answers included). Each tool call appends one JSON
line to R: {"server": "python", "tool": name, "args": {...as the tool got them...}};
integers stay exact, a dict argument is the dict the SDK built (after it decoded any
JSON text it was sent).

Tools:
  echo(text: str), delete_repository(repo: str), lookup(account: int),
  configure(config: dict)   a parameter not typed str: the SDK decodes JSON text for it
  spend(cost: dict)         the same, for increment_from
  transfer(account: int, to: str)
                            records, then raises an MCP error (-32602) when to == "nobody":
                            a server error a client provokes after the tool acted
  slow(ms: int)             records, then sleeps
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

INVALID_PARAMS = -32602


class MemoryEventStore(EventStore):
    """Every event of every stream, in order, in memory."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []  # (event id, stream id, message)
        self._ids = itertools.count(1)

    async def store_event(self, stream_id, message):
        event_id = f"ev-{next(self._ids)}"
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback: EventCallback):
        at = next((i for i, (eid, _, _) in enumerate(self.events) if eid == last_event_id), None)
        if at is None:
            return None
        stream_id = self.events[at][1]
        for event_id, sid, message in self.events[at + 1:]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def build(record: Path) -> MCPServer:
    mcp = MCPServer("mcp-policy-witness", version="1.0.0", log_level="WARNING")

    def saw(tool: str, **args: Any) -> None:
        with open(record, "a") as f:
            f.write(json.dumps({"server": "python", "tool": tool, "args": args}) + "\n")

    @mcp.tool()
    def echo(text: str) -> str:
        saw("echo", text=text)
        return text

    @mcp.tool()
    def delete_repository(repo: str) -> str:
        saw("delete_repository", repo=repo)
        return f"deleted {repo}"

    @mcp.tool()
    def lookup(account: int) -> str:
        saw("lookup", account=account)
        return f"account {account}"

    @mcp.tool()
    def configure(config: dict) -> str:
        saw("configure", config=config)
        return "configured"

    @mcp.tool()
    def spend(cost: dict) -> str:
        saw("spend", cost=cost)
        return "spent"

    @mcp.tool()
    def transfer(account: int, to: str) -> str:
        saw("transfer", account=account, to=to)
        if to == "nobody":
            raise MCPError(INVALID_PARAMS, "transfer: unknown recipient (after the debit)")
        return f"moved {account} to {to}"

    @mcp.tool()
    async def slow(ms: int) -> str:
        saw("slow", ms=ms)
        await anyio.sleep(ms / 1000.0)
        return f"slept {ms} ms"

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return mcp


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--json-response", action="store_true")
    args = ap.parse_args(argv)

    mcp = build(Path(args.record))
    app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=args.json_response,
        event_store=None if args.json_response else MemoryEventStore(),
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host="127.0.0.1",
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    tmp = Path(args.port_file + ".tmp")
    tmp.write_text(str(sock.getsockname()[1]))
    tmp.rename(args.port_file)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=1))
    anyio.run(lambda: server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
