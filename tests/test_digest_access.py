"""Digests go only to members of what they digest: checked after `/digest`'s ack, and at every scheduled run."""

from __future__ import annotations

import re

import sqlalchemy

from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.worker_process import WorkerProcess
from tests import test_digest
from tests.test_digest import ack_text, followed_up, job_ids

# The digest bot, its workers and their settings, as in test_digest.py.
env, digest_bot, workers, sender = test_digest.env, test_digest.digest_bot, test_digest.workers, test_digest.sender
recent_clock = test_digest.recent_clock
_make_due = test_digest._make_due

SECRET = "The merger with Initech closes on the 14th."


def refusal(slack: SlackServer, sender: SlackSender, text: str, name: str) -> str:
    ack = sender.slash_command("/digest", text, user="W111", response_url=slack.response_url(name))
    [job_id] = job_ids(ack_text(ack))
    reply = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == name])[0]
    return reply["text"].replace(job_id, "ID")


def test_a_digest_of_a_conversation_the_requester_is_not_in_is_refused(slack: SlackServer, sender: SlackSender) -> None:
    slack.add_channel("D0BOBBOT", "", is_im=True, user="W222")  # the bot's DM with Bob
    slack.add_channel("C0TOWN", "town", members=["W222"])  # a public channel Alice is not in
    slack.add_channel("C0PLANS", "plans", is_private=True, members=["W222"])
    for channel in ("D0BOBBOT", "C0TOWN", "C0PLANS"):
        slack.post(channel, SECRET, user="W222")

    assert refusal(slack, sender, "D0BOBBOT dm", "dm") == (
        "Digest of <#D0BOBBOT> (id `ID`) was not queued: That is a direct message conversation you are not part "
        "of, so I can't digest it for you."
    )
    assert refusal(slack, sender, "<#C0TOWN|town> dm", "public") == (
        "Digest of <#C0TOWN> (id `ID`) was not queued: You are not a member of #town, so I can't digest it for you."
    )
    assert refusal(slack, sender, "<#C0PLANS|plans>", "private") == (
        "Digest of <#C0PLANS> (id `ID`) was not queued: #plans is private and you are not a member, so I can't "
        "digest it for you."
    )
    assert slack.calls_to("chat.postMessage") == []  # nothing queued, nothing posted


def _schedules(database_url: str, schedule_id: str) -> list[dict]:
    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("SELECT * FROM digest_schedules WHERE id = :id"), {"id": int(schedule_id)}
        )
        found = [dict(row) for row in rows.mappings()]
    engine.dispose()
    return found


def test_a_schedule_whose_owner_left_the_channel_tells_them_once_and_stops(
    slack: SlackServer, sender: SlackSender, workers: WorkerProcess, postgres_url: str
) -> None:
    slack.add_channel("C0PLANS", "plans", is_private=True, members=["W111", "W222"])
    text = followed_up(slack, sender, "daily <#C0PLANS|plans> 09:00 dm", name="scheduled")
    schedule_id = re.search(r"Schedule id `(\d+)`", text).group(1)  # type: ignore[union-attr]
    slack.channels["C0PLANS"].members.remove("W111")  # Alice leaves the private channel
    slack.post("C0PLANS", SECRET, user="W222")
    _make_due(postgres_url, schedule_id)

    def told() -> list[dict]:
        return [c for c in slack.calls_to("chat.postMessage") if "I stopped your" in c.params.get("text", "")]

    (notice,) = slack.wait_for(told, timeout=60)
    assert notice.params["text"] == (
        f"I stopped your daily at 09:00 (UTC) digest of <#C0PLANS> (schedule `{schedule_id}`): you are no longer "
        "a member of it. Set it up again with `/digest` if you get access back."
    )
    dm = slack.calls_to("conversations.open")[-1]
    assert dm.params["users"] == "W111" and notice.params["channel"] == dm.response["channel"]["id"]
    assert _schedules(postgres_url, schedule_id) == []  # stopped: it never runs again, so the notice comes once
    assert not [c for c in slack.calls if SECRET in str(c.params)]
