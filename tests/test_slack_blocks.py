"""The local Slack refuses blocks the way Slack does: limits of markdown, section and feedback-button blocks."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.feedback import feedback_block
from doubles.slack import SlackServer
from tests.conftest import BOT_TOKEN


def post(slack: SlackServer, blocks: list[dict]) -> str:
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    try:
        client.chat_postMessage(channel="C111", text="fallback", blocks=blocks)
    except SlackApiError as error:
        return str(error.response["error"])
    return "ok"


def markdown(text: str) -> dict:
    return {"type": "markdown", "text": text}


@pytest.mark.parametrize(
    ("blocks", "answer"),
    [
        ([markdown("x" * 12_000)], "ok"),
        ([markdown("x" * 6_000), markdown("y" * 6_001)], "invalid_blocks"),  # 12,000 for all markdown blocks
        ([markdown("")], "invalid_blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3_001}}], "invalid_blocks"),
        ([{"type": "divider"}] * 51, "invalid_blocks"),
        ([markdown("answer"), feedback_block("req-1")], "ok"),
        ([{"type": "context_actions", "elements": []}], "invalid_blocks"),
        ([{"type": "context_actions", "elements": [{"type": "button", "text": "x"}]}], "invalid_blocks"),
    ],
)
def test_message_blocks_follow_slacks_limits(slack: SlackServer, blocks: list[dict], answer: str) -> None:
    assert post(slack, blocks) == answer


def test_feedback_buttons_need_short_plain_text_and_a_value(slack: SlackServer) -> None:
    block = feedback_block("req-2")
    block["elements"][0]["positive_button"]["text"]["text"] = "x" * 76
    assert post(slack, [block]) == "invalid_blocks"
    block = feedback_block("req-3")
    del block["elements"][0]["negative_button"]["value"]
    assert post(slack, [block]) == "invalid_blocks"


def test_the_home_tab_takes_no_message_only_blocks(slack: SlackServer) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id="W111", view={"type": "home", "blocks": [markdown("hello")]})
    assert refused.value.response["error"] == "invalid_blocks"
