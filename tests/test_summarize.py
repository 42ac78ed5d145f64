"""`/summarize` end to end: signed slash commands in, Slack Web API and model calls out, ledger rows written."""

from __future__ import annotations

import threading

from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import PRICES, ledger_rows

MEETING_NOTES = (
    "The launch of the new checkout moves from Tuesday to Friday because QA found two blocking bugs in the "
    "payment form. Bob will fix the card validation bug today and Carol will retest on Thursday morning. "
    "Marketing still needs the new date for the announcement email, and Dan agreed to tell them after lunch. "
    "We decided to keep the old checkout running behind a flag for one more week."
)


def placeholder_and_final(slack: SlackServer, channel: str = "C111", timeout: float = 60) -> tuple[str, list[str]]:
    """Wait until the bot's placeholder in the channel has been edited; return its ts and its texts in order."""

    def edited() -> tuple[str, list[str]] | None:
        for message in slack.messages(channel):
            if message.get("bot_id") and len(slack.edits(channel, message["ts"])) >= 2:
                return message["ts"], slack.edits(channel, message["ts"])
        return None

    return slack.wait_for(edited, timeout=timeout)


def test_summarize_acks_before_the_model_answers_then_edits_the_placeholder(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str
) -> None:
    release = threading.Event()
    model.responder = lambda request: (release.wait(20), Reply(text="Launch moves to **Friday**; Bob fixes the bug."))[
        1
    ]

    ack = sender.slash_command("/summarize", MEETING_NOTES, user="W111", trigger_id="111.222.summarize-e2e")

    assert ack.status == 200 and ack.body == ""  # acknowledged while the model is still writing
    assert model.wait_for(lambda: model.in_flight == 1)
    placeholder = slack.wait_for(lambda: slack.messages("C111"))[0]
    assert placeholder["text"] == "Summarizing… (requested by <@W111>)"
    release.set()

    ts, texts = placeholder_and_final(slack)
    assert texts[0] == "Summarizing… (requested by <@W111>)"
    assert texts[-1] == "*Summary for <@W111>*\nLaunch moves to *Friday*; Bob fixes the bug."
    assert len(slack.messages("C111")) == 1  # edited in place, not a second message
    prompt = model.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert prompt == MEETING_NOTES

    usage = model.calls_to("/chat/completions")[0].usage
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="111.222.summarize-e2e"))[0]
    price_in, price_out = PRICES["test-model"]
    assert row["pattern"] == "summarize" and row["trigger"] == "command" and row["status"] == "ok"
    assert (row["workspace"], row["channel"], row["user"], row["model"]) == ("T111", "C111", "W111", "test-model")
    assert row["prompt_tokens"] == usage["prompt_tokens"] > 0
    assert row["completion_tokens"] == usage["completion_tokens"] > 0
    assert row["cost_usd"] == (usage["prompt_tokens"] * price_in + usage["completion_tokens"] * price_out) / 1e6
    assert row["cache_hit"] is False and row["latency_ms"] > 0 and row["ttft_ms"] is not None
    assert row["tokens_estimated"] is False  # the server reported its usage


