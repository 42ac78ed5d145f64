"""``views.publish`` (the App Home tab)."""

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
