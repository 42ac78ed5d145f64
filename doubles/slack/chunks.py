"""The chunks of a streamed message (chat.startStream / appendStream / stopStream), checked as Slack documents
them: ``markdown_text`` (text), ``plan_update`` (the plan's title), ``task_update`` (id, title, and a status
of pending, in_progress, complete or error; optional details, output and sources) and ``blocks``. A task sent
again with the same id updates it. Anything else is ``invalid_arguments``."""

from __future__ import annotations

from typing import Any

from .params import Payload, SlackError

TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})
DISPLAY_MODES = frozenset({"timeline", "plan"})


def check_chunks(chunks: Any) -> list[Payload]:
    if chunks in (None, ""):
        return []
    if not isinstance(chunks, list):
        raise SlackError("invalid_arguments")
    for chunk in chunks:
        kind = chunk.get("type") if isinstance(chunk, dict) else None
        if kind == "markdown_text":
            ok = isinstance(chunk.get("text"), str)
        elif kind == "plan_update":
            ok = isinstance(chunk.get("title"), str) and bool(chunk["title"].strip())
        elif kind == "task_update":
            ok = (
                all(isinstance(chunk.get(name), str) and chunk[name] for name in ("id", "title"))
                and chunk.get("status") in TASK_STATUSES
                and all(isinstance(chunk.get(name, ""), str) for name in ("details", "output"))
            )
        elif kind == "blocks":
            ok = isinstance(chunk.get("blocks"), list)
        else:
            ok = False
        if not ok:
            raise SlackError("invalid_arguments")
    return chunks


def keep_structure(message: Payload, chunks: list[Payload]) -> None:
    """File the plan title and the tasks (by id, latest state) on the message, as Slack shows them."""
    for chunk in chunks:
        if chunk["type"] == "plan_update":
            message["plan"] = {"title": chunk["title"]}
        elif chunk["type"] == "task_update":
            tasks = message.setdefault("tasks", [])
            task = {k: chunk[k] for k in ("id", "title", "status", "details", "output") if k in chunk}
            for index, existing in enumerate(tasks):
                if existing["id"] == task["id"]:
                    tasks[index] = task
                    break
            else:
                tasks.append(task)
