"""`/usage` (ephemeral report; admins also set limits) and the App Home tab."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.ack_first import ack_at_once
from bot.slack.home_view import home_intro
from bot.slack.usage_view import build_report, render_home, render_text
from bot.storage.spend_limits import Budgets, describe
from services import Services

log = logging.getLogger(__name__)

LIMIT_HELP = (
    "Set a limit: `/usage limit user @someone daily $2`, `/usage limit channel #general monthly 500 requests "
    "warn 90%`, `/usage limit workspace monthly $100`. Remove one with `off` instead of the amount. "
    "List them with `/usage limits`."
)
_LIMIT = re.compile(
    r"^limit\s+(?P<scope>user|channel|workspace)\s+(?:(?P<target><[@#][A-Z0-9]+(?:\|[^>]*)?>|[UWC][A-Z0-9]+)\s+)?"
    r"(?P<period>daily|day|monthly|month)\s+(?:(?P<off>off)|\$?(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>requests?)?)"
    r"(?:\s+warn\s+(?P<warn>\d{1,3})%)?\s*$",
    re.IGNORECASE,
)


def register(app: App, services: Services) -> None:
    budgets = services.spend_limits
    admins = services.settings.admins

    def usage_command(command: dict[str, Any], respond: Respond) -> None:
        team, user = command.get("team_id", ""), command.get("user_id", "")
        text = (command.get("text") or "").strip()
        is_admin = user in admins
        if not text:
            report = build_report(services.ledger, workspace=team, user=user, is_admin=is_admin)
            respond(text=render_text(report), response_type="ephemeral")
        elif not is_admin:
            respond(text="Only admins can see or change limits. Ask one of them.", response_type="ephemeral")
        elif text.lower() == "limits":
            listed = [f"• {describe(b)}" for b in budgets.list(team)]
            respond(
                text="\n".join(["*Limits*", *listed]) if listed else "No limits are set. " + LIMIT_HELP,
                response_type="ephemeral",
            )
        else:
            respond(text=_set_limit(budgets, team, text), response_type="ephemeral")

    def home_opened(event: dict[str, Any], client: WebClient, body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = event.get("user", "")
        report = build_report(services.ledger, workspace=body.get("team_id", ""), user=user, is_admin=user in admins)
        try:
            view = render_home(report)
            view["blocks"] = home_intro(offline=services.gateway.offline) + view["blocks"]
            client.views_publish(user_id=user, view=view)
        except SlackApiError as error:
            log.error("could not publish the App Home: %s", error.response.get("error"))

    app.command("/usage")(ack=ack_at_once, lazy=[usage_command])
    app.event("app_home_opened")(ack=ack_at_once, lazy=[home_opened])


def _set_limit(budgets: Budgets, team: str, text: str) -> str:
    match = _LIMIT.match(text)
    if not match:
        return f"I didn't understand `{text[:100]}`. {LIMIT_HELP}"
    scope = match["scope"].lower()
    target = re.sub(r"^<[@#]([A-Z0-9]+)(?:\|[^>]*)?>$", r"\1", match["target"] or "")
    if scope != "workspace" and not target:
        return f"Which {scope}? {LIMIT_HELP}"
    period = "day" if match["period"].lower() in ("daily", "day") else "month"
    metric = "requests" if match["unit"] else "cost"
    if match["off"]:
        removed = False
        for metric_kind in ("cost", "requests"):
            removed |= budgets.remove(workspace=team, scope=scope, scope_id=target, period=period, metric=metric_kind)
        return "Limit removed." if removed else "There was no such limit."
    warn = int(match["warn"] or 80) / 100
    budgets.set(
        workspace=team,
        scope=scope,
        scope_id=target,
        period=period,
        metric=metric,
        limit=float(match["amount"]),
        warn_fraction=min(warn, 1.0),
    )
    return f"Limit set. {_listing(budgets, team)}"


def _listing(budgets: Budgets, team: str) -> str:
    return "Limits now: " + "; ".join(describe(b) for b in budgets.list(team))
