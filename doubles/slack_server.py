"""A stateful fake of Slack's Web API, good enough for `slack_sdk.WebClient`.

Point a client at it with ``WebClient(base_url=slack.api_url, token="xoxb-test")``.
The server keeps users, conversations, messages, threads, edits, streams, views and
ephemeral messages in memory, answers with Slack's response shapes and error strings,
and can inject rate limits and failures.

Differences from Slack worth knowing: every method accepts POST or GET; a
``thread_ts`` naming a reply is normalised to its parent; replying to a parent the
server never saw is accepted (the replies form a thread without a parent);
``chat.startStream`` outside a DM requires ``recipient_team_id`` and
``recipient_user_id`` (``invalid_arguments``).

Socket Mode: ``apps.connections.open`` (app-level ``xapp-`` token) hands out a
``ws://`` URL on this same server, where an RFC 6455 WebSocket speaks Slack's
Socket Mode protocol (``hello``, envelopes, acks, ``disconnect``), good enough for
slack_sdk's builtin ``SocketModeClient`` and slack_bolt's ``SocketModeHandler``.
Drive it with `SlackServer.socket_send` and friends; acks land in ``socket_acks``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
import json
import math
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.message import Message
from enum import IntEnum
from typing import Any, BinaryIO, Self
from urllib.parse import parse_qsl, urlsplit

from .http_server import HOST, BackgroundServer, Request, Response, _Handler, json_response

__all__ = ["Call", "SlackServer", "SlackError"]

Params = dict[str, Any]
Payload = dict[str, Any]

DEFAULT_USER = "UHUMAN"
STREAM_TEXT_LIMIT = 12_000
JSON_PARAMS = frozenset({"blocks", "attachments", "view", "metadata", "chunks", "prompts"})
_TS_BASE_MICROS = 1_700_000_000 * 1_000_000
_TS_STEP_MICROS = 100


@dataclass
class Call:
    """One Web API call as the server saw and answered it."""

    method: str
    params: Params
    status: int
    response: Payload
    at: float


class SlackError(Exception):
    """Raised by method implementations; becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class _Fault:
    """An injected outcome for the next `times` calls of a method."""

    kind: str  # "ratelimited" | "error" | "http"
    times: int
    value: Any  # Retry-After seconds | error string | HTTP status


Answer = tuple[int, Payload, dict[str, str]]  # HTTP status, JSON body, extra headers


class _FaultPlan:
    """Injected outcomes per method: queued faults first, then sliding-window limits."""

    def __init__(self) -> None:
        self.ratelimited_count = 0
        self._queued: dict[str, deque[_Fault]] = {}
        self._limits: dict[str, int] = {}
        self._windows: dict[str, deque[float]] = {}

    def add(self, method: str, fault: _Fault) -> None:
        self._queued.setdefault(method, deque()).append(fault)

    def set_limit(self, method: str, per_minute: int | None) -> None:
        self._windows.pop(method, None)
        if per_minute is None:
            self._limits.pop(method, None)
        else:
            self._limits[method] = per_minute

    def clear(self) -> None:
        self.ratelimited_count = 0
        self._queued.clear()
        self._limits.clear()
        self._windows.clear()

    def take(self, method: str) -> Answer | None:
        """The injected answer for this call of `method`, if any (consumes one fault)."""
        return self._take_queued(method) or self._take_window(method)

    def _take_queued(self, method: str) -> Answer | None:
        queue = self._queued.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        if fault.kind == "ratelimited":
            return self._ratelimited(int(fault.value))
        if fault.kind == "error":
            return 200, {"ok": False, "error": fault.value}, {}
        return int(fault.value), {"ok": False, "error": "fatal_error"}, {}

    def _take_window(self, method: str) -> Answer | None:
        per_minute = self._limits.get(method)
        if per_minute is None:
            return None
        now = time.monotonic()
        window = self._windows.setdefault(method, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) < per_minute:
            window.append(now)
            return None
        wait = window[0] + 60 - now if window else 60
        return self._ratelimited(max(1, math.ceil(wait)))

    def _ratelimited(self, retry_after: int) -> Answer:
        self.ratelimited_count += 1
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}


@dataclass
class _Conversation:
    info: Payload
    members: list[str]
    messages: dict[str, Payload] = field(default_factory=dict)  # ts -> message, oldest first
    threads: dict[str, list[str]] = field(default_factory=dict)  # parent ts -> reply ts


@dataclass
class _Stream:
    state: str  # "streaming" | "stopped" | "expired"
    recipient_team_id: str | None = None
    recipient_user_id: str | None = None


# -- parameter helpers -----------------------------------------------------------------


def parse_params(request: Request) -> Params:
    """Merge query string and body (JSON or form) params; decode JSON-valued fields."""
    params: Params = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = request.json() if request.body else {}
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        params.update(body)
    elif request.body:
        params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    for name in JSON_PARAMS & params.keys():
        value = params[name]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


def _str(params: Params, name: str, error: str = "invalid_arguments") -> str:
    """A required non-empty string parameter."""
    value = params.get(name)
    if value is None or value == "":
        raise SlackError(error)
    return str(value)


