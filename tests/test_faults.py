"""Faults in the bot's own dependencies: the database or Redis going away for a moment loses no reply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.slack.mrkdwn import to_mrkdwn
from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.tcp_proxy import TcpProxy
from tests.conftest import REDIS_URL, SIGNING_SECRET, bot_env, ledger_rows
from tests.test_streaming import ANSWER, bot_messages, final_reply
from tests.test_summarize import MEETING_NOTES, placeholder_and_final


@pytest.fixture(scope="module")
def database_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def redis_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", 6379).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def fragile_bot(
    slack: SlackServer, model: ModelServer, postgres_url: str, database_proxy: TcpProxy, redis_proxy: TcpProxy
) -> Iterator[tuple[BotProcess, str]]:
    """A bot whose database and Redis connections go through proxies the tests can cut."""
    database_url = postgres_url.replace(":5432/", f":{database_proxy.port}/")
    redis_url = REDIS_URL.replace(":6379/", f":{redis_proxy.port}/")
    with BotProcess(bot_env(slack, model, database_url, REDIS_URL=redis_url), workers=1) as bot:
        yield bot, database_url


def test_a_database_outage_loses_no_reply_and_the_ledger_rows_are_written_once_it_is_back(
    slack: SlackServer,
    model: ModelServer,
    fragile_bot: tuple[BotProcess, str],
    database_proxy: TcpProxy,
    postgres_url: str,
) -> None:
    bot, _ = fragile_bot
    sender = SlackSender(bot.url, SIGNING_SECRET)
    database_proxy.cut()
    try:
        sender.slash_command("/summarize", MEETING_NOTES, trigger_id="fault.db.1")
        _, texts = placeholder_and_final(slack)
        assert texts[-1].startswith("*Summary for <@W111>*")  # answered while the database is down
        sender.mention("still there?", ts="1760000009.000100")
        final_reply(slack, "C111", "1760000009.000100")
        bot.wait_for_output(lambda out: "rows wait to be written" in out)
        assert ledger_rows(postgres_url, request_id="fault.db.1") == []
    finally:
        database_proxy.restore()
    (summary,) = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="fault.db.1"))  # written once back
    assert (summary["pattern"], summary["status"]) == ("summarize", "ok")
    assert len(slack.wait_for(lambda: ledger_rows(postgres_url, request_id="1760000009.000100"))) == 1
    slack.reset()
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="fault.db.2")
    placeholder_and_final(slack)
    assert slack.wait_for(lambda: ledger_rows(postgres_url, request_id="fault.db.2"))
    assert "rows lost" not in bot.output


def test_redis_going_away_mid_stream_still_finishes_the_answer(
    slack: SlackServer, model: ModelServer, fragile_bot: tuple[BotProcess, str], redis_proxy: TcpProxy
) -> None:
    bot, _ = fragile_bot
    model.token_delay = 0.1
    model.enqueue(Reply(text=ANSWER))
    SlackSender(bot.url, SIGNING_SECRET).mention("refunds?", ts="1760000000.000200")
    slack.wait_for(lambda: [m for m in bot_messages(slack, "C111", "1760000000.000200") if m["text"].strip()])
    redis_proxy.cut()
    try:
        (reply,) = final_reply(slack, "C111", "1760000000.000200")
        assert reply["text"] == to_mrkdwn(ANSWER)
        assert slack.ratelimited_count == 0
        sender = SlackSender(bot.url, SIGNING_SECRET)
        sender.slash_command("/summarize", MEETING_NOTES)  # and new requests are served without Redis
        _, texts = placeholder_and_final(slack)
        assert texts[-1].startswith("*Summary for <@W111>*")
    finally:
        redis_proxy.restore()
