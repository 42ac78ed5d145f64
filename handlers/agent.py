"""Agent tasks in Slack threads: `agent: …` starts one, and replies in that thread continue it.

`handlers.chat.reply` asks `agent_route()` whether a message is an agent task (an explicit `agent:` prefix, or
a follow-up in a thread that has agent runs, unless it has another explicit prefix), and takes its stream from
`agent_stream()`. The stream yields one line per tool step as the agent works ("🔧 `sql` — `SELECT …` → 3
rows"), then the answer, through the same `StreamingReply` as chat: paced edits within Slack's rate limits,
Stop, supersede. A limit that ends the task is raised at the end as `AgentLimit`, which the chat handler shows
as a note and records on the ledger row (status `error`, kind `agent_max_steps` / `agent_cost_cap`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.gateway import ModelError
from bot.metering import Meter
from handlers.router import Route
from patterns.agent import AgentRun, Answer, Limits, Step, Stopped, step_line
from patterns.agent_history import AgentRunStore, agent_history
from patterns.agent_tools.registry import ToolContext
from patterns.agent_tools.wiring import toolbox_for
from patterns.chat import Turn

if TYPE_CHECKING:
    from bot.runtime import Services
    from knowledge.access import Audience

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.2  # how often a waiting agent lets the reply flush pending steps and notice Stop
_stores: dict[int, AgentRunStore] = {}
_stores_lock = threading.Lock()


class AgentLimit(ModelError):
    """The task ended at a limit; the message explains it honestly to the user."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message, user_message=message)


@dataclass
class _Result:
    offline: bool


def store_for(engine: Engine) -> AgentRunStore:
    with _stores_lock:
        store = _stores.get(id(engine))
        if store is None:
            store = _stores[id(engine)] = AgentRunStore(engine)
        return store


def agent_route(chosen: Route, services: "Services", meter: Meter, *, channel: str, thread_ts: str,
                event_ts: str) -> Route:
    """Follow-ups in a thread with agent runs stay with the agent, unless an explicit prefix says otherwise."""
    if chosen.pattern == "agent" or chosen.reason == "prefix" or thread_ts == event_ts:
        return chosen
    try:
        continuing = store_for(services.ledger.engine).has_runs(channel, thread_ts)
    except SQLAlchemyError as error:
        log.error("agent: cannot read the thread's runs (%s); routing as usual", type(error).__name__)
        return chosen
    if not continuing:
        return chosen
    meter.pattern = "agent"
    log.info("routing: pattern=agent reason=agent_thread")
    return Route("agent", chosen.text, "agent_thread")


def agent_stream(chosen: Route, history: list[Turn], services: "Services", meter: Meter, *, thread_ts: str,
                 audience: "Audience | None" = None) -> "AgentStream | None":
    """The stream for an agent task; None for other routes. `audience`: which documents `search_docs` reads."""
    if chosen.pattern != "agent":
        return None
    return AgentStream(chosen.text or "(empty task)", history, services, meter, thread_ts=thread_ts,
                       audience=audience)


class AgentStream:
    """Iterate for the reply's text (step lines, then the answer), like `ChatStream`.

    `text` is the answer (what the thread's history keeps as the assistant turn); the step lines are shown but
    the run's tool calls and results are kept in `agent_runs` for follow-ups.
    """

    def __init__(self, task: str, history: list[Turn], services: "Services", meter: Meter, *, thread_ts: str,
                 audience: "Audience | None" = None) -> None:
        self.task, self.turns, self.services, self.meter, self.thread_ts = task, history, services, meter, thread_ts
        self.audience = audience
        self.text = ""
        self.result: _Result | None = None
        self.run: AgentRun | None = None

    def __iter__(self) -> Iterator[str]:
        settings = self.services.settings
        store = store_for(self.services.ledger.engine)
        try:
            runs = store.runs(self.meter.channel, self.thread_ts) if self.turns else []
        except SQLAlchemyError as error:
            log.error("agent: cannot read the thread's runs (%s); continuing without them", type(error).__name__)
            runs = []
        history = agent_history(self.turns, runs, budget_tokens=settings.chat_history_tokens)
        self.run = run = AgentRun(
            task=self.task, history=history, gateway=self.services.gateway,
            toolbox=toolbox_for(settings, self.services.gateway), meter=self.meter,
            context=ToolContext(channel=self.meter.channel, user=self.meter.user, meter=self.meter,
                                audience=self.audience),
            limits=Limits(max_steps=settings.agent_max_steps, max_cost_usd=settings.agent_max_cost_usd),
            heartbeat_seconds=HEARTBEAT_SECONDS,
        )
        stopped: Stopped | None = None
        refused_database = False
        try:
            for event in run:
                if event is None:
                    yield ""  # a heartbeat: the reply flushes pending lines and checks for Stop
                elif isinstance(event, Step):
                    refused_database |= event.output.refused and event.tool in {"sql", "schema"} \
                        and "not enabled" in event.output.content
                    yield step_line(event) + "\n"
                elif isinstance(event, Answer):
                    self.text = event.text
                    yield ("\n" if run.steps else "") + event.text
                elif isinstance(event, Stopped):
                    stopped = event
        finally:
            self._save(store, run)
        self.result = _Result(offline=run.offline)
        if refused_database and stopped is None:
            yield "\n\n⛔ _The database tools are not enabled for you in this channel._"
        if stopped is not None:
            raise AgentLimit(stopped.kind, stopped.message)

    def _save(self, store: AgentRunStore, run: AgentRun) -> None:
        try:
            store.add(workspace=self.meter.workspace, channel=self.meter.channel, thread_ts=self.thread_ts,
                      request_id=self.meter.request_id, task=self.task, transcript=run.transcript,
                      steps=len(run.steps), status=run.status)
        except SQLAlchemyError as error:  # the answer stands; only follow-ups lose this run's tool results
            log.error("agent: could not store the run (%s)", type(error).__name__)
        run_summary = {"steps": len(run.steps), "status": run.status, "model_calls": self.meter.model_calls,
                       "model_ms": round(run.model_ms, 2)}
        self.meter.context = [run_summary, *(step.as_json() for step in run.steps)]
