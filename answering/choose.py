"""Pick how to answer a message (chat, docs or agent) and open the one stream of text the reply shows.

    route = choose(question, services, meter, channel=..., thread_ts=..., event_ts=...)
    stream = open_stream(route, history, services, meter, thread_ts=...)

The choice is the ledger row's `pattern` (set on the meter) and is logged with its reason. Every stream yields
text deltas and has `text` (the answer as kept in the thread's history) and `result` (`offline` once done).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from answering.agent import AgentStream
from answering.docs import DocsStream
from answering.route import Route, explicit, route
from bot.model.metering import Meter
from knowledge.access import Audience
from patterns.chat import Turn, chat_messages

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services import Services

log = logging.getLogger(__name__)


class AnswerStream(Protocol):
    text: str
    result: Any  # set once the stream is done; `result.offline` when the offline engine answered

    def __iter__(self) -> Iterator[str]: ...


def choose(
    question: str,
    services: Services,
    meter: Meter,
    *,
    channel: str,
    thread_ts: str,
    event_ts: str,
    audience: Audience | None = None,
) -> Route:
    """The route for a message. Follow-ups in a thread with agent runs stay with the agent unless an explicit
    prefix says otherwise; a docs index that cannot be read sends unprefixed messages to chat. `audience`: who
    asks, so routing searches only the documents they may read."""
    try:
        chosen = route(question, services.docs.scoped(audience or Audience.public()), meter=meter)
    except Exception as error:  # a broken or mismatched index must not break plain chat
        log.warning("routing: docs search failed (%s); answering as chat", type(error).__name__)
        chosen = explicit(question) or Route("chat", question, "docs_error")
    if (
        chosen.pattern != "agent"
        and chosen.reason != "prefix"
        and thread_ts != event_ts
        and _has_agent_runs(services, channel, thread_ts)
    ):
        chosen = Route("agent", chosen.text, "agent_thread")
    meter.pattern = chosen.pattern
    log.info("routing: pattern=%s reason=%s", chosen.pattern, chosen.reason)
    return chosen


def open_stream(
    chosen: Route,
    history: list[Turn],
    services: Services,
    meter: Meter,
    *,
    thread_ts: str,
    audience: Audience | None = None,
) -> AnswerStream:
    """The stream that answers `chosen`: an agent task, a docs answer, or a chat answer from the model."""
    if chosen.pattern == "agent":
        return AgentStream(
            chosen.text or "(empty task)", history, services, meter, thread_ts=thread_ts, audience=audience
        )
    if chosen.pattern == "rag":
        return DocsStream(chosen, history, services, meter, audience)
    messages = chat_messages(history, chosen.text, budget_tokens=services.settings.chat_history_tokens)
    return services.gateway.stream_chat(messages, pattern="chat", meter=meter, task="chat")


def _has_agent_runs(services: Services, channel: str, thread_ts: str) -> bool:
    try:
        return services.agent_runs.has_runs(channel, thread_ts)
    except SQLAlchemyError as error:
        log.error("agent: cannot read the thread's runs (%s); routing as usual", type(error).__name__)
        return False
