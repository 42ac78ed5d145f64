"""``assistant.threads.*``: the loading status, suggested prompts and title of an app's conversation threads.

Slack's rules, as documented: ``setStatus`` takes ``channel_id``, ``thread_ts`` and ``status`` (an empty status
clears it; Slack also clears it when the app replies in the thread), and at most 10 ``loading_messages``;
``setSuggestedPrompts`` takes 1 to 4 prompts, each a ``title`` and a ``message``, an optional ``title`` for the
list and an optional ``thread_ts`` (agent DMs set prompts for the conversation, without one); ``setTitle`` takes
``channel_id``, ``thread_ts`` and a non-empty ``title``. Unknown channels are ``channel_not_found``, a
malformed ``thread_ts`` is ``invalid_thread_ts``. Rate tiers (see `TIERS`): prompts and titles are Tier 4; the
status has Slack's "special" limit, modelled as Tier 4 too.
"""

from __future__ import annotations

import re
from typing import Any

from .params import Params, Payload, SlackError, required, web_api
from .workspace import Workspace

TIERS = {  # calls per minute per workspace, for `SlackServer.set_rate_limit(..., per="workspace")`
    "assistant.threads.setStatus": 100,
    "assistant.threads.setSuggestedPrompts": 100,
    "assistant.threads.setTitle": 100,
}
MAX_LOADING_MESSAGES = 10
MAX_PROMPTS = 4
_TS = re.compile(r"^\d+\.\d+$")


class AssistantMethods(Workspace):
    """Statuses, prompts and titles are kept per (channel, thread) for tests and the playground to read."""

    @web_api("assistant.threads.setStatus")
    def _assistant_set_status(self, params: Params) -> Payload:
        channel, thread_ts = self._assistant_thread(params, thread_required=True)
        if "status" not in params or not isinstance(params["status"], str):
            raise SlackError("invalid_arguments")
        loading = params.get("loading_messages") or []
        if not isinstance(loading, list) or len(loading) > MAX_LOADING_MESSAGES:
            raise SlackError("invalid_arguments")
        if not all(isinstance(m, str) and m for m in loading):
            raise SlackError("invalid_arguments")
        key = (channel, thread_ts)
        if params["status"]:
            self.thread_statuses[key] = {"status": params["status"], "loading_messages": list(loading)}
        else:
            self.thread_statuses.pop(key, None)
        self.notify()
        return {}

    @web_api("assistant.threads.setSuggestedPrompts")
    def _assistant_set_prompts(self, params: Params) -> Payload:
        channel, thread_ts = self._assistant_thread(params, thread_required=False)
        prompts = params.get("prompts")
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= MAX_PROMPTS:
            raise SlackError("invalid_arguments")
        for prompt in prompts:
            if not isinstance(prompt, dict) or not all(
                isinstance(prompt.get(name), str) and prompt[name].strip() for name in ("title", "message")
            ):
                raise SlackError("invalid_arguments")
        title = params.get("title")
        if title is not None and not isinstance(title, str):
            raise SlackError("invalid_arguments")
        self.suggested_prompts[(channel, thread_ts)] = {"title": title or "", "prompts": prompts}
        self.notify()
        return {}

    @web_api("assistant.threads.setTitle")
    def _assistant_set_title(self, params: Params) -> Payload:
        channel, thread_ts = self._assistant_thread(params, thread_required=True)
        title = params.get("title")
        if not isinstance(title, str) or not title.strip():
            raise SlackError("invalid_arguments")
        self.thread_titles[(channel, thread_ts)] = title
        self.notify()
        return {}

    # -- inspection ----------------------------------------------------------------------

    def thread_status(self, channel: str, thread_ts: str) -> Payload | None:
        """The status a thread shows now (``{"status", "loading_messages"}``), or None."""
        with self._lock:
            status = self.thread_statuses.get((channel, thread_ts))
            return dict(status) if status else None

    def prompts_for(self, channel: str, thread_ts: str = "") -> Payload | None:
        """The suggested prompts set for a conversation (thread_ts "") or a thread."""
        with self._lock:
            prompts = self.suggested_prompts.get((channel, thread_ts))
            return dict(prompts) if prompts else None

    def _assistant_thread(self, params: Params, *, thread_required: bool) -> tuple[str, str]:
        conversation = self._conversation(required(params, "channel_id", "channel_not_found"))
        thread_ts: Any = params.get("thread_ts")
        if thread_ts in (None, "") and not thread_required:
            return conversation.info["id"], ""
        if not isinstance(thread_ts, str) or not _TS.match(thread_ts):
            raise SlackError("invalid_thread_ts")
        return conversation.info["id"], self._parent_ts(conversation, thread_ts)
