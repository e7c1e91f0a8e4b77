"""Raw HTTP/1.1 and HTTP/2 (h2c, prior knowledge) over plain sockets, for the adversarial tests:
input no HTTP library will send (malformed headers, trailers, lying Content-Length, 1-byte
chunks with pauses, half-sent bodies).

HTTP/1.1:
  http1(port, request_bytes, ...) -> Http1Response (.status, .headers, .body, .closed, .raw)
  http1_request(method, path, headers, body, chunked=...) -> the request bytes
  chunked_body(parts, trailers=None) -> a chunked body (each part one chunk)
  Http1Conn(port): send pieces (with pauses), then .response()

HTTP/2 (only what a test client needs; no flow control beyond the defaults, HPACK without
Huffman on what it sends, and only `:status` decoded from what it receives):
  h2_request(port, headers, body_parts, trailers=None) -> H2Response (.status, .body, .reset,
  .goaway, .frames)
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Iterable

HOST = "127.0.0.1"


# -- HTTP/1.1 ------------------------------------------------------------------------------
@dataclass
class Http1Response:
    raw: bytes
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    closed: bool = False      # the server closed the connection
    timed_out: bool = False   # nothing more came before the read timeout

    def header(self, name: str) -> str | None:
        n = name.lower().encode()
        for k, v in self.headers:
            if k.lower() == n:
                return v.decode("latin-1")
        return None


def http1_request(method: str, path: str, headers: Iterable[tuple[str | bytes, str | bytes]],
                  body: bytes = b"", *, content_length: bool | int = True,
                  host: str = "mcp.test") -> bytes:
    """Request bytes. content_length: True = the body's length, an int = that (a lie), False = none
    (give a Transfer-Encoding header yourself)."""
    def b(x: str | bytes) -> bytes:
        return x if isinstance(x, bytes) else x.encode("latin-1")

    lines = [b"%s %s HTTP/1.1" % (b(method), b(path)), b"Host: " + b(host)]
    for k, v in headers:
        lines.append(b(k) + b": " + b(v))
    if content_length is True:
        lines.append(b"Content-Length: %d" % len(body))
    elif content_length is not False:
        lines.append(b"Content-Length: %d" % int(content_length))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked_body(parts: Iterable[bytes], trailers: list[tuple[str, str]] | None = None) -> bytes:
    out = bytearray()
    for p in parts:
        if p:
            out += b"%x\r\n" % len(p) + p + b"\r\n"
    out += b"0\r\n"
    for k, v in trailers or []:
        out += f"{k}: {v}\r\n".encode("latin-1")
    out += b"\r\n"
    return bytes(out)


def _parse_http1(raw: bytes) -> tuple[Http1Response, int | None]:
    """The first response in `raw`, and how many bytes it takes (None while incomplete)."""
    resp = Http1Response(raw=raw)
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return resp, None
    start = len(head) + 4
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    try:
        resp.status = int(parts[1])
    except (IndexError, ValueError):
        return resp, None
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        resp.headers.append((k.strip(), v.strip()))
    resp.raw = raw[:start]
    if 100 <= resp.status < 200 or resp.status in (204, 304):
        return resp, start
    cl = resp.header("content-length")
    te = (resp.header("transfer-encoding") or "").lower()
    if cl is not None:
        resp.body = rest[: int(cl)]
        resp.raw = raw[:start + len(resp.body)]
        return resp, (start + int(cl)) if len(rest) >= int(cl) else None
    if "chunked" in te:
        body, pos = bytearray(), 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                resp.body = bytes(body)
                return resp, None
            size = int(rest[pos:eol].split(b";")[0].strip() or b"0", 16)
            if size == 0:
                resp.body = bytes(body)
                end = rest.find(b"\r\n\r\n", eol)
                if end < 0:
                    return resp, None
                resp.raw = raw[:start + end + 4]
                return resp, start + end + 4
            begin = eol + 2
            if len(rest) < begin + size + 2:
                resp.body = bytes(body)
                return resp, None
            body += rest[begin:begin + size]
            pos = begin + size + 2
    resp.body = rest  # delimited by the connection's end
    return resp, None


class Http1Conn:
    """One raw HTTP/1.1 connection: send bytes as you like, then read one response."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""

    def send(self, data: bytes) -> bool:
        """False when the peer has closed the connection (the write failed)."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def send_slowly(self, data: bytes, pieces: int, pause: float) -> bool:
        step = max(1, -(-len(data) // pieces))
        for i in range(0, len(data), step):
            if not self.send(data[i:i + step]):
                return False
            time.sleep(pause)
        return True

    def response(self, timeout: float | None = None) -> Http1Response:
        """The next response on the connection (a 1xx counts as one). Bytes after it stay
        buffered for the next call."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        closed = timed_out = False
        while True:
            resp, used = _parse_http1(self.buf)
            if used is not None:
                self.buf = self.buf[used:]
                return resp
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                timed_out = True
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            self.buf += chunk
        resp, _ = _parse_http1(self.buf)
        self.buf = b""
        resp.closed, resp.timed_out = closed, timed_out
        return resp

    def half_close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Http1Conn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def http1(port: int, request: bytes, timeout: float = 10.0) -> Http1Response:
    """Send `request` on a fresh connection and read one response."""
    with Http1Conn(port, timeout) as c:
        c.send(request)
        return c.response()


