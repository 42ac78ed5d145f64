"""Faults at the model server and at Slack: each is told to the user, nothing is lost."""

from __future__ import annotations

from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.test_streaming import final_reply
from tests.test_summarize import MEETING_NOTES, placeholder_and_final


def test_malformed_sse_and_empty_answers_are_told_to_the_user(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.enqueue(
        Reply(text="Half an answer that then turns into garbage on the wire", malformed=True, cut_after_chunks=3)
    )
    sender.mention("tell me", ts="1760000000.000300")
    (reply,) = final_reply(slack, "C111", "1760000000.000300")
    # Whatever arrived before the garbage stays; the user is told the answer broke off.
    assert reply["text"].endswith(
        (
            "_The language model's answer was cut off._",
            "_The language model service had an error. Please try again in a minute._",
        )
    )
    assert "Half an answer".startswith(reply["text"][:14]) or reply["text"].startswith(":warning:")

    model.enqueue(Reply(text=""))
    sender.mention("anything?", ts="1760000000.000400")
    (reply,) = final_reply(slack, "C111", "1760000000.000400")
    assert reply["text"] == ":warning: _The language model returned an empty answer. Please try again._"

    model.enqueue(*[Reply(text="")] * 3)
    sender.slash_command("/summarize", MEETING_NOTES)
    _, texts = placeholder_and_final(slack)
    assert texts[-1].endswith("The language model returned an empty answer. Please try again.")


def test_slack_5xx_is_retried_and_unknown_channels_are_explained(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    slack.fail_http("chat.postMessage", status=503, times=1)
    sender.slash_command("/summarize", MEETING_NOTES)
    _, texts = placeholder_and_final(slack)
    assert texts[-1].startswith("*Summary for <@W111>*")
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [503, 200]

    sender.slash_command("/summarize", MEETING_NOTES, channel="CGONE", response_url=slack.response_url("gone"))
    told = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == "gone"])[0]
    assert told["response_type"] == "ephemeral" and "can't see this channel" in told["text"]
