"""Shortcuts: "Summarize this thread" and "Ask Team AI" on a message, and the global "Request a digest" modal."""

from __future__ import annotations

import json

from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from handlers.shortcuts import ASK_ABOUT, REQUEST_DIGEST, SUMMARIZE_THREAD
from tests.test_summarize import MEETING_NOTES

FIRST, SECOND = MEETING_NOTES[:200], MEETING_NOTES[200:]


def bot_replies(slack: SlackServer, channel: str, thread_ts: str) -> list[dict]:
    return [m for m in slack.replies(channel, thread_ts) if m.get("bot_id")]


def seed_thread(slack: SlackServer) -> tuple[str, str]:
    parent = slack.post("C111", FIRST, user="W222")
    reply = slack.post("C111", SECOND, user="W333", thread_ts=parent)
    return parent, reply


def test_summarize_this_thread_posts_the_summary_in_the_thread(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    parent, reply = seed_thread(slack)
    model.enqueue(Reply(text="Launch moves to **Friday**."))
    message = {"type": "message", "ts": reply, "thread_ts": parent, "user": "W333", "text": SECOND}
    assert sender.shortcut(SUMMARIZE_THREAD, message=message).status == 200

    (summary,) = slack.wait_for(lambda: bot_replies(slack, "C111", parent))
    assert summary["blocks"][0]["type"] == "markdown"
    assert summary["blocks"][0]["text"].endswith("Launch moves to **Friday**.")
    assert "this thread (2 messages)" in summary["blocks"][0]["text"]
    assert summary["blocks"][1]["type"] == "context_actions"
    prompt = model.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert FIRST.split()[3] in prompt and SECOND.split()[-1] in prompt and "bob:" in prompt


def test_ask_about_a_message_opens_a_modal_and_answers_in_its_thread(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    parent, _ = seed_thread(slack)
    message = {"type": "message", "ts": parent, "user": "W222", "text": FIRST}
    sender.shortcut(ASK_ABOUT, message=message)
    (modal,) = slack.wait_for(lambda: slack.modals)
    assert modal["title"]["text"] == "Ask Team AI" and FIRST[:40] in json.dumps(modal["blocks"])

    refused = sender.view_submission(modal, {"question": {"question": {"type": "plain_text_input", "value": " "}}})
    assert json.loads(refused.body)["response_action"] == "errors"  # the modal stays open and says why

    model.enqueue(Reply(text="QA needs two more days."))
    values = {"question": {"question": {"type": "plain_text_input", "value": "What does this mean for QA?"}}}
    assert sender.view_submission(modal, values).status == 200
    slack.wait_for(lambda: [m for m in bot_replies(slack, "C111", parent) if "QA needs two more days." in m["text"]])
    asked = model.calls_to("/chat/completions")[-1].body["messages"][-1]["content"]
    assert FIRST[:60] in asked and asked.endswith("What does this mean for QA?")


def dm_messages(slack: SlackServer, user: str) -> list[dict]:
    """Messages in the user's DMs with the bot (an earlier test may already have opened one)."""
    ims = [cid for cid, c in slack.channels.items() if c.info["is_im"] and c.info.get("user") == user]
    return [m for cid in ims for m in slack.messages(cid)]


def test_the_global_shortcut_requests_a_digest_by_dm(slack: SlackServer, sender: SlackSender) -> None:
    slack.add_channel("D111", "alice-dm", is_im=True, user="W111")
    sender.shortcut(REQUEST_DIGEST)
    (modal,) = slack.wait_for(lambda: slack.modals)
    assert [b["block_id"] for b in modal["blocks"]] == ["channels", "window", "delivery"]

    empty = {"channels": {"channels": {"type": "multi_conversations_select", "selected_conversations": []}}}
    assert json.loads(sender.view_submission(modal, empty).body)["response_action"] == "errors"

    values = {
        "channels": {"channels": {"type": "multi_conversations_select", "selected_conversations": ["C222"]}},
        "window": {"window": {"type": "static_select", "selected_option": {"value": "7d"}}},
        "delivery": {"delivery": {"type": "radio_buttons", "selected_option": {"value": "dm"}}},
    }
    assert sender.view_submission(modal, values).status == 200
    queued = slack.wait_for(lambda: [m for m in dm_messages(slack, "W111") if "Queued a digest" in m["text"]])
    assert "the last 7 days" in queued[0]["text"] and "<#C222>" in queued[0]["text"]
    assert len([m for m in dm_messages(slack, "W111") if "Queued" in m["text"]]) == 1  # nothing for the refused one
