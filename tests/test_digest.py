"""`/digest` end to end: signed slash commands in, a real bot process enqueuing into Redis, real RQ workers
(`python app.py worker`) reading the local Slack and calling the local model server, the ledger in PostgreSQL.

The workers run with short heartbeats so a killed one is noticed in seconds, and retry delays of 0, 1 and 1 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy
from rq import Callback, Queue
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import load_settings
from bot.slack.client import slack_client
from digests.grammar import NEEDS_REDIS, USAGE
from digests.reader import REPLY_FETCHERS, ChannelReader, Window, history_budget
from digests.request import DigestRequest
from doubles.bot_process import BotProcess
from doubles.digest_responder import digest_responder
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.worker_process import WorkerProcess, alive
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, bot_env, ledger_rows

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 3
DIGEST_SETTINGS = {
    "DIGEST_QUEUE": f"digest-test-{os.getpid()}",
    "DIGEST_MODEL_CONCURRENCY": str(CONCURRENCY),
    "DIGEST_RETRY_DELAYS": "0,1,1",
    "DIGEST_PROGRESS_SECONDS": "0.1",
    "WORKER_HEARTBEAT_SECONDS": "1",
    "WORKER_DEAD_AFTER_SECONDS": "2",
    "WORKER_MAINTENANCE_SECONDS": "1",
    "SCHEDULE_CHECK_SECONDS": "0.5",
    "LOG_FORMAT": "text",
}
FINAL = re.compile(r"^\*Digest of <#(C\w+)> (for the last [\w ]+|since [\d-]+) · ")


# Fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(slack: SlackServer, model: ModelServer, postgres_url: str, redis_client: redis.Redis) -> dict[str, str]:
    redis_client.flushdb()  # no jobs, indexes or locks left from an earlier session
    return bot_env(slack, model, postgres_url, **DIGEST_SETTINGS)


@pytest.fixture(scope="module")
def digest_bot(env: dict[str, str]) -> Iterator[BotProcess]:
    with BotProcess(env, workers=1) as process:
        yield process


@pytest.fixture(scope="module")
def workers(env: dict[str, str], digest_bot: BotProcess) -> Iterator[WorkerProcess]:
    process = WorkerProcess(env, processes=2).start()
    yield process
    process.stop()


@pytest.fixture
def sender(digest_bot: BotProcess) -> Iterator[SlackSender]:
    client = SlackSender(digest_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    yield client
    client.close()


@pytest.fixture(autouse=True)
def recent_clock(slack: SlackServer, model: ModelServer) -> None:
    """Messages seeded by a test are stamped one hour ago and onwards, inside "the last 24 hours"."""
    slack.set_clock(time.time() - 3_600)
    model.responder = digest_responder


# Helpers ----------------------------------------------------------------------------------------------------


def ack_text(response) -> str:  # type: ignore[no-untyped-def]
    """The ephemeral reply in an ack: Bolt answers `ack(text)` with the text as the body."""
    assert response.status == 200, response.body
    return json.loads(response.body)["text"] if response.body.startswith("{") else response.body


def job_ids(text: str) -> list[str]:
    return re.findall(r"id `([0-9a-f]{8})`", text)


def bot_messages(slack: SlackServer, channel: str) -> list[dict]:
    """The bot's own messages in the channel ([] while the channel, e.g. a DM, does not exist yet)."""
    if channel not in slack.channels:
        return []
    return [m for m in slack.messages(channel) if m.get("bot_id") == slack.bot_id]


def wait_final(slack: SlackServer, channel: str, job_id: str, timeout: float = 90) -> dict:
    """The bot message of this job once it no longer shows progress (digest, error, cancellation)."""

    def final() -> dict | None:
        for message in bot_messages(slack, channel):
            text = message["text"]
            if job_id in slack.edits(channel, message["ts"])[0] and not text.startswith(":hourglass"):
                return message
        return None

    return slack.wait_for(final, timeout=timeout)


