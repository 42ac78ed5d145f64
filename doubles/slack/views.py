"""``views.publish`` (the App Home tab) and ``views.open`` (modals)."""

from __future__ import annotations

import copy

from .blocks import check_blocks
from .params import Params, Payload, SlackError, required, web_api
from .workspace import Workspace


class ViewMethods(Workspace):
    @web_api("views.publish")
    def _views_publish(self, params: Params) -> Payload:
        user_id = required(params, "user_id")
        view = params.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        check_blocks(view.get("blocks"), surface="home")
        self.views[user_id] = view
        self.notify()
        published = {"id": f"V{len(self.views):08d}", "team_id": self.team_id, "type": "home", **copy.deepcopy(view)}
        return {"view": published}

    @web_api("views.open")
    def _views_open(self, params: Params) -> Payload:
        """A modal, as Slack checks it: a trigger, a title (plain_text, 24 characters) and optional submit and
        close labels (24 each), private_metadata up to 3,000 characters, at most 100 message-free blocks."""
        if not params.get("trigger_id"):
            raise SlackError("invalid_trigger_id")
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackError("invalid_arguments")
        for name, needed in (("title", True), ("submit", False), ("close", False)):
            label = view.get(name)
            if label is None and not needed:
                continue
            if (
                not isinstance(label, dict)
                or label.get("type") != "plain_text"
                or not 0 < len(label.get("text", "")) <= 24
            ):
                raise SlackError("invalid_arguments")
        if len(str(view.get("private_metadata") or "")) > 3_000 or len(view.get("blocks") or []) > 100:
            raise SlackError("invalid_arguments")
        check_blocks(view.get("blocks"), surface="modal")
        opened = {"id": f"VMODAL{len(self.modals) + 1:04d}", "team_id": self.team_id, **copy.deepcopy(view)}
        opened["trigger_id"] = params["trigger_id"]
        self.modals.append(opened)
        self.notify()
        return {"view": opened}
