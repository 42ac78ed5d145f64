"""`SlackServer`: the HTTP surface and method dispatch of the local Slack (each Web API family is its own module)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..http_server import Request, Response, json_response
from .assistant import AssistantMethods
from .auth import APP_LEVEL_METHODS, AuthMethods
from .chat import ChatMethods
from .conversations import ConversationMethods
from .faults import FaultMethods, FaultQueue
from .files import FILES_PATH, FileMethods
from .params import Answer, Params, Payload, SlackError, parse_params
from .rate_limits import RateLimitMethods, RateLimits
from .reactions import ReactionMethods
from .socket_mode import SocketModeMethods
from .users import UserMethods
from .views import ViewMethods
from .workspace import DEFAULT_USER


@dataclass
class Call:
    """One Web API call as the server saw and answered it."""

    method: str
    params: Params
    status: int
    response: Payload
    at: float


class SlackServer(
    AuthMethods,
    ChatMethods,
    ConversationMethods,
    UserMethods,
    ViewMethods,
    AssistantMethods,
    ReactionMethods,
    SocketModeMethods,
    FaultMethods,
    RateLimitMethods,
    FileMethods,
):
    """A stateful fake Slack Web API served at ``api_url``.

    All state is guarded by the server lock; inspection methods return copies. A Web API method is any method
    of the class marked with `web_api` (see the family modules of this package).
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
        super().__init__(port, team_id, bot_user_id, bot_id, max_text_length)
        self._setup_auth(token, app_token)
        self._setup_socket_mode(socket_ping_interval)
        self._faults = FaultQueue()
        self._files = {}
        self._downloads: list[tuple[str, bool]] = []
        self._limits = RateLimits(team_id)
        self._ratelimited_count = 0
        self._methods: dict[str, Callable[[Params], Payload]] = {
            name: getattr(self, attribute)
            for attribute, member in vars_of(type(self)).items()
            for name in getattr(member, "web_api_names", ())
        }
        self.add_user(bot_user_id, "bot", real_name="Playground Bot", is_bot=True)
        self.add_user(DEFAULT_USER, "human", real_name="Human User")

    @property
    def api_url(self) -> str:
        """The ``base_url`` for slack_sdk clients (with trailing slash)."""
        return f"{self.root_url}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A response URL; JSON POSTed there is appended to `responses` with "name"."""
        return f"{self.root_url}/response/{name}"

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one Web API method, oldest first."""
        return [call for call in self.calls if call.method == method]

    def reset(self) -> None:
        """Forget messages, files, calls, faults, rate limits, views, ephemerals, responses, Socket Mode acks and pongs.

        Users, channels, workspace assignments and open Socket Mode connections are kept.
        """
        with self._lock:
            self._reset_socket_mode()
            self._reset_workspace()
            self._faults.clear()
            self._files.clear()
            self._downloads.clear()
            self._limits.clear()
            self._ratelimited_count = 0
            self._log.clear()

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/api/"):
            return self._handle_api(request.path[len("/api/") :], request)
        if request.path.startswith("/response/") and request.method == "POST":
            return self._handle_response_url(request.path[len("/response/") :], request)
        if request.path.startswith(FILES_PATH) and request.method == "GET":
            return self._serve_file(request, request.bearer_token)
        if request.path == "/signin":
            return Response(200, b"<html><body>Sign in to Slack</body></html>", "text/html; charset=utf-8")
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
            if status == 429:
                self._ratelimited_count += 1
            self._log.record(Call(method, params, status, payload, time.monotonic()))
        return json_response(payload, status, headers)

    def _answer(self, method: str, params: Params, token: str | None) -> Answer:
        if not self._authorised(method, token):
            return 200, {"ok": False, "error": "not_authed" if not token else "invalid_auth"}, {}
        injected = self._faults.take(method) or self._limits.take(method, params)
        if injected:
            return injected
        implementation = self._methods.get(method)
        if implementation is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, {"ok": True, **implementation(params)}, {}


def vars_of(cls: type) -> dict[str, object]:
    """The attributes a class defines or inherits, the nearest definition winning (as attribute lookup does)."""
    found: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        found.update(vars(klass))
    return found
