"""``views.publish`` (the App Home tab) and the ``assistant.threads.*`` calls of assistant apps."""

from __future__ import annotations

import copy

from .params import Params, Payload, SlackError, required, web_api
from .workspace import Workspace


class ViewMethods(Workspace):
    @web_api("views.publish")
    def _views_publish(self, params: Params) -> Payload:
        user_id = required(params, "user_id")
        view = params.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        self.views[user_id] = view
        self.notify()
        published = {"id": f"V{len(self.views):08d}", "team_id": self.team_id, "type": "home", **copy.deepcopy(view)}
        return {"view": published}

    @web_api("assistant.threads.setStatus", "assistant.threads.setTitle", "assistant.threads.setSuggestedPrompts")
    def _assistant_thread_call(self, params: Params) -> Payload:
        self._conversation(required(params, "channel_id", "channel_not_found"))
        required(params, "thread_ts")
        return {}