# -- HTTP/2 (h2c prior knowledge) --------------------------------------------------------
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name: bytes, value: bytes) -> bytes:
    """Literal header field without indexing, new name, no Huffman."""
    return b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value


# HPACK static table :status entries, and the Huffman codes of the ten digits (RFC 7541 B).
_STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
_DIGIT_CODES = {"00000": "0", "00001": "1", "00010": "2", "011001": "3", "011010": "4",
                "011011": "5", "011100": "6", "011101": "7", "011110": "8", "011111": "9"}


def _huffman_digits(data: bytes) -> str | None:
    bits = "".join(f"{b:08b}" for b in data)
    out, cur = "", ""
    for bit in bits:
        cur += bit
        if cur in _DIGIT_CODES:
            out += _DIGIT_CODES[cur]
            cur = ""
        elif len(cur) > 6:
            return None
    return out if set(cur) <= {"1"} else None  # EOS padding is all ones


def decode_status(block: bytes) -> int | None:
    """`:status` from a response header block, if it is the first field (as Envoy sends it)."""
    if not block:
        return None
    b0 = block[0]
    if b0 & 0x80:
        return _STATIC_STATUS.get(b0 & 0x7F)
    if b0 in (0x48, 0x08, 0x18):  # literal, indexed name 8 (:status), three representations
        huff, n = block[1] & 0x80, block[1] & 0x7F
        raw = block[2:2 + n]
        text = _huffman_digits(raw) if huff else raw.decode("ascii", "replace")
        return int(text) if text and text.isdigit() else None
    return None


@dataclass
class H2Response:
    status: int | None = None
    body: bytes = b""
    reset: int | None = None      # RST_STREAM error code
    goaway: int | None = None     # GOAWAY error code
    ended: bool = False           # END_STREAM seen on our stream
    frames: list[tuple[int, int, int, int]] = field(default_factory=list)  # (type, flags, stream, len)


def h2_request(port: int, headers: list[tuple[str, str | bytes]], body_parts: Iterable[bytes] = (),
               trailers: list[tuple[str, str]] | None = None, *, timeout: float = 5.0,
               end_stream_on_headers: bool = False) -> H2Response:
    """One request on stream 1 over a fresh h2c connection. `headers` must include the
    pseudo-headers (:method, :scheme, :path, :authority) first. The body goes as one DATA frame
    per part; END_STREAM is on the last DATA frame, or on the trailers when given."""
    def enc(v: str | bytes) -> bytes:
        return v if isinstance(v, bytes) else v.encode("latin-1")

    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    parts = [p for p in body_parts]
    out = bytearray(PREFACE + frame(SETTINGS, 0, 0))
    block = b"".join(hpack_literal(enc(k), enc(v)) for k, v in headers)
    no_body = end_stream_on_headers or (not parts and not trailers)
    out += frame(HEADERS, END_HEADERS | (END_STREAM if no_body else 0), 1, block)
    for i, p in enumerate(parts):
        last = i == len(parts) - 1 and not trailers
        out += frame(DATA, END_STREAM if last else 0, 1, p)
    if trailers:
        tblock = b"".join(hpack_literal(enc(k), enc(v)) for k, v in trailers)
        out += frame(HEADERS, END_HEADERS | END_STREAM, 1, tblock)
    resp = H2Response()
    try:
        sock.sendall(bytes(out))
        buf = b""
        deadline = time.monotonic() + timeout
        while not (resp.ended or resp.reset is not None or resp.goaway is not None):
            while len(buf) >= 9:
                length = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + length:
                    break
                ftype, flags = buf[3], buf[4]
                stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                payload = buf[9:9 + length]
                buf = buf[9 + length:]
                resp.frames.append((ftype, flags, stream, length))
                if ftype == SETTINGS and not flags & ACK:
                    sock.sendall(frame(SETTINGS, ACK, 0))
                elif ftype == PING and not flags & ACK:
                    sock.sendall(frame(PING, ACK, 0, payload))
                elif ftype == HEADERS and stream == 1:
                    if resp.status is None:
                        resp.status = decode_status(_header_block(payload, flags))
                    if flags & END_STREAM:
                        resp.ended = True
                elif ftype == DATA and stream == 1:
                    pad = payload[0] if flags & 0x8 else 0
                    data = payload[1:len(payload) - pad] if flags & 0x8 else payload
                    resp.body += data
                    if length:
                        sock.sendall(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", length))
                                     + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", length)))
                    if flags & END_STREAM:
                        resp.ended = True
                elif ftype == RST_STREAM and stream == 1:
                    resp.reset = int.from_bytes(payload[:4], "big")
                elif ftype == GOAWAY:
                    resp.goaway = int.from_bytes(payload[4:8], "big")
            if resp.ended or resp.reset is not None or resp.goaway is not None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            buf += chunk
    finally:
        sock.close()
    return resp


def _header_block(payload: bytes, flags: int) -> bytes:
    pos, end = 0, len(payload)
    if flags & 0x8:  # PADDED
        end -= payload[0]
        pos = 1
    if flags & 0x20:  # PRIORITY
        pos += 5
    return payload[pos:end]