def seed_discussion(slack: SlackServer, channel: str = "C111", *, filler: int = 0) -> dict[str, str]:
    """A discussion with a thread, bot noise and a join; returns the ts of the key messages."""
    ts = {}
    ts["launch"] = slack.post(channel, "The checkout launch moves to Friday because QA found two bugs.", user="W111")
    slack.post(channel, "", user="W333", subtype="channel_join")
    slack.post(channel, "Build #4411 passed", bot_id="BCI", subtype="bot_message")
    ts["question"] = slack.post(channel, "Who tells marketing about the new date?", user="W333")
    for i in range(filler):
        slack.post(
            channel,
            f"Status update {i}: the {['billing', 'search', 'mobile'][i % 3]} work is on track "
            f"and nothing is blocked today, more details in the tracker.",
            user="W222",
        )
    ts["thread"] = slack.post(channel, "Card validation fix: is it ready for review?", user="W111")
    ts["reply"] = slack.post(
        channel, "We decided to keep the old checkout behind a flag for a week.", user="W222", thread_ts=ts["thread"]
    )
    ts["waiting"] = slack.post(
        channel, "I'm waiting on bob for the card validation fix.", user="W111", thread_ts=ts["thread"]
    )
    return ts


def permalink(channel: str, ts: str) -> str:
    return f"https://playground.slack.com/archives/{channel}/p{ts.replace('.', '')}"


# Tests ------------------------------------------------------------------------------------------------------


def test_digest_acks_at_once_shows_progress_and_posts_a_digest_with_threads_and_links(
    slack: SlackServer, model: ModelServer, workers: WorkerProcess, sender: SlackSender, postgres_url: str
) -> None:
    ts = seed_discussion(slack, filler=1_000)  # two pages of history (999 a page), many parts at a 2,000-token context
    slack.rate_limit("conversations.history", times=1, retry_after=1)  # a 429 on the way (the estimate's) is waited out
    model.latency = 0.3

    started = time.monotonic()
    ack = sender.slash_command("/digest", "", user="W111", channel="C111")
    assert time.monotonic() - started < 2
    text = ack_text(ack)
    [job_id] = job_ids(text)
    assert text.startswith("Queued a digest of the last 24 hours: <#C111> (id ")

    message = wait_final(slack, "C111", job_id)
    assert len(bot_messages(slack, "C111")) == 1  # the progress message became the digest
    edits = slack.edits("C111", message["ts"])
    assert re.fullmatch(
        rf":hourglass_flowing_sand: Digest of <#C111> for the last 24 hours \(requested by <@W111>\) is "
        rf"queued… · id `{job_id}` · about 1,007 messages, estimated \$\d+\.\d{{4}}",
        edits[0],
    ), edits[0]
    # The 429 is now met by the cost estimate before the job is queued, so reading may be too quick for a
    # "messages so far" edit; summarizing always takes long enough for one.
    assert any(re.search(r"summarized \d+ of \d+ parts", e) for e in edits)
    final = message["text"]
    assert FINAL.match(final) and "requested by <@W111>" in final
    assert "\n_1,005 messages, 1 thread_\n" in final
    for heading in ("*Topics*", "*Decisions*", "*Open questions*", "*Waiting on*"):
        assert heading in final
    assert (
        f"We decided to keep the old checkout behind a flag for a week. <{permalink('C111', ts['reply'])}|link>"
        in final
    )
    assert f"<{permalink('C111', ts['question'])}|link>" in final
    assert "alice is waiting on bob" in final
    assert message["blocks"][0]["text"]["text"].startswith("*Digest of <#C111>")

    calls = model.calls_to("/chat/completions")
    transcripts = "\n".join(c.body["messages"][-1]["content"] for c in calls)
    assert "↳ " in transcripts and "alice: I'm waiting on bob for the card validation fix." in transcripts  # threads
    assert "Build #4411" not in transcripts and "channel_join" not in transcripts
    assert len([c for c in calls if c.body["messages"][0]["content"].startswith("You write")]) >= 3  # map
    assert calls[-1].body["messages"][0]["content"].startswith("You merge")  # reduce
    assert all(c.usage["prompt_tokens"] <= 2_000 for c in calls)
    assert 1 < model.max_in_flight <= CONCURRENCY
    reads = [c for c in slack.calls_to("conversations.history") if c.params["limit"] == "999"]  # not the estimate's
    assert len(reads) == 2 + sum(c.status == 429 for c in reads)  # two pages, and a 429 waited out

    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=job_id))[0]
    assert (row["pattern"], row["trigger"], row["status"], row["channel"], row["user"]) == (
        "digest",
        "command",
        "ok",
        "C111",
        "W111",
    )
    assert row["prompt_tokens"] == sum(c.usage["prompt_tokens"] for c in calls)


def _job_client(slack: SlackServer) -> WebClient:
    """The Slack client a digest job reads with (retries 429s, 5xx and connection errors)."""
    return slack_client(load_settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url))


