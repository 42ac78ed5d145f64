"""Messages the bot used to ignore: "Also send to channel" replies in its threads, and messages with files."""

from __future__ import annotations

from pathlib import Path

from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.test_streaming import final_reply

DOCS = Path(__file__).parent / "fixtures" / "docs"


def test_a_reply_also_sent_to_the_channel_in_the_bot_s_thread_is_answered(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    model.enqueue(Reply(text="Refunds take 30 days."), Reply(text="Yes, cards too."))
    sender.mention("refund window?", ts="1710000000.006000")
    final_reply(slack, "C111", "1710000000.006000")
    sender.message(
        "does that include cards?", ts="1710000000.006100", thread_ts="1710000000.006000", subtype="thread_broadcast"
    )
    messages = final_reply(slack, "C111", "1710000000.006000", count=2)
    assert messages[1]["text"] == "Yes, cards too."


def test_a_dm_with_files_is_answered_from_their_text_and_says_which_were_skipped(
    slack: SlackServer, model: ModelServer, sender: SlackSender
) -> None:
    slack.add_channel("D111", "", is_im=True, user="W111")
    files = [
        slack.add_file("F1", "security.txt", (DOCS / "security.txt").read_bytes()),
        slack.add_file("F2", "office-plants.md", (DOCS / "office-plants.md").read_bytes(), filetype="markdown"),
        slack.add_file(
            "F3", "expenses.pdf", (DOCS / "expenses.pdf").read_bytes(), filetype="pdf", mimetype="application/pdf"
        ),
        slack.add_file(
            "F4", "deploys.html", (DOCS / "deploys.html").read_bytes(), filetype="html", mimetype="text/html"
        ),
        slack.add_file("F5", "photo.png", b"\x89PNG\r\n" + b"0" * 100, filetype="png", mimetype="image/png"),
        slack.add_file("F6", "huge.txt", b"word " * 500_000),
    ]
    model.enqueue(Reply(text="Here is the gist of your files."))
    sender.message(
        "summarize this", channel="D111", ts="1710000000.007000", channel_type="im", subtype="file_share", files=files
    )

    (reply,) = final_reply(slack, "D111", "1710000000.007000")
    prompt = model.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert prompt.startswith("summarize this")
    assert "60 euros per day" in prompt  # the PDF
    for name in ("security.txt", "office-plants.md", "expenses.pdf", "deploys.html"):
        assert f'<attached_file name="{name}">' in prompt
    assert "photo.png" not in prompt and "huge.txt" not in prompt and "<html" not in prompt.lower()
    assert reply["text"].startswith("Here is the gist of your files.")
    assert "photo.png: I can read text, Markdown, PDF and HTML files, not png" in reply["text"]
    assert "huge.txt: it is too large (2.5 MB; the limit is 2 MB)" in reply["text"]
    assert slack.file_downloads() and all(authorised for _, authorised in slack.file_downloads())
    assert {file_id for file_id, _ in slack.file_downloads()} == {"F1", "F2", "F3", "F4"}


def test_a_download_without_the_bot_token_gets_the_sign_in_page_not_the_file(slack: SlackServer) -> None:
    import httpx

    url = slack.add_file("F7", "secret.txt", b"the file")["url_private_download"]
    assert httpx.get(url).status_code == 302
    assert httpx.get(url, headers={"Authorization": "Bearer xoxb-someone-else"}).status_code == 302
