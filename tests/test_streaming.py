"""Streamed chat in Slack threads: growing replies, formatting, rollover, Stop, failures, 429s, history."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.rate_budget import SlackBudget
from bot.slack.streaming import CURSOR, STOP_ACTION_ID, THINKING
from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import SIGNING_SECRET, bot_env, ledger_rows

ANSWER = (
    "## Refunds\n\nCustomers get a **full refund** within 30 days. See [the policy](https://example.com/refunds).\n\n"
    "- Card payments: 5 business days\n- Bank transfers: up to 10 days\n\n"
    "```python\nrefund(order_id, amount=None)  # **not bold** in code\n```\n\nAsk in #support for exceptions."
)


def bot_messages(slack: SlackServer, channel: str, thread_ts: str) -> list[dict]:
    """The bot's messages in the thread; in a DM (`D…`), which the bot answers in place, those in the DM itself."""
    if channel.startswith("D"):
        return [m for m in slack.messages(channel) if m.get("bot_id")]
    return [m for m in slack.replies(channel, thread_ts) if m.get("bot_id")]


def final_reply(slack: SlackServer, channel: str, thread_ts: str, count: int = 1, timeout: float = 60) -> list[dict]:
    """Wait until the bot's reply in the thread is finished (no cursor, no Stop button) and return its messages."""

    def done() -> list[dict] | None:
        messages = bot_messages(slack, channel, thread_ts)
        finished = [
            m
            for m in messages
            if not m["text"].endswith(CURSOR)
            and m["text"] != THINKING
            and not any(
                e.get("action_id") == STOP_ACTION_ID for b in m.get("blocks") or [] for e in b.get("elements", [])
            )
        ]
        return messages if len(messages) >= count and len(finished) == len(messages) else None

    return slack.wait_for(done, timeout=timeout)