class _MeetingCalls:
    """The reader's Slack calls, except that the first thread reads wait for each other before going out: they
    only get through if `parties` of them are in flight at once."""

    def __init__(self, calls, parties: int) -> None:  # type: ignore[no-untyped-def]
        self.calls, self.meeting, self.first = calls, threading.Barrier(parties), parties
        self._lock = threading.Lock()

    def __call__(self, method: str, **params):  # type: ignore[no-untyped-def]
        with self._lock:
            meet = method == "conversations.replies" and self.first > 0
            self.first -= meet
        if meet:
            self.meeting.wait(timeout=30)  # BrokenBarrierError unless the fetchers really run side by side
        return self.calls(method, **params)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.calls, name)


def test_the_reader_reads_threads_side_by_side_over_kept_connections_and_yields_all_in_order(
    slack: SlackServer, redis_client: redis.Redis
) -> None:
    expected: list[tuple[str, list[str]]] = []  # (parent text, reply texts), oldest first
    for i in range(1_200):  # two pages of history (999 a call)
        parent = f"Update {i} on the billing work."
        ts = slack.post("C111", parent, user="W111")
        replies = [f"Reply {j} to update {i}." for j in range(i % 4)] if i % 7 == 0 else []
        for reply in replies:
            slack.post("C111", reply, user="W222", thread_ts=ts)
        expected.append((parent, replies))
        if i % 100 == 0:
            slack.post("C111", f"Build {i} passed", bot_id="BCI", subtype="bot_message")
    with_replies = sum(1 for _, replies in expected if replies)
    slack.rate_limit("conversations.replies", times=1, retry_after=1)  # waited out, then read again
    slack.fail_http("conversations.replies", status=503, times=1)  # retried by the client's handler
    now = time.time()
    budget = history_budget(redis_client, 100_000)
    reader = ChannelReader(_job_client(slack), budget, team="T111", channel="C111", window=Window(now - 86_400, now))
    reader.calls = _MeetingCalls(reader.calls, parties=REPLY_FETCHERS)  # type: ignore[assignment]
    bought: list[int] = []
    take_up_to = budget.take_up_to

    def recorded(*args, **kwargs) -> int:  # type: ignore[no-untyped-def]
        bought.append(take_up_to(*args, **kwargs))
        return bought[-1]

    budget.take_up_to = recorded  # type: ignore[method-assign]

    threads = list(reader.threads())

    assert [(t.parent.text, [r.text for r in t.replies]) for t in threads] == expected[::-1]  # newest first
    assert all(r.is_reply and r.thread_ts == t.parent.ts for t in threads for r in t.replies)
    assert {t.parent.author for t in threads} == {"alice"} and {r.author for t in threads for r in t.replies} == {"bob"}
    refs = [line.ref for t in threads for line in t.lines]
    assert len(refs) == len(set(refs)) == 1_200 + sum(len(replies) for _, replies in expected)
    assert len(slack.calls_to("conversations.history")) == 2
    replies_calls = slack.calls_to("conversations.replies")
    assert len(replies_calls) == with_replies + 2  # every thread once, plus the 429 and the 503
    assert reader.api_calls == 2 + with_replies
    assert reader.calls.connections <= REPLY_FETCHERS + 3  # kept alive: not one connection per call
    assert sum(bought) == with_replies and len(bought) < with_replies / 4  # paid for a few at a time, none wasted


def test_calls_bought_several_at_a_time_draw_on_the_budget_single_calls_use(redis_client: redis.Redis) -> None:
    budget = history_budget(redis_client, 25)  # 90% of it usable: a burst of 4.5 calls, then one every 3.3 s
    team = f"T-budget-{os.getpid()}"
    assert budget.try_take(team, "conversations.replies", important=True) == 0
    assert budget.take_up_to(team, "conversations.replies", 8) == 3  # what is left of the burst, not 8
    assert budget.try_take(team, "conversations.replies", important=True) > 0
    assert budget.take_up_to(team, "conversations.replies", 8, timeout=0) == 0


def test_a_reader_call_that_slack_refuses_raises_slack_api_error(slack: SlackServer, redis_client: redis.Redis) -> None:
    ts = slack.post("C111", "Is the release branch frozen?", user="W111")
    slack.post("C111", "Yes, since this morning.", user="W222", thread_ts=ts)
    slack.fail("conversations.replies", "channel_not_found")
    now = time.time()
    reader = ChannelReader(
        _job_client(slack),
        history_budget(redis_client, 100_000),
        team="T111",
        channel="C111",
        window=Window(now - 86_400, now),
    )
    with pytest.raises(SlackApiError) as raised:
        list(reader.threads())
    assert raised.value.response["error"] == "channel_not_found" and raised.value.response.status_code == 200


