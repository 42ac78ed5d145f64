"""Try the bot with nothing set up: a local Slack workspace in the terminal, the real bot wired to it over HTTP.

Type `/summarize [text]`, `@bot question`, or any other line to post it in #general as alice. The bot's
messages and edits are printed as they reach the local Slack server. End with Ctrl-D.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

from bot.streaming import CURSOR, THINKING
from handlers.summarize import PLACEHOLDER
from doubles.bot_process import BotProcess
from doubles.slack_sender import SlackSender
from doubles.slack_server import SlackServer

SUMMARY_PLACEHOLDER = PLACEHOLDER.split("{")[0]
SIGNING_SECRET = "playground-signing-secret"
BOT_TOKEN = "xoxb-playground"
CHANNEL = "C0GENERAL"
SEED_CONVERSATION = [
    ("U0BOB", "Morning all. The release is blocked: the payment form rejects some valid cards."),
    ("U0CAROL", "I can reproduce it with cards that have spaces in the number. Looks like the new validation."),
    ("U0ALICE", "Then let's revert the validation change and ship the release today, fix properly next week."),
    ("U0BOB", "Agreed. I'll revert and run the checkout tests before 2pm."),
    ("U0CAROL", "Who tells support? They have three open tickets about declined cards."),
    ("U0ALICE", "I will, and I'll ask them to reply to the customers once the release is out."),
]


def seed(slack: SlackServer) -> None:
    for user_id, name, real in [("U0ALICE", "alice", "Alice Archer"), ("U0BOB", "bob", "Bob Baker"),
                                ("U0CAROL", "carol", "Carol Chen")]:
        slack.add_user(user_id, name, real_name=real)
    slack.add_user(slack.bot_user_id, "bot", is_bot=True)
    slack.add_channel(CHANNEL, "general")
    for user_id, text in SEED_CONVERSATION:
        slack.post(CHANNEL, text, user=user_id)


class BotMessagePrinter:
    """Prints every message the bot posts or edits, as it happens."""

    def __init__(self, slack: SlackServer, out: TextIO) -> None:
        self.slack, self.out = slack, out
        self.printed = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.slack.wait_for(lambda: len(self.slack.calls) > self.printed or self.stopped.is_set(),
                                    timeout=3600)
            except TimeoutError:
                continue
            calls = self.slack.calls
            for call in calls[self.printed:]:
                self._show(call)
            self.printed = len(calls)

    def _show(self, call) -> None:  # type: ignore[no-untyped-def]
        labels = {"chat.postMessage": "bot", "chat.update": "bot (edited)", "chat.postEphemeral": "bot (only you)"}
        if call.method in labels and call.response.get("ok"):
            print(f"\n{labels[call.method]}: {call.params.get('text', '')}", file=self.out, flush=True)


def run(stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    with SlackServer(token=BOT_TOKEN) as slack:
        seed(slack)
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": slack.api_url, "WEB_CONCURRENCY": "1", "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        }
        with BotProcess(env, workers=1) as bot:
            sender = SlackSender(bot.url, SIGNING_SECRET, bot_user_id=slack.bot_user_id)
            printer = BotMessagePrinter(slack, out)
            threading.Thread(target=printer.run, daemon=True).start()
            print(_banner(slack), file=out, flush=True)
            for line in stdin:
                line = line.strip()
                if line:
                    posts_before = _bot_posts(slack)
                    if _send(line, slack, sender, out):
                        _wait_until_answered(slack, posts_before)
            printer.stopped.set()
            slack.notify()
    return 0


def _send(line: str, slack: SlackServer, sender: SlackSender, out: TextIO) -> bool:
    """Deliver a typed line; True when the bot is expected to post an answer."""
    if line.startswith("/"):
        command, _, text = line.partition(" ")
        response = sender.slash_command(command, text, user="U0ALICE", channel=CHANNEL, channel_name="general",
                                        response_url=slack.response_url("playground"))
        if response.body:
            print(f"\nbot (only you): {response.body}", file=out, flush=True)
        return response.status == 200 and not response.body
    if line.startswith("@bot"):
        ts = slack.post(CHANNEL, line.replace("@bot", f"<@{slack.bot_user_id}>", 1), user="U0ALICE")
        sender.mention(line.removeprefix("@bot").strip(), user="U0ALICE", channel=CHANNEL, ts=ts)
        return True
    slack.post(CHANNEL, line, user="U0ALICE")
    return False


def _bot_posts(slack: SlackServer) -> int:
    return len(slack.calls_to("chat.postMessage")) + len(slack.responses)


def _wait_until_answered(slack: SlackServer, posts_before: int, timeout: float = 120.0) -> None:
    """Wait for the bot's answer, and until none of its messages is still a placeholder or still streaming."""
    def settled() -> bool:
        if _bot_posts(slack) <= posts_before:
            return False
        latest: dict[str, str] = {}
        for call in slack.calls:
            if call.method in ("chat.postMessage", "chat.update") and call.response.get("ok"):
                latest[call.response.get("ts", "")] = call.params.get("text", "")
        return not any(_in_progress(text) for text in latest.values())
    try:
        slack.wait_for(settled, timeout=timeout)
    except TimeoutError:
        pass


def _in_progress(text: str) -> bool:
    """A placeholder or a reply that is still streaming (the bot edits these again)."""
    return text.startswith(SUMMARY_PLACEHOLDER) or text == THINKING or text.endswith(CURSOR)


def _banner(slack: SlackServer) -> str:
    model = os.environ.get("OPENAI_BASE_URL") or ("OpenAI" if os.environ.get("OPENAI_API_KEY") else "")
    engine = f"model server: {model}" if model else "no model configured: the offline engine answers"
    return (
        "Playground: a local Slack workspace with the real bot wired to it over HTTP "
        f"({engine}).\n#general has a short conversation. Try:\n"
        "  /summarize                 summarize #general\n"
        "  /summarize <text>          summarize a text\n"
        "  @bot <question>            ask the bot (it answers in the thread)\n"
        "  anything else              post it in #general as alice\n"
        "Ctrl-D quits. To connect a real Slack workspace, see README.md."
    )
