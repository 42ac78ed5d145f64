"""`python app.py` in Socket Mode (SLACK_APP_TOKEN set): the bot connects over a WebSocket and serves commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from tests.conftest import BOT_TOKEN, bot_env
from tests.test_summarize import MEETING_NOTES


@pytest.fixture(scope="module")
def socket_slack() -> Iterator[SlackServer]:
    with SlackServer(token=BOT_TOKEN, app_token="xapp-1-test", socket_ping_interval=1.0) as server:
        server.add_user("W111", "alice")
        server.add_channel("C111", "general")
        yield server


def test_socket_mode_serves_slash_commands_and_mentions(
    socket_slack: SlackServer, model: ModelServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    database = f"sqlite:///{tmp_path_factory.mktemp('socket') / 'ledger.db'}"
    env = bot_env(socket_slack, model, database, SLACK_APP_TOKEN="xapp-1-test", SLACK_SIGNING_SECRET="")
    with BotProcess(env, workers=1) as bot:
        assert "Socket Mode" in bot.output
        assert socket_slack.wait_for(lambda: socket_slack.socket_connections >= 1)
        envelope = socket_slack.socket_slash_command("/summarize", MEETING_NOTES)
        assert socket_slack.wait_for(lambda: socket_slack.socket_ack(envelope))  # acknowledged over the socket
        update = socket_slack.wait_for(
            lambda: [
                c for c in socket_slack.calls_to("chat.update") if c.params["text"].startswith("*Summary for <@W111>*")
            ]
        )
        assert update

        socket_slack.socket_event(
            {
                "type": "app_mention",
                "user": "W111",
                "text": "<@UBOT> hello",
                "ts": "1750000000.000100",
                "channel": "C111",
            }
        )
        reply = socket_slack.wait_for(
            lambda: [
                m
                for m in socket_slack.replies("C111", "1750000000.000100")
                if m.get("bot_id") and m["text"] == "Summary: hello"
            ]
        )
        assert reply
