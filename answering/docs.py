"""The docs answer as a stream: it grows in the thread like a chat answer, can be stopped, and is kept in the
thread's history."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from answering.route import Route
from bot.model.gateway import ModelError
from bot.model.metering import Meter
from knowledge.access import Audience
from patterns.chat import Turn
from patterns.rag import answer, search

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)


class DocsUnavailable(ModelError):
    """The docs index cannot answer (none built yet, or built with another embedding model)."""

    def __init__(self, message: str, kind: str = "docs_unavailable") -> None:
        super().__init__(kind, message, user_message=message)


@dataclass
class _Result:
    offline: bool


def docs_audience(event: dict[str, Any], client: Any, services: Services, team: str) -> Audience:
    """Who asks, for docs visibility: the channel (and its threads), or a DM and the asker's channels."""
    from knowledge.slack_access import audience_for

    channel = event["channel"]
    return audience_for(
        client,
        team=team,
        channel=channel,
        user=event.get("user", ""),
        direct=event.get("channel_type") == "im" or channel.startswith("D"),
        oauth=services.settings.oauth_enabled,
    )


class DocsStream:
    """Iterate for the docs answer's deltas (like `ChatStream`); `text` and `result` are set as it goes."""

    def __init__(
        self, chosen: Route, history: list[Turn], services: Services, meter: Meter, audience: Audience | None = None
    ) -> None:
        self.route, self.history, self.services, self.meter = chosen, history, services, meter
        self.audience = audience or Audience.public()
        self.text = ""
        self.result: _Result | None = None

    def __iter__(self) -> Iterator[str]:
        from knowledge.retrieval import EmbeddingMismatch
        from knowledge.static_model import StaticModelMissing
        from knowledge.store import IndexMissing

        library = self.services.docs.scoped(self.audience)
        question = self.route.text or "(empty question)"
        try:
            result = (
                self.route.search
                if self.route.search is not None and not self.history
                else search(library, question, self.history, meter=self.meter)
            )
            rag = answer(library, question, self.history, meter=self.meter, result=result)
        except IndexMissing as error:
            raise DocsUnavailable(str(error), "docs_missing") from None
        except EmbeddingMismatch as error:
            log.error("docs: %s", error)
            raise DocsUnavailable(
                "The docs index was built with another embedding model than the one "
                "configured now; an operator needs to re-index it.",
                "docs_mismatch",
            ) from None
        except StaticModelMissing as error:
            log.error("docs: %s", error)
            raise DocsUnavailable(
                "The offline embedding model is not installed; an operator needs to reinstall the bot's requirements.",
                "docs_model_missing",
            ) from None
        for delta in rag:
            self.text += delta
            yield delta
        self.result = _Result(offline=rag.offline)
