"""The loading status Slack shows under a thread while the bot prepares a reply (`assistant.threads.setStatus`).

Slack shows "Team AI is thinking…" with rotating loading messages in the agent DM, in DMs and (with the chat:write
scope, since 2026) in channel threads. The status is cosmetic: it is set only when the workspace's call budget has
room, a refusal from Slack (an old install without the scope, a surface without statuses) is logged and never
stops the reply, and it is cleared as soon as the reply's first text is out.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.rate_budget import SlackBudget

log = logging.getLogger(__name__)

METHOD = "assistant.threads.setStatus"
STATUS = "is thinking…"
LOADING_MESSAGES: dict[str, list[str]] = {
    "chat": ["Reading the conversation…", "Thinking it over…", "Putting the answer together…"],
    "rag": ["Searching the team's docs…", "Reading the best passages…", "Checking the sources…"],
    "agent": ["Planning the steps…", "Running the tools…", "Checking the results…"],
    "summarize": ["Reading the messages…", "Finding what matters…", "Writing the summary…"],
}


class ThreadStatus:
    def __init__(self, client: WebClient, budget: SlackBudget, *, team: str, channel: str, thread_ts: str) -> None:
        self.client, self.budget = client, budget
        self.team, self.channel, self.thread_ts = team, channel, thread_ts
        self.shown = False

    def show(self, kind: str = "chat") -> None:
        """Show the status with the loading messages of `kind` (chat, rag, agent, summarize)."""
        if self.budget.try_take(self.team, METHOD) > 0:
            log.info("no budget for a thread status; the reply comes without one")
            return
        self.shown = self._send(STATUS, LOADING_MESSAGES.get(kind, LOADING_MESSAGES["chat"]))

    def clear(self) -> None:
        """Remove the status (the reply's text has started). Does nothing if none was shown."""
        if not self.shown:
            return
        self.shown = False
        if self.budget.try_take(self.team, METHOD, important=True) > 0:
            return  # Slack clears it anyway when the reply is posted, or after two minutes
        self._send("", None)

    def _send(self, status: str, loading_messages: list[str] | None) -> bool:
        try:
            self.client.assistant_threads_setStatus(
                channel_id=self.channel, thread_ts=self.thread_ts, status=status, loading_messages=loading_messages
            )
            return True
        except SlackApiError as error:
            log.info("thread status not set in %s: %s", self.channel, error.response.get("error"))
            return False


def set_title(client: WebClient, *, channel: str, thread_ts: str, title: str) -> None:
    """Name a thread of the bot's DM (shown in the thread list); a refusal is logged, never raised."""
    title = " ".join(title.split())[:80] or "Team AI"
    try:
        client.assistant_threads_setTitle(channel_id=channel, thread_ts=thread_ts, title=title)
    except SlackApiError as error:
        log.info("thread title not set in %s: %s", channel, error.response.get("error"))
