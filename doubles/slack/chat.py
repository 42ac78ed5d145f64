"""``chat.*``: posting, editing, deleting, ephemeral messages, permalinks, and streamed messages."""

from __future__ import annotations

from typing import Any

from .blocks import check_blocks
from .chunks import DISPLAY_MODES, check_chunks, keep_structure
from .params import Params, Payload, SlackError, flag, required, web_api
from .workspace import Conversation, Stream, Workspace

STREAM_TEXT_LIMIT = 12_000


class ChatMethods(Workspace):
    """The ``chat.*`` family (streams are messages the bot grows with appendStream, then stops)."""

    @web_api("chat.postMessage")
    def _chat_post_message(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        text = str(params.get("text") or "")
        if not text and not params.get("blocks") and not params.get("attachments"):
            raise SlackError("no_text")
        self._check_length(text)
        check_blocks(params.get("blocks"), markdown=self.markdown_blocks)
        message = self._bot_message(text, params)
        thread_ts = params.get("thread_ts") or None
        if thread_ts and flag(params, "reply_broadcast"):
            message["subtype"] = "thread_broadcast"
        ts = self._store(conversation, message, thread_ts)
        return {"channel": conversation.info["id"], "ts": ts, "message": self._render(conversation, message)}

    @web_api("chat.update")
    def _chat_update(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        message = self._own_message(conversation, params.get("ts"), "cant_update_message")
        if "text" not in params and "blocks" not in params and "attachments" not in params:
            raise SlackError("no_text")
        text = str(params.get("text") or "") if "text" in params else message.get("text", "")
        self._check_length(text)
        check_blocks(params.get("blocks"), markdown=self.markdown_blocks)
        for name in ("blocks", "attachments"):
            if name in params:
                message[name] = params[name] or []
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._set_text(conversation.info["id"], message, text)
        self.notify()
        return {
            "channel": conversation.info["id"],
            "ts": message["ts"],
            "text": text,
            "message": self._render(conversation, message),
        }

    @web_api("chat.delete")
    def _chat_delete(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        message = self._own_message(conversation, params.get("ts"), "cant_delete_message")
        ts = message["ts"]
        if conversation.threads.get(ts):
            conversation.messages[ts] = {
                "type": "message",
                "subtype": "tombstone",
                "text": "This message was deleted.",
                "user": "USLACKBOT",
                "hidden": True,
                "ts": ts,
            }
        else:
            del conversation.messages[ts]
            parent_ts = message.get("thread_ts")
            if parent_ts and parent_ts != ts:
                conversation.threads[parent_ts].remove(ts)
        self.notify()
        return {"channel": conversation.info["id"], "ts": ts}

    @web_api("chat.postEphemeral")
    def _chat_post_ephemeral(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        user = required(params, "user", "user_not_in_channel")
        text = str(params.get("text") or "")
        if not text and not params.get("blocks") and not params.get("attachments"):
            raise SlackError("no_text")
        self._check_length(text)
        check_blocks(params.get("blocks"), markdown=self.markdown_blocks)
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": conversation.info["id"],
                "user": user,
                "text": text,
                "blocks": params.get("blocks"),
                "thread_ts": params.get("thread_ts"),
                "ts": ts,
            }
        )
        self.notify()
        return {"message_ts": ts}

    @web_api("chat.getPermalink")
    def _chat_get_permalink(self, params: Params) -> Payload:
        conversation = self._conversation(params.get("channel"))
        ts = required(params, "message_ts", "message_not_found")
        if ts not in conversation.messages:
            raise SlackError("message_not_found")
        channel_id = conversation.info["id"]
        link = f"https://{self.team_domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
        return {"channel": channel_id, "permalink": link}

    # -- streaming ---------------------------------------------------------------------

    @web_api("chat.startStream")
    def _chat_start_stream(self, params: Params) -> Payload:
        conversation = self._member_conversation(params.get("channel"))
        thread_ts = required(params, "thread_ts")
        team, user = params.get("recipient_team_id"), params.get("recipient_user_id")
        if not conversation.info["is_im"] and not (team and user):
            raise SlackError("invalid_arguments")
        chunks = check_chunks(params.get("chunks"))
        if params.get("task_display_mode") not in (None, "", *DISPLAY_MODES):
            raise SlackError("invalid_arguments")
        text = stream_text(params)
        self._check_length(text, STREAM_TEXT_LIMIT)
        message = self._bot_message(text, {})
        keep_structure(message, chunks)
        ts = self._store(conversation, message, thread_ts)
        self._streams[(conversation.info["id"], ts)] = Stream("streaming", team, user)
        return {"channel": conversation.info["id"], "ts": ts}

    @web_api("chat.appendStream")
    def _chat_append_stream(self, params: Params) -> Payload:
        conversation, message, _ = self._streaming_message(params)
        chunks = check_chunks(params.get("chunks"))
        text = stream_text(params)
        if not text and not chunks:
            raise SlackError("invalid_arguments")
        self._check_length(text, STREAM_TEXT_LIMIT)
        keep_structure(message, chunks)
        self._set_text(conversation.info["id"], message, message["text"] + text)
        self.notify()
        return {"channel": conversation.info["id"], "ts": message["ts"]}

    @web_api("chat.stopStream")
    def _chat_stop_stream(self, params: Params) -> Payload:
        conversation, message, stream = self._streaming_message(params)
        keep_structure(message, check_chunks(params.get("chunks")))
        text = stream_text(params)
        self._check_length(text, STREAM_TEXT_LIMIT)
        check_blocks(params.get("blocks"), markdown=self.markdown_blocks)
        if text:
            self._set_text(conversation.info["id"], message, message["text"] + text)
        for name in ("blocks", "metadata"):
            if params.get(name):
                message[name] = params[name]
        stream.state = "stopped"
        self.notify()
        return {"channel": conversation.info["id"], "ts": message["ts"], "message": self._render(conversation, message)}

    # -- helpers (lock held) -----------------------------------------------------------

    def _streaming_message(self, params: Params) -> tuple[Conversation, Payload, Stream]:
        conversation = self._conversation(params.get("channel"))
        message = conversation.messages.get(str(params.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        stream = self._streams.get((conversation.info["id"], message["ts"]))
        if stream is None or stream.state != "streaming":
            raise SlackError("message_not_in_streaming_state")
        return conversation, message, stream

    def _bot_message(self, text: str, params: Params) -> Payload:
        message: Payload = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "team": self.team_id,
            "bot_profile": {"id": self.bot_id, "app_id": self.app_id, "name": "bot", "team_id": self.team_id},
        }
        for name in ("blocks", "attachments", "metadata"):
            if params.get(name):
                message[name] = params[name]
        return message

    def _check_length(self, text: str, limit: int | None = None) -> None:
        if len(text) > (limit or self.max_text_length):
            raise SlackError("msg_too_long")

    def _own_message(self, conversation: Conversation, ts: Any, error: str) -> Payload:
        message = conversation.messages.get(str(ts or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackError(error)
        return message

    def _set_text(self, channel_id: str, message: Payload, text: str) -> None:
        message["text"] = text
        self._edits.setdefault((channel_id, message["ts"]), []).append(text)


def stream_text(params: Params) -> str:
    """markdown_text plus the text of any markdown_text chunks."""
    text = str(params.get("markdown_text") or "")
    chunks = params.get("chunks") or []
    if isinstance(chunks, list):
        markdown = [c for c in chunks if isinstance(c, dict) and c.get("type") == "markdown_text"]
        text += "".join(str(c.get("text", "")) for c in markdown)
    return text
