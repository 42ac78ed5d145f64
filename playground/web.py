"""The browser playground's web server: the page, a server-sent event stream of workspace changes, a JSON API.

It wraps a running `SlackServer` and `Relay` and serves on a port of its own. Routes:

- ``GET /`` the page (with ``/static/*`` its CSS and JS; nothing is loaded from elsewhere);
- ``GET /events`` server-sent events: ``reset`` with the whole workspace, then ``patch`` with what changed;
- ``GET /api/state`` the whole workspace as JSON;
- ``POST /api/send`` ``{"channel", "text", "thread_ts"?}`` a typed line (message, ``@bot ...``, ``/command``);
- ``POST /api/action`` ``{"channel", "ts", "action_id", "value", "block_id"?, "text"?}`` a button click;
- ``POST /api/home`` the person opened the Home tab; ``POST /api/dm`` the DM with the bot (Slack's Messages tab);
- ``POST /api/shortcut`` ``{"channel", "ts", "callback_id"}`` a message shortcut (``{"callback_id"}``: a global one);
- ``POST /api/view`` ``{"view_id", "values": {block_id: {action_id: value}}}`` submits the open modal (the answer
  lists errors by block when it stays open); ``POST /api/view_close`` ``{"view_id"}`` cancels it.

Only this machine may use it: requests must name it in ``Host`` and come from its own pages (``Origin``,
``Sec-Fetch-Site``), reads as well as writes, and no answer allows other origins (no CORS headers), so another web
site open in the same browser can neither post as the person nor read the workspace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doubles.http_server import BackgroundServer, Request, Response, json_response
from doubles.slack import SlackServer
from playground.relay import Relay, RelayError
from playground.workspace_view import Snapshot, changes, snapshot

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
KEEPALIVE_SECONDS = 10.0


class PlaygroundWeb(BackgroundServer):
    """Serves the page for one person's view of the local workspace."""

    cors_headers: dict[str, str] = {}

    def __init__(self, slack: SlackServer, relay: Relay, engine: str, port: int = 0, jobs: str = "") -> None:
        """`engine` and `jobs` say, on the page, what answers and where digests are queued."""
        super().__init__(port)
        self.slack, self.relay, self.engine, self.jobs = slack, relay, engine, jobs

    @property
    def url(self) -> str:
        return f"{self.root_url}/"

    # -- routing -----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        problem = self._refuse(request)
        if problem:
            return problem
        if request.method == "GET":
            if request.path == "/":
                return self._static("index.html")
            if request.path.startswith("/static/"):
                return self._static(request.path.removeprefix("/static/"))
            if request.path == "/events":
                return Response(
                    200,
                    self._events(),
                    "text/event-stream; charset=utf-8",
                    {**SECURITY_HEADERS, "X-Accel-Buffering": "no"},
                )
            if request.path == "/api/state":
                return json_response(self._snapshot().as_json(), headers=SECURITY_HEADERS)
            if request.path == "/healthz":
                return json_response({"ok": True})
        if request.method == "POST" and request.path.startswith("/api/"):
            return self._api(request.path.removeprefix("/api/"), request)
        return json_response({"ok": False, "error": "not found"}, status=404, headers=SECURITY_HEADERS)

    def error_response(self, exc: Exception) -> Response:
        return json_response({"ok": False, "error": f"The playground failed: {type(exc).__name__}: {exc}"}, status=500)

    def _refuse(self, request: Request) -> Response | None:
        """Requests from other sites (CSRF) or other host names (DNS rebinding) are refused."""
        host = request.headers.get("host", "")
        allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if host not in allowed_hosts:
            return json_response({"ok": False, "error": "unknown host"}, status=403)
        origin = request.headers.get("origin")
        own = {f"http://{h}" for h in allowed_hosts}
        cross_site = request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")
        if (origin is not None and origin not in own) or cross_site or (request.method != "GET" and origin is None):
            return json_response({"ok": False, "error": "requests must come from the playground page"}, status=403)
        return None

    def _static(self, name: str) -> Response:
        path = (STATIC / name).resolve()
        if STATIC not in path.parents or not path.is_file():
            return json_response({"ok": False, "error": "not found"}, status=404)
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        return Response(200, path.read_bytes(), content_type, dict(SECURITY_HEADERS))

    # -- API ---------------------------------------------------------------------------------------------

    def _api(self, name: str, request: Request) -> Response:
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return json_response({"ok": False, "error": "the body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return json_response({"ok": False, "error": "the body must be a JSON object"}, status=400)
        try:
            if name == "send":
                self.relay.send(_field(body, "channel"), str(body.get("text", "")), body.get("thread_ts") or None)
            elif name == "action":
                self.relay.click(
                    str(body.get("channel") or ""),
                    str(body.get("ts") or ""),
                    {
                        "action_id": _field(body, "action_id"),
                        "value": str(body.get("value", "")),
                        "block_id": str(body.get("block_id", "")),
                        "text": str(body.get("text", "")),
                    },
                )
            elif name == "home":
                self.relay.open_home()
            elif name == "dm":
                self.relay.open_dm()
            elif name == "shortcut":
                if body.get("channel"):
                    self.relay.message_shortcut(
                        _field(body, "channel"), _field(body, "ts"), _field(body, "callback_id")
                    )
                else:
                    self.relay.global_shortcut(_field(body, "callback_id"))
            elif name == "view":
                values = body.get("values")
                errors = self.relay.submit_view(_field(body, "view_id"), values if isinstance(values, dict) else {})
                return json_response({"ok": True, "errors": errors}, headers=SECURITY_HEADERS)
            elif name == "view_close":
                self.relay.close_view(_field(body, "view_id"))
            else:
                return json_response({"ok": False, "error": "not found"}, status=404)
        except RelayError as error:
            return json_response({"ok": False, "error": str(error)}, status=400)
        return json_response({"ok": True})

    # -- live updates ------------------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        return snapshot(self.slack, self.relay, self.engine, self.jobs)

    def _events(self) -> Iterator[bytes]:
        """Server-sent events: the whole workspace first, then each change as it happens (and keep-alives)."""
        current: Snapshot | None = None
        yield b"retry: 1000\n\n"
        while not self._closing.is_set():
            previous = current

            def changed(previous: Snapshot = previous) -> tuple[Snapshot, dict[str, Any]] | None:
                after = self._snapshot()
                patch = changes(previous, after)
                return (after, patch) if patch else None

            try:
                current, patch = self.slack.wait_for(changed, timeout=KEEPALIVE_SECONDS, poll=2.0)
            except TimeoutError:
                yield b": keep-alive\n\n"  # also finds out when the page has gone away
                continue
            event = "reset" if "reset" in patch else "patch"
            data = json.dumps(patch.get("reset", patch), separators=(",", ":"))
            yield f"event: {event}\ndata: {data}\n\n".encode()


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise RelayError(f"Missing {name}.")
    return value
