"""``users.*``: one user, or the whole list (cursor paged)."""

from __future__ import annotations

import copy
import time

from .paging import offset_page
from .params import Params, Payload, SlackError, web_api
from .workspace import Workspace


class UserMethods(Workspace):
    @web_api("users.info")
    def _users_info(self, params: Params) -> Payload:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    @web_api("users.list")
    def _users_list(self, params: Params) -> Payload:
        page, metadata = offset_page(copy.deepcopy(list(self.users.values())), params, 100)
        return {"members": page, "cache_ts": int(time.time()), "response_metadata": metadata}
