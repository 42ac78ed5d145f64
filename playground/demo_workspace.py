"""The demo workspace the browser playground starts with: people, channels with recent conversation, a DM.

Messages are stamped in the last few hours (not at the server's fixed 2023 clock), so time-window features such
as "/digest of the last day" find them.
"""

from __future__ import annotations

import time

from doubles.slack import SlackServer
from playground.relay import Person

ME = Person("U0ALICE", "alice")
BOT_NAME = "Team AI"
GENERAL, ENGINEERING, RANDOM, DM = "C0GENERAL", "C0ENGINEERING", "C0RANDOM", "D0ALICE"
PEOPLE = [
    ("U0ALICE", "alice", "Alice Archer"),
    ("U0BOB", "bob", "Bob Baker"),
    ("U0CAROL", "carol", "Carol Chen"),
    ("U0DAN", "dan", "Dan Diaz"),
]

SEED_CONVERSATION = [
    ("U0BOB", "Morning all. The release is blocked: the payment form rejects some valid cards."),
    ("U0CAROL", "I can reproduce it with cards that have spaces in the number. Looks like the new validation."),
    ("U0ALICE", "Then let's revert the validation change and ship the release today, fix properly next week."),
    ("U0BOB", "Agreed. I'll revert and run the checkout tests before 2pm."),
    ("U0CAROL", "Who tells support? They have three open tickets about declined cards."),
    ("U0ALICE", "I will, and I'll ask them to reply to the customers once the release is out."),
]
ENGINEERING_THREADS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "U0DAN",
        "The nightly data export failed again: the job ran out of memory at 03:10.",
        [
            ("U0BOB", "It loads the whole orders table at once. Streaming it in batches of 10k should fix it."),
            ("U0DAN", "Agreed. I'll make the batch change today; can someone review it before tonight's run?"),
            ("U0CAROL", "I'll review it after lunch."),
        ],
    ),
    (
        "U0BOB",
        "Decision: we move the staging database to the new cluster on Thursday. Staging is read-only "
        "from 14:00 to 15:00 that day.",
        [],
    ),
    (
        "U0CAROL",
        "Open question: do we keep the old metrics dashboards once the new ones are live? "
        "Finance still uses two of them.",
        [
            ("U0ALICE", "Let's keep those two until finance has moved, and retire the rest next sprint."),
        ],
    ),
    ("U0DAN", "Waiting on security for the new API keys before I can finish the partner integration.", []),
]
RANDOM_MESSAGES = [
    ("U0BOB", "Lunch at the new ramen place on Friday? :ramen:"),
    ("U0CAROL", "Count me in."),
    ("U0DAN", "Same, if we go after 12:30."),
]


def seed(slack: SlackServer, now: float | None = None) -> None:
    """People, #general, #engineering (with threads), #random and the person's DM with the bot."""
    now = time.time() if now is None else now
    slack.add_user(slack.bot_user_id, "teamai", real_name=BOT_NAME, is_bot=True)
    for user_id, name, real in PEOPLE:
        slack.add_user(user_id, name, real_name=real)
    members = [user_id for user_id, _, _ in PEOPLE]
    slack.add_channel(GENERAL, "general", members=members)
    slack.add_channel(ENGINEERING, "engineering", members=members)
    slack.add_channel(RANDOM, "random", members=members)
    slack.add_channel(DM, "", is_im=True, user=ME.user_id)
    for channel, topic in [
        (GENERAL, "Company-wide news and the release"),
        (ENGINEERING, "Builds, deploys, on-call"),
        (RANDOM, "Everything else"),
    ]:
        slack.channels[channel].info["topic"] = {"value": topic, "creator": "U0ALICE", "last_set": int(now)}

    minute = 60.0
    clock = now - 5 * 60 * minute
    for user_id, text, replies in ENGINEERING_THREADS:
        slack.set_clock(clock)
        parent = slack.post(ENGINEERING, text, user=user_id)
        for reply_user, reply in replies:
            clock += 4 * minute
            slack.set_clock(clock)
            slack.post(ENGINEERING, reply, user=reply_user, thread_ts=parent)
        clock += 20 * minute
    clock = now - 90 * minute
    for user_id, text in RANDOM_MESSAGES:
        slack.set_clock(clock)
        slack.post(RANDOM, text, user=user_id)
        clock += 3 * minute
    clock = now - 45 * minute
    for user_id, text in SEED_CONVERSATION:
        slack.set_clock(clock)
        slack.post(GENERAL, text, user=user_id)
        clock += 2 * minute
    slack.set_clock(now)
