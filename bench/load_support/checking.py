"""Whether each acked request got its one reply, read from the local Slack server's state."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .workload import Item


@dataclass
class Outcome:
    state: str  # answered | error_reply | pending | missing
    replies: int  # bot messages for this request (1 expected)
    detail: str = ""


class Checker:
    """Reads the local Slack server's state and says, per acked request, whether its one reply is there."""

    def __init__(self, slack: Any, items: list[Item]) -> None:
        from bot.slack.streaming import CURSOR, THINKING

        self.slack, self.items = slack, [i for i in items if i.retry_of is None]
        self.cursor, self.thinking = CURSOR, THINKING

    def outcomes(self) -> dict[int, Outcome]:
        slack = self.slack
        by_user: dict[str, list[dict]] = defaultdict(list)
        for channel in {i.channel for i in self.items if i.kind == "summarize"}:
            for message in slack.messages(channel):
                if message.get("bot_id"):
                    first = slack.edits(channel, message["ts"])[:1] or [message.get("text", "")]
                    for user in set(re.findall(r"<@(W\w+)>", first[0] + message.get("text", ""))):
                        by_user[user].append(message)
        self.responses = list(slack.responses)
        result: dict[int, Outcome] = {}
        for item in self.items:
            if item.kind == "summarize":
                found = by_user.get(item.user, [])
                result[item.index] = self._judge(
                    found,
                    lambda t, item=item: t.startswith(f"*Summary for <@{item.user}>*") and f"req-{item.number}" in t,
                    index=item.index,
                )
            elif item.kind == "digest":
                found = [m for m in slack.messages(item.channel) if m.get("bot_id")]
                result[item.index] = self._judge(
                    found,
                    lambda t: t.startswith("*Digest of <#"),
                    pending=lambda t: t.startswith(":hourglass"),
                    index=item.index,
                )
            else:
                found = [m for m in slack.replies(item.channel, item.ts) if m.get("bot_id")]
                marker = {
                    "chat": f"q-{item.number}",
                    "docs": f"docs answer {item.number}",
                    "agent": f"agent answer {item.number}",
                }[item.kind]
                result[item.index] = self._judge(found, lambda t, marker=marker: marker in t and not self._live(t))
        return result

    def _live(self, text: str) -> bool:
        return text.endswith(self.cursor) or text == self.thinking

    def _judge(self, found: list[dict], done: Any, pending: Any = None, index: int | None = None) -> Outcome:
        if not found:
            said = [r for r in self.responses if r.get("name") == str(index)]
            if said:  # an ephemeral answer through the response_url (e.g. "was not queued")
                return Outcome("error_reply", 0, "response_url: " + str(said[-1].get("text", ""))[:150])
            return Outcome("missing", 0)
        text = found[0].get("text", "")
        if done(text):
            return Outcome("answered", len(found))
        if text.startswith(":warning:") or "_Stopped" in text or ":warning:" in text:
            return Outcome("error_reply", len(found), text[:160])
        if (pending and pending(text)) or text.startswith("Summarizing") or self._live(text):
            return Outcome("pending", len(found), text[:160])
        return Outcome("other_reply", len(found), text[:160])
