"""`/digest` with no model configured, end to end through a real worker: the key messages quoted by name with
mentions resolved, the bot's own traffic and messages addressed to it left out, and counts that add up."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from doubles.bot_process import BotProcess
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.worker_process import WorkerProcess
from tests.conftest import SIGNING_SECRET, bot_env
from tests.test_digest import DIGEST_SETTINGS, ack_text, job_ids, wait_final


@pytest.fixture(scope="module")
def env(slack: SlackServer, redis_client: redis.Redis, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home: Path = tmp_path_factory.mktemp("digest-offline")
    settings = {**DIGEST_SETTINGS, "DIGEST_QUEUE": f"digest-offline-{os.getpid()}"}
    return bot_env(slack, None, f"sqlite:///{home / 'ledger.db'}", DATA_DIR=str(home), **settings)


@pytest.fixture(scope="module")
def offline_bot(env: dict[str, str]) -> Iterator[BotProcess]:
    with BotProcess(env, workers=1) as process:
        yield process


@pytest.fixture(scope="module")
def offline_workers(env: dict[str, str], offline_bot: BotProcess) -> Iterator[WorkerProcess]:
    process = WorkerProcess(env, processes=1).start()
    yield process
    process.stop()


def test_an_offline_digest_quotes_people_by_name_and_leaves_the_bot_out(
    slack: SlackServer, offline_workers: WorkerProcess, offline_bot: BotProcess
) -> None:
    slack.set_clock(time.time() - 3_600)
    people = [
        ("W111", "The checkout launch moves to Friday because QA found two bugs in the payment form."),
        ("W222", "I will fix the card validation bug today and ask <@W333> to review the change."),
        ("W333", "Sounds good, I can review the card validation change after lunch today."),
    ]
    for user, text in people:
        slack.post("C111", text, user=user)
    asked = slack.post("C111", "<@UBOT> what is the refund policy for annual plans?", user="W111")
    slack.post("C111", "Refunds for annual plans are prorated.", user="UBOT", bot_id=slack.bot_id, thread_ts=asked)
    summary = slack.post("C111", "Summary: the launch moved to Friday.", user="UBOT", bot_id=slack.bot_id)
    slack.post("C111", "thanks, can you also list the open bugs?", user="W222", thread_ts=summary)

    sender = SlackSender(offline_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    [job_id] = job_ids(ack_text(sender.slash_command("/digest", "", user="W111", channel="C111")))
    text = wait_final(slack, "C111", job_id)["text"]

    assert "\n_3 messages_\n" in text  # what was digested: the people's three messages, nothing else
    assert "*Key messages* (the messages, quoted as written)" in text
    assert "• *alice*: The checkout launch moves to Friday" in text
    assert "• *bob*: I will fix the card validation bug today and ask @carol to review the change." in text
    assert not re.search(r"\bm\d+\b", text)  # no internal labels
    assert "<@" not in text.replace("requested by <@W111>", "")
    for left_out in ("refund policy", "prorated", "Summary: the launch", "open bugs"):
        assert left_out not in text, left_out
    assert "No model is configured" in text