def _int(params: Params, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError("invalid_arguments") from None


def _bool(params: Params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


def _ts_value(ts: Any, default: Decimal, error: str) -> Decimal:
    if ts in (None, ""):
        return default
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        raise SlackError(error) from None


def _encode_cursor(key: str) -> str:
    return base64.b64encode(f"next:{key}".encode()).decode()


def _decode_cursor(cursor: Any) -> str | None:
    if not cursor:
        return None
    try:
        prefix, _, key = base64.b64decode(str(cursor), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if prefix != "next" or not key:
        raise SlackError("invalid_cursor")
    return key


def _page(items: list[Any], start: int, limit: int) -> tuple[list[Any], bool]:
    page = items[start : start + max(limit, 1)]
    return page, start + len(page) < len(items)


def _ts_page(
    messages: list[Payload], params: Params, default_limit: int, newest_first: bool
) -> tuple[list[Payload], bool, str]:
    """Pagination keyed by ts: the cursor names the first message of the next page."""
    cursor = _decode_cursor(params.get("cursor"))
    start = 0
    if cursor:
        bound = _ts_value(cursor, Decimal(0), "invalid_cursor")
        reached = (lambda ts: ts <= bound) if newest_first else (lambda ts: ts >= bound)
        start = next((i for i, m in enumerate(messages) if reached(Decimal(m["ts"]))), len(messages))
    page, has_more = _page(messages, start, _int(params, "limit", default_limit) or default_limit)
    return page, has_more, _encode_cursor(messages[start + len(page)]["ts"]) if has_more else ""


def _offset_page(items: list[Any], params: Params, default_limit: int) -> tuple[list[Any], Payload]:
    """Offset-cursor pagination for lists (users, channels, members)."""
    cursor = _decode_cursor(params.get("cursor"))
    start = int(cursor) if cursor and cursor.isdigit() else 0
    page, has_more = _page(items, start, _int(params, "limit", default_limit) or default_limit)
    next_cursor = _encode_cursor(str(start + len(page))) if has_more else ""
    return page, {"next_cursor": next_cursor}


# -- WebSocket (RFC 6455) for Socket Mode ------------------------------------------------

SOCKET_MODE_PATH = "/socket-mode/"
APP_LEVEL_METHODS = frozenset({"apps.connections.open"})  # authorised by an app-level token
CLIENT_CREDENTIAL_METHODS = frozenset({"oauth.v2.access"})  # authorised by the OAuth code
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
class _Frame:
    fin: bool
    opcode: int
    payload: bytes


class _ProtocolError(Exception):
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


class _WebSocket:
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
        except _ProtocolError as exc:
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
                raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "unexpected continuation or missing fin")
            message_opcode = frame.opcode if message_opcode is None else message_opcode
            fragments.append(frame.payload)
            size += len(frame.payload)
            if size > _MAX_MESSAGE_BYTES:
                raise _ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
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
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "truncated close code")
        code = struct.unpack("!H", payload[:2])[0] if payload else CloseCode.NORMAL
        self.close(code)

    def _read_frame(self) -> _Frame:
        first, second = self._read_exact(2)
        opcode, length = first & 0x0F, second & 0x7F
        if first & 0x70 or opcode not in _KNOWN_OPCODES:
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits or opcode")
        if not second & 0x80:
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8))[0]
        if opcode >= _Opcode.CLOSE and (not first & 0x80 or length > 125):
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented or oversized control frame")
        if length > _MAX_MESSAGE_BYTES:
            raise _ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        key = self._read_exact(4)
        return _Frame(bool(first & 0x80), opcode, _unmask(self._read_exact(length), key))

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
        raise _ProtocolError(CloseCode.INVALID_DATA, "text message is not UTF-8") from None


def _handshake_problem(headers: Message) -> tuple[int, str] | None:
    """Why an upgrade request cannot become a WebSocket (HTTP status, error), if it cannot."""
    if "upgrade" not in headers.get("Connection", "").lower() or not headers.get("Sec-WebSocket-Key"):
        return 400, "invalid_websocket_handshake"
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        return 426, "unsupported_websocket_version"
    return None


class _UpgradeHandler(_Handler):
    """`_Handler` that hands WebSocket upgrades to the `SlackServer`.

    The base server answers every request with one `Response`; a WebSocket needs the
    connection itself for as long as it lives, so upgrade requests skip that path and
    keep the request thread (``ThreadingHTTPServer`` has one per connection).
    """

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        app = self.server.app
        if self.headers.get("Upgrade", "").lower() != "websocket" or not isinstance(app, SlackServer):
            super().do_GET()
            return
        self.close_connection = True  # never back to HTTP on this connection
        app._serve_websocket(self)

    def refuse_upgrade(self, status: int, error: str) -> None:
        """Answer the upgrade request with a plain HTTP error."""
        headers = {"Sec-WebSocket-Version": "13"} if status == 426 else {}
        self._send(json_response({"ok": False, "error": error}, status, headers))

    def accept_upgrade(self, connection_id: str) -> _WebSocket:
        """Send ``101 Switching Protocols``; the connection then speaks WebSocket."""
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket_accept(self.headers["Sec-WebSocket-Key"]))
        self.end_headers()
        return _WebSocket(connection_id, self.connection, self.rfile)


