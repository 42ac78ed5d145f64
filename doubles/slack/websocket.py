"""The server end of RFC 6455 WebSocket connections, as Socket Mode needs them (text messages, pings, closing)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from enum import IntEnum
from typing import BinaryIO

_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class _Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_KNOWN_OPCODES = frozenset(_Opcode)


class CloseCode(IntEnum):
    """WebSocket close status codes (RFC 6455 section 7.4.1) the server uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    MESSAGE_TOO_BIG = 1009


@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes


class ProtocolError(Exception):
    """A client broke the WebSocket protocol; the connection is closed with `code`."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def websocket_accept(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` answer to a ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key.strip() + _WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame; server frames are never masked (RFC 6455 section 5.1)."""
    first = 0x80 | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def _unmask(data: bytes, key: bytes) -> bytes:
    """XOR `data` with the 4-byte masking key repeated (one big-int XOR, fast for large payloads)."""
    if not data:
        return data
    mask = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(data), "big")


def _close_payload(code: int, reason: str) -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]  # control payloads are at most 125 bytes


class WebSocket:
    """The server end of one WebSocket connection, on the socket of an upgraded HTTP request.

    `serve()` reads on the request thread until the connection ends, answering pings
    and the closing handshake itself; `send_text()` and `close()` may be called from
    any thread (writes are serialised by a lock).
    """

    def __init__(self, connection_id: str, sock: socket.socket, rfile: BinaryIO) -> None:
        self.connection_id = connection_id
        self._sock = sock
        self._rfile = rfile  # the HTTP reader: it may already buffer the first frames
        self._send_lock = threading.Lock()
        self._close_sent = False

    @property
    def closing(self) -> bool:
        """Whether the server sent a close frame (no message may follow it)."""
        return self._close_sent

    def send_text(self, text: str) -> None:
        """Send a text message; raises ConnectionError when closing or when the peer is gone."""
        self._write(_Opcode.TEXT, text.encode("utf-8"))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start (or answer) the closing handshake; a no-op once a close frame was sent.

        `serve()` returns when the client answers or drops the connection.
        """
        with contextlib.suppress(OSError):
            self._write(_Opcode.CLOSE, _close_payload(code, reason))

    def serve(self, on_text: Callable[[str], None], on_pong: Callable[[bytes], None]) -> None:
        """Deliver text messages and pongs until the connection is closed or dropped."""
        try:
            self._receive(on_text, on_pong)
        except ProtocolError as exc:
            self.close(exc.code, exc.reason)
        except (EOFError, OSError, ValueError):  # dropped, or shut down by `BackgroundServer.stop`
            pass

    def _receive(self, on_text: Callable[[str], None], on_pong: Callable[[bytes], None]) -> None:
        fragments: list[bytes] = []
        size = 0
        message_opcode: int | None = None  # the opcode of the message being reassembled
        while True:
            frame = self._read_frame()
            if frame.opcode == _Opcode.CLOSE:
                self._answer_close(frame.payload)
                return
            if frame.opcode == _Opcode.PING:
                self._pong(frame.payload)
                continue
            if frame.opcode == _Opcode.PONG:
                on_pong(frame.payload)
                continue
            if (frame.opcode == _Opcode.CONTINUATION) != (message_opcode is not None):
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unexpected continuation or missing fin")
            message_opcode = frame.opcode if message_opcode is None else message_opcode
            fragments.append(frame.payload)
            size += len(frame.payload)
            if size > _MAX_MESSAGE_BYTES:
                raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
            if frame.fin:
                if message_opcode == _Opcode.TEXT:  # binary messages mean nothing in Socket Mode
                    on_text(_decode_text(b"".join(fragments)))
                fragments, size, message_opcode = [], 0, None

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping (skipped once closing or when the peer is gone: liveness is moot then)."""
        with contextlib.suppress(OSError):
            self._write(_Opcode.PING, payload)

    def _pong(self, payload: bytes) -> None:
        """Answer a ping (skipped once closing: the client is going away anyway)."""
        with contextlib.suppress(OSError):
            self._write(_Opcode.PONG, payload)

    def _answer_close(self, payload: bytes) -> None:
        """Echo the client's close code, unless the server started the handshake."""
        if len(payload) == 1:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "truncated close code")
        code = struct.unpack("!H", payload[:2])[0] if payload else CloseCode.NORMAL
        self.close(code)

    def _read_frame(self) -> Frame:
        first, second = self._read_exact(2)
        opcode, length = first & 0x0F, second & 0x7F
        if first & 0x70 or opcode not in _KNOWN_OPCODES:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits or opcode")
        if not second & 0x80:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8))[0]
        if opcode >= _Opcode.CLOSE and (not first & 0x80 or length > 125):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented or oversized control frame")
        if length > _MAX_MESSAGE_BYTES:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        key = self._read_exact(4)
        return Frame(bool(first & 0x80), opcode, _unmask(self._read_exact(length), key))

    def _read_exact(self, count: int) -> bytes:
        data = self._rfile.read(count) if count else b""
        if len(data) < count:
            raise EOFError("connection closed mid-frame" if data else "connection closed")
        return data

    def _write(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            if self._close_sent:
                raise ConnectionError(f"WebSocket {self.connection_id} is closing")
            self._close_sent = opcode == _Opcode.CLOSE
            self._sock.sendall(_encode_frame(opcode, payload))


def _decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_DATA, "text message is not UTF-8") from None


def handshake_problem(headers: Message) -> tuple[int, str] | None:
    """Why an upgrade request cannot become a WebSocket (HTTP status, error), if it cannot."""
    if "upgrade" not in headers.get("Connection", "").lower() or not headers.get("Sec-WebSocket-Key"):
        return 400, "invalid_websocket_handshake"
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        return 426, "unsupported_websocket_version"
    return None
