"""``conversations.*``: history and replies (cursor paged), info, list, members, and opening a DM."""

from __future__ import annotations

import copy

from .paging import offset_page, time_filter, ts_page
from .params import Params, Payload, SlackError, flag, required, web_api
from .workspace import Conversation, Workspace, in_history


class ConversationMethods(Workspace):
    @web_api("conversations.history")
    def _conversations_history(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        visible = [m for m in reversed(conversation.messages.values()) if in_history(m)]
        page, has_more, next_cursor = ts_page(time_filter(visible, params), params, 100, newest_first=True)
        return {
            "messages": [self._render(conversation, m) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    @web_api("conversations.replies")
    def _conversations_replies(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        thread = self._thread(conversation, required(params, "ts", "thread_not_found"))
        if not thread:
            raise SlackError("thread_not_found")
        page, has_more, next_cursor = ts_page(time_filter(thread, params), params, 1000, newest_first=False)
        return {
            "messages": [self._render(conversation, m) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversation_info(self, conversation: Conversation) -> Payload:
        info = copy.deepcopy(conversation.info)
        if not info["is_im"]:
            info["num_members"] = len(conversation.members)
        return info

    @web_api("conversations.info")
    def _conversations_info(self, params: Params) -> Payload:
        return {"channel": self._conversation_info(self._conversation(params.get("channel")))}

    @web_api("conversations.list")
    def _conversations_list(self, params: Params) -> Payload:
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",") if t.strip()}
        exclude_archived = flag(params, "exclude_archived")
        matching = [
            self._conversation_info(c)
            for c in self.channels.values()
            if conversation_type(c.info) in types and not (exclude_archived and c.info["is_archived"])
        ]
        page, metadata = offset_page(matching, params, 100)
        return {"channels": page, "response_metadata": metadata}

    @web_api("conversations.members")
    def _conversations_members(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        page, metadata = offset_page(conversation.members, params, 100)
        return {"members": page, "response_metadata": metadata}

    @web_api("conversations.open")
    def _conversations_open(self, params: Params) -> Payload:
        if params.get("channel"):
            return {"channel": {"id": self._conversation(params["channel"]).info["id"]}}
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("users_list_not_supplied" if not users else "not_enough_users")
        if users[0] not in self.users:
            raise SlackError("user_not_found")
        for conversation in self.channels.values():
            if conversation.info["is_im"] and conversation.info.get("user") == users[0]:
                return {"already_open": True, "channel": {"id": conversation.info["id"]}}
        channel_id = f"D{users[0].lstrip('U')}"
        self.add_channel(channel_id, "", is_im=True, user=users[0])
        return {"no_op": False, "already_open": False, "channel": {"id": channel_id}}


def conversation_type(info: Payload) -> str:
    if info["is_im"]:
        return "im"
    if info["is_mpim"]:
        return "mpim"
    return "private_channel" if info["is_private"] else "public_channel"