def test_summarize_without_text_summarizes_the_channel_with_names_and_without_bot_noise(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    slack.post("C111", "Morning! Is the staging deploy done?", user="W222")
    slack.post("C111", "", user="W333", subtype="channel_join")
    slack.post("C111", "Deploy finished, <@W222> you can test the invoices page now.", user="W111")
    slack.post("C111", "Build #4411 passed :white_check_mark:", bot_id="BCI", subtype="bot_message")
    slack.post("C111", "Thanks, invoices look right, shipping it to production at 3pm.", user="W222")

    sender.slash_command("/summarize", "", user="W333", channel="C111")

    _, texts = placeholder_and_final(slack)
    assert texts[-1].startswith("*Summary of the last 3 messages here, for <@W333>*\n")
    transcript = model.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert transcript.splitlines() == [
        "bob: Morning! Is the staging deploy done?",
        "alice: Deploy finished, @bob you can test the invoices page now.",
        "bob: Thanks, invoices look right, shipping it to production at 3pm.",
    ]


def test_empty_channel_and_short_text_get_clear_replies_without_a_model_call(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    slack.post("C222", "", user="W333", subtype="channel_join")
    sender.slash_command("/summarize", "", channel="C222")
    _, texts = placeholder_and_final(slack, "C222")
    assert texts[-1] == "<@W111> There are no messages from people in this channel to summarize yet."

    sender.slash_command("/summarize", "ship it on friday", channel="C111")
    _, texts = placeholder_and_final(slack, "C111")
    assert "already short (4 words)" in texts[-1]
    assert model.calls_to("/chat/completions") == []


def test_text_longer_than_the_context_is_map_reduced_and_giant_text_is_refused(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    # The bot runs with a 2,000-token context: this ~5,000-character text must be summarized in parts.
    sections = [
        f"Section {i}: the {topic} team reported progress and one open risk about {topic}. " * 3
        for i, topic in enumerate(["billing", "search", "mobile", "payments", "infra", "support"])
    ]
    long_text = "\n".join(sections) * 2
    sender.slash_command("/summarize", long_text)
    _, texts = placeholder_and_final(slack)

    calls = model.calls_to("/chat/completions")
    assert len(calls) >= 3  # at least two parts and the final combination
    mapped = "".join(call.body["messages"][-1]["content"] for call in calls[:-1])
    for topic in ["billing", "search", "mobile", "payments", "infra", "support"]:
        assert topic in mapped  # nothing was truncated away
    assert all(len(call.body["messages"][-1]["content"]) < 2_000 * 4 for call in calls)
    assert calls[-1].body["messages"][-1]["content"].startswith("Summary:")  # the reduce step sees the parts
    assert texts[-1].startswith("*Summary for <@W111>*")

    slack.reset()
    sender.slash_command("/summarize", "word " * 2_000)
    _, texts = placeholder_and_final(slack)
    assert "too long to summarize" in texts[-1]


def test_model_error_edits_the_placeholder_into_a_human_message(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str
) -> None:
    model.fail(status=500, times=3, message="upstream exploded")  # first call and both retries
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="111.222.model-error")

    _, texts = placeholder_and_final(slack)
    assert texts[-1] == (
        ":warning: <@W111> I couldn't write that summary. "
        "The language model service had an error. Please try again in a minute."
    )
    assert "upstream exploded" not in texts[-1]
    assert len(model.calls_to("/chat/completions")) == 3
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="111.222.model-error"))[0]
    assert (row["status"], row["error_kind"]) == ("error", "server_error")


def test_model_timeout_is_reported_as_such(slack: SlackServer, model: ModelServer, sender: SlackSender) -> None:
    model.enqueue(*[Reply(text="too late", latency=5.0)] * 3)  # the bot's timeout is 3 s
    sender.slash_command("/summarize", MEETING_NOTES)
    _, texts = placeholder_and_final(slack)
    assert "took too long to answer" in texts[-1]
    # The first try and two retries; wait for the slow server to finish them so no answer leaks into other tests.
    model.wait_for(lambda: len(model.calls_to("/chat/completions")) == 3 and model.in_flight == 0, timeout=20)


def test_model_rate_limit_is_retried_after_the_advertised_delay(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.fail(status=429, times=1, retry_after=1, message="slow down")
    sender.slash_command("/summarize", MEETING_NOTES)
    _, texts = placeholder_and_final(slack)
    assert texts[-1].startswith("*Summary for <@W111>*\nSummary: The launch of the new checkout")
    statuses = [call.status for call in model.calls_to("/chat/completions")]
    assert statuses == [429, 200]


def test_slack_429_on_the_edit_is_retried_honoring_retry_after(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    slack.rate_limit("chat.update", times=1, retry_after=1)
    sender.slash_command("/summarize", MEETING_NOTES)
    _, texts = placeholder_and_final(slack)
    assert texts[-1].startswith("*Summary for <@W111>*")
    updates = slack.calls_to("chat.update")
    assert [call.status for call in updates] == [429, 200]
    assert updates[1].at - updates[0].at >= 0.9  # waited for Retry-After before trying again


def test_channel_the_bot_is_not_in_gets_an_ephemeral_explanation(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    sender.slash_command("/summarize", MEETING_NOTES, channel="C333", response_url=slack.response_url("nic"))
    response = slack.wait_for(lambda: slack.responses)[0]
    assert response["response_type"] == "ephemeral"
    assert "not a member of this channel" in response["text"] and "/invite" in response["text"]
    assert model.calls_to("/chat/completions") == []


def test_identical_requests_are_served_from_the_cache(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str, redis_client
) -> None:
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="111.222.cache-1")
    placeholder_and_final(slack)
    slack.reset()
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="111.222.cache-2")
    _, texts = placeholder_and_final(slack)

    assert texts[-1].startswith("*Summary for <@W111>*\nSummary: The launch")
    assert len(model.calls_to("/chat/completions")) == 1
    first = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="111.222.cache-1"))[0]
    second = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="111.222.cache-2"))[0]
    assert (first["cache_hit"], second["cache_hit"]) == (False, True)
    assert second["cost_usd"] == 0 and second["prompt_tokens"] == first["prompt_tokens"]


