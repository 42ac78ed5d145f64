"""Docs questions and agent tasks inside the chat flow: routing, and a stream the chat reply can show as it is.

`handlers.chat.reply` asks `choose_route()` which pattern answers (recorded as the ledger row's pattern), then
takes its stream from `routed_stream()` when that is not plain chat. A docs answer streams through the same
`StreamingReply`, so it grows in the thread, can be stopped, and is stored in the thread's history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.gateway import ModelError
from bot.metering import Meter
from handlers.router import Route, explicit, route
from knowledge.access import Audience
from patterns.chat import Turn

if TYPE_CHECKING:
    from bot.runtime import Services

log = logging.getLogger(__name__)

class DocsUnavailable(ModelError):
    """The docs index cannot answer (none built yet, or built with another embedding model)."""

    def __init__(self, message: str, kind: str = "docs_unavailable") -> None:
        super().__init__(kind, message, user_message=message)


@dataclass
class _Result:
    offline: bool


def docs_audience(event: dict[str, Any], client: Any, services: "Services", team: str) -> Audience:
    """Who asks, for docs visibility: the channel (and its threads), or a DM and the asker's channels."""
    from knowledge.slack_access import audience_for

    channel = event["channel"]
    return audience_for(client, team=team, channel=channel, user=event.get("user", ""),
                        direct=event.get("channel_type") == "im" or channel.startswith("D"),
                        oauth=services.settings.oauth_enabled)


def choose_route(text: str, services: "Services", meter: Meter, *, audience: Audience | None = None) -> Route:
    """The route for a message; a docs index that cannot be read sends unprefixed messages to chat."""
    from knowledge.library import library_for

    try:
        library = library_for(services.settings, services.gateway).scoped(audience or Audience.public())
        chosen = route(text, library, meter=meter)
    except Exception as error:  # a broken or mismatched index must not break plain chat
        log.warning("routing: docs search failed (%s); answering as chat", type(error).__name__)
        chosen = explicit(text) or Route("chat", text, "docs_error")
    meter.pattern = chosen.pattern
    log.info("routing: pattern=%s reason=%s", chosen.pattern, chosen.reason)
    return chosen


class DocsStream:
    """Iterate for the docs answer's deltas (like `ChatStream`); `text` and `result` are set as it goes."""

    def __init__(self, chosen: Route, history: list[Turn], services: "Services", meter: Meter,
                 audience: Audience | None = None) -> None:
        self.route, self.history, self.services, self.meter = chosen, history, services, meter
        self.audience = audience or Audience.public()
        self.text = ""
        self.result: _Result | None = None

    def __iter__(self) -> Iterator[str]:
        from knowledge.library import library_for
        from knowledge.retrieval import EmbeddingMismatch
        from knowledge.store import IndexMissing
        from patterns.rag import answer, search

        library = library_for(self.services.settings, self.services.gateway).scoped(self.audience)
        question = self.route.text or "(empty question)"
        try:
            result = self.route.search if self.route.search is not None and not self.history else search(
                library, question, self.history, meter=self.meter)
            rag = answer(library, question, self.history, meter=self.meter, result=result)
        except IndexMissing as error:
            raise DocsUnavailable(str(error), "docs_missing") from None
        except EmbeddingMismatch as error:
            log.error("docs: %s", error)
            raise DocsUnavailable("The docs index was built with another embedding model than the one "
                                  "configured now; an operator needs to re-index it.", "docs_mismatch") from None
        for delta in rag:
            self.text += delta
            yield delta
        self.result = _Result(offline=rag.offline)


def routed_stream(chosen: Route, history: list[Turn], services: "Services", meter: Meter, *,
                  audience: Audience | None = None) -> DocsStream | None:
    """The stream for a docs question; None for other routes (agent tasks have `handlers.agent.agent_stream`)."""
    if chosen.pattern == "rag":
        return DocsStream(chosen, history, services, meter, audience)
    return None
