"""What a new user meets with no model configured: a greeting that says what works, small talk and requests to
write something answered as chat (not from the docs), the agent's tools run as written, and DMs answered in the
conversation itself rather than in threads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import REDIS_URL, SIGNING_SECRET, bot_env, ledger_rows
from tests.rag_support import FIXTURE_DOCS, cli_env, ingest
from tests.test_streaming import final_reply

DM = "D0NEWUSER"
CONNECT = "set `OPENAI_BASE_URL`"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for key in redis.Redis.from_url(REDIS_URL).scan_iter("slack-event:*"):  # event ids restart in each run
        redis.Redis.from_url(REDIS_URL).delete(key)
    root = tmp_path_factory.mktemp("first-use")
    ingest(cli_env(root / "index"), FIXTURE_DOCS)  # docs are indexed, so routing has a real choice to make
    return root


@pytest.fixture(scope="module")
def offline_bot(slack: SlackServer, home: Path) -> Iterator[BotProcess]:
    env = bot_env(
        slack,
        None,
        f"sqlite:///{home / 'ledger.db'}",
        DATA_DIR=str(home / "data"),
        DOCS_INDEX_DIR=str(home / "index"),
    )
    with BotProcess(env) as bot:
        yield bot


@pytest.fixture
def user(offline_bot: BotProcess, slack: SlackServer) -> Iterator[SlackSender]:
    slack.add_channel(DM, "", is_im=True, user="W111")
    client = SlackSender(offline_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    yield client
    client.close()


def dm_answer(slack: SlackServer, after: int = 0) -> dict:
    """The bot's finished answer posted in the DM itself (not in a thread), the `after`-th one."""

    def done() -> dict | None:
        answers = [m for m in slack.messages(DM) if m.get("bot_id")]
        if len(answers) <= after or answers[after]["text"].endswith("▍") or "Thinking" in answers[after]["text"]:
            return None
        return answers[after] if "No model is configured" in answers[after]["text"] else None

    return slack.wait_for(done, timeout=60)


def test_a_greeting_in_the_dm_is_answered_in_the_dm_with_what_works_offline(
    slack: SlackServer, model: ModelServer, user: SlackSender, home: Path
) -> None:
    user.message("Hi! What can you help me with?", channel=DM, channel_type="im", ts="1750000000.000100")
    answer = dm_answer(slack)
    assert "thread_ts" not in answer  # in the conversation itself, not hidden in a thread
    assert not [m for m in slack.replies(DM, "1750000000.000100") if m.get("bot_id")]
    text = answer["text"]
    assert text.startswith("Hi!")
    for works in ("/summarize", "docs:", "/digest", "agent: schema", "agent: sql SELECT", "/usage"):
        assert works in text, works
    assert CONNECT in text and "OpenAI-compatible server" in text
    assert "couldn't find" not in text and "Confidence" not in text  # not answered from the docs
    assert model.requests == []
    row = slack.wait_for(lambda: ledger_rows(f"sqlite:///{home / 'ledger.db'}", request_id="1750000000.000100"))[0]
    assert row["pattern"] == "chat"

    # the follow-up continues the same conversation, again in the DM itself
    user.message("Can you write a Python function that reverses a string?", channel=DM, channel_type="im")
    second = dm_answer(slack, after=1)
    assert "thread_ts" not in second
    assert "no language model is configured" in second["text"]
    assert "couldn't find this in the team's documents" not in second["text"]


def test_a_request_to_write_code_in_a_channel_is_chat_in_its_thread(
    slack: SlackServer, user: SlackSender, home: Path
) -> None:
    user.mention("Can you write a Python function that reverses a string?", ts="1750000000.000200")
    (answer,) = final_reply(slack, "C111", "1750000000.000200")
    assert answer["thread_ts"] == "1750000000.000200"  # channels keep threads
    assert "no language model is configured" in answer["text"]
    assert "couldn't find this in the team's documents" not in answer["text"]
    row = slack.wait_for(lambda: ledger_rows(f"sqlite:///{home / 'ledger.db'}", request_id="1750000000.000200"))[0]
    assert row["pattern"] == "chat"


def test_the_offline_agent_runs_the_tool_a_task_names(slack: SlackServer, user: SlackSender) -> None:
    user.mention("agent: sql SELECT name FROM regions ORDER BY id", ts="1750000000.000300")
    (answer,) = final_reply(slack, "C111", "1750000000.000300")
    lines = answer["text"].splitlines()
    assert lines[0].startswith("🔧 `sql` — `SELECT name FROM regions ORDER BY id` → 4 rows"), lines[0]
    for region in ("North America", "Europe", "Asia Pacific", "Latin America"):
        assert region in answer["text"]
    assert CONNECT in answer["text"]

    user.mention("agent: schema", ts="1750000000.000400")
    (schema,) = final_reply(slack, "C111", "1750000000.000400")
    assert schema["text"].startswith("🔧 `schema`")
    assert "`sales`: id INTEGER" in schema["text"] or "`sales`: id" in schema["text"]

    user.mention("agent: total sales last month and growth", ts="1750000000.000500")
    (plain,) = final_reply(slack, "C111", "1750000000.000500")
    assert "no language model is configured" in plain["text"]
    assert "`agent: sql SELECT" in plain["text"] and "`agent: schema`" in plain["text"]
    assert CONNECT in plain["text"]
