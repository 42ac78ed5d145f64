"""The bot's HTTP surface: signatures, re-deliveries, health check, malformed and unknown requests."""

from __future__ import annotations

import json
import time

import httpx

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender, sign
from tests.conftest import BOT_TOKEN, MODEL_KEY, SIGNING_SECRET, ledger_rows


def test_healthz(bot: BotProcess) -> None:
    response = httpx.get(bot.base_url + "/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert httpx.get(bot.base_url + "/nope").status_code == 404


def test_bad_signature_and_stale_timestamp_are_rejected(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    body = b"command=%2Fsummarize&text=hello&team_id=T111&channel_id=C111&user_id=W111"
    forged = sender.post(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert forged.status == 401

    old = str(int(time.time()) - 6 * 60)
    stale = sender.post(
        body, "application/x-www-form-urlencoded", timestamp=old, signature=sign(SIGNING_SECRET, old, body)
    )
    assert stale.status == 401

    wrong_secret = sender.post(
        body, "application/x-www-form-urlencoded", signature=sign("not-the-secret", str(int(time.time())), body)
    )
    assert wrong_secret.status == 401
    # A valid request afterwards is served, and none of the rejected ones reached Slack or the model.
    sender.slash_command("/summarize", "tiny")
    slack.wait_for(lambda: slack.calls_to("chat.update"))
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert model.calls_to("/chat/completions") == []


def test_a_redelivered_event_is_answered_once_across_two_processes(
    slack: SlackServer, model: ModelServer, bots: tuple[BotProcess, BotProcess], postgres_url: str
) -> None:
    first, second = (SlackSender(b.url, SIGNING_SECRET) for b in bots)
    ts = "1726133700.887259"
    original = first.mention("what is our refund policy?", ts=ts, event_id="EvDUP1")
    retry_one = second.mention("what is our refund policy?", ts=ts, event_id="EvDUP1", retry_num=1)
    retry_two = first.mention("what is our refund policy?", ts=ts, event_id="EvDUP1", retry_num=2)

    assert [r.status for r in (original, retry_one, retry_two)] == [200, 200, 200]
    # Re-deliveries are acknowledged and Slack is told not to send them again.
    assert retry_one.headers.get("x-slack-no-retry") == "1" and retry_two.headers.get("x-slack-no-retry") == "1"
    assert original.headers.get("x-slack-no-retry") is None
    slack.wait_for(
        lambda: [
            m
            for m in slack.replies("C111", ts)
            if m.get("bot_id") and m["text"] == "Summary: what is our refund policy?"
        ]
    )
    assert len([m for m in slack.replies("C111", ts) if m.get("bot_id")]) == 1
    rows = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=ts))
    assert len(model.calls_to("/chat/completions")) == 1 and len(rows) == 1


def test_unknown_command_gets_a_clear_answer(sender: SlackSender, slack: SlackServer) -> None:
    response = sender.slash_command("/translate", "hola")
    assert response.status == 200
    assert "I don't know the command /translate" in response.body
    assert slack.calls_to("chat.postMessage") == []


def test_malformed_and_oversized_bodies_are_refused_without_crashing(
    sender: SlackSender, slack: SlackServer, model: ModelServer, bot: BotProcess
) -> None:
    truncated = sender.post(b'{"type": "event_callback", "event": {"type": "app_me', "application/json")
    assert 400 <= truncated.status < 500
    huge = sender.post(b"x" * 2_000_000, "application/json")
    assert huge.status == 413
    not_json = sender.post(b"\xff\xfe\x00garbage", "application/json")
    assert 400 <= not_json.status < 500
    unknown_event = sender.event({"type": "reaction_added", "user": "W111", "reaction": "tada"})
    assert unknown_event.status == 200
    # The workers are still serving.
    assert httpx.get(bot.base_url + "/healthz").status_code == 200
    assert model.calls_to("/chat/completions") == []


def test_url_verification_challenge(sender: SlackSender) -> None:
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}
    ).encode()
    response = sender.post(body, "application/json")
    assert response.status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.body


def test_secrets_never_reach_the_logs(bot: BotProcess, sender: SlackSender, slack: SlackServer) -> None:
    sender.slash_command("/summarize", "tiny")
    slack.wait_for(lambda: slack.calls_to("chat.update"))
    for secret in (SIGNING_SECRET, BOT_TOKEN, MODEL_KEY):
        assert secret not in bot.output
