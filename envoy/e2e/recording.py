"""Record every HTTP request that reaches the test MCP server, and read the records back.

RecordingMiddleware is pure ASGI: it reads the whole request body, appends one JSON line
to the record file (before the app handles the request, so by the time a client has its
answer the line is on disk), then replays the body to the wrapped app.

A record line: {"seq", "ts", "method", "path", "query", "headers": [[name, value], ...],
"body": text (UTF-8, invalid bytes replaced), "body_len", "body_b64" (only when the body
is not valid UTF-8)}.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable


class RecordingMiddleware:
    """ASGI middleware appending each HTTP request to `record_path` as a JSON line."""

    def __init__(self, app, record_path: str | os.PathLike):
        self.app = app
        self.record_path = Path(record_path)
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        self.seq = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        disconnect = None
        while True:
            msg = await receive()
            if msg["type"] == "http.request":
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body", False):
                    break
            else:  # http.disconnect before the body was complete
                disconnect = msg
                break
        body = b"".join(chunks)
        self._write(scope, body)

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if disconnect is not None:
                return disconnect
            return await receive()

        await self.app(scope, replay, send)

    def _write(self, scope, body: bytes) -> None:
        self.seq += 1
        try:
            text = body.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text = body.decode("utf-8", errors="replace")
            b64 = base64.b64encode(body).decode()
        rec: dict[str, Any] = {
            "seq": self.seq,
            "ts": time.time(),
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body": text,
            "body_len": len(body),
        }
        if b64 is not None:
            rec["body_b64"] = b64
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        # One write() of the whole line in append mode: lines never interleave.
        with open(self.record_path, "a", encoding="utf-8") as f:
            f.write(line)


class Record(dict):
    """One recorded request (a dict) with a few helpers."""

    def header(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        name = name.lower()
        for k, v in self["headers"]:
            if k.lower() == name:
                return v
        return None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self["headers"] if k.lower() == name]

    @property
    def raw_body(self) -> bytes:
        if "body_b64" in self:
            return base64.b64decode(self["body_b64"])
        return self["body"].encode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        if not self["body"]:
            return None
        try:
            return json.loads(self["body"])
        except ValueError:
            return None

    def jsonrpc_messages(self) -> list[dict]:
        """The JSON-RPC objects in the body (a batch gives several), [] when none."""
        doc = self.json()
        items = doc if isinstance(doc, list) else [doc]
        return [m for m in items if isinstance(m, dict) and "jsonrpc" in m]

    def jsonrpc_methods(self) -> list[str]:
        return [m["method"] for m in self.jsonrpc_messages() if isinstance(m.get("method"), str)]


def read_records(path: str | os.PathLike) -> list[Record]:
    """All records written so far ([] when the file does not exist yet)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            out.append(Record(json.loads(line)))
    return out


def tool_calls(records: Iterable[Record]) -> list[tuple[str, dict]]:
    """(tool name, arguments) of every tools/call that reached the upstream, in order."""
    calls = []
    for r in records:
        for m in r.jsonrpc_messages():
            if m.get("method") == "tools/call":
                params = m.get("params") or {}
                calls.append((params.get("name"), params.get("arguments") or {}))
    return calls
