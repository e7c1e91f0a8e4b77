"""A real MCP server (official Python SDK, MCPServer) for the e2e tests.

    python -m e2e.mcp_server --port P --record FILE [--json-response] [--stateless]
                             [--extra-tools N] [--port-file F]

Streamable HTTP at 127.0.0.1:P/mcp (P may be 0: the bound port is written to
--port-file). Every HTTP request that reaches the server is appended to --record as a
JSON line (see recording.py). DNS-rebinding protection is off: Envoy forwards whatever
Host the test sent, and the tests want to see exactly that.

Tools: get_file_contents(path), create_issue(repo, title, body=""),
delete_repository(repo), create_charge(amount: int, currency), echo(text),
fail_tool() (raises: a tool error, isError true), jsonrpc_error_tool() (a JSON-RPC
error), sleep_ms(ms: int), and extra_0..extra_{N-1}(value="") for large tools/list.

Other routes on the same server:
  GET  /healthz       200 "ok"
  POST /oauth/token   form body in, JSON token out
  POST /echo          echoes the body with its content type
  ANY  /mcp-500       like /mcp, except a body holding a JSON-RPC tools/call gets HTTP 500
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
from pathlib import Path

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .recording import RecordingMiddleware

INTERNAL_ERROR = -32603


def build_server(extra_tools: int = 0) -> MCPServer:
    mcp = MCPServer("mcp-policy-e2e", version="1.0.0", log_level="WARNING")

    @mcp.tool(description="Read a file from a repository.")
    def get_file_contents(path: str) -> str:
        return f"contents of {path}"

    @mcp.tool(description="Open an issue in a repository.")
    def create_issue(repo: str, title: str, body: str = "") -> str:
        return f"created issue in {repo}: {title} ({len(body)} bytes of body)"

    @mcp.tool(description="Delete a repository. Irreversible.")
    def delete_repository(repo: str) -> str:
        return f"deleted {repo}"

    @mcp.tool(description="Charge a customer.")
    def create_charge(amount: int, currency: str) -> str:
        return f"charged {amount} {currency}"

    @mcp.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return text

    @mcp.tool(description="Always fails (a tool error).")
    def fail_tool() -> str:
        # ToolError: the SDK passes its message to the caller (isError: true).
        raise ToolError("fail_tool failed on purpose")

    @mcp.tool(description="Always answers with a JSON-RPC error.")
    def jsonrpc_error_tool() -> str:
        raise MCPError(INTERNAL_ERROR, "jsonrpc_error_tool failed on purpose")

    @mcp.tool(description="Sleep for ms milliseconds, then answer.")
    async def sleep_ms(ms: int) -> str:
        await anyio.sleep(ms / 1000.0)
        return f"slept {ms} ms"

    for i in range(extra_tools):
        mcp.add_tool(_extra_tool(i), name=f"extra_{i}",
                     description=f"Extra tool number {i}, present to make tools/list large. " + "x" * 64)

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    @mcp.custom_route("/oauth/token", methods=["POST"])
    async def oauth_token(request: Request) -> Response:
        form = await request.form()
        return JSONResponse({
            "access_token": "e2e-" + secrets.token_hex(8),
            "token_type": "Bearer",
            "expires_in": 3600,
            "grant_type": form.get("grant_type"),
            "client_id": form.get("client_id"),
        })

    @mcp.custom_route("/echo", methods=["POST"])
    async def echo_body(request: Request) -> Response:
        body = await request.body()
        return Response(body, media_type=request.headers.get("content-type", "application/octet-stream"))

    return mcp


def _extra_tool(i: int):
    def extra(value: str = "") -> str:
        return f"extra_{i}: {value}"

    extra.__name__ = f"extra_{i}"
    return extra


def _has_tools_call(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    items = doc if isinstance(doc, list) else [doc]
    return any(isinstance(m, dict) and m.get("method") == "tools/call" for m in items)


class Fail500Route:
    """ASGI wrapper: /mcp-500 behaves as /mcp, but a tools/call there gets HTTP 500."""

    def __init__(self, app, prefix: str = "/mcp-500", target: str = "/mcp"):
        self.app = app
        self.prefix = prefix
        self.target = target

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != self.prefix:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        if scope["method"] == "POST" and _has_tools_call(body):
            payload = json.dumps({"error": "upstream failure (e2e /mcp-500)"}).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        inner = dict(scope, path=self.target, raw_path=self.target.encode())
        await self.app(inner, replay, send)


def build_app(record: str | os.PathLike | None, json_response: bool = False, stateless: bool = False,
              extra_tools: int = 0):
    mcp = build_server(extra_tools)
    app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=json_response,
        stateless_http=stateless,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host="127.0.0.1",
    )
    app = Fail500Route(app)
    if record:
        app = RecordingMiddleware(app, record)
    return app


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--record", help="append every HTTP request here as a JSON line")
    ap.add_argument("--json-response", action="store_true", help="answer POSTs with JSON, not SSE")
    ap.add_argument("--stateless", action="store_true", help="no sessions (no Mcp-Session-Id)")
    ap.add_argument("--extra-tools", type=int, default=0, metavar="N")
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args(argv)

    app = build_app(args.record, args.json_response, args.stateless, args.extra_tools)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(256)
    port = sock.getsockname()[1]
    if args.port_file:
        tmp = Path(args.port_file + ".tmp")
        tmp.write_text(str(port))
        tmp.rename(args.port_file)

    config = uvicorn.Config(app, log_level=args.log_level, lifespan="on",
                            timeout_graceful_shutdown=1, access_log=True)
    server = uvicorn.Server(config)
    print(f"mcp_server listening on 127.0.0.1:{port} json_response={args.json_response} "
          f"stateless={args.stateless} extra_tools={args.extra_tools}", flush=True)
    anyio.run(lambda: server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