def test_several_channels_and_a_window_give_one_job_each_delivered_by_dm(
    slack: SlackServer, model: ModelServer, workers: WorkerProcess, sender: SlackSender
) -> None:
    now = time.time()
    slack.set_clock(now - 10 * 86_400)
    slack.post("C111", "Ten days ago we decided to rename the billing service.", user="W222")
    slack.set_clock(now - 3 * 86_400)
    slack.post("C111", "Three days ago we agreed to ship the new invoices page.", user="W222")
    slack.post("C222", "Is the quiet channel still used for anything?", user="W333")

    text = ack_text(sender.slash_command("/digest", "<#C111|general> #quiet since 7d dm", user="W111"))
    first, second = job_ids(text)
    assert text == (
        f"Queued 2 digests of the last 7 days: <#C111> (id `{first}`), #quiet (id `{second}`). I'll show "
        "progress by direct message and replace it with the digest. `/digest status` shows your jobs."
    )

    general, quiet = wait_final(slack, "DW111", first), wait_final(slack, "DW111", second)
    assert general["text"].startswith("*Digest of <#C111> for the last 7 days · requested by <@W111>*\n_1 message_")
    assert "we agreed to ship the new invoices page" in general["text"] and "Ten days ago" not in general["text"]
    assert quiet["text"].startswith("*Digest of <#C222> for the last 7 days") and "quiet channel" in quiet["text"]
    assert len(bot_messages(slack, "DW111")) == 2
    assert bot_messages(slack, "C111") == [] and bot_messages(slack, "C222") == []
    transcripts = "\n".join(c.body["messages"][-1]["content"] for c in model.calls_to("/chat/completions"))
    assert "Ten days ago" not in transcripts


def test_status_lists_the_users_jobs_and_cancel_stops_queued_and_running_ones(
    slack: SlackServer, model: ModelServer, workers: WorkerProcess, sender: SlackSender, postgres_url: str
) -> None:
    slack.add_channel("C444", "random", members=["W111", "W222"])
    for channel in ("C111", "C222", "C444"):
        slack.post(channel, "Who is writing the release notes this week?", user="W222")
    release = threading.Event()
    model.responder = lambda request: (release.wait(30), digest_responder(request))[1]
    try:
        text = ack_text(sender.slash_command("/digest", "#general #quiet #random", user="W111"))
        running, other, queued = job_ids(text)
        model.wait_for(lambda: model.in_flight == 2)  # two workers, both busy: the third job waits in the queue

        status = ack_text(sender.slash_command("/digest", "status", user="W111"))
        assert status.startswith("*Your digests* (newest first):\n")
        assert f"• `{queued}` <#C444>, the last 24 hours: queued · queued just now" in status
        assert re.search(
            rf"• `{running}` <#C111>, the last 24 hours: summarizing \(1 message read, 0 of 1 parts\)", status
        )
        assert status.endswith("Cancel one that is still running with `/digest cancel <id>`.")
        assert ack_text(sender.slash_command("/digest", "status", user="W222")) == (
            "You have no digest jobs from the last 7 days. Start one with `/digest`."
        )

        assert ack_text(sender.slash_command("/digest", f"cancel {running}", user="W222")) == (
            f"I have no digest job `{running}` of yours. `/digest status` lists them."
        )
        assert ack_text(sender.slash_command("/digest", f"cancel {queued}", user="W111")) == (
            f"Cancelled digest `{queued}` before it started."
        )
        assert ack_text(sender.slash_command("/digest", f"cancel {running}", user="W111")) == (
            f"Stopping digest `{running}`; its progress message will say when it has stopped."
        )
        cancelled = ":no_entry_sign: Digest of <#{}> for the last 24 hours: cancelled by <@W111>."
        assert wait_final(slack, "C111", running)["text"] == cancelled.format("C111")
        assert wait_final(slack, "C444", queued)["text"] == cancelled.format("C444")
    finally:
        release.set()
    assert wait_final(slack, "C222", other)["text"].startswith("*Digest of <#C222>")

    status = slack.wait_for(
        lambda: (
            (text := ack_text(sender.slash_command("/digest", "status", user="W111")))
            and f"`{other}` <#C222>, the last 24 hours: done" in text
            and text
        )
    )
    assert f"`{running}` <#C111>, the last 24 hours: cancelled" in status
    assert f"`{queued}` <#C444>, the last 24 hours: cancelled" in status
    assert re.search(
        rf"`{other}` <#C222>, the last 24 hours: done · <https://playground.slack.com/archives/C222/p\d+"
        r"\|open>",
        status,
    )
    assert ack_text(sender.slash_command("/digest", f"cancel {other}", user="W111")) == (
        f"Digest `{other}` has already finished, so there is nothing to cancel."
    )
    for channel in ("C111", "C222", "C444"):
        assert len(bot_messages(slack, channel)) == 1
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=running))[0]
    assert (row["status"], row["error_kind"]) == ("error", "cancelled")


