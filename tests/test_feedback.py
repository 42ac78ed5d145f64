"""Feedback round trip: 👍/👎 on answers, votes stored with the request, shown in stats, exported as JSONL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.slack.feedback import DOWN, FEEDBACK, UP
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.test_summarize import MEETING_NOTES, placeholder_and_final

ROOT = Path(__file__).resolve().parent.parent


def test_votes_are_stored_shown_in_stats_and_disliked_answers_exported(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str
) -> None:
    model.enqueue(Reply(text="The launch moves to Friday."))
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="777.888.feedback")
    ts, _ = placeholder_and_final(slack)
    message = slack.message("C111", ts)
    (element,) = (e for b in message["blocks"] if b["type"] == "context_actions" for e in b["elements"])
    assert element["type"] == "feedback_buttons" and element["action_id"] == FEEDBACK  # Slack's own 👍 / 👎
    buttons = {UP: element["positive_button"]["value"], DOWN: element["negative_button"]["value"]}
    assert len(set(buttons.values())) == 2 and all("777.888.feedback" in value for value in buttons.values())

    for user, action in (("W111", DOWN), ("W222", DOWN), ("W333", UP)):
        response = sender.block_action(
            FEEDBACK,
            buttons[action],
            user=user,
            message_ts=ts,
            response_url=slack.response_url(f"vote-{user}"),
            element_type="feedback_buttons",
        )
        assert response.status == 200
    # A message posted before the feedback buttons carries plain buttons (value: the request id); W222 votes again.
    response = sender.block_action(
        DOWN, "777.888.feedback", user="W222", message_ts=ts, response_url=slack.response_url("vote-W222")
    )
    assert response.status == 200
    thanks = slack.wait_for(lambda: len(slack.responses) == 4 and slack.responses)
    assert all(r["response_type"] == "ephemeral" for r in thanks)
    by_voter = {r["name"]: r["text"] for r in thanks}  # votes are handled side by side: match them by voter
    assert "reviewed" in by_voter["vote-W111"] and "glad it helped" in by_voter["vote-W333"]

    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DATABASE_URL": postgres_url}
    stats = subprocess.run(
        [sys.executable, "app.py", "stats", "--since", "1d"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    summarize_line = next(line.split() for line in stats.splitlines() if line.startswith("summarize"))
    assert summarize_line[-2:] == ["1", "2"]  # one 👍, two 👎 (a second vote replaces the first)

    export = subprocess.run(
        [sys.executable, "app.py", "export-feedback"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    items = [json.loads(line) for line in export.stdout.splitlines()]
    item = next(i for i in items if i["request_id"] == "777.888.feedback")
    assert item["votes"] == {"up": 1, "down": 2}
    assert item["pattern"] == "summarize" and item["model"] == "test-model"
    assert item["response"] == "The launch moves to Friday."
    assert item["prompt"][-1] == {"role": "user", "content": MEETING_NOTES}
    assert "disliked answers exported" in export.stderr


def test_a_click_whose_value_names_no_vote_is_explained_and_stores_nothing(
    slack: SlackServer, sender: SlackSender
) -> None:
    response = sender.block_action(
        FEEDBACK,
        "sideways:777.888.none",
        response_url=slack.response_url("odd-vote"),
        element_type="feedback_buttons",
    )
    assert response.status == 200
    (answer,) = slack.wait_for(lambda: slack.responses)
    assert answer["response_type"] == "ephemeral" and "couldn't read that vote" in answer["text"]
