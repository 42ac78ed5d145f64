"""The local Slack's assistant.threads.*, views.open and stream chunks follow Slack's documented rules."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from doubles.slack import SlackServer
from doubles.slack.assistant import TIERS
from tests.conftest import BOT_TOKEN


@pytest.fixture
def client(slack: SlackServer) -> WebClient:
    slack.add_channel("D111", "alice-dm", is_im=True, user="W111")
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url)


def error_of(call) -> str:  # type: ignore[no-untyped-def]
    try:
        call()
    except SlackApiError as error:
        return str(error.response["error"])
    return "ok"


PROMPT = {"title": "Ask", "message": "docs: deploys?"}


def test_status_prompts_and_titles_check_their_arguments(slack: SlackServer, client: WebClient) -> None:
    status = client.assistant_threads_setStatus
    assert error_of(lambda: status(channel_id="D111", thread_ts="1.2", status="is thinking…")) == "ok"
    assert slack.thread_status("D111", "1.2") == {"status": "is thinking…", "loading_messages": []}
    assert error_of(lambda: status(channel_id="D111", thread_ts="1.2", status="")) == "ok"
    assert slack.thread_status("D111", "1.2") is None  # an empty status clears it
    too_many = [f"step {i}" for i in range(11)]
    assert error_of(lambda: status(channel_id="D111", thread_ts="1.2", status="x", loading_messages=too_many)) == (
        "invalid_arguments"
    )
    assert error_of(lambda: status(channel_id="D999", thread_ts="1.2", status="x")) == "channel_not_found"
    assert error_of(lambda: status(channel_id="D111", thread_ts="soon", status="x")) == "invalid_thread_ts"

    prompts = client.assistant_threads_setSuggestedPrompts
    assert error_of(lambda: prompts(channel_id="D111", prompts=[PROMPT])) == "ok"  # agent DMs: no thread
    assert slack.prompts_for("D111") == {"title": "", "prompts": [PROMPT]}
    assert error_of(lambda: prompts(channel_id="D111", prompts=[PROMPT] * 5)) == "invalid_arguments"
    assert error_of(lambda: prompts(channel_id="D111", prompts=[{"title": "no message"}])) == "invalid_arguments"

    title = client.assistant_threads_setTitle
    assert error_of(lambda: title(channel_id="D111", thread_ts="1.2", title="Refunds")) == "ok"
    assert error_of(lambda: title(channel_id="D111", thread_ts="1.2", title=" ")) == "invalid_arguments"


def test_the_assistant_methods_have_slacks_rate_tiers(slack: SlackServer, client: WebClient) -> None:
    slack.set_rate_limit("assistant.threads.setStatus", 2, per="workspace")
    try:
        for _ in range(2):
            client.assistant_threads_setStatus(channel_id="D111", thread_ts="1.2", status="x")
        with pytest.raises(SlackApiError) as limited:
            client.assistant_threads_setStatus(channel_id="D111", thread_ts="1.2", status="x")
        assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"]
    finally:
        slack.set_rate_limit("assistant.threads.setStatus", None)
    assert set(TIERS) == {f"assistant.threads.{m}" for m in ("setStatus", "setSuggestedPrompts", "setTitle")}


def test_modals_need_a_trigger_and_short_labels(slack: SlackServer, client: WebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Ask Team AI"}, "blocks": []}
    assert error_of(lambda: client.views_open(trigger_id="", view=view)) == "invalid_trigger_id"
    long_title = {**view, "title": {"type": "plain_text", "text": "x" * 25}}
    assert error_of(lambda: client.views_open(trigger_id="1.2.3", view=long_title)) == "invalid_arguments"
    markdown = {**view, "blocks": [{"type": "markdown", "text": "hi"}]}
    assert error_of(lambda: client.views_open(trigger_id="1.2.3", view=markdown)) == "invalid_blocks"
    assert error_of(lambda: client.views_open(trigger_id="1.2.3", view=view)) == "ok"
    assert slack.modals[0]["title"]["text"] == "Ask Team AI"


def test_stream_chunks_are_checked(slack: SlackServer, client: WebClient) -> None:
    start = client.chat_startStream(
        channel="D111", thread_ts="1.2", task_display_mode="plan", chunks=[{"type": "plan_update", "title": "Plan"}]
    )
    ts = start["ts"]
    bad_status = [{"type": "task_update", "id": "t1", "title": "sql", "status": "done"}]
    assert error_of(lambda: client.chat_appendStream(channel="D111", ts=ts, chunks=bad_status)) == "invalid_arguments"
    task = {"type": "task_update", "id": "t1", "title": "sql", "status": "in_progress"}
    client.chat_appendStream(channel="D111", ts=ts, chunks=[task])
    client.chat_appendStream(channel="D111", ts=ts, chunks=[{**task, "status": "complete"}])
    message = slack.message("D111", ts)
    assert message["plan"] == {"title": "Plan"}
    assert [t["status"] for t in message["tasks"]] == ["complete"]  # the same id updates the task
    assert (
        error_of(lambda: client.chat_startStream(channel="D111", thread_ts="1.2", task_display_mode="carousel"))
        == "invalid_arguments"
    )
