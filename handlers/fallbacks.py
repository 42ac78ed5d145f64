"""Registered last: requests no other listener took get a clear answer (commands) or a quiet ack (events)."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App

log = logging.getLogger(__name__)

KNOWN_COMMANDS = "/summarize, /digest or /usage"


def register(app: App) -> None:
    @app.command(re.compile(r".*"))
    def unknown_command(ack: Ack, command: dict[str, Any]) -> None:
        name = command.get("command", "")
        log.info("unknown command %s", name[:40])
        ack(f"I don't know the command {name}. Try {KNOWN_COMMANDS}.")

    @app.event(re.compile(r".*"))
    def other_event(event: dict[str, Any]) -> None:
        """Events we subscribe to but do not act on (or new types): acknowledge, do nothing."""
        log.debug("ignored event type %s", event.get("type"))
