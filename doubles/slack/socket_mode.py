"""Socket Mode: ``apps.connections.open`` hands out a ``ws://`` URL on this same server, where a WebSocket speaks
Slack's Socket Mode protocol (``hello``, envelopes, acks, ``disconnect``), good enough for slack_sdk's builtin
``SocketModeClient`` and slack_bolt's ``SocketModeHandler``. Drive it with `socket_send` and friends; acks land in
``socket_acks``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
import uuid
from typing import Self
from urllib.parse import urlsplit

from ..http_server import HOST, _Handler, json_response
from .params import Params, Payload, web_api
from .websocket import CloseCode, WebSocket, handshake_problem, websocket_accept
from .workspace import Workspace

SOCKET_MODE_PATH = "/socket-mode/"


class UpgradeHandler(_Handler):
    """`_Handler` that hands WebSocket upgrades to the server's Socket Mode.

    The base server answers every request with one `Response`; a WebSocket needs the
    connection itself for as long as it lives, so upgrade requests skip that path and
    keep the request thread (``ThreadingHTTPServer`` has one per connection).
    """

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        app = self.server.app
        if self.headers.get("Upgrade", "").lower() != "websocket" or not isinstance(app, SocketModeMethods):
            super().do_GET()
            return
        self.close_connection = True  # never back to HTTP on this connection
        app._serve_websocket(self)

    def refuse_upgrade(self, status: int, error: str) -> None:
        """Answer the upgrade request with a plain HTTP error."""
        headers = {"Sec-WebSocket-Version": "13"} if status == 426 else {}
        self._send(json_response({"ok": False, "error": error}, status, headers))

    def accept_upgrade(self, connection_id: str) -> WebSocket:
        """Send ``101 Switching Protocols``; the connection then speaks WebSocket."""
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket_accept(self.headers["Sec-WebSocket-Key"]))
        self.end_headers()
        return WebSocket(connection_id, self.connection, self.rfile)


class SocketModeMethods(Workspace):
    """Socket Mode connections of `SlackServer`: the API to send envelopes and read acks, and the serving."""

    socket_ping_interval: float | None
    _socket_tickets: set[str]  # connection ids handed out, not yet connected
    _sockets: dict[str, WebSocket]  # connected, in connection order
    _socket_acks: list[Payload]
    _socket_pongs: int
    _pinger: threading.Thread | None

    def _setup_socket_mode(self, ping_interval: float | None) -> None:
        # WebSocket upgrades need the raw connection, which the base handler never exposes.
        self._httpd.RequestHandlerClass = UpgradeHandler
        self.socket_ping_interval = ping_interval
        self._socket_tickets = set()
        self._sockets = {}
        self._socket_acks = []
        self._socket_pongs = 0
        self._pinger = None

    def _reset_socket_mode(self) -> None:
        """Forget acks and pongs; open connections are kept (lock held)."""
        self._socket_acks.clear()
        self._socket_pongs = 0

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

    @web_api("apps.connections.open")
    def _apps_connections_open(self, params: Params) -> Payload:
        connection_id = uuid.uuid4().hex
        self._socket_tickets.add(connection_id)
        return {"url": f"ws://{HOST}:{self.port}{SOCKET_MODE_PATH}{connection_id}"}

    def _serve_websocket(self, handler: UpgradeHandler) -> None:
        """Run one Socket Mode connection on its request thread until it ends."""
        connection_id = urlsplit(handler.path).path.removeprefix(SOCKET_MODE_PATH)
        problem = handshake_problem(handler.headers) or self._claim_ticket(connection_id)
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

    def _open_sockets(self) -> list[WebSocket]:
        """Connected sockets not told to close, oldest first (lock held)."""
        return [websocket for websocket in self._sockets.values() if not websocket.closing]
