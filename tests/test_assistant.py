"""The bot's DM as Slack's agent surface: suggested prompts when it opens, the pane's thread context, and
"summarize this channel" for the channel the user is viewing, with the same checks as /digest."""

from __future__ import annotations

from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.test_summarize import MEETING_NOTES

THREAD = "1710000000.005000"


def open_pane(sender: SlackSender, *, viewing: str | None, thread_ts: str = THREAD) -> None:
    context = {"channel_id": viewing, "team_id": "T111", "enterprise_id": None} if viewing else {}
    sender.event(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {"user_id": "W111", "context": context, "channel_id": "D111", "thread_ts": thread_ts},
            "event_ts": thread_ts,
        }
    )


def ask_in_pane(sender: SlackSender, text: str, ts: str, thread_ts: str = THREAD) -> None:
    sender.message(text, channel="D111", channel_type="im", ts=ts, thread_ts=thread_ts)


def bot_replies(slack: SlackServer, thread_ts: str = THREAD) -> list[dict]:
    return [m for m in slack.replies("D111", thread_ts) if m.get("bot_id")]


def add_dm(slack: SlackServer) -> None:
    slack.add_channel("D111", "alice-dm", is_im=True, user="W111")


def test_opening_the_agent_dm_sets_prompts_for_each_pattern(slack: SlackServer, sender: SlackSender) -> None:
    add_dm(slack)
    sender.event({"type": "app_home_opened", "user": "W111", "channel": "D111", "tab": "messages", "event_ts": "1.2"})
    call = slack.wait_for(lambda: slack.calls_to("assistant.threads.setSuggestedPrompts"))[0]
    assert call.response["ok"] and "thread_ts" not in call.params  # agent DMs: prompts for the conversation
    messages = [p["message"].lower() for p in call.params["prompts"]]
    assert len(messages) == 4
    assert any(m.startswith("docs:") for m in messages) and any(m.startswith("agent:") for m in messages)
    assert any(m.startswith("digest") for m in messages) and any(m.startswith("summarize") for m in messages)
    assert slack.calls_to("views.publish") == []  # the Messages tab is not the Home tab


def test_summarize_this_channel_from_the_pane_summarizes_the_viewed_channel(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    add_dm(slack)
    slack.post("C222", MEETING_NOTES, user="W222")
    open_pane(sender, viewing="C222")
    prompts = slack.wait_for(lambda: slack.prompts_for("D111", THREAD))
    assert prompts["prompts"][0] == {"title": "Summarize this channel", "message": "Summarize this channel"}
    assert slack.wait_for(lambda: slack.calls_to("assistant.threads.setTitle"))[0].response["ok"]

    model.enqueue(Reply(text="The launch moves to **Friday**."))
    ask_in_pane(sender, "Summarize this channel", ts="1710000000.005100")
    (answer,) = slack.wait_for(lambda: bot_replies(slack))
    assert answer["blocks"][0] == {
        "type": "markdown",
        "text": "**Summary of the last 1 messages in #quiet**\n\nThe launch moves to **Friday**.",
    }
    assert answer["blocks"][1]["type"] == "context_actions"  # feedback buttons
    prompt = model.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert "Friday because QA found two blocking bugs" in prompt  # the viewed channel's messages


def test_a_private_channel_is_summarized_only_for_its_members(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    add_dm(slack)
    slack.add_channel("G444", "secret-plans", is_private=True, members=["W222", "UBOT"])
    slack.post("G444", MEETING_NOTES, user="W222")
    open_pane(sender, viewing="G444", thread_ts="1710000000.005200")
    slack.wait_for(lambda: slack.prompts_for("D111", "1710000000.005200"))
    ask_in_pane(sender, "summarize this channel", ts="1710000000.005300", thread_ts="1710000000.005200")
    (answer,) = slack.wait_for(lambda: bot_replies(slack, "1710000000.005200"))
    assert "private and you are not a member" in answer["text"]
    assert model.calls_to("/chat/completions") == []


def test_without_a_viewed_channel_the_bot_says_how_to_name_one(slack: SlackServer, sender: SlackSender) -> None:
    add_dm(slack)
    open_pane(sender, viewing=None, thread_ts="1710000000.005400")
    prompts = slack.wait_for(lambda: slack.prompts_for("D111", "1710000000.005400"))
    assert "Summarize this channel" not in [p["title"] for p in prompts["prompts"]]
    ask_in_pane(sender, "Summarize this channel", ts="1710000000.005500", thread_ts="1710000000.005400")
    (answer,) = slack.wait_for(lambda: bot_replies(slack, "1710000000.005400"))
    assert "`summarize #channel`" in answer["text"]


def test_digest_this_channel_from_the_pane_queues_its_digest_to_the_dm(slack: SlackServer, sender: SlackSender) -> None:
    add_dm(slack)
    open_pane(sender, viewing="C222", thread_ts="1710000000.005600")
    slack.wait_for(lambda: slack.prompts_for("D111", "1710000000.005600"))
    ask_in_pane(sender, "Digest this channel since 7d", ts="1710000000.005700", thread_ts="1710000000.005600")
    (queued,) = slack.wait_for(lambda: bot_replies(slack, "1710000000.005600"))
    assert queued["text"].startswith("Queued a digest of the last 7 days: <#C222>")
    assert "by direct message" in queued["text"]
