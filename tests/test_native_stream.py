"""Native streaming is the default: Slack's chat.startStream/appendStream/stopStream, with an agent's steps as the
tasks of a plan (plan_update and task_update chunks) and the answer as markdown text, feedback buttons at the end."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.slack.rate_budget import SlackBudget
from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import SIGNING_SECRET, bot_env
from tests.test_streaming import final_reply


@pytest.fixture(scope="module")
def default_bot(
    slack: SlackServer, model: ModelServer, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    home = tmp_path_factory.mktemp("native")
    env = bot_env(
        slack,
        model,
        postgres_url,
        DATA_DIR=str(home / "data"),
        DOCS_INDEX_DIR=str(home / "index"),
        DOCS_EMBEDDING="lexical",
    )
    del env["SLACK_STREAMING"]  # the default
    with BotProcess(env) as bot:
        yield bot


def stopped(slack: SlackServer, thread_ts: str) -> dict:
    stop = slack.wait_for(lambda: [c for c in slack.calls_to("chat.stopStream") if c.response.get("ok")], timeout=60)[0]
    message = slack.message("C111", stop.params["ts"])
    assert message is not None and message["thread_ts"] == thread_ts
    return message


def test_an_agent_task_streams_its_steps_as_tasks_of_a_plan(
    slack: SlackServer, model: ModelServer, default_bot: BotProcess, tmp_path: Path
) -> None:
    model.enqueue(
        Reply(tool_calls=[{"name": "calculate", "arguments": {"expression": "2 + 3"}}]),
        Reply(text="The answer is **5**."),
    )
    task = "agent: add two and three"
    SlackSender(default_bot.url, SIGNING_SECRET).mention(task, ts="1730000000.009000")

    message = stopped(slack, "1730000000.009000")
    start = slack.calls_to("chat.startStream")[0]
    assert start.params["task_display_mode"] == "plan"
    assert start.params["chunks"] == [{"type": "plan_update", "title": "add two and three"}]
    sent = [chunk for c in slack.calls_to("chat.appendStream") for chunk in c.params.get("chunks") or []]
    (step,) = [c for c in sent if c["type"] == "task_update"]
    assert step["id"] == "step-1" and step["status"] == "complete" and step["title"] == "calculate: 2 + 3"
    assert "5" in step["output"]
    assert message["plan"] == {"title": "add two and three"}
    assert [t["id"] for t in message["tasks"]] == ["step-1"]
    assert message["text"].strip() == "The answer is **5**."  # the step is a task, not a line of text
    assert [b["type"] for b in message["blocks"]] == ["context_actions"]  # feedback buttons when it stops
    assert slack.calls_to("chat.update") == []


def test_a_chat_answer_streams_natively_by_default(
    slack: SlackServer, model: ModelServer, default_bot: BotProcess
) -> None:
    model.token_delay = 0.02
    model.enqueue(Reply(text="Refunds take **5 days**."))
    SlackSender(default_bot.url, SIGNING_SECRET).mention("how long do refunds take?", ts="1730000000.009100")
    message = stopped(slack, "1730000000.009100")
    assert message["text"] == "Refunds take **5 days**."
    start = slack.calls_to("chat.startStream")[0]
    assert "task_display_mode" not in start.params and start.params["recipient_user_id"] == "W111"
    assert all("markdown_text" in c.params for c in slack.calls_to("chat.appendStream"))


def test_hostile_model_output_in_a_native_stream_mentions_nobody(
    slack: SlackServer, model: ModelServer, default_bot: BotProcess
) -> None:
    model.token_delay = 0.01
    model.enqueue(Reply(text="Hi <!channel> and <@U0ADMIN> in <#C0SECRET>, <!subteam^S1|@admins> <"))
    SlackSender(default_bot.url, SIGNING_SECRET).mention("say hello to everyone", ts="1730000000.009150")
    message = stopped(slack, "1730000000.009150")
    pieces = [
        str(chunk.get("text", "")) if isinstance(chunk, dict) else ""
        for call in slack.calls_to("chat.appendStream")
        if call.params["ts"] == message["ts"]
        for chunk in [{"text": call.params.get("markdown_text", "")}, *(call.params.get("chunks") or [])]
    ]
    assert (
        "".join(pieces).replace("\u200b", "") == "Hi <!channel> and <@U0ADMIN> in <#C0SECRET>, <!subteam^S1|@admins> <"
    )
    assert re.findall(r"<[!@#]", message["text"]) == []  # every opener Slack would parse is made inert
    assert all(not piece.endswith("<") for piece in pieces)  # a piece never leaves an opener for the next one


def test_a_workspace_out_of_stream_starts_gets_an_edited_reply(
    slack: SlackServer, model: ModelServer, default_bot: BotProcess, redis_client: redis.Redis
) -> None:
    budget, replied = SlackBudget(redis_client), threading.Event()

    def other_streams() -> None:  # start other streams with each chat.startStream call as soon as it frees
        while not replied.is_set():
            replied.wait(budget.try_take("T111", "chat.startStream", urgent=True) / 2)

    busy = threading.Thread(target=other_streams)
    busy.start()
    try:
        model.enqueue(Reply(text="Refunds take **5 days**."))
        SlackSender(default_bot.url, SIGNING_SECRET).mention("refunds, in a busy workspace?", ts="1730000000.009200")
        (reply,) = final_reply(slack, "C111", "1730000000.009200")
    finally:
        replied.set()
        busy.join()
    assert reply["blocks"][0] == {"type": "markdown", "text": "Refunds take **5 days**."}
    assert slack.calls_to("chat.startStream") == []  # Tier 2 is spent: the reply is posted and edited instead
