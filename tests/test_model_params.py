"""Reasoning models (`gpt-5*`, the `o` series) get only the parameters they accept, as OpenAI enforces."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.model.gateway import Gateway
from bot.model.metering import Meter
from bot.settings import SettingsError, load_settings
from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import MODEL_KEY, SIGNING_SECRET, bot_env, ledger_rows
from tests.test_streaming import final_reply
from tests.test_summarize import MEETING_NOTES, placeholder_and_final


@pytest.fixture(scope="module")
def reasoning_bot(slack: SlackServer, model: ModelServer, postgres_url: str) -> Iterator[BotProcess]:
    with BotProcess(bot_env(slack, model, postgres_url, MODEL="gpt-5-mini")) as bot:
        yield bot


def test_a_reasoning_model_gets_summaries_and_chat_answers_without_rejected_parameters(
    slack: SlackServer, model: ModelServer, reasoning_bot: BotProcess, postgres_url: str
) -> None:
    sender = SlackSender(reasoning_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    model.enqueue(Reply(text="Launch moves to Friday."))
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="111.222.reasoning")
    _, texts = placeholder_and_final(slack)
    assert texts[-1] == "*Summary for <@W111>*\nLaunch moves to Friday."

    model.enqueue(Reply(text="Refunds take 30 days."))
    sender.mention("refunds?", ts="1710000000.090000")
    (reply,) = final_reply(slack, "C111", "1710000000.090000")
    assert reply["text"] == "Refunds take 30 days."

    calls = model.calls_to("/chat/completions")
    assert [call.status for call in calls] == [200, 200]
    assert all("temperature" not in call.body and "max_tokens" not in call.body for call in calls)
    assert calls[0].body["max_completion_tokens"] > 0
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="111.222.reasoning"))[0]
    assert (row["status"], row["model"]) == ("ok", "gpt-5-mini")


def test_the_model_table_is_overridden_per_model(model: ModelServer) -> None:
    def gateway(model_name: str, params: dict) -> Gateway:
        return Gateway(
            load_settings(
                openai_base_url=model.base_url,
                openai_api_key=MODEL_KEY,
                model=model_name,
                model_params=json.dumps(params),
            )
        )

    own = gateway("house-reasoner", {"house-reasoner": {"temperature": False, "max_tokens": "max_completion_tokens"}})
    own.chat([{"role": "user", "content": "hi"}], pattern="chat", meter=Meter(), max_tokens=50)
    sent = model.calls_to("/chat/completions")[-1].body
    assert "temperature" not in sent and sent["max_completion_tokens"] == 50 and "max_tokens" not in sent

    plain = gateway("test-model", {})
    plain.chat([{"role": "user", "content": "hi"}], pattern="chat", meter=Meter(), max_tokens=50)
    sent = model.calls_to("/chat/completions")[-1].body
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 50

    with pytest.raises(SettingsError, match="MODEL_PARAMS"):
        load_settings(model_params='{"m": {"max_tokens": "limit"}}')