def test_many_slow_requests_are_served_at_once_not_five_at_a_time(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    release = threading.Event()
    model.responder = lambda request: (release.wait(30), Reply(text="Done."))[1]
    for i in range(12):
        assert sender.slash_command("/summarize", f"{i} {MEETING_NOTES}").status == 200
    # All twelve model calls are in flight together: no listener pool of five holds them back.
    assert model.wait_for(lambda: model.in_flight == 12, timeout=20)
    release.set()
    slack.wait_for(lambda: len(slack.calls_to("chat.update")) == 12, timeout=20)


def test_a_summary_cut_at_the_length_limit_is_continued_and_says_so_if_still_cut(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    first = "- " + "the launch moves to Friday and QA retests on Thursday. " * 60  # over 700 tokens: cut
    model.enqueue(Reply(text=first), Reply(text=" Marketing gets the new date after lunch."))
    sender.slash_command("/summarize", MEETING_NOTES)
    _, texts = placeholder_and_final(slack)
    calls = model.calls_to("/chat/completions")
    assert [c.body["messages"][-1]["role"] for c in calls] == ["user", "user"]
    assert calls[1].body["messages"][-2] == {"role": "assistant", "content": first[: 4 * 700]}  # what was cut
    assert texts[-1].endswith("Marketing gets the new date after lunch.")
    assert "cut off" not in texts[-1]

    slack.reset()
    model.reset()
    model.responder = lambda request: Reply(text=first)  # every continuation is cut too
    sender.slash_command("/summarize", MEETING_NOTES + " Again.")
    placeholder_and_final(slack)
    assert len(model.calls_to("/chat/completions")) == 3  # the answer and two continuations
    last = slack.wait_for(lambda: [m for m in slack.messages("C111") if "feedback" in str(m.get("blocks"))])[0]
    assert last["text"].endswith("_(This summary was cut off: the model reached its length limit.)_")


def test_a_summary_longer_than_one_message_rolls_over_into_more_messages(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    slack.set_rate_limit("chat.postMessage", 1, per="channel", seconds=1.0)  # about one a second per channel
    points = "\n".join(f"- Point {i}: the team agreed on item {i} and Bob follows up with Carol." for i in range(90))
    # About 6,400 characters: the model stops at its 700-token limit (2,800 characters) twice and is continued.
    model.enqueue(*(Reply(text=points[start:]) for start in (0, 2_800, 5_600)))
    sender.slash_command("/summarize", MEETING_NOTES)
    messages = slack.wait_for(
        lambda: (
            (found := [m for m in slack.messages("C111") if m.get("bot_id")])
            and "feedback" in str(found[-1].get("blocks"))
            and found
        )
    )
    assert len(messages) == 3 and slack.ratelimited_count == 0
    for message in messages:  # what a notification shows and what the message shows are the same text
        assert len(message["text"]) <= 3_000 and message["blocks"][0]["text"]["text"] == message["text"]
    assert "\n".join(m["text"] for m in messages) == "*Summary for <@W111>*\n" + points.replace("- ", "• ")
    assert ["feedback" in str(m.get("blocks")) for m in messages] == [False, False, True]