def test_reply_grows_in_place_and_ends_as_exactly_the_formatted_answer(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.latency = 2.0  # a slow start (the bots show "thinking" after 1.5 s), under the 3 s model timeout
    model.token_delay = 0.05
    model.enqueue(Reply(text=ANSWER))
    sender.mention("what is our refund policy?", ts="1710000000.000100")

    (reply,) = final_reply(slack, "C111", "1710000000.000100")
    edits = slack.edits("C111", reply["ts"])
    assert edits[0] == THINKING  # the thinking state comes first
    assert any(text.endswith(CURSOR) for text in edits[1:-1])  # visible progress while the model writes
    assert len(edits) >= 3
    assert all(len(b) <= len(a) + len(ANSWER) for a, b in zip(edits, edits[1:]))
    assert reply["text"] == to_mrkdwn(ANSWER)
    assert "*Refunds*" in reply["text"] and "*full refund*" in reply["text"]
    assert "<https://example.com/refunds|the policy>" in reply["text"] and "• Card payments" in reply["text"]
    assert "```\nrefund(order_id, amount=None)  # **not bold** in code\n```" in reply["text"]
    assert [b["type"] for b in reply["blocks"]] == ["markdown", "context_actions"]  # Stop is gone, feedback is there
    assert reply["blocks"][0]["text"] == ANSWER  # the markdown block holds the answer as the model wrote it
    assert [e["type"] for e in reply["blocks"][1]["elements"]] == ["feedback_buttons"]
    first_post = slack.calls_to("chat.postMessage")[0]
    assert first_post.params["thread_ts"] == "1710000000.000100"
    assert any(
        e["action_id"] == STOP_ACTION_ID
        for b in first_post.params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )


def test_a_quick_model_shows_text_at_once_without_a_thinking_message(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.token_delay = 0.05
    model.enqueue(Reply(text=ANSWER))
    sender.mention("refunds?", ts="1710000000.000150")
    (reply,) = final_reply(slack, "C111", "1710000000.000150")
    edits = slack.edits("C111", reply["ts"])
    assert THINKING not in edits and edits[0].endswith(CURSOR) and edits[-1] == to_mrkdwn(ANSWER)
    # The first text was posted; the next call is a progress edit, paced (0.25 s here), not one at once.
    post, update = slack.calls_to("chat.postMessage")[0], slack.calls_to("chat.update")[0]
    assert update.at - post.at >= 0.2 and update.params["text"] != post.params["text"]


def test_a_workspace_out_of_edits_gets_no_thinking_message_that_it_could_not_replace(
    slack: SlackServer, model: ModelServer, sender: SlackSender, redis_client: redis.Redis
) -> None:
    budget, replied = SlackBudget(redis_client), threading.Event()

    def other_answers() -> None:  # spend each of the workspace's chat.update calls as soon as it frees
        while not replied.is_set():
            wait = budget.try_take("T111", "chat.update", urgent=True)
            if wait == 0:
                budget.sent("T111", "chat.update")  # as if the edit was made at once
            replied.wait(wait / 2)

    busy = threading.Thread(target=other_answers)
    busy.start()
    model.latency = 3.0  # long enough for "Thinking…"
    model.token_delay = 0.05
    model.enqueue(Reply(text=ANSWER))
    try:
        sender.mention("refunds, in a busy workspace?", ts="1710000000.000170")
        slack.wait_for(lambda: bot_messages(slack, "C111", "1710000000.000170"))
    finally:
        replied.set()
        busy.join()
    (reply,) = final_reply(slack, "C111", "1710000000.000170")
    edits = slack.edits("C111", reply["ts"])
    assert THINKING not in edits and edits[0].endswith(CURSOR)  # the text itself came first, as a new message
    assert edits[-1] == to_mrkdwn(ANSWER)
    assert slack.ratelimited_count == 0


def markdown_of(message: dict) -> str:
    (block,) = [b for b in message["blocks"] if b["type"] == "markdown"]
    return block["text"]


def test_long_answers_roll_over_into_more_messages_never_inside_code(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    code = "```\n" + "\n".join(f"step_{i} = compute({i})  # keep going" for i in range(400)) + "\n```"
    answer = "Here is the full script.\n\n" + code + "\n\n" + "That is all. " * 100
    model.enqueue(Reply(text=answer))
    slack.set_rate_limit("chat.postMessage", 1, per="channel", seconds=1.0)  # Slack: about one a second
    sender.mention("write the script", ts="1710000000.000200")

    messages = final_reply(slack, "C111", "1710000000.000200", count=2)
    texts = [markdown_of(m) for m in messages]  # Markdown as the model wrote it, 12,000 characters a message
    assert len(texts) == 2 and all(len(text) <= 12_000 for text in texts)
    assert all(text.count("```") % 2 == 0 for text in texts)  # every message renders its code on its own
    body = "\n".join(texts).replace("\n```\n```\n", "\n")  # undo the close/reopen at each boundary
    assert body == answer
    assert all(len(m["text"]) < 4_000 for m in messages)  # the mrkdwn fallback text stays under Slack's limit
    assert not any(call.response.get("error") in ("msg_too_long", "invalid_blocks") for call in slack.calls)
    assert slack.ratelimited_count == 0  # the extra messages were paced, not posted in a burst


def test_an_answer_that_fits_is_one_markdown_block_without_conversion(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    answer = "Long answer. " * 600  # 7,800 characters: three mrkdwn sections' worth, one markdown block
    model.enqueue(Reply(text=ANSWER + "\n\n" + answer))
    sender.mention("tell me everything", ts="1710000000.000210")
    (reply,) = final_reply(slack, "C111", "1710000000.000210")
    assert markdown_of(reply) == ANSWER + "\n\n" + answer
    assert reply["text"].startswith(to_mrkdwn(ANSWER))  # notifications read mrkdwn


def test_where_markdown_blocks_are_refused_the_answer_comes_in_mrkdwn_sections(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    slack.markdown_blocks = False
    code = "```\n" + "\n".join(f"step_{i} = compute({i})  # keep going" for i in range(150)) + "\n```"
    answer = "Here is the full script.\n\n" + code + "\n\n" + "That is all. " * 100
    model.enqueue(Reply(text=answer))
    sender.mention("write the script, no markdown", ts="1710000000.000220")

    messages = final_reply(slack, "C111", "1710000000.000220", count=3)
    texts = [m["text"] for m in messages]
    assert all(len(text) <= 3_000 for text in texts)
    assert all(text.count("```") % 2 == 0 for text in texts)
    assert {b["type"] for m in messages for b in m["blocks"]} == {"section", "context_actions"}
    body = "\n".join(texts).replace("\n```\n```\n", "\n")
    assert body == to_mrkdwn(answer)
    assert not any(call.response.get("error") == "msg_too_long" for call in slack.calls)


def test_stop_button_keeps_what_was_written(slack: SlackServer, model: ModelServer, sender: SlackSender) -> None:
    model.token_delay = 0.1
    model.enqueue(Reply(text=" ".join(f"word{i}" for i in range(400))))
    sender.mention("count slowly", ts="1710000000.000300")
    message = slack.wait_for(
        lambda: [m for m in bot_messages(slack, "C111", "1710000000.000300") if "word5" in m["text"]]
    )[0]
    stream_id = next(e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert sender.block_action(STOP_ACTION_ID, stream_id, message_ts=message["ts"]).status == 200

    (reply,) = final_reply(slack, "C111", "1710000000.000300")
    assert reply["text"].endswith("_Stopped._")
    assert "word5" in reply["text"] and "word399" not in reply["text"]


def test_model_failure_mid_stream_keeps_the_partial_text_and_says_so(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str
) -> None:
    model.token_delay = 0.02
    model.enqueue(
        Reply(text="The first part arrives fine and then the connection drops suddenly here", cut_after_chunks=4)
    )
    sender.mention("tell me", ts="1710000000.000400")
    (reply,) = final_reply(slack, "C111", "1710000000.000400")
    assert reply["text"].startswith("The first part arrives")
    assert reply["text"].endswith(":warning: _The language model's answer was cut off._")
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="1710000000.000400"))[0]
    assert (row["pattern"], row["trigger"], row["status"], row["error_kind"]) == (
        "chat",
        "mention",
        "error",
        "stream_broken",
    )
    assert row["tokens_estimated"] is True  # the usage chunk never came


def test_a_note_after_an_unfinished_list_item_is_not_rendered_as_an_item(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.token_delay = 0.02
    model.enqueue(Reply(text="Steps:\n\n- one\n- two\n- three", cut_after_chunks=2))  # ends "- two\n- "
    sender.mention("steps?", ts="1710000000.000450")
    (reply,) = final_reply(slack, "C111", "1710000000.000450")
    assert reply["text"] == "Steps:\n\n• one\n• two\n\n:warning: _The language model's answer was cut off._"


def test_a_429_storm_is_honored_and_the_final_text_is_still_complete(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.token_delay = 0.03
    model.enqueue(Reply(text=ANSWER))
    slack.rate_limit("chat.update", times=3, retry_after=1)
    sender.mention("refunds?", ts="1710000000.000500")

    (reply,) = final_reply(slack, "C111", "1710000000.000500")
    assert reply["text"] == to_mrkdwn(ANSWER)
    updates = slack.calls_to("chat.update")
    limited = [call for call in updates if call.status == 429]
    assert len(limited) == 3
    for call in limited:  # nothing was sent before Retry-After had passed
        later = [u for u in updates if u.at > call.at]
        assert later and later[0].at - call.at >= 0.95


def test_many_simultaneous_answers_stay_within_slacks_limits(
    slack: SlackServer, model: ModelServer, bot: BotProcess
) -> None:
    slack.set_rate_limit("chat.update", 50)  # Slack's Tier 3, per workspace
    try:
        model.token_delay = 0.05
        model.responder = lambda request: Reply(text=ANSWER)
        sender = SlackSender(bot.url, SIGNING_SECRET)
        threads = [f"1710000001.{i:06d}" for i in range(8)]
        for i, ts in enumerate(threads):
            slack.add_channel(f"CBURST{i}", f"burst-{i}")
            sender.mention("refunds?", channel=f"CBURST{i}", ts=ts)
        for i, ts in enumerate(threads):
            (reply,) = final_reply(slack, f"CBURST{i}", ts, timeout=60)
            assert reply["text"] == to_mrkdwn(ANSWER)
        assert slack.ratelimited_count == 0
    finally:
        slack.set_rate_limit("chat.update", None)


def test_follow_ups_continue_the_conversation_from_stored_history(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.enqueue(Reply(text="Our refund window is 30 days."), Reply(text="Yes, for card payments too."))
    sender.mention("what is the refund window?", ts="1710000000.000600")
    final_reply(slack, "C111", "1710000000.000600")
    slack.post("C111", "does that include cards?", user="W111", thread_ts="1710000000.000600")
    sender.message("does that include cards?", ts="1710000000.000700", thread_ts="1710000000.000600")

    slack.wait_for(lambda: len(model.calls_to("/chat/completions")) == 2)
    messages = model.calls_to("/chat/completions")[1].body["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "what is the refund window?"),
        ("assistant", "Our refund window is 30 days."),
        ("user", "does that include cards?"),
    ]
    assert slack.calls_to("conversations.replies") == []  # history came from the database


def test_a_thread_joined_late_is_read_once_and_trimmed_to_the_budget(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    parent = slack.post("C111", "Long planning thread", user="W222")
    for i in range(40):  # about 9,000 tokens of history, over the 4,000-token budget
        slack.post("C111", f"message {i}: " + "details about the plan " * 40, user="W222", thread_ts=parent)
    sender.mention("so what did we decide?", ts="1710000000.000800", thread_ts=parent)
    final_reply(slack, "C111", parent)
    sender.message("and who owns it?", ts="1710000000.000900", thread_ts=parent)
    slack.wait_for(lambda: len(model.calls_to("/chat/completions")) == 2)

    assert len(slack.calls_to("conversations.replies")) == 1
    for call in model.calls_to("/chat/completions"):
        history = "".join(m["content"] for m in call.body["messages"][1:-1])
        assert 0 < len(history) <= 4_000 * 4
        assert "message 39:" in history and "message 0:" not in history  # the most recent turns are kept


def test_a_newer_message_supersedes_the_answer_in_progress(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.token_delay = 0.1
    model.enqueue(Reply(text=" ".join(f"old{i}" for i in range(300))), Reply(text="The new answer."))
    sender.mention("first question", ts="1710000000.001000")
    slack.wait_for(lambda: [m for m in bot_messages(slack, "C111", "1710000000.001000") if "old3" in m["text"]])
    sender.message("actually, a different question", ts="1710000000.001100", thread_ts="1710000000.001000")

    messages = final_reply(slack, "C111", "1710000000.001000", count=2)
    old, new = messages[0]["text"], messages[1]["text"]
    assert old.endswith("_Stopped: a newer message in this thread is being answered._") and "old299" not in old
    assert new == "The new answer."


@pytest.fixture(scope="module")
def native_bot(slack: SlackServer, model: ModelServer, postgres_url: str) -> Iterator[BotProcess]:
    with BotProcess(bot_env(slack, model, postgres_url, SLACK_STREAMING="native")) as bot:
        yield bot


def test_native_streaming_falls_back_to_edits_when_the_stream_expires(
    slack: SlackServer, model: ModelServer, native_bot: BotProcess
) -> None:
    model.token_delay = 0.05
    model.enqueue(Reply(text=ANSWER))
    SlackSender(native_bot.url, SIGNING_SECRET).mention("refunds?", ts="1710000000.002000")
    start = slack.wait_for(lambda: slack.calls_to("chat.startStream"))[0]
    ts = start.response["ts"]
    assert start.params["recipient_user_id"] == "W111" and start.params["recipient_team_id"] == "T111"
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.appendStream") if c.response.get("ok")])
    slack.expire_stream("C111", ts)

    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if c.params.get("text") == to_mrkdwn(ANSWER)])
    assert slack.message("C111", ts)["text"] == to_mrkdwn(ANSWER)  # same message, nothing lost
    assert len(bot_messages(slack, "C111", "1710000000.002000")) == 1


def test_native_streaming_delivers_the_whole_answer(
    slack: SlackServer, model: ModelServer, native_bot: BotProcess
) -> None:
    model.token_delay = 0.02
    model.enqueue(Reply(text=ANSWER))
    SlackSender(native_bot.url, SIGNING_SECRET).mention("refunds?", ts="1710000000.003000")
    stop = slack.wait_for(lambda: slack.calls_to("chat.stopStream"))[0]
    appended = "".join(c.params["markdown_text"] for c in slack.calls_to("chat.appendStream"))
    assert appended == ANSWER
    assert slack.message("C111", stop.params["ts"])["text"] == ANSWER


def test_a_429_pauses_the_method_for_every_answer_in_the_workspace_in_every_process(
    slack: SlackServer, model: ModelServer, bots: tuple[BotProcess, BotProcess]
) -> None:
    model.token_delay = 0.1
    answer = " ".join(f"step{i}" for i in range(150))  # about 5 s of streaming
    model.responder = lambda request: Reply(text=answer)
    slack.rate_limit("chat.update", times=1, retry_after=3, lasting=True)  # then 429s until 3 s have passed
    threads = [f"1710000002.{i:06d}" for i in range(4)]
    for i, ts in enumerate(threads):
        slack.add_channel(f"CPAUSE{i}", f"pause-{i}")
        SlackSender(bots[i % 2].url, SIGNING_SECRET).mention("go", channel=f"CPAUSE{i}", ts=ts)
    for i, ts in enumerate(threads):
        (reply,) = final_reply(slack, f"CPAUSE{i}", ts)
        assert reply["text"] == answer
    limited = [call for call in slack.calls_to("chat.update") if call.status == 429]
    # One answer met the 429 (a second call may have been on its way already); the others waited it out.
    assert 1 <= len(limited) <= 2


def test_an_answer_cut_at_the_model_s_length_limit_says_so(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.enqueue(Reply(text="The three steps are: first, back up the data; second,", finish_reason="length"))
    sender.mention("what are the steps?", ts="1710000000.004000")
    (reply,) = final_reply(slack, "C111", "1710000000.004000")
    assert reply["text"].startswith("The three steps are: first, back up the data; second,")
    assert reply["text"].endswith("_The answer was cut off: the model reached its length limit. Ask me to continue._")


def test_native_streaming_of_an_answer_longer_than_a_message_stops_the_stream_before_more_messages(
    slack: SlackServer, model: ModelServer, native_bot: BotProcess
) -> None:
    model.token_delay = 0.005
    answer = "\n".join(f"Line {i}: the migration step {i} is done and checked by the team." for i in range(200))
    model.enqueue(Reply(text=answer))
    SlackSender(native_bot.url, SIGNING_SECRET).mention("the long plan?", ts="1710000000.005000")
    messages = final_reply(slack, "C111", "1710000000.005000", count=2)
    start = slack.calls_to("chat.startStream")[0]
    stops = [c for c in slack.calls_to("chat.stopStream") if c.params["ts"] == start.response["ts"]]
    later_posts = [c for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts") == "1710000000.005000"]
    assert stops and later_posts and stops[0].at < later_posts[0].at
    assert slack.stream_state("C111", start.response["ts"]) == "stopped"
    assert "\n".join(markdown_of(m) for m in messages) == answer  # 13,000 characters: two markdown messages