def test_a_transient_model_failure_is_retried_and_a_lasting_one_is_explained_in_plain_words(
    slack: SlackServer, model: ModelServer, workers: WorkerProcess, sender: SlackSender, postgres_url: str
) -> None:
    slack.post("C111", "We decided to move the launch to Friday.", user="W222")
    model.fail(status=500, times=3, message="upstream exploded")  # the first attempt: a call and its two retries
    job_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111")))[0]
    message = wait_final(slack, "C111", job_id)
    assert message["text"].startswith("*Digest of <#C111>") and "move the launch to Friday" in message["text"]
    assert (
        ":hourglass_flowing_sand: Digest of <#C111> for the last 24 hours: that attempt failed. The language "
        "model service had an error. Please try again in a minute. Trying again now… · id "
        f"`{job_id}`"
    ) in slack.edits("C111", message["ts"])
    assert len(bot_messages(slack, "C111")) == 1
    assert len(model.calls_to("/chat/completions")) == 4

    slack.post("C222", "Is anyone using the staging database this week?", user="W333")
    model.responder = lambda request: Reply(status=500, error="still down")
    job_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111", channel="C222", channel_name="quiet")))[
        0
    ]
    message = wait_final(slack, "C222", job_id, timeout=60)
    assert message["text"] == (
        f":warning: <@W111> I couldn't make the digest of <#C222> for the last 24 hours. The "
        "language model service had an error. Please try again in a minute. (id "
        f"`{job_id}`)"
    )
    assert "still down" not in message["text"]
    edits = slack.edits("C222", message["ts"])
    assert len([e for e in edits if "that attempt failed" in e]) == 3  # three retries, then the last word
    assert len(bot_messages(slack, "C222")) == 1
    assert (
        f"`{job_id}` <#C222>, the last 24 hours: failed: The language model service had an error. Please try "
        "again in a minute."
    ) in ack_text(sender.slash_command("/digest", "status", user="W111"))
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=job_id))[0]
    assert (row["pattern"], row["status"], row["error_kind"]) == ("digest", "error", "server_error")


def test_a_window_without_messages_from_people_says_so(
    slack: SlackServer, model: ModelServer, workers: WorkerProcess, sender: SlackSender, postgres_url: str
) -> None:
    now = time.time()
    slack.set_clock(now - 3 * 86_400)
    slack.post("C222", "An old message, outside the window.", user="W222")
    slack.set_clock(now - 60)
    slack.post("C222", "", user="W333", subtype="channel_join")
    slack.post("C222", "Deploy finished", bot_id="BCI", subtype="bot_message")

    job_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111", channel="C222", channel_name="quiet")))[
        0
    ]
    message = wait_final(slack, "C222", job_id)
    assert message["text"] == "No messages from people in <#C222> in the last 24 hours, so there is no digest."
    assert model.calls_to("/chat/completions") == []
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=job_id))[0]
    assert (row["status"], row["error_kind"]) == ("refused", "empty_window")
    status = slack.wait_for(
        lambda: (
            (text := ack_text(sender.slash_command("/digest", "status", user="W111")))
            and "done: no messages in the window" in text
            and text
        )
    )
    assert f"`{job_id}` <#C222>, the last 24 hours: done: no messages in the window" in status