class SlackServer(BackgroundServer):
    """A stateful fake Slack Web API served at ``api_url``.

    All state is guarded by the server lock; inspection methods return copies.
    """

    def __init__(
        self,
        port: int = 0,
        team_id: str = "T111",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        token: str | None = None,
        max_text_length: int = 4000,
        app_token: str | None = None,
        socket_ping_interval: float | None = None,
    ) -> None:
        """`token`/`app_token`: the only bot/app-level token accepted (None: any; app-level methods want ``xapp-``).

        `socket_ping_interval`: ping every Socket Mode connection this often, as Slack does
        (None: only answer the client's pings).  Besides testing pongs, this wakes clients
        blocked reading: slack_sdk's builtin client cannot close a connection while it
        waits (up to 3 s) for data.
        """
        super().__init__(port)
        # WebSocket upgrades need the raw connection, which the base handler never exposes.
        self._httpd.RequestHandlerClass = _UpgradeHandler
        self.team_id = team_id
        self.team_name = "Playground"
        self.team_domain = "playground"
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = "A111"
        self.token = token
        self.app_token = app_token
        self.socket_ping_interval = socket_ping_interval
        self.max_text_length = max_text_length
        self.users: dict[str, Payload] = {}
        self.channels: dict[str, _Conversation] = {}
        self.ephemerals: list[Payload] = []
        self.views: dict[str, Payload] = {}
        self.responses: list[Payload] = []
        self._ts_counter = 0
        self._ts_base_micros = _TS_BASE_MICROS  # see set_clock()
        self._edits: dict[tuple[str, str], list[str]] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._faults = _FaultPlan()
        self._socket_tickets: set[str] = set()  # connection ids handed out, not yet connected
        self._oauth_codes: dict[str, Payload] = {}  # OAuth codes granted, not yet exchanged
        self.installed_tokens: dict[str, str] = {}  # bot tokens issued by oauth.v2.access → their team
        self._sockets: dict[str, _WebSocket] = {}  # connected, in connection order
        self._socket_acks: list[Payload] = []
        self._socket_pongs = 0
        self._pinger: threading.Thread | None = None
        self._methods: dict[str, Callable[[Params], Payload]] = {
            "api.test": lambda params: {"args": params},
            "apps.connections.open": self._apps_connections_open,
            "oauth.v2.access": self._oauth_v2_access,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.members": self._conversations_members,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "views.publish": self._views_publish,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "assistant.threads.setStatus": self._assistant_thread_call,
            "assistant.threads.setTitle": self._assistant_thread_call,
            "assistant.threads.setSuggestedPrompts": self._assistant_thread_call,
        }
        self.add_user(bot_user_id, "bot", real_name="Playground Bot", is_bot=True)
        self.add_user(DEFAULT_USER, "human", real_name="Human User")

    # -- addresses ---------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The ``base_url`` for slack_sdk clients (with trailing slash)."""
        return f"{self.root_url}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A response URL; JSON POSTed there is appended to `responses` with "name"."""
        return f"{self.root_url}/response/{name}"

    # -- seeding -----------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        is_bot: bool = False,
        *,
        display_name: str | None = None,
    ) -> Payload:
        """Create or replace a user; returns its users.info object.

        ``profile.display_name`` defaults to `name`; pass ``display_name=""`` for a user
        who never set one (common in real workspaces).
        """
        real = real_name or name
        shown = name if display_name is None else display_name
        user: Payload = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real,
            "deleted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "tz": "UTC",
            "tz_offset": 0,
            "profile": {"real_name": real, "display_name": shown, "team": self.team_id},
        }
        if is_bot and user_id == self.bot_user_id:
            user["profile"]["bot_id"] = self.bot_id
        with self._lock:
            self.users[user_id] = user
            self.notify()
        return copy.deepcopy(user)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        is_member: bool = True,
        is_im: bool = False,
        *,
        is_private: bool = False,
        user: str | None = None,
        members: list[str] | None = None,
    ) -> Payload:
        """Create or replace a conversation; `user` is the other party of an IM."""
        info: Payload = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_im and not is_private,
            "is_group": False,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private or is_im,
            "is_archived": False,
            "is_general": False,
            "is_member": is_member,
            "created": 1_700_000_000,
            "context_team_id": self.team_id,
        }
        if is_im:
            info["user"] = user or DEFAULT_USER
            del info["name"]
        roster = list(members or ([info["user"]] if is_im else []))
        if is_member and self.bot_user_id not in roster:
            roster.insert(0, self.bot_user_id)
        with self._lock:
            self.channels[channel_id] = _Conversation(info, roster)
            self.notify()
        return copy.deepcopy(info)

    def post(
        self,
        channel: str,
        text: str,
        user: str | None = None,
        thread_ts: str | None = None,
        bot_id: str | None = None,
        subtype: str | None = None,
    ) -> str:
        """Add a message as if a person (default ``UHUMAN``) or a bot posted it; returns its ts."""
        with self._lock:
            conversation = self._known_conversation(channel)
            message: Payload = {"type": "message", "text": text, "team": self.team_id}
            if user or not bot_id:
                message["user"] = user or DEFAULT_USER
            if bot_id:
                message["bot_id"] = bot_id
            if subtype:
                message["subtype"] = subtype
            return self._store(conversation, message, thread_ts)

    def set_clock(self, epoch_seconds: float | None) -> None:
        """Stamp messages created from now on upward from `epoch_seconds` (None: the fixed 2023 base).

        Lets tests seed history inside a real time window ("the last 24 hours"). Stamps keep rising as long
        as the clock only moves forward; `reset()` returns to the fixed base.
        """
        with self._lock:
            base = _TS_BASE_MICROS if epoch_seconds is None else int(epoch_seconds * 1_000_000)
            self._ts_base_micros = base - self._ts_counter * _TS_STEP_MICROS

    def expire_stream(self, channel: str, ts: str) -> None:
        """Make a stream expire: later appendStream/stopStream answer message_not_in_streaming_state."""
        with self._lock:
            self._streams[(channel, ts)].state = "expired"
            self.notify()

    def reset(self) -> None:
        """Forget messages, calls, faults, views, ephemerals, responses, Socket Mode acks and pongs.

        Users, channels and open Socket Mode connections are kept.
        """
        with self._lock:
            self._socket_acks.clear()
            self._socket_pongs = 0
            for conversation in self.channels.values():
                conversation.messages.clear()
                conversation.threads.clear()
            self.ephemerals.clear()
            self.views.clear()
            self.responses.clear()
            self._edits.clear()
            self._ts_base_micros = _TS_BASE_MICROS
            self._streams.clear()
            self._faults.clear()
            self._log.clear()

    # -- fault injection ---------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and ``Retry-After``."""
        self._add_fault(method, _Fault("ratelimited", times, retry_after))

    def set_rate_limit(self, method: str, per_minute: int | None) -> None:
        """Allow at most `per_minute` calls of `method` per sliding minute (None removes it)."""
        with self._lock:
            self._faults.set_limit(method, per_minute)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with ``{"ok": false, "error": error}``."""
        self._add_fault(method, _Fault("error", times, error))

    def fail_http(self, method: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with an HTTP error status."""
        self._add_fault(method, _Fault("http", times, status))

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.add(method, fault)

    @property
    def ratelimited_count(self) -> int:
        """How many calls were answered 429 (injected or by a sliding-window limit)."""
        with self._lock:
            return self._faults.ratelimited_count

    # -- Socket Mode -------------------------------------------------------------------

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode connections are open (connected, and not told to close)."""
        with self._lock:
            return len(self._open_sockets())

    @property
    def socket_acks(self) -> list[Payload]:
        """Every ack clients sent back (``{"envelope_id": ..., "payload": ...}``), oldest first."""
        with self._lock:
            return copy.deepcopy(self._socket_acks)

    @property
    def socket_pongs(self) -> int:
        """How many pongs clients sent, e.g. answering `socket_ping_interval` pings.

        A pong shows the client's reader is running: slack_sdk's builtin client must not
        be closed before that (its `close()` can then hang forever).
        """
        with self._lock:
            return self._socket_pongs

    def socket_ack(self, envelope_id: str) -> Payload | None:
        """The first ack of an envelope, or None while it is not acked."""
        with self._lock:
            found = next((ack for ack in self._socket_acks if ack.get("envelope_id") == envelope_id), None)
            return copy.deepcopy(found)

    def socket_send(
        self,
        type: str,  # noqa: A002 - Slack's field name
        payload: Payload,
        accepts_response_payload: bool = False,
    ) -> str:
        """Send an envelope (type ``events_api``, ``slash_commands``, ``interactive``) to the newest
        open connection; returns its envelope_id.  Raises ConnectionError when none is open.
        """
        return self._send_envelope(str(uuid.uuid4()), type, payload, accepts_response_payload)

    def socket_slash_command(
        self,
        command: str,
        text: str,
        user: str = "W111",
        channel: str = "C111",
        response_url: str | None = None,
    ) -> str:
        """Send a slash command as Slack does (its form fields as the payload); returns the envelope_id.

        `response_url` defaults to ``response_url(<envelope_id>)``, so what the app posts
        there shows up in `responses` under that name.
        """
        envelope_id = str(uuid.uuid4())
        with self._lock:
            payload = {
                "team_id": self.team_id,
                "team_domain": self.team_domain,
                "channel_id": channel,
                "channel_name": self._channel_name(channel),
                "user_id": user,
                "user_name": self.users.get(user, {}).get("name", user),
                "command": command,
                "text": text,
                "api_app_id": self.app_id,
                "is_enterprise_install": "false",
                "response_url": response_url or self.response_url(envelope_id),
                "trigger_id": f"{int(time.time())}.{uuid.uuid4().hex}",
            }
        return self._send_envelope(envelope_id, "slash_commands", payload, accepts_response_payload=True)

    def socket_event(self, event: Payload, event_id: str | None = None) -> str:
        """Send an Events API ``event_callback`` wrapping `event`; returns the envelope_id."""
        payload: Payload = {
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return self.socket_send("events_api", payload)

    def disconnect_sockets(self, reason: str = "refresh_requested") -> int:
        """Tell every open connection to go away, as Slack does before recycling a server.

        Sends ``{"type": "disconnect", "reason": reason}`` and then a close frame;
        slack_sdk calls apps.connections.open again and reconnects.  Returns how many
        connections were told.
        """
        with self._lock:
            sockets = self._open_sockets()
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "playground"}})
        for websocket in sockets:
            with contextlib.suppress(ConnectionError):
                websocket.send_text(message)
            websocket.close(CloseCode.NORMAL, reason)
        self.notify()
        return len(sockets)

    # -- inspection --------------------------------------------------------------------

    def messages(self, channel: str) -> list[Payload]:
        """Messages visible in the channel (top level and broadcasts), oldest first."""
        with self._lock:
            conversation = self._known_conversation(channel)
            return [self._render(conversation, m) for m in conversation.messages.values() if _in_history(m)]

    def message(self, channel: str, ts: str) -> Payload | None:
        """The message with this ts (top level or reply), or None."""
        with self._lock:
            conversation = self._known_conversation(channel)
            found = conversation.messages.get(ts)
            return self._render(conversation, found) if found else None

    def replies(self, channel: str, thread_ts: str) -> list[Payload]:
        """The thread: parent first (when it exists), then replies oldest first."""
        with self._lock:
            conversation = self._known_conversation(channel)
            return [self._render(conversation, m) for m in self._thread(conversation, thread_ts)]

    def edits(self, channel: str, ts: str) -> list[str]:
        """Every text the message had, in order: as posted, then after each update/append."""
        with self._lock:
            return list(self._edits.get((channel, ts), []))

    def stream_state(self, channel: str, ts: str) -> str | None:
        """``"streaming"``, ``"stopped"``, ``"expired"`` or None for non-stream messages."""
        with self._lock:
            stream = self._streams.get((channel, ts))
            return stream.state if stream else None

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one Web API method, oldest first."""
        return [call for call in self.calls if call.method == method]

    # -- HTTP --------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a daemon thread (and ping Socket Mode connections when asked to); returns self."""
        super().start()
        if self.socket_ping_interval and self._pinger is None and not self._closing.is_set():
            self._pinger = threading.Thread(
                target=self._ping_sockets,
                args=(self.socket_ping_interval,),
                name=f"{type(self).__name__}:{self.port}:ping",
                daemon=True,
            )
            self._pinger.start()
        return self

    def stop(self) -> None:
        """Close Socket Mode connections (``1001 going away``), then stop serving."""
        self._closing.set()  # refuse WebSocket upgrades and stop pinging from here on
        if self._pinger is not None:
            self._pinger.join()
            self._pinger = None
        with self._lock:
            sockets = list(self._sockets.values())
        for websocket in sockets:
            websocket.close(CloseCode.GOING_AWAY, "server stopping")
        super().stop()

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/api/"):
            return self._handle_api(request.path[len("/api/") :], request)
        if request.path.startswith("/response/") and request.method == "POST":
            return self._handle_response_url(request.path[len("/response/") :], request)
        if request.path in ("/", "/health"):
            return json_response({"ok": True})
        return json_response({"ok": False, "error": "not_found"}, status=404)

    def error_response(self, exc: Exception) -> Response:
        return json_response({"ok": False, "error": "internal_error", "detail": repr(exc)}, status=500)

    def _handle_response_url(self, name: str, request: Request) -> Response:
        payload = request.json() if request.content_type == "application/json" else parse_params(request)
        if isinstance(payload.get("payload"), str):  # form-encoded ``payload=<json>``
            payload = json.loads(payload["payload"])
        with self._lock:
            self.responses.append({**payload, "name": name})
            self.notify()
        return Response(200, b"ok", "text/plain; charset=utf-8")

    def _handle_api(self, method: str, request: Request) -> Response:
        params: Params = {}
        headers: dict[str, str] = {}
        with self._lock:
            try:
                params = parse_params(request)
                token = params.pop("token", None) or request.bearer_token
                if method in APP_LEVEL_METHODS:
                    token = params.pop("app_token", None) or token
                status, payload, headers = self._answer(method, params, token)
            except SlackError as exc:
                status, payload = 200, {"ok": False, "error": exc.error}
            except Exception as exc:  # recorded like any other answer
                status, payload = 500, {"ok": False, "error": "internal_error", "detail": repr(exc)}
            self._log.record(Call(method, params, status, payload, time.monotonic()))
        return json_response(payload, status, headers)

    def _answer(self, method: str, params: Params, token: str | None) -> Answer:
        if not self._authorised(method, token):
            return 200, {"ok": False, "error": "not_authed" if not token else "invalid_auth"}, {}
        injected = self._faults.take(method)
        if injected:
            return injected
        implementation = self._methods.get(method)
        if implementation is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, {"ok": True, **implementation(params)}, {}

    def _authorised(self, method: str, token: str | None) -> bool:
        """App-level methods take the app token (any ``xapp-`` one by default), the rest the bot token."""
        if method in APP_LEVEL_METHODS:
            if self.app_token is None:
                return bool(token and token.startswith("xapp-"))
            return token == self.app_token
        if method in CLIENT_CREDENTIAL_METHODS:
            return True  # authorised by the OAuth code itself (and the app's client id and secret)
        return self.token is None or token == self.token or token in self.installed_tokens

    # -- OAuth (multi-workspace installs) ---------------------------------------------------

    def oauth_grant(self, code: str, team_id: str, team_name: str = "Another team", user_id: str = "W999") -> None:
        """Prepare what Slack does when a user approves the install: `code` can be exchanged once."""
        with self._lock:
            self._oauth_codes[code] = {"team_id": team_id, "team_name": team_name, "user_id": user_id}

    def _oauth_v2_access(self, params: Params) -> Payload:
        grant = self._oauth_codes.pop(str(params.get("code", "")), None)
        if grant is None:
            raise SlackError("invalid_code")
        token = f"xoxb-{grant['team_id']}-{uuid.uuid4().hex[:12]}"
        self.installed_tokens[token] = grant["team_id"]
        return {
            "access_token": token, "token_type": "bot", "scope": "chat:write,commands,app_mentions:read",
            "bot_user_id": self.bot_user_id, "app_id": self.app_id,
            "team": {"id": grant["team_id"], "name": grant["team_name"]}, "enterprise": None,
            "is_enterprise_install": False, "authed_user": {"id": grant["user_id"]},
        }

    # -- Socket Mode internals ---------------------------------------------------------

    def _apps_connections_open(self, params: Params) -> Payload:
        connection_id = uuid.uuid4().hex
        self._socket_tickets.add(connection_id)
        return {"url": f"ws://{HOST}:{self.port}{SOCKET_MODE_PATH}{connection_id}"}

    def _serve_websocket(self, handler: _UpgradeHandler) -> None:
        """Run one Socket Mode connection on its request thread until it ends."""
        connection_id = urlsplit(handler.path).path.removeprefix(SOCKET_MODE_PATH)
        problem = _handshake_problem(handler.headers) or self._claim_ticket(connection_id)
        if problem:
            handler.refuse_upgrade(*problem)
            return
        websocket = handler.accept_upgrade(connection_id)
        try:
            websocket.send_text(json.dumps(self._hello()))  # before it is listed: hello always comes first
        except OSError:
            return
        with self._lock:
            self._sockets[connection_id] = websocket
            self.notify()
        try:
            websocket.serve(self._on_socket_message, self._on_socket_pong)
        finally:
            with self._lock:
                del self._sockets[connection_id]
                self.notify()

    def _ping_sockets(self, interval: float) -> None:
        """Ping every open connection each `interval` seconds until the server stops."""
        while not self._closing.wait(interval):
            with self._lock:
                sockets = self._open_sockets()
            for websocket in sockets:
                websocket.ping(f"{time.time():.6f}".encode())

    def _claim_ticket(self, connection_id: str) -> tuple[int, str] | None:
        """Use up a URL from apps.connections.open (each connects once), or say why not."""
        with self._lock:
            if self._closing.is_set():
                return 503, "server_stopping"
            if connection_id not in self._socket_tickets:
                return 404, "invalid_connection"
            self._socket_tickets.remove(connection_id)
        return None

    def _hello(self) -> Payload:
        with self._lock:
            connections = len(self._open_sockets()) + 1
        return {
            "type": "hello",
            "num_connections": connections,
            "debug_info": {"host": "playground", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }

    def _on_socket_message(self, text: str) -> None:
        """Record acks; anything else a client sends has no meaning in Socket Mode and is dropped."""
        with contextlib.suppress(ValueError):
            message = json.loads(text)
            if isinstance(message, dict) and "envelope_id" in message:
                with self._lock:
                    self._socket_acks.append(message)
                    self.notify()

    def _on_socket_pong(self, payload: bytes) -> None:
        with self._lock:
            self._socket_pongs += 1
            self.notify()

    def _send_envelope(self, envelope_id: str, type_: str, payload: Payload, accepts_response_payload: bool) -> str:
        envelope: Payload = {
            "envelope_id": envelope_id,
            "type": type_,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type_ == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        with self._lock:
            sockets = self._open_sockets()
        if not sockets:
            raise ConnectionError("no Socket Mode connection is open (wait_for socket_connections first)")
        sockets[-1].send_text(json.dumps(envelope))
        return envelope_id

    def _open_sockets(self) -> list[_WebSocket]:
        """Connected sockets not told to close, oldest first (lock held)."""
        return [websocket for websocket in self._sockets.values() if not websocket.closing]

    def _channel_name(self, channel: str) -> str:
        """The ``channel_name`` of payloads: the name, ``directmessage``/``privategroup``, else the id."""
        conversation = self.channels.get(channel)
        if conversation is None:
            return channel
        if conversation.info["is_im"]:
            return "directmessage"
        return "privategroup" if conversation.info["is_private"] else str(conversation.info["name"])

    # -- state helpers (lock held) -----------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = self._ts_base_micros + self._ts_counter * _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _conversation(self, channel: Any) -> _Conversation:
        """Find a conversation by id, name (``#name`` too) or IM partner; else channel_not_found."""
        key = str(channel or "")
        if key in self.channels:
            return self.channels[key]
        for conversation in self.channels.values():
            info = conversation.info
            if info.get("name") == key.lstrip("#") or (info["is_im"] and info.get("user") == key):
                return conversation
        raise SlackError("channel_not_found")

    def _known_conversation(self, channel: str) -> _Conversation:
        """`_conversation` for the Python API: unknown channels are a KeyError."""
        try:
            return self._conversation(channel)
        except SlackError:
            raise KeyError(f"unknown channel {channel!r}: add_channel() it first") from None

    def _member_conversation(self, channel: Any) -> _Conversation:
        conversation = self._conversation(channel)
        if not conversation.info["is_member"]:
            raise SlackError("not_in_channel")
        return conversation

    def _store(self, conversation: _Conversation, message: Payload, thread_ts: str | None) -> str:
        """Assign a ts, file the message (into a thread when asked) and record its first text."""
        if thread_ts:
            parent_ts = self._parent_ts(conversation, str(thread_ts))
            message["thread_ts"] = parent_ts
            parent = conversation.messages.get(parent_ts)
            if parent is not None and parent.get("user"):
                message["parent_user_id"] = parent["user"]
        ts = self._next_ts()
        message["ts"] = ts
        conversation.messages[ts] = message
        if thread_ts:
            conversation.threads.setdefault(message["thread_ts"], []).append(ts)
        self._edits[(conversation.info["id"], ts)] = [message.get("text", "")]
        self.notify()
        return ts

    def _parent_ts(self, conversation: _Conversation, thread_ts: str) -> str:
        """The thread a reply to `thread_ts` belongs to (a reply's ts maps to its parent).

        A parent the server never saw is accepted: tests often deliver events for
        messages that were not seeded, and the bot's replies still form a thread.
        """
        parent = conversation.messages.get(thread_ts)
        return str(parent.get("thread_ts", thread_ts)) if parent is not None else thread_ts

    def _thread(self, conversation: _Conversation, thread_ts: str) -> list[Payload]:
        parent = conversation.messages.get(thread_ts)
        if parent is not None and parent.get("thread_ts", thread_ts) != thread_ts:
            thread_ts = parent["thread_ts"]
            parent = conversation.messages.get(thread_ts)
        replies = [conversation.messages[ts] for ts in conversation.threads.get(thread_ts, [])]
        return ([parent] if parent is not None else []) + replies

    def _render(self, conversation: _Conversation, message: Payload) -> Payload:
        """A copy of a stored message with Slack's thread summary on parents."""
        rendered = copy.deepcopy(message)
        reply_ts = conversation.threads.get(message["ts"])
        if reply_ts:
            repliers = [conversation.messages[ts].get("user") for ts in reply_ts]
            reply_users = list(dict.fromkeys(user for user in repliers if user))
            rendered.update(
                thread_ts=message["ts"],
                reply_count=len(reply_ts),
                reply_users=reply_users,
                reply_users_count=len(reply_users),
                latest_reply=reply_ts[-1],
            )
        return rendered

    def _bot_message(self, text: str, params: Params) -> Payload:
        message: Payload = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "team": self.team_id,
            "bot_profile": {"id": self.bot_id, "app_id": self.app_id, "name": "bot", "team_id": self.team_id},
        }
        for name in ("blocks", "attachments", "metadata"):
            if params.get(name):
                message[name] = params[name]
        return message

    def _check_length(self, text: str, limit: int | None = None) -> None:
        if len(text) > (limit or self.max_text_length):
            raise SlackError("msg_too_long")

    def _own_message(self, conversation: _Conversation, ts: Any, error: str) -> Payload:
        message = conversation.messages.get(str(ts or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackError(error)
        return message

    def _set_text(self, channel_id: str, message: Payload, text: str) -> None:
        message["text"] = text
        self._edits.setdefault((channel_id, message["ts"]), []).append(text)

    # -- auth / chat -------------------------------------------------------------------

    def _auth_test(self, params: Params) -> Payload:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        text = str(params.get("text") or "")
        if not text and not params.get("blocks") and not params.get("attachments"):
            raise SlackError("no_text")
        self._check_length(text)
        message = self._bot_message(text, params)
        thread_ts = params.get("thread_ts") or None
        if thread_ts and _bool(params, "reply_broadcast"):
            message["subtype"] = "thread_broadcast"
        ts = self._store(conversation, message, thread_ts)
        return {"channel": conversation.info["id"], "ts": ts, "message": self._render(conversation, message)}

    def _chat_update(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        message = self._own_message(conversation, params.get("ts"), "cant_update_message")
        if "text" not in params and "blocks" not in params and "attachments" not in params:
            raise SlackError("no_text")
        text = str(params.get("text") or "") if "text" in params else message.get("text", "")
        self._check_length(text)
        for name in ("blocks", "attachments"):
            if name in params:
                message[name] = params[name] or []
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._set_text(conversation.info["id"], message, text)
        self.notify()
        return {
            "channel": conversation.info["id"],
            "ts": message["ts"],
            "text": text,
            "message": self._render(conversation, message),
        }

    def _chat_delete(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        message = self._own_message(conversation, params.get("ts"), "cant_delete_message")
        ts = message["ts"]
        if conversation.threads.get(ts):
            conversation.messages[ts] = {
                "type": "message",
                "subtype": "tombstone",
                "text": "This message was deleted.",
                "user": "USLACKBOT",
                "hidden": True,
                "ts": ts,
            }
        else:
            del conversation.messages[ts]
            parent_ts = message.get("thread_ts")
            if parent_ts and parent_ts != ts:
                conversation.threads[parent_ts].remove(ts)
        self.notify()
        return {"channel": conversation.info["id"], "ts": ts}

    def _chat_post_ephemeral(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        user = _str(params, "user", "user_not_in_channel")
        text = str(params.get("text") or "")
        if not text and not params.get("blocks") and not params.get("attachments"):
            raise SlackError("no_text")
        self._check_length(text)
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": conversation.info["id"],
                "user": user,
                "text": text,
                "blocks": params.get("blocks"),
                "thread_ts": params.get("thread_ts"),
                "ts": ts,
            }
        )
        self.notify()
        return {"message_ts": ts}

    def _chat_get_permalink(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        ts = _str(params, "message_ts", "message_not_found")
        if ts not in conversation.messages:
            raise SlackError("message_not_found")
        channel_id = conversation.info["id"]
        link = f"https://{self.team_domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
        return {"channel": channel_id, "permalink": link}

    # -- streaming ---------------------------------------------------------------------

    def _chat_start_stream(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        thread_ts = _str(params, "thread_ts")
        team, user = params.get("recipient_team_id"), params.get("recipient_user_id")
        if not conversation.info["is_im"] and not (team and user):
            raise SlackError("invalid_arguments")
        text = _stream_text(params)
        self._check_length(text, STREAM_TEXT_LIMIT)
        message = self._bot_message(text, {})
        ts = self._store(conversation, message, thread_ts)
        self._streams[(conversation.info["id"], ts)] = _Stream("streaming", team, user)
        return {"channel": conversation.info["id"], "ts": ts}

    def _streaming_message(self, params: Params) -> tuple[_Conversation, Payload, _Stream]:
        conversation = self._conversation(params.get("channel"))
        message = conversation.messages.get(str(params.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        stream = self._streams.get((conversation.info["id"], message["ts"]))
        if stream is None or stream.state != "streaming":
            raise SlackError("message_not_in_streaming_state")
        return conversation, message, stream

    def _chat_append_stream(self, params: Params) -> Payload:
        conversation, message, _ = self._streaming_message(params)
        text = _stream_text(params)
        if not text:
            raise SlackError("invalid_arguments")
        self._check_length(text, STREAM_TEXT_LIMIT)
        self._set_text(conversation.info["id"], message, message["text"] + text)
        self.notify()
        return {"channel": conversation.info["id"], "ts": message["ts"]}

    def _chat_stop_stream(self, params: Params) -> Payload:
        conversation, message, stream = self._streaming_message(params)
        text = _stream_text(params)
        self._check_length(text, STREAM_TEXT_LIMIT)
        if text:
            self._set_text(conversation.info["id"], message, message["text"] + text)
        for name in ("blocks", "metadata"):
            if params.get(name):
                message[name] = params[name]
        stream.state = "stopped"
        self.notify()
        return {"channel": conversation.info["id"], "ts": message["ts"], "message": self._render(conversation, message)}

    # -- conversations -----------------------------------------------------------------

    def _conversations_history(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        visible = [m for m in reversed(conversation.messages.values()) if _in_history(m)]
        page, has_more, next_cursor = _ts_page(_time_filter(visible, params), params, 100, newest_first=True)
        return {
            "messages": [self._render(conversation, m) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        thread = self._thread(conversation, _str(params, "ts", "thread_not_found"))
        if not thread:
            raise SlackError("thread_not_found")
        page, has_more, next_cursor = _ts_page(_time_filter(thread, params), params, 1000, newest_first=False)
        return {
            "messages": [self._render(conversation, m) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversation_info(self, conversation: _Conversation) -> Payload:
        info = copy.deepcopy(conversation.info)
        if not info["is_im"]:
            info["num_members"] = len(conversation.members)
        return info

    def _conversations_info(self, params: Params) -> Payload:
        return {"channel": self._conversation_info(self._conversation(params.get("channel")))}

    def _conversations_list(self, params: Params) -> Payload:
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",") if t.strip()}
        exclude_archived = _bool(params, "exclude_archived")
        matching = [
            self._conversation_info(c)
            for c in self.channels.values()
            if _conversation_type(c.info) in types and not (exclude_archived and c.info["is_archived"])
        ]
        page, metadata = _offset_page(matching, params, 100)
        return {"channels": page, "response_metadata": metadata}

    def _conversations_members(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        page, metadata = _offset_page(conversation.members, params, 100)
        return {"members": page, "response_metadata": metadata}

    def _conversations_open(self, params: Params) -> Payload:
        if params.get("channel"):
            return {"channel": {"id": self._conversation(params["channel"]).info["id"]}}
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("users_list_not_supplied" if not users else "not_enough_users")
        if users[0] not in self.users:
            raise SlackError("user_not_found")
        for conversation in self.channels.values():
            if conversation.info["is_im"] and conversation.info.get("user") == users[0]:
                return {"already_open": True, "channel": {"id": conversation.info["id"]}}
        channel_id = f"D{users[0].lstrip('U')}"
        self.add_channel(channel_id, "", is_im=True, user=users[0])
        return {"no_op": False, "already_open": False, "channel": {"id": channel_id}}

    # -- users, views, reactions, assistant ----------------------------------------------

    def _users_info(self, params: Params) -> Payload:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _users_list(self, params: Params) -> Payload:
        page, metadata = _offset_page(copy.deepcopy(list(self.users.values())), params, 100)
        return {"members": page, "cache_ts": int(time.time()), "response_metadata": metadata}

    def _views_publish(self, params: Params) -> Payload:
        user_id = _str(params, "user_id")
        view = params.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        self.views[user_id] = view
        self.notify()
        published = {"id": f"V{len(self.views):08d}", "team_id": self.team_id, "type": "home", **copy.deepcopy(view)}
        return {"view": published}

    def _reaction_target(self, params: Params) -> tuple[Payload, str]:
        conversation = self._conversation(params.get("channel"))
        message = conversation.messages.get(str(params.get("timestamp") or ""))
        if message is None:
            raise SlackError("message_not_found")
        return message, _str(params, "name", "invalid_name")

    def _reactions_add(self, params: Params) -> Payload:
        message, name = self._reaction_target(params)
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise SlackError("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        self.notify()
        return {}

    def _reactions_remove(self, params: Params) -> Payload:
        message, name = self._reaction_target(params)
        reactions = message.get("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None or self.bot_user_id not in reaction["users"]:
            raise SlackError("no_reaction")
        reaction["users"].remove(self.bot_user_id)
        reaction["count"] -= 1
        if not reaction["count"]:
            reactions.remove(reaction)
        self.notify()
        return {}

    def _assistant_thread_call(self, params: Params) -> Payload:
        self._conversation(_str(params, "channel_id", "channel_not_found"))
        _str(params, "thread_ts")
        return {}


def _in_history(message: Payload) -> bool:
    """Whether conversations.history shows the message (top level or broadcast reply)."""
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"


def _stream_text(params: Params) -> str:
    """markdown_text plus the text of any markdown_text chunks."""
    text = str(params.get("markdown_text") or "")
    chunks = params.get("chunks") or []
    if isinstance(chunks, list):
        markdown = [c for c in chunks if isinstance(c, dict) and c.get("type") == "markdown_text"]
        text += "".join(str(c.get("text", "")) for c in markdown)
    return text


def _time_filter(messages: list[Payload], params: Params) -> list[Payload]:
    """Keep messages between ``oldest`` and ``latest`` (bounds included when ``inclusive``)."""
    oldest = _ts_value(params.get("oldest"), Decimal(0), "invalid_ts_oldest")
    latest = _ts_value(params.get("latest"), Decimal("Infinity"), "invalid_ts_latest")
    if _bool(params, "inclusive"):
        return [m for m in messages if oldest <= Decimal(m["ts"]) <= latest]
    return [m for m in messages if oldest < Decimal(m["ts"]) < latest]


def _conversation_type(info: Payload) -> str:
    if info["is_im"]:
        return "im"
    if info["is_mpim"]:
        return "mpim"
    return "private_channel" if info["is_private"] else "public_channel"
