"""The loading status under a thread (assistant.threads.setStatus): shown while the reply is prepared, cleared
when its text starts, in channel threads and DMs; a workspace that refuses it still gets the reply."""

from __future__ import annotations

from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.test_streaming import ANSWER, final_reply


def status_calls(slack: SlackServer, thread_ts: str) -> list:
    return [c for c in slack.calls_to("assistant.threads.setStatus") if c.params.get("thread_ts") == thread_ts]


def test_a_mention_shows_a_loading_status_until_the_text_starts(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.latency = 1.0
    model.token_delay = 0.05
    model.enqueue(Reply(text=ANSWER))
    sender.mention("what is our refund policy?", ts="1710000000.004000")

    (reply,) = final_reply(slack, "C111", "1710000000.004000")
    shown, cleared = status_calls(slack, "1710000000.004000")
    assert shown.params["channel_id"] == "C111" and shown.params["status"]
    assert 1 <= len(shown.params["loading_messages"]) <= 10
    assert cleared.params["status"] == ""  # cleared once text started, not left spinning
    first_text = next(
        c for c in slack.calls if c.method in ("chat.postMessage", "chat.update") and "▍" in str(c.params)
    )
    assert shown.at < first_text.at and shown.response["ok"]
    assert slack.thread_status("C111", "1710000000.004000") is None
    assert reply["text"]


def test_a_dm_shows_the_status_too(slack: SlackServer, model: ModelServer, sender: SlackSender) -> None:
    slack.add_channel("D111", "alice-dm", is_im=True, user="W111")
    model.token_delay = 0.02
    model.enqueue(Reply(text="Hello there."))
    sender.message("hi", channel="D111", channel_type="im", ts="1710000000.004100")
    final_reply(slack, "D111", "1710000000.004100")
    assert [c.params["status"] for c in status_calls(slack, "1710000000.004100")][0]


def test_a_refused_status_does_not_stop_the_reply(slack: SlackServer, model: ModelServer, sender: SlackSender) -> None:
    slack.fail("assistant.threads.setStatus", "missing_scope", times=5)
    model.enqueue(Reply(text=ANSWER))
    sender.mention("refunds, on an old install?", ts="1710000000.004200")
    (reply,) = final_reply(slack, "C111", "1710000000.004200")
    assert reply["blocks"][0]["text"] == ANSWER
    assert len(status_calls(slack, "1710000000.004200")) == 1  # nothing to clear after a refusal