def test_bad_input_gets_a_clear_ephemeral_reply_and_queues_nothing(
    slack: SlackServer, sender: SlackSender, postgres_url: str
) -> None:
    cases = {
        "since yesterdayish": "I don't understand the time 'yesterdayish'. Use a duration like 24h or 7d, or a date "
        "like 2024-05-01.",
        "since 3000-01-01": "'3000-01-01' is in the future, so there is nothing to digest yet.",
        "since 400d": "'400d' reaches back too far. The longest window is 366 days.",
        "#general please": "I don't understand `please`.\n" + USAGE,
        "cancel": "Say which one: `/digest cancel <id>` (see `/digest status` for the ids).",
        "cancel deadbeef": "I have no digest job `deadbeef` of yours. `/digest status` lists them.",
        "daily #general 25:00": "I don't understand the time of day '25:00'. Use 24-hour time like 09:00 or 17:30.",
        "daily #general #quiet 09:00": "A schedule covers one channel; set one up per channel.",
        "unschedule 12345": "I have no digest schedule `12345` of yours. `/digest schedules` lists them.",
        "help": USAGE,
    }
    for text, reply in cases.items():
        ack = sender.slash_command("/digest", text, user="W111", trigger_id=f"bad-input-{len(text)}")
        assert ack_text(ack) == reply, text
    # Channels are checked after the ack (Slack calls stay off it); a refusal follows by response_url, by job id.
    not_in_private = (
        "I'm not in #private-stuff, so I can't read it. Invite me with `/invite @teamai` in "
        "#private-stuff, then try again."
    )
    channel_cases = [
        ("#nope", "C111", "#nope", "I can't find the channel #nope. If it is private, invite me to it first."),
        ("<#C999|gone>", "C111", "<#C999>", "I can't find the channel #gone. If it is private, invite me to it first."),
        ("<#C333|private-stuff>", "C111", "<#C333>", not_in_private),
        ("", "C333", "<#C333>", not_in_private),
    ]
    refused = []
    for n, (text, here, shown, reason) in enumerate(channel_cases):
        name = f"bad-channel-{n}"
        ack = sender.slash_command(
            "/digest", text, user="W111", channel=here, trigger_id=name, response_url=slack.response_url(name)
        )
        [job_id] = job_ids(ack_text(ack))
        response = slack.wait_for(lambda name=name: [r for r in slack.responses if r["name"] == name])[0]
        assert response["text"] == f"Digest of {shown} (id `{job_id}`) was not queued: {reason}", text
        assert response["response_type"] == "ephemeral"
        refused.append(job_id)
    assert followed_up(slack, sender, "daily #nope 09:00", name="bad-schedule") == (
        "I can't find the channel #nope. If it is private, invite me to it first."
    )
    assert slack.calls_to("chat.postMessage") == []
    status = ack_text(sender.slash_command("/digest", "status", user="W111"))
    assert not [job_id for job_id in refused if job_id in status]
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="bad-channel-0"))[0]
    assert (row["pattern"], row["trigger"], row["status"], row["error_kind"]) == (
        "digest",
        "command",
        "refused",
        "channel_not_found",
    )


def test_without_redis_digests_say_they_need_it(slack: SlackServer, model: ModelServer, postgres_url: str) -> None:
    env = bot_env(slack, model, postgres_url, **{**DIGEST_SETTINGS, "REDIS_URL": ""})
    with BotProcess(env, workers=1) as bot:
        client = SlackSender(bot.url, SIGNING_SECRET)
        try:
            assert ack_text(client.slash_command("/digest", "")) == NEEDS_REDIS
            assert ack_text(client.slash_command("/digest", "status")) == NEEDS_REDIS
        finally:
            client.close()
    assert slack.calls_to("chat.postMessage") == []


def _make_due(database_url: str, schedule_id: str) -> None:
    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE digest_schedules SET next_run_at = :at WHERE id = :id"),
            {"at": datetime.now(UTC) - timedelta(minutes=1), "id": int(schedule_id)},
        )
    engine.dispose()


def _schedule_row(database_url: str, schedule_id: str) -> dict:
    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as connection:
        row = (
            connection.execute(
                sqlalchemy.text("SELECT * FROM digest_schedules WHERE id = :id"), {"id": int(schedule_id)}
            )
            .mappings()
            .one()
        )
    engine.dispose()
    return dict(row)


def followed_up(slack: SlackServer, sender: SlackSender, text: str, *, name: str) -> str:
    """The reply that follows an empty ack (the command checks a channel with Slack after acking)."""
    ack = sender.slash_command("/digest", text, user="W111", response_url=slack.response_url(name))
    assert ack.status == 200 and ack.body == "", ack.body
    response = slack.wait_for(lambda name=name: [r for r in slack.responses if r["name"] == name])[0]
    assert response["response_type"] == "ephemeral"
    return response["text"]


