"""The HTTP surface: Slack's requests at `/slack/events`, `GET /healthz`; everything else 404."""

from __future__ import annotations

import hmac
import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.slack.ack_first import gate
from server import request_guard

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # Slack's own payloads are far smaller; bigger bodies are refused before parsing
DRAIN_LIMIT_BYTES = 16_000_000  # read (and discard) a refused body up to this size so the client gets the 413

OAUTH_PATHS = ("/slack/install", "/slack/oauth_redirect")
REASONS = {400: "Bad Request", 401: "Unauthorized", 415: "Unsupported Media Type"}
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read `/metrics`: anyone on its own port (`METRICS_PORT`), or a bearer of `METRICS_TOKEN`.

    With neither set, `/metrics` is not served: the Slack port is public.
    """

    port: int | None = None
    token: str | None = None

    def on_metrics_port(self, environ: dict[str, Any]) -> bool:
        return self.port is not None and str(environ.get("SERVER_PORT", "")) == str(self.port)

    def allows(self, environ: dict[str, Any]) -> bool:
        if self.on_metrics_port(environ):
            return True
        given = environ.get("HTTP_AUTHORIZATION", "")
        return bool(self.token) and hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())


def wsgi_app(
    bolt_app: App,
    *,
    metrics_source: Callable[[], tuple[bytes, str]] | None = None,
    metrics_access: MetricsAccess | None = None,
) -> WsgiApp:
    slack = SlackRequestHandler(bolt_app, path="/slack/events")
    access = metrics_access or MetricsAccess()

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"ok": True})
        if path == "/metrics" and method == "GET" and metrics_source is not None and access.allows(environ):
            body, content_type = metrics_source()
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]
        if access.on_metrics_port(environ):  # the metrics port serves metrics and health checks, nothing of Slack's
            return _json(start_response, "404 Not Found", {"error": "not found"})
        if path in OAUTH_PATHS and method == "GET" and bolt_app.oauth_flow is not None:
            return slack(environ, start_response)  # the install page and the OAuth redirect (Bolt's OAuthFlow)
        if path == "/slack/events":
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _json(start_response, "400 Bad Request", {"error": "bad Content-Length"})
            if length > MAX_BODY_BYTES:
                log.warning("refused a %d-byte request body", length)
                _drain(environ["wsgi.input"], min(length, DRAIN_LIMIT_BYTES))
                return _json(start_response, "413 Payload Too Large", {"error": "request body too large"})
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            headers["content-type"] = environ.get("CONTENT_TYPE", "")
            if refused := request_guard.problem(headers, body):
                log.warning("refused a malformed Slack request: %s", refused[1])
                return _json(start_response, f"{refused[0]} {REASONS[refused[0]]}", {"error": refused[1]})
            gate.request_started()
            try:
                return slack(environ, start_response)
            except Exception as error:  # Bolt parses the body before any listener runs: malformed input lands here
                log.warning("refused a malformed Slack request (%s)", type(error).__name__)
                return _json(start_response, "400 Bad Request", {"error": "malformed request"})
            finally:
                gate.request_finished()
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return application


def _drain(stream: Any, remaining: int) -> None:
    while remaining > 0 and (chunk := stream.read(min(remaining, 65_536))):
        remaining -= len(chunk)


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
