"""Which token each method takes, ``auth.test``, and OAuth installs into other workspaces (``oauth.v2.access``)."""

from __future__ import annotations

import uuid

from .params import Params, Payload, SlackError, web_api
from .workspace import Workspace

APP_LEVEL_METHODS = frozenset({"apps.connections.open"})  # authorised by an app-level token
CLIENT_CREDENTIAL_METHODS = frozenset({"oauth.v2.access"})  # authorised by the OAuth code


class AuthMethods(Workspace):
    token: str | None  # the only bot token accepted (None: any)
    app_token: str | None  # the only app-level token accepted (None: any ``xapp-`` one)
    installed_tokens: dict[str, str]  # bot tokens issued by oauth.v2.access -> their team
    _oauth_codes: dict[str, Payload]  # OAuth codes granted, not yet exchanged

    def _setup_auth(self, token: str | None, app_token: str | None) -> None:
        self.token = token
        self.app_token = app_token
        self.installed_tokens = {}
        self._oauth_codes = {}

    def oauth_grant(self, code: str, team_id: str, team_name: str = "Another team", user_id: str = "W999") -> None:
        """Prepare what Slack does when a user approves the install: `code` can be exchanged once."""
        with self._lock:
            self._oauth_codes[code] = {"team_id": team_id, "team_name": team_name, "user_id": user_id}

    def _authorised(self, method: str, token: str | None) -> bool:
        """App-level methods take the app token (any ``xapp-`` one by default), the rest the bot token."""
        if method in APP_LEVEL_METHODS:
            if self.app_token is None:
                return bool(token and token.startswith("xapp-"))
            return token == self.app_token
        if method in CLIENT_CREDENTIAL_METHODS:
            return True  # authorised by the OAuth code itself (and the app's client id and secret)
        return self.token is None or token == self.token or token in self.installed_tokens

    @web_api("api.test")
    def _api_test(self, params: Params) -> Payload:
        return {"args": params}

    @web_api("auth.test")
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

    @web_api("oauth.v2.access")
    def _oauth_v2_access(self, params: Params) -> Payload:
        grant = self._oauth_codes.pop(str(params.get("code", "")), None)
        if grant is None:
            raise SlackError("invalid_code")
        token = f"xoxb-{grant['team_id']}-{uuid.uuid4().hex[:12]}"
        self.installed_tokens[token] = grant["team_id"]
        return {
            "access_token": token,
            "token_type": "bot",
            "scope": "chat:write,commands,app_mentions:read",
            "bot_user_id": self.bot_user_id,
            "app_id": self.app_id,
            "team": {"id": grant["team_id"], "name": grant["team_name"]},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": grant["user_id"]},
        }
