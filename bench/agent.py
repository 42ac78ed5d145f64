"""Agent overhead per step outside the model call: tool execution, bookkeeping and Slack rendering.

Runs agent tasks in-process the way `handlers.chat` does (conversation turns, `StreamingReply` to the local
Slack server, the agent's stream, the ledger row and the stored run) against the local model server scripting
tool calls with zero latency. Each task makes 4 steps on the demo SQLite database: `schema` + `sql`, then
`calculate` + `sql`, then the answer. The time the agent waits for the model is measured by the agent itself
(`AgentRun.model_ms`); everything else in the task is overhead, divided by its steps.

Last line: JSON with `overhead_per_step_ms_p50` and `overhead_per_step_ms_p99`.

`--quick` runs 5 tasks instead of 60 (after the same 3 warm-up tasks), so CI can run the bench in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answering.agent import AgentStream  # noqa: E402
from bench.ledger_schema import ledger_schema  # noqa: E402
from bot.model.metering import Meter  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.slack.client import slack_client  # noqa: E402
from bot.slack.streaming import StreamingReply  # noqa: E402
from doubles.model_server import ModelServer, Reply  # noqa: E402
from doubles.slack import SlackServer  # noqa: E402
from services import Services  # noqa: E402

TOKEN = "xoxb-bench-agent"
DEFAULT_DATABASE = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SALES_SQL = (
    "SELECT strftime('%Y-%m', sale_date) AS month, round(sum(amount), 2) AS total FROM sales "
    "GROUP BY 1 ORDER BY 1 DESC LIMIT 2"
)


def respond(body: dict) -> Reply:
    """A model that needs two tool turns, then answers; instant."""
    tools = sum(1 for m in body["messages"] if m["role"] == "tool")
    if tools == 0:
        return Reply(
            tool_calls=[{"name": "schema", "arguments": {}}, {"name": "sql", "arguments": {"query": SALES_SQL}}]
        )
    if tools == 2:
        return Reply(
            tool_calls=[
                {"name": "calculate", "arguments": {"expression": "growth(245516.34, 278193.96)"}},
                {"name": "sql", "arguments": {"query": "SELECT count(*) AS n FROM sales"}},
            ]
        )
    return Reply(text="Total sales last month were **$278,193.96**, up 13.3% on the month before.")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE,
        help="ledger database, PostgreSQL as in production (a schema of its own is used)",
    )
    parser.add_argument("--quick", action="store_true", help="5 tasks: checks that the bench runs (CI)")
    args = parser.parse_args()
    if args.quick:
        args.tasks = 5
    with (
        tempfile.TemporaryDirectory(prefix="bench-agent-") as folder,
        ledger_schema(args.database_url, "agent") as ledger_url,
    ):
        figures = run(args.tasks, Path(folder), ledger_url)
    for key, value in figures.items():
        print(f"{key:>26}: {value}")
    print(json.dumps(figures))


def run(tasks: int, folder: Path, ledger_url: str) -> dict:
    with SlackServer(token=TOKEN) as slack, ModelServer(api_key="k") as model:
        slack.add_user("U1", "alice")
        slack.add_channel("C1", "general")
        model.responder = respond
        settings = load_settings(
            slack_bot_token=TOKEN,
            slack_api_url=slack.api_url,
            openai_base_url=model.base_url,
            openai_api_key="k",
            model="bench-model",
            data_dir=folder / "data",
            database_url=ledger_url,
            redis_url=None,
            cache_ttl_seconds=0,
            docs_index_dir=folder / "no-index",
        )
        services = Services.build(settings)
        services.ledger.migrate()
        client = slack_client(settings)
        per_step, tool_ms, totals = [], [], []
        for number in range(tasks + 3):  # the first tasks warm up (demo database, imports, connections)
            team, ts = f"TB{number}", f"1740000000.{number:06d}"
            meter = Meter(workspace=team, channel="C1", user="U1", pattern="agent", trigger="mention", request_id=ts)
            started = time.perf_counter()
            services.conversations.add(workspace=team, channel="C1", thread_ts=ts, role="user", text="task")
            writer = StreamingReply(
                client,
                services.slack_calls,
                team=team,
                channel="C1",
                thread_ts=ts,
                min_interval=settings.stream_update_seconds,
            )
            stream = AgentStream(
                "Find the total sales for last month and calculate the growth", [], services, meter, thread_ts=ts
            )
            writer.start(thinking_after=settings.stream_thinking_seconds)
            for delta in stream:
                writer.append(delta)
            services.conversations.add(workspace=team, channel="C1", thread_ts=ts, role="assistant", text=stream.text)
            writer.finish(feedback_id=ts)
            services.ledger.record(meter, status="ok")
            elapsed = (time.perf_counter() - started) * 1000
            run = stream.run
            assert run is not None and run.status == "answered" and len(run.steps) == 4, run and run.status
            if number < 3:
                continue
            overhead = elapsed - run.model_ms
            per_step.append(overhead / len(run.steps))
            tool_ms.append(sum(step.elapsed_ms for step in run.steps) / len(run.steps))
            totals.append(elapsed)
        figures = {
            "tasks": tasks,
            "steps_per_task": 4,
            "overhead_per_step_ms_p50": round(statistics.median(per_step), 2),
            "overhead_per_step_ms_p99": round(percentile(per_step, 0.99), 2),
            "tool_ms_per_step_p50": round(statistics.median(tool_ms), 2),
            "task_ms_p50": round(statistics.median(totals), 1),
            "slack_calls": len(slack.calls_to("chat.postMessage")) + len(slack.calls_to("chat.update")),
        }
        services.ledger.engine.dispose()
    return figures


if __name__ == "__main__":
    main()
