"""Hostile model output reaches Slack as text: never a special mention, a made-up user mention or a broken link."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.format import fit_text
from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.pages import paginate
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import ledger_rows
from tests.test_streaming import final_reply

# A well-formed link as the converter writes it; anything else in angle brackets is Slack control syntax.
LINK = re.compile(r"<https?://[^\s<>|]+\|[^<>\n]+>")

HOSTILE = (
    "Here you go [click](https://evil.example/x|<!channel>) and [a](https://e.example/><!here>) "
    "and [b](https://e.example/?q=<@U0ADMIN>).\n"
    "[ping\n<!everyone>](https://e.example/) <!subteam^S0ADMINS|@admins> <@U0ADMIN> <#C0SECRET> <!date^1|x>\n"
    "Entities: &lt;!channel&gt; and a stray \x000\x00 placeholder.\n"
    "Code: `<!channel>` and\n```\n<!here> <@U0ADMIN>\n```\n"
)


def unsafe_parts(text: str) -> list[str]:
    """What would be Slack control syntax or a broken link once the converter's own links are set aside."""
    rest = LINK.sub("", text)
    return re.findall(r"[<>].{0,20}", rest)


def test_hostile_model_output_in_a_chat_answer_mentions_nobody(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.enqueue(Reply(text=HOSTILE))
    sender.mention("tell me everything", ts="1710000500.000100")

    (reply,) = final_reply(slack, "C111", "1710000500.000100")
    texts = [reply["text"], *slack.edits("C111", reply["ts"])]
    assert all(unsafe_parts(text) == [] for text in texts), [unsafe_parts(t) for t in texts]
    markdown = [b["text"] for b in reply["blocks"] if b["type"] == "markdown"]  # the model's Markdown, made inert
    assert markdown and all(re.findall(r"<[!@#]", text) == [] for text in markdown), markdown
    assert "<https://evil.example/x%7C%3C!channel%3E|click>" in reply["text"]  # still a link, to the same place
    assert "`&lt;!channel&gt;`" in reply["text"]  # shown as written, in code


def test_hostile_model_output_in_a_summary_mentions_nobody_and_is_in_the_usage_ledger(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str
) -> None:
    model.enqueue(Reply(text=HOSTILE))
    notes = "Some notes that are long enough to summarize. " * 5
    sender.slash_command("/summarize", notes, user="W111", trigger_id="hostile.summary")

    message = slack.wait_for(
        lambda: [m for m in slack.messages("C111") if m.get("bot_id") and "Summary" in m["text"]], timeout=60
    )[0]
    body = message["text"].split("\n", 1)[1]  # the heading mentions the requester, as it should
    assert unsafe_parts(body) == []
    # PostgreSQL's text cannot hold the NUL characters: the row is written with U+FFFD in their place (a refused
    # row once held up every later row of that bot process, so /usage showed nothing new).
    (row,) = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="hostile.summary"))
    assert "a stray \ufffd0\ufffd placeholder" in row["response"]


hostile_text = st.lists(
    st.sampled_from(list("<>|!@^&;[]()*_~`#\n -.:/aé\x00") + ["https://", "<!channel>", "](https://x.example/"]),
    max_size=150,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=hostile_text, limit=st.integers(min_value=60, max_value=400))
def test_converted_text_and_every_cut_of_it_hold_only_whole_links(text: str, limit: int) -> None:
    converted = to_mrkdwn(text)
    assert unsafe_parts(converted) == []
    for page in paginate(converted, limit):
        assert unsafe_parts(page) == []
    assert unsafe_parts(fit_text(converted, limit)) == []


def test_list_items_become_bullets_and_a_lone_dash_keeps_its_line() -> None:
    answer = "Steps:\n- install\n  * configure\n-\nthe end"
    assert to_mrkdwn(answer) == "Steps:\n• install\n  • configure\n-\nthe end"
