"""Secrets never reach a log line, a ledger row or a Slack message, whatever fails along the way."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.model.metering import Meter
from bot.storage.conversations import ConversationStore
from bot.storage.ledger import Ledger
from doubles.bot_process import ROOT, BotProcess
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import BOT_TOKEN, MODEL_KEY, SIGNING_SECRET, bot_env, ledger_rows
from tests.test_streaming import final_reply

DB_PASSWORD = "PlantedDbPass-4411"
AGENT_DB_PASSWORD = "PlantedAgentPass-7781"
CLIENT_SECRET = "planted-client-secret-5150"
REFRESH_TOKEN = "xoxe-1-My0xLTEyMzQ1Njc4OTAtcGxhbnRlZA"
ROTATED_TOKEN = "xoxe.xoxp-1-Mi0yLTM0NTY3ODkwLXBsYW50ZWQ"
APP_TOKEN = "xapp-1-A0PLANTED-1234567890-abcdef0123456789"
PLANTED = (BOT_TOKEN, MODEL_KEY, SIGNING_SECRET, DB_PASSWORD, AGENT_DB_PASSWORD, CLIENT_SECRET)


def leaks(text: str, secrets: tuple[str, ...] = PLANTED) -> list[str]:
    return [secret for secret in secrets if secret in text]


@pytest.fixture(scope="module")
def planted_bot(slack: SlackServer, model: ModelServer, postgres_url: str) -> Iterator[BotProcess]:
    env = bot_env(
        slack,
        model,
        postgres_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1),  # trust auth: any password is accepted
        LOG_FORMAT="text",
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        AGENT_DATABASE_URL=f"postgresql+psycopg://planted_agent:{AGENT_DB_PASSWORD}@127.0.0.1:5432/test",
        MODEL_MAX_RETRIES="0",
    )
    with BotProcess(env) as bot:
        yield bot


def test_a_session_full_of_errors_leaks_no_secret(
    slack: SlackServer, model: ModelServer, planted_bot: BotProcess, postgres_url: str
) -> None:
    sender = SlackSender(planted_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    try:
        model.enqueue(Reply(status=500, error="upstream exploded"))  # a model failure
        sender.mention("hello there", ts="1710000700.000100")
        final_reply(slack, "C111", "1710000700.000100")

        model.enqueue(Reply(tool_calls=[{"name": "sql", "arguments": {"query": "SELECT 1"}}]), Reply(text="No data."))
        sender.mention("agent: count the sales", ts="1710000700.000200")  # the agent database cannot be reached
        final_reply(slack, "C111", "1710000700.000200")

        slack.fail_http("chat.update", 500, times=5)  # Slack fails while the summary is delivered
        sender.slash_command("/summarize", "Notes long enough to be summarized by the model. " * 4, user="W111")
        slack.wait_for(lambda: ledger_rows(postgres_url, pattern="summarize", channel="C111"), timeout=60)

        forged = httpx.post(planted_bot.url, content=b"token=x", headers={"X-Slack-Signature": "v0=00"})
        assert forged.status_code == 401
    finally:
        sender.close()
    planted_bot.wait_for_output(lambda out: "agent" in out and "summarize" in out)

    assert "Traceback" in planted_bot.output or "ERROR" in planted_bot.output  # the session did fail
    assert leaks(planted_bot.output) == []
    assert leaks(json.dumps(ledger_rows(postgres_url), default=str)) == []
    assert leaks(json.dumps([c.params for c in slack.calls], default=str)) == []
    assert leaks(json.dumps(slack.responses, default=str)) == []


LOG_SNIPPET = """
import logging, sys
from bot.logs import configure_logging
configure_logging("INFO", sys.argv[1])
try:
    raise RuntimeError(" ".join(sys.argv[2:]))
except RuntimeError:
    logging.getLogger("planted").exception("failed with %s", " ".join(sys.argv[2:]))
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_and_tracebacks_mask_tokens_and_database_passwords(log_format: str) -> None:
    secrets = (
        REFRESH_TOKEN,
        ROTATED_TOKEN,
        APP_TOKEN,
        BOT_TOKEN,
        f"postgresql+psycopg://reader:{DB_PASSWORD}@db.internal:5432/app",
        f"redis://:{AGENT_DB_PASSWORD}@cache.internal:6379/0",
    )
    run = subprocess.run(
        [sys.executable, "-c", LOG_SNIPPET, log_format, *secrets], cwd=ROOT, capture_output=True, text=True, check=True
    )
    output = run.stderr
    assert "Traceback" in output or '"error"' in output
    assert output.count("failed with") == 1
    bare = (REFRESH_TOKEN, ROTATED_TOKEN.split(".", 1)[1], APP_TOKEN, BOT_TOKEN)
    assert leaks(output, bare + (DB_PASSWORD, AGENT_DB_PASSWORD)) == []
    assert "postgresql+psycopg://reader:***@db.internal:5432/app" in output  # still says which database


def test_a_token_a_model_echoes_is_masked_in_the_ledger_and_the_conversation(tmp_path: Path) -> None:
    """The ledger keeps prompts and answers for evaluation: a model that repeats a token it read keeps no secret."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'bot.db'}")
    ledger.migrate()
    meter = Meter(workspace="T1", pattern="docs", trigger="mention", request_id="echo.1")
    meter.prompt = [{"role": "user", "content": f"The runbook says the token is {BOT_TOKEN}."}]
    meter.response = f"The token is {BOT_TOKEN}; the key is {MODEL_KEY}; see postgresql://app:{DB_PASSWORD}@db/x"
    meter.context = [{"passage": f"token: {BOT_TOKEN}"}]
    ledger.record(meter, status="ok")
    conversations = ConversationStore(ledger.engine)
    conversations.add(workspace="T1", channel="D1", thread_ts="dm", role="assistant", text=meter.response)

    (row,) = ledger.rows()
    stored = [row.prompt, row.response, row.context, conversations.turns("D1", "dm")[0].text]
    assert [leaks(text) for text in stored] == [[], [], [], []]
    assert row.response == "The token is xoxb-***; the key is sk-***; see postgresql://app:***@db/x"
