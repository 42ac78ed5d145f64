"""An in-process Redis for the playground when no real one answers: fakeredis's `TcpFakeServer`.

It speaks the Redis protocol on a loopback port of its own, so the bot and the digest workers connect to it
with an ordinary `redis://` URL, exactly as they would to a real Redis: the RQ job queue, `/digest status` and
cancel, retry dedupe, the response cache, Stop signals and the Slack call budget (a Lua script, run by `lupa`)
all work unchanged. Its data lives in this process's memory and is gone when the playground stops.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from fakeredis import FakeRedisConnection, TcpFakeServer
from fakeredis._clients._tcp_server import TCPFakeRequestHandler

HOST = "127.0.0.1"


class _Connection(FakeRedisConnection):
    """One client's session with the fake server, behind its TCP connection."""

    def read_response(self, **kwargs: Any) -> Any:
        # An error reply (NOSCRIPT, WRONGTYPE, …) is a reply like any other: fakeredis 2.40's TCP handler closes the
        # connection when reading one raises, which breaks redis-py's EVALSHA-then-SCRIPT LOAD (RQ's scheduler lock
        # and the Slack call budget use it). Returned, it is sent as the same error line and the connection stays.
        try:
            return super().read_response(**kwargs)
        except redis.ResponseError as error:
            return error


class _RequestHandler(TCPFakeRequestHandler):
    """One TCP client. Besides the error replies above, it reports the client's address as "127.0.0.1:5000", as
    Redis does: fakeredis 2.40 writes a Python tuple there, which redis-py cannot parse in CLIENT INFO (RQ
    workers ask for their address when they start)."""

    def setup(self) -> None:
        super().setup()  # the non-blocking socket and the reply writer; its connection is replaced before any use
        self.current_client = _Connection(
            server=self.server.fake_server,
            writer=self.writer,
            protocol=2,  # RESP2 until the client says HELLO
            client_info={
                "addr": _address(self.connection.getpeername()),
                "laddr": _address(self.connection.getsockname()),
                "fd": self.connection.fileno(),
            },
        )
        self.server.clients[self.client_address] = self.current_client


def _address(address: tuple[Any, ...]) -> str:
    return f"{address[0]}:{address[1]}"


class LocalRedis:
    """`start()` serves on a free port (or `port`); `url` is what the bot and workers are given."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: TcpFakeServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> LocalRedis:
        self._server = TcpFakeServer((HOST, self._port))
        self._server.RequestHandlerClass = _RequestHandler
        # A client's thread may wait out a blocking command (an idle RQ worker's BLPOP) after its client has gone:
        # stopping does not wait for those threads, which end on their own.
        self._server.daemon_threads, self._server.block_on_close = True, False
        self._thread = threading.Thread(target=self._server.serve_forever, name="playground-redis", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving. Each client's connection closes as its thread notices (one in a blocking command, once
        that command returns)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
