"""With no model configured the bot still serves: honest extractive output with a visible note."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import SIGNING_SECRET, bot_env, ledger_rows
from tests.test_summarize import MEETING_NOTES, placeholder_and_final


@pytest.fixture(scope="module")
def offline_bot(slack: SlackServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('offline') / 'ledger.db'}"
    with BotProcess(bot_env(slack, None, database_url, REDIS_URL="")) as bot:
        yield bot, database_url


def test_offline_summary_quotes_the_input_and_says_no_model_is_configured(
    slack: SlackServer, model: ModelServer, offline_bot: tuple[BotProcess, str]
) -> None:
    bot, database_url = offline_bot
    sender = SlackSender(bot.url, SIGNING_SECRET)
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="offline-1")

    _, texts = placeholder_and_final(slack)
    final = texts[-1]
    bullets = [line.removeprefix("• ") for line in final.splitlines() if line.startswith("• ")]
    assert 1 <= len(bullets) <= 5
    assert all(sentence in MEETING_NOTES for sentence in bullets)  # quoted, never invented
    assert "No model is configured" in final
    assert model.requests == []  # no network call to any model
    row = slack.wait_for(lambda: ledger_rows(database_url, request_id="offline-1"))[0]
    assert (row["model"], row["status"], row["cost_usd"]) == ("offline-extractive", "ok", 0)


def test_offline_chat_is_honest(slack: SlackServer, offline_bot: tuple[BotProcess, str]) -> None:
    bot, _ = offline_bot
    SlackSender(bot.url, SIGNING_SECRET).mention("write me a poem", ts="1700000001.000100")
    reply = slack.wait_for(
        lambda: [
            m
            for m in slack.replies("C111", "1700000001.000100")
            if m.get("bot_id") and "No model is configured" in m["text"]
        ]
    )[0]
    assert "no language model is configured" in reply["text"]
    assert "No model is configured" in reply["text"]
