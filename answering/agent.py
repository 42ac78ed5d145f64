"""The agent's answer as a stream: `agent: …` starts a task, and replies in that thread continue it.

`answering.choose` decides that a message is an agent task and opens an `AgentStream`. The stream yields one
line per tool step as the agent works ("🔧 `sql` — `SELECT …` → 3 rows"), then the answer, through the same `StreamingReply` as chat: paced edits within Slack's rate limits,
Stop, supersede. A limit that ends the task is raised at the end as `AgentLimit`, which the chat handler shows
as a note and records on the ledger row (status `error`, kind `agent_max_steps` / `agent_cost_cap`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot.model.gateway import ModelError
from bot.model.metering import Meter
from bot.slack.stream_chunks import StepText, task_chunk
from bot.storage.agent_runs import AgentRunStore
from patterns.agent import AgentRun, Answer, Limits, Step, Stopped, step_line
from patterns.agent_history import agent_history, clip_transcript
from patterns.agent_tools.registry import ToolContext
from patterns.chat import Turn

if TYPE_CHECKING:
    from knowledge.access import Audience
    from services import Services

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.2  # how often a waiting agent lets the reply flush pending steps and notice Stop


class AgentLimit(ModelError):
    """The task ended at a limit; the message explains it honestly to the user."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message, user_message=message)


@dataclass
class _Result:
    offline: bool


class AgentStream:
    """Iterate for the reply's text (step lines, then the answer), like `ChatStream`.

    `text` is the answer (what the thread's history keeps as the assistant turn); the step lines are shown but
    the run's tool calls and results are kept in `agent_runs` for follow-ups.
    """

    def __init__(
        self,
        task: str,
        history: list[Turn],
        services: Services,
        meter: Meter,
        *,
        thread_ts: str,
        audience: Audience | None = None,
    ) -> None:
        self.task, self.turns, self.services, self.meter, self.thread_ts = task, history, services, meter, thread_ts
        self.audience = audience
        self.text = ""
        self.result: _Result | None = None
        self.run: AgentRun | None = None

    def __iter__(self) -> Iterator[str]:
        settings = self.services.settings
        store = self.services.agent_runs
        try:
            runs = store.runs(self.meter.channel, self.thread_ts) if self.turns else []
        except SQLAlchemyError as error:
            log.error("agent: cannot read the thread's runs (%s); continuing without them", type(error).__name__)
            runs = []
        history = agent_history(self.turns, runs, budget_tokens=settings.chat_history_tokens)
        self.run = run = AgentRun(
            task=self.task,
            history=history,
            gateway=self.services.gateway,
            toolbox=self.services.toolbox,
            meter=self.meter,
            context=ToolContext(
                channel=self.meter.channel, user=self.meter.user, meter=self.meter, audience=self.audience
            ),
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
                    refused_database |= (
                        event.output.refused
                        and event.tool in {"sql", "schema"}
                        and "not enabled" in event.output.content
                    )
                    yield StepText(step_line(event) + "\n", _task(event))  # a native stream shows it as a task
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
            store.add(
                workspace=self.meter.workspace,
                channel=self.meter.channel,
                thread_ts=self.thread_ts,
                request_id=self.meter.request_id,
                task=self.task,
                transcript=clip_transcript(run.transcript),
                steps=len(run.steps),
                status=run.status,
            )
        except SQLAlchemyError as error:  # the answer stands; only follow-ups lose this run's tool results
            log.error("agent: could not store the run (%s)", type(error).__name__)
        run_summary = {
            "steps": len(run.steps),
            "status": run.status,
            "model_calls": self.meter.model_calls,
            "model_ms": round(run.model_ms, 2),
        }
        self.meter.context = [run_summary, *(step.as_json() for step in run.steps)]


def _task(step: Step) -> dict:
    """The step as a task of the plan Slack shows in a native stream."""
    title = f"{step.tool}: {step.shown_input}" if step.shown_input else step.tool
    status = "complete" if step.output.ok else "error"
    return task_chunk(f"step-{step.number}", title, status=status, output=" ".join(step.output.summary.split()))
