"""Socket Mode on the fake Slack server, driven by the real slack_bolt/slack_sdk clients.

A bolt `App` connected with slack_bolt's `SocketModeHandler` (slack_sdk's builtin
WebSocket client) receives slash commands and events over the server's WebSocket and
acks them; a minimal raw client below pokes at the protocol details slack_sdk never
exercises (fragmentation, close handshake, protocol errors).

Fixtures are named ``socket_slack``/``socket_app`` so that conftest's session-wide
``slack``/``model`` servers (and its autouse seeding) stay out of these tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_bolt import Ack, App, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from doubles.slack import SlackServer

BOT_TOKEN = "xoxb-socket-test"
APP_TOKEN = "xapp-1-A111-socket-test"
TEXT, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x0, 0x8, 0x9, 0xA


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture
def socket_slack() -> Iterator[SlackServer]:
    # Server pings wake slack_sdk's client from its blocking read, so handler.close() is prompt.
    with SlackServer(token=BOT_TOKEN, app_token=APP_TOKEN, socket_ping_interval=0.05) as server:
        server.add_user("W111", "alice", real_name="Alice Archer")
        server.add_channel("C111", "general")
        yield server


@pytest.fixture
def socket_app(socket_slack: SlackServer) -> App:
    app = App(client=WebClient(base_url=socket_slack.api_url, token=BOT_TOKEN), token_verification_enabled=False)

    @app.command("/summarize")
    def summarize(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack("Summarizing...")
        client.chat_postMessage(
            channel=command["channel_id"],
            text=f"{command['user_name']} asked in #{command['channel_name']} for: {command['text']}",
        )

    @app.event("app_mention")
    def mention(event: dict[str, Any], say: Say) -> None:
        say(text=f"hi <@{event['user']}>", thread_ts=event["ts"])

    return app


@pytest.fixture
def handler(socket_slack: SlackServer, socket_app: App) -> Iterator[SocketModeHandler]:
    socket_handler = SocketModeHandler(socket_app, APP_TOKEN)
    socket_handler.connect()  # non-blocking, unlike start()
    socket_slack.wait_for(lambda: socket_slack.socket_connections == 1)
    # slack_sdk's close() hangs forever if it races its reader thread starting up (the reader
    # resets the "terminated" flag); a pong to a server ping shows that the reader is running.
    socket_slack.wait_for(lambda: socket_slack.socket_pongs > 0)
    yield socket_handler
    socket_handler.close()


def mention_event(ts: str = "1700000100.000100") -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": "W111",
        "text": "<@UBOT> what happened today?",
        "ts": ts,
        "channel": "C111",
        "event_ts": ts,
    }


# -- with slack_bolt's SocketModeHandler -----------------------------------------------


def test_handler_connects_with_the_app_token(socket_slack: SlackServer, handler: SocketModeHandler) -> None:
    [call] = socket_slack.calls_to("apps.connections.open")
    assert call.response["ok"] is True
    assert call.response["url"].startswith(f"ws://127.0.0.1:{socket_slack.port}/socket-mode/")
    assert handler.client.is_connected()


def test_slash_command_is_acked_and_its_listener_posts(socket_slack: SlackServer, handler: SocketModeHandler) -> None:
    envelope_id = socket_slack.socket_slash_command("/summarize", "the roadmap")

    ack = socket_slack.wait_for(lambda: socket_slack.socket_ack(envelope_id))
    assert ack == {"envelope_id": envelope_id, "payload": {"text": "Summarizing..."}}
    posted = socket_slack.wait_for(lambda: socket_slack.messages("C111"))
    assert [m["text"] for m in posted] == ["alice asked in #general for: the roadmap"]
    assert socket_slack.socket_acks == [ack]


def test_app_mention_is_acked_and_answered_in_thread(socket_slack: SlackServer, handler: SocketModeHandler) -> None:
    envelope_id = socket_slack.socket_event(mention_event("1700000100.000100"), event_id="Ev0001")

    assert socket_slack.wait_for(lambda: socket_slack.socket_ack(envelope_id)) == {"envelope_id": envelope_id}
    replies = socket_slack.wait_for(lambda: socket_slack.replies("C111", "1700000100.000100"))
    assert [(m["text"], m["thread_ts"]) for m in replies] == [("hi <@W111>", "1700000100.000100")]


def test_every_envelope_gets_its_own_ack(socket_slack: SlackServer, handler: SocketModeHandler) -> None:
    sent = [socket_slack.socket_slash_command("/summarize", f"topic {n}") for n in range(3)]
    sent += [socket_slack.socket_event(mention_event(f"1700000200.00000{n}")) for n in range(3)]

    socket_slack.wait_for(lambda: len(socket_slack.socket_acks) == len(sent))
    assert sorted(ack["envelope_id"] for ack in socket_slack.socket_acks) == sorted(sent)
    assert len(set(sent)) == len(sent)
    socket_slack.wait_for(lambda: len(socket_slack.calls_to("chat.postMessage")) == len(sent))


def test_disconnect_makes_the_client_reconnect(socket_slack: SlackServer, handler: SocketModeHandler) -> None:
    assert socket_slack.disconnect_sockets() == 1

    socket_slack.wait_for(
        lambda: len(socket_slack.calls_to("apps.connections.open")) == 2 and socket_slack.socket_connections == 1
    )
    envelope_id = socket_slack.socket_slash_command("/summarize", "after the reconnect")
    assert socket_slack.wait_for(lambda: socket_slack.socket_ack(envelope_id))["envelope_id"] == envelope_id


# -- apps.connections.open -------------------------------------------------------------


def test_connections_open_requires_the_app_token(socket_slack: SlackServer) -> None:
    client = WebClient(base_url=socket_slack.api_url)
    for wrong, error in (("xapp-1-A111-other", "invalid_auth"), (BOT_TOKEN, "invalid_auth"), ("", "not_authed")):
        with pytest.raises(SlackApiError) as raised:
            client.apps_connections_open(app_token=wrong)
        assert raised.value.response["error"] == error
    assert socket_slack.socket_connections == 0
    # the app token also works as an ``app_token`` parameter, and the bot token does not interfere
    bot_client = WebClient(base_url=socket_slack.api_url, token=BOT_TOKEN)
    assert bot_client.api_call("apps.connections.open", params={"app_token": APP_TOKEN})["ok"] is True


def test_any_app_level_token_is_accepted_by_default() -> None:
    with SlackServer() as server:
        client = WebClient(base_url=server.api_url)
        assert client.apps_connections_open(app_token="xapp-anything")["url"].startswith("ws://")
        with pytest.raises(SlackApiError) as raised:
            client.apps_connections_open(app_token="xoxb-not-app-level")
        assert raised.value.response["error"] == "invalid_auth"


def test_sending_without_a_connection_raises(socket_slack: SlackServer) -> None:
    with pytest.raises(ConnectionError):
        socket_slack.socket_event(mention_event())
    assert socket_slack.socket_connections == 0


# -- protocol details, with a minimal raw client ----------------------------------------


class RawWebSocket:
    """A bare RFC 6455 client: every frame it sends and receives is under the test's control."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def handshake(self, version: str = "13") -> tuple[int, dict[str, str]]:
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        status = int(self.reader.readline().split()[1])
        headers = {}
        while (line := self.reader.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def send(self, opcode: int, payload: bytes, fin: bool = True, masked: bool = True) -> None:
        first = (0x80 if fin else 0) | opcode
        mask_bit = 0x80 if masked else 0
        if len(payload) < 126:
            header = struct.pack("!BB", first, mask_bit | len(payload))
        else:
            header = struct.pack("!BBH", first, mask_bit | 126, len(payload))
        if masked:
            key = os.urandom(4)
            header += key
            payload = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(header + payload)

    def receive(self, skip_pings: bool = True) -> tuple[bool, int, bytes]:
        """The next frame as (fin, opcode, payload); server pings are skipped unless asked for."""
        while True:
            first, second = self._read(2)
            assert not second & 0x80, "server frames must not be masked"
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            frame = bool(first & 0x80), first & 0x0F, self._read(length)
            if not (skip_pings and frame[1] == PING):
                return frame

    def receive_json(self) -> dict[str, Any]:
        fin, opcode, payload = self.receive()
        assert (fin, opcode) == (True, TEXT)
        return json.loads(payload)

    def at_eof(self) -> bool:
        return self.reader.read(1) == b""

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def _read(self, count: int) -> bytes:
        data = self.reader.read(count)
        assert len(data) == count, "connection closed mid-frame"
        return data


@pytest.fixture
def raw(socket_slack: SlackServer) -> Iterator[RawWebSocket]:
    """A raw client connected (handshake done, hello read) through a fresh apps.connections.open URL."""
    url = WebClient(base_url=socket_slack.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    client = RawWebSocket(url)
    status, _ = client.handshake()
    assert status == 101
    assert client.receive_json()["type"] == "hello"
    socket_slack.wait_for(lambda: socket_slack.socket_connections == 1)
    yield client
    client.close()


def connection_url(server: SlackServer) -> str:
    return WebClient(base_url=server.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]


def test_handshake_accepts_the_key_and_says_hello(socket_slack: SlackServer) -> None:
    client = RawWebSocket(connection_url(socket_slack))
    try:
        status, headers = client.handshake()
        expected = base64.b64encode(hashlib.sha1(f"{client.key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11".encode()).digest())
        assert (status, headers["upgrade"].lower(), headers["connection"].lower()) == (101, "websocket", "upgrade")
        assert headers["sec-websocket-accept"] == expected.decode()
        hello = client.receive_json()
        assert hello["type"] == "hello"
        assert hello["num_connections"] == 1
        assert hello["connection_info"] == {"app_id": "A111"}
        assert isinstance(hello["debug_info"], dict)
    finally:
        client.close()


def test_connection_urls_are_single_use_and_unknown_ones_refused(socket_slack: SlackServer) -> None:
    url = connection_url(socket_slack)
    first, second = RawWebSocket(url), RawWebSocket(url)
    unknown = RawWebSocket(url.rsplit("/", 1)[0] + "/not-a-connection")
    old_version = RawWebSocket(connection_url(socket_slack))
    try:
        assert first.handshake()[0] == 101
        assert second.handshake()[0] == 404
        assert unknown.handshake()[0] == 404
        status, headers = old_version.handshake(version="8")
        assert (status, headers["sec-websocket-version"]) == (426, "13")
    finally:
        for client in (first, second, unknown, old_version):
            client.close()


def test_ping_is_answered_with_pong(raw: RawWebSocket) -> None:
    raw.send(PING, b"are you there")
    assert raw.receive() == (True, PONG, b"are you there")


def test_server_pings_when_asked_and_counts_pongs(socket_slack: SlackServer, raw: RawWebSocket) -> None:
    fin, opcode, payload = raw.receive(skip_pings=False)
    assert (fin, opcode) == (True, PING)
    assert socket_slack.socket_pongs == 0
    raw.send(PONG, payload)
    socket_slack.wait_for(lambda: socket_slack.socket_pongs == 1)


def test_envelope_is_sent_and_fragmented_ack_reassembled(socket_slack: SlackServer, raw: RawWebSocket) -> None:
    envelope_id = socket_slack.socket_send("interactive", {"type": "block_actions"}, accepts_response_payload=True)
    envelope = raw.receive_json()
    assert envelope == {
        "envelope_id": envelope_id,
        "type": "interactive",
        "payload": {"type": "block_actions"},
        "accepts_response_payload": True,
    }

    ack = json.dumps({"envelope_id": envelope_id, "payload": {"text": "done"}}).encode()
    raw.send(TEXT, ack[:10], fin=False)
    raw.send(PING, b"mid-message")  # control frames may come between fragments
    raw.send(CONTINUATION, ack[10:20], fin=False)
    raw.send(CONTINUATION, ack[20:])
    assert raw.receive() == (True, PONG, b"mid-message")
    assert socket_slack.wait_for(lambda: socket_slack.socket_ack(envelope_id)) == json.loads(ack)


def test_large_envelopes_use_extended_lengths(socket_slack: SlackServer, raw: RawWebSocket) -> None:
    for size in (300, 70_000):  # 16-bit and 64-bit payload lengths
        envelope_id = socket_slack.socket_event({"type": "message", "text": "x" * size})
        envelope = raw.receive_json()
        assert (envelope["envelope_id"], len(envelope["payload"]["event"]["text"])) == (envelope_id, size)


def test_event_envelope_matches_slacks_shape(socket_slack: SlackServer, raw: RawWebSocket) -> None:
    envelope_id = socket_slack.socket_event(mention_event(), event_id="Ev0042")
    envelope = raw.receive_json()
    payload = envelope.pop("payload")
    assert envelope == {
        "envelope_id": envelope_id,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }
    assert {k: payload[k] for k in ("team_id", "api_app_id", "type", "event_id", "event")} == {
        "team_id": "T111",
        "api_app_id": "A111",
        "type": "event_callback",
        "event_id": "Ev0042",
        "event": mention_event(),
    }
    assert isinstance(payload["event_time"], int)


def test_slash_command_envelope_carries_the_form_fields(socket_slack: SlackServer, raw: RawWebSocket) -> None:
    envelope_id = socket_slack.socket_slash_command("/summarize", "last week", user="W111", channel="C111")
    envelope = raw.receive_json()
    payload = envelope["payload"]
    assert (envelope["type"], envelope["accepts_response_payload"]) == ("slash_commands", True)
    assert {k: payload[k] for k in ("team_id", "channel_id", "channel_name", "user_id", "user_name")} == {
        "team_id": "T111",
        "channel_id": "C111",
        "channel_name": "general",
        "user_id": "W111",
        "user_name": "alice",
    }
    assert (payload["command"], payload["text"], payload["api_app_id"]) == ("/summarize", "last week", "A111")
    assert payload["response_url"] == socket_slack.response_url(envelope_id)
    assert payload["trigger_id"] and payload["team_domain"] == "playground"


def test_client_close_is_echoed(socket_slack: SlackServer, raw: RawWebSocket) -> None:
    raw.send(CLOSE, struct.pack("!H", 1000) + b"bye")
    assert raw.receive() == (True, CLOSE, struct.pack("!H", 1000))
    assert raw.at_eof()
    socket_slack.wait_for(lambda: socket_slack.socket_connections == 0)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param({"opcode": TEXT, "payload": b"{}", "masked": False}, 1002, id="unmasked"),
        pytest.param({"opcode": CONTINUATION, "payload": b"{}"}, 1002, id="continuation-without-start"),
        pytest.param({"opcode": PING, "payload": b"x", "fin": False}, 1002, id="fragmented-control-frame"),
        pytest.param({"opcode": 0x3, "payload": b"x"}, 1002, id="reserved-opcode"),
        pytest.param({"opcode": TEXT, "payload": b"\xff\xfe"}, 1007, id="invalid-utf8"),
    ],
)
def test_protocol_errors_close_the_connection(
    socket_slack: SlackServer, raw: RawWebSocket, frame: dict[str, Any], code: int
) -> None:
    raw.send(**frame)
    fin, opcode, payload = raw.receive()
    assert (opcode, struct.unpack("!H", payload[:2])[0]) == (CLOSE, code)
    assert raw.at_eof()
    socket_slack.wait_for(lambda: socket_slack.socket_connections == 0)


def test_disconnect_sends_disconnect_then_close(socket_slack: SlackServer, raw: RawWebSocket) -> None:
    assert socket_slack.disconnect_sockets() == 1
    assert socket_slack.socket_connections == 0  # closing connections no longer count
    assert raw.receive_json()["type"] == "disconnect"
    fin, opcode, payload = raw.receive()
    assert (opcode, struct.unpack("!H", payload[:2])[0]) == (CLOSE, 1000)
    raw.send(CLOSE, payload[:2])
    assert raw.at_eof()


def test_stop_closes_open_sockets() -> None:
    server = SlackServer(socket_ping_interval=0.05).start()
    client = RawWebSocket(WebClient(base_url=server.api_url).apps_connections_open(app_token="xapp-x")["url"])
    try:
        assert client.handshake()[0] == 101
        assert client.receive_json()["type"] == "hello"
        server.wait_for(lambda: server.socket_connections == 1)
        server.stop()  # returns only once every request thread, the socket's included, has ended
        fin, opcode, payload = client.receive()
        assert (opcode, struct.unpack("!H", payload[:2])[0]) == (CLOSE, 1001)
        assert client.at_eof()
    finally:
        client.close()
        server.stop()