def test_schedules_are_stored_survive_a_restart_run_on_the_workers_and_can_be_removed(
    slack: SlackServer, model: ModelServer, workers: WorkerProcess, sender: SlackSender, postgres_url: str
) -> None:
    text = followed_up(slack, sender, "daily #general 09:00", name="daily")
    match = re.fullmatch(
        r"Scheduled: a digest of <#C111> daily at 09:00 \(UTC\), posted in <#C111>\. The first one "
        r"comes <!date\^(\d+)\^\{date_short_pretty\} at \{time\}\|[^>]+>\. Schedule id `(\d+)`; "
        r"remove it with `/digest unschedule \d+`\.",
        text,
    )
    assert match, text
    first_run, daily = datetime.fromtimestamp(int(match.group(1)), UTC), match.group(2)
    assert (first_run.hour, first_run.minute) == (9, 0) and timedelta(0) < first_run - datetime.now(UTC) <= timedelta(
        days=1
    )
    weekly_text = followed_up(slack, sender, "weekly <#C222|quiet> fri 17:30 dm", name="weekly")
    assert weekly_text.startswith(
        "Scheduled: a digest of <#C222> weekly on Friday at 17:30 (UTC), posted to you by direct message."
    )
    weekly = re.search(r"Schedule id `(\d+)`", weekly_text).group(1)  # type: ignore[union-attr]
    listing = ack_text(sender.slash_command("/digest", "schedules", user="W111"))
    assert f"• `{daily}` <#C111> daily at 09:00 (UTC), in the channel; next <!date^" in listing
    assert f"• `{weekly}` <#C222> weekly on Friday at 17:30 (UTC), by direct message; next <!date^" in listing

    workers.stop()  # every worker goes away; the schedule is in the database
    slack.post("C111", "We agreed to freeze the release branch on Thursday.", user="W222")
    _make_due(postgres_url, daily)  # 09:00 came while no worker ran
    workers.start()
    digest = slack.wait_for(
        lambda: [m for m in bot_messages(slack, "C111") if m["text"].startswith("*Digest")], timeout=30
    )[0]
    assert digest["text"].startswith("*Digest of <#C111> for the last 24 hours · scheduled by <@W111>*")
    assert "We agreed to freeze the release branch on Thursday." in digest["text"]
    row = _schedule_row(postgres_url, daily)
    assert row["next_run_at"] > datetime.now(UTC) and row["last_job_id"]
    ledger = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=row["last_job_id"]))[0]
    assert (ledger["trigger"], ledger["status"]) == ("schedule", "ok")
    assert len(bot_messages(slack, "C111")) == 1  # one occurrence, one digest

    assert ack_text(sender.slash_command("/digest", f"unschedule {weekly}", user="W222")) == (
        f"I have no digest schedule `{weekly}` of yours. `/digest schedules` lists them."
    )
    assert ack_text(sender.slash_command("/digest", f"unschedule {daily}", user="W111")) == (
        f"Removed schedule `{daily}`: the daily at 09:00 (UTC) digest of <#C111>."
    )
    assert ack_text(sender.slash_command("/digest", f"unschedule {weekly}", user="W111")).startswith("Removed")
    assert ack_text(sender.slash_command("/digest", "schedules", user="W111")) == (
        "You have no digest schedules. Set one up with `/digest daily #channel 09:00`."
    )


def test_operators_digest_a_channel_from_the_command_line(
    slack: SlackServer, model: ModelServer, env: dict[str, str], digest_bot: BotProcess, postgres_url: str
) -> None:
    ts = seed_discussion(slack)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "app.py", "digest", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    result = run("--channel", "C111", "--since", "7d")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "# Digest of #general for the last 7 days"
    assert re.fullmatch(r"5 messages, 1 thread, 1 model call, [\d,]+ tokens", lines[2])
    assert (
        f"- We decided to keep the old checkout behind a flag for a week. [link]({permalink('C111', ts['reply'])})"
        in lines
    )
    assert "**Waiting on**" in lines
    row = ledger_rows(postgres_url, pattern="digest", trigger="cli")[-1]
    assert row["status"] == "ok" and row["prompt_tokens"] > 0

    not_in = run("--channel", "C333")
    assert (not_in.returncode, not_in.stderr.strip()) == (1, "The bot is not in #private-stuff; invite it first.")
    bad = run("--channel", "C111", "--since", "fortnight")
    assert bad.returncode == 2 and "I don't understand the time 'fortnight'" in bad.stderr


