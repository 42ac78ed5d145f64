"""``reactions.add`` and ``reactions.remove``, as the bot user."""

from __future__ import annotations

from .params import Params, Payload, SlackError, required, web_api
from .workspace import Workspace


class ReactionMethods(Workspace):
    def _reaction_target(self, params: Params) -> tuple[Payload, str]:
        conversation = self._conversation(params.get("channel"))
        message = conversation.messages.get(str(params.get("timestamp") or ""))
        if message is None:
            raise SlackError("message_not_found")
        return message, required(params, "name", "invalid_name")

    @web_api("reactions.add")
    def _reactions_add(self, params: Params) -> Payload:
        message, name = self._reaction_target(params)
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise SlackError("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        self.notify()
        return {}

    @web_api("reactions.remove")
    def _reactions_remove(self, params: Params) -> Payload:
        message, name = self._reaction_target(params)
        reactions = message.get("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None or self.bot_user_id not in reaction["users"]:
            raise SlackError("no_reaction")
        reaction["users"].remove(self.bot_user_id)
        reaction["count"] -= 1
        if not reaction["count"]:
            reactions.remove(reaction)
        self.notify()
        return {}
