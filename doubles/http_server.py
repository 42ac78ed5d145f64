"""Shared plumbing for the local fake servers.

`BackgroundServer` runs a `ThreadingHTTPServer` on 127.0.0.1 in a daemon thread and
turns every HTTP request into a `Request` handed to `handle()`, which returns a
`Response`.  Responses are sent with HTTP/1.1 keep-alive: a `bytes` body gets a
Content-Length, an iterator body is sent with chunked transfer encoding (raise
`AbortConnection` from the iterator to drop the connection mid-body).

`CallLog` records what a server saw and lets tests block until a condition holds,
without sleeping.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "AbortConnection",
    "BackgroundServer",
    "CallLog",
    "Request",
    "Response",
    "json_response",
]

T = TypeVar("T")
C = TypeVar("C")

HOST = "127.0.0.1"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
}


class AbortConnection(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a streaming body to close the connection without finishing the body."""


@dataclass
class Request:
    """An incoming HTTP request, fully read."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (e.g. ``application/json``)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer ...`` header, if any."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def json(self) -> Any:
        """The body decoded as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """An HTTP response; an iterable body is streamed with chunked encoding."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the given payload."""
    return Response(status, json.dumps(payload).encode(), "application/json; charset=utf-8", dict(headers or {}))


class CallLog(Generic[C]):
    """A thread-safe record of calls plus a condition to wait on.

    The condition uses the lock passed in (by default a new RLock), so a server can
    guard its own state with the same lock and call `notify()` after changing it.
    """

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._condition = threading.Condition(lock or threading.RLock())
        self._calls: list[C] = []
        self._version = 0  # bumped on every record/notify, so no wake-up is missed

    def record(self, call: C) -> None:
        """Append a call and wake up waiters."""
        with self._condition:
            self._calls.append(call)
            self._changed()

    def notify(self) -> None:
        """Wake up waiters after a state change that is not a recorded call."""
        with self._condition:
            self._changed()

    def clear(self) -> None:
        """Forget all recorded calls."""
        with self._condition:
            self._calls.clear()
            self._changed()

    @property
    def calls(self) -> list[C]:
        """A copy of the recorded calls, oldest first."""
        with self._condition:
            return list(self._calls)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0, poll: float = 0.05) -> T:
        """Return the first truthy value of `predicate`, re-evaluated on every change.

        The predicate runs without the lock held (it may be slow, e.g. query a
        database) and is re-evaluated as soon as anything is recorded or notified.
        Predicates on state outside this log (databases, other processes) are also
        re-checked every `poll` seconds.  Raises TimeoutError after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                seen = self._version
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(predicate, timeout, value))
            with self._condition:
                if self._version == seen:
                    self._condition.wait(min(remaining, poll))

    def _changed(self) -> None:
        self._version += 1
        self._condition.notify_all()

    def _timeout_message(self, predicate: Callable[[], Any], timeout: float, value: Any) -> str:
        name = getattr(predicate, "__qualname__", repr(predicate))
        code = getattr(predicate, "__code__", None)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
        with self._condition:
            count, recent_calls = len(self._calls), self._calls[-10:]
        recent = "\n  ".join(_shorten(repr(call)) for call in recent_calls) or "(none)"
        return (
            f"wait_for: {name}{where} still {value!r} after {timeout}s; "
            f"{count} calls recorded, most recent:\n  {recent}"
        )


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer tuned for many concurrent keep-alive clients."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: BackgroundServer) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down open (e.g. idle keep-alive) connections so clients cannot reuse them."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away; report anything else."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Translates HTTP to `Request`/`Response` for the owning `BackgroundServer`."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence per-request logging."""

    def do_OPTIONS(self) -> None:  # noqa: N802 - stdlib naming
        self._read_body()
        self._send(Response(204, b"", "text/plain"))

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:  # unreadable framing: answer, then drop the connection
            self.close_connection = True
            self._send(json_response({"error": "malformed request body"}, status=400))
            return
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        app = self.server.app
        try:
            response = app.handle(request)
        except Exception as exc:  # a bug in a handler must not kill the server
            response = app.error_response(exc)
        self._send(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        body = response.body
        try:
            self.send_response(response.status)
            cors = self.server.app.cors_headers
            headers = {**cors, "Content-Type": response.content_type, **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            if isinstance(body, (bytes, bytearray)):
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                chunked = self.request_version != "HTTP/1.0"  # HTTP/1.0 clients read until close
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.close_connection = True
                self.end_headers()
                self._send_chunks(iter(body), chunked)
        finally:
            close = getattr(body, "close", None)
            if close is not None:  # lets streaming bodies release resources however the send ended
                close()

    def _send_chunks(self, body: Iterator[bytes], chunked: bool) -> None:
        try:
            for piece in body:
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (AbortConnection, ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # headers are gone: the only way left to signal failure is to drop the body
            self.close_connection = True
            raise


class BackgroundServer:
    """An HTTP server on 127.0.0.1 served from a daemon thread.

    Subclasses implement `handle(request) -> Response`.  The socket is bound on
    construction, so `port` is known before `start()`.  State shared between request
    threads should be guarded by `self._lock`, the same lock `wait_for` waits on.
    `cors_headers` go on every answer (any origin, as Slack's Web API allows); a server that must answer only its
    own pages sets it to {}.
    """

    cors_headers: dict[str, str] = CORS_HEADERS

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.RLock()
        self._log: CallLog[Any] = CallLog(self._lock)
        self._closing = threading.Event()
        self._httpd = _HTTPServer((HOST, port), self)
        self._serve_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a daemon thread; returns self (no-op when already started; not restartable after stop)."""
        if self._serve_thread is None:
            self._serve_thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}:{self.port}",
                daemon=True,
            )
            self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and release the port."""
        self._closing.set()
        if self._serve_thread is not None:
            self._httpd.shutdown()
            self._serve_thread.join()
            self._serve_thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>`` without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL clients should be configured with (the root URL unless overridden)."""
        return self.root_url

    # -- call log ----------------------------------------------------------------------

    @property
    def calls(self) -> list[Any]:
        """A copy of the recorded calls, oldest first."""
        return self._log.calls

    def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0, poll: float = 0.05) -> T:
        """Block until `predicate()` is truthy; see `CallLog.wait_for`."""
        return self._log.wait_for(predicate, timeout, poll)

    def notify(self) -> None:
        """Wake up `wait_for` callers after changing state outside a recorded call."""
        self._log.notify()

    def _pause(self, seconds: float) -> None:
        """Simulate a slow server; returns early when the server stops."""
        if seconds > 0:
            self._closing.wait(seconds)

    # -- request handling --------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request (runs on a request thread)."""
        raise NotImplementedError

    def error_response(self, exc: Exception) -> Response:
        """The response sent when `handle` raises."""
        return json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