def test_a_digest_queued_by_the_previous_release_is_posted_after_a_deploy(
    slack: SlackServer, model: ModelServer, workers: WorkerProcess, redis_client: redis.Redis
) -> None:
    """RQ keeps a job's function by name: digests queued before they moved to `digests/` name `jobs.digest`."""
    seed_discussion(slack)
    job_id = "0ldb0b01"
    progress_ts = _job_client(slack).chat_postMessage(channel="C111", text=f":hourglass: Digest `{job_id}` queued")[
        "ts"
    ]
    now = time.time()
    request = DigestRequest(
        job_id=job_id,
        workspace="T111",
        channel="C111",
        channel_name="general",
        user="W111",
        oldest=now - 86_400,
        latest=now,
        window_label="the last 24 hours",
        destination="C111",
        progress_ts=progress_ts,
    ).to_dict()
    del request["estimated_cost"]  # a field the previous release did not have
    Queue(DIGEST_SETTINGS["DIGEST_QUEUE"], connection=redis_client).enqueue(
        "jobs.digest.run_digest",
        request,
        job_id=job_id,
        on_failure=Callback("jobs.digest.on_failure", timeout=60),
        on_stopped=Callback("jobs.digest.on_stopped", timeout=60),
        meta={"user": "W111", "workspace": "T111", "channel": "C111", "phase": "queued"},
    )
    final = wait_final(slack, "C111", job_id)["text"]
    assert FINAL.match(final) and "We decided to keep the old checkout behind a flag" in final


# Killed workers (last: a killed worker's RQ scheduler lock lingers for a minute) ---------------------------


def _hold_first_attempt(model: ModelServer, release: threading.Event) -> None:
    """Model calls hang until `release` is set, so the job is caught mid-way."""
    model.responder = lambda request: (release.wait(60), digest_responder(request))[1]


def test_a_worker_killed_mid_job_leaves_it_to_another_worker_which_posts_one_digest(
    slack: SlackServer,
    model: ModelServer,
    env: dict[str, str],
    workers: WorkerProcess,
    sender: SlackSender,
    postgres_url: str,
) -> None:
    workers.stop()  # this test runs its own workers
    seed_discussion(slack, filler=60)
    release = threading.Event()
    _hold_first_attempt(model, release)
    doomed = WorkerProcess(env, processes=1).start()
    try:
        job_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111")))[0]
        model.wait_for(lambda: model.in_flight >= 1, timeout=30)
        progress = bot_messages(slack, "C111")[0]
        assert "reading the channel…" in slack.edits("C111", progress["ts"])[1]  # the job had begun its work
        killed = doomed.kill()  # the whole machine, as it were: supervisor, worker, job process, scheduler
        assert len(killed) >= 3
    finally:
        release.set()
    survivor = WorkerProcess(env, processes=1).start()
    try:
        message = wait_final(slack, "C111", job_id, timeout=60)
    finally:
        survivor.stop()
    assert message["ts"] == progress["ts"] and len(bot_messages(slack, "C111")) == 1
    assert message["text"].startswith("*Digest of <#C111> for the last 24 hours · requested by <@W111>*")
    assert (
        ":hourglass_flowing_sand: Digest of <#C111> for the last 24 hours: that attempt failed. The worker "
        f"running it stopped before it finished. Trying again now… · id `{job_id}`"
    ) in slack.edits("C111", message["ts"])
    assert len(ledger_rows(postgres_url, request_id=job_id)) == 1
    status = ack_text(sender.slash_command("/digest", "status", user="W111"))
    assert f"`{job_id}` <#C111>, the last 24 hours: done" in status
    workers.start()


def test_a_job_process_outliving_its_worker_and_the_retry_post_one_digest_between_them(
    slack: SlackServer,
    model: ModelServer,
    env: dict[str, str],
    workers: WorkerProcess,
    sender: SlackSender,
    postgres_url: str,
) -> None:
    workers.stop()
    seed_discussion(slack, filler=60)
    release = threading.Event()
    held: list[int] = []

    def responder(request: dict) -> Reply:
        if len(held) < CONCURRENCY:  # the first attempt's calls hang; the retry's go through
            held.append(1)
            release.wait(60)
        return digest_responder(request)

    model.responder = responder
    doomed = WorkerProcess(env, processes=1).start()
    try:
        job_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111")))[0]
        model.wait_for(lambda: model.in_flight >= 1, timeout=30)
        orphans = doomed.kill_worker_only()  # the worker dies; its job process runs on, stuck in model calls
        assert len(orphans) == 1
        survivor = WorkerProcess(env, processes=1).start()
        try:
            message = wait_final(slack, "C111", job_id, timeout=60)  # the retry finished first
            digest = message["text"]
        finally:
            release.set()  # now the orphaned first attempt completes too
        slack.wait_for(lambda: not alive(orphans[0]), timeout=60)
        survivor.stop()
    finally:
        release.set()
    assert digest.startswith("*Digest of <#C111>")
    assert len(bot_messages(slack, "C111")) == 1
    assert slack.message("C111", message["ts"])["text"] == digest  # the late attempt changed nothing
    assert len(ledger_rows(postgres_url, request_id=job_id)) == 1
    workers.start()
