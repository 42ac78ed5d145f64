"""Slack's agent surface in the playground: a thread's loading status, the DM's suggested prompts, and the plan
and tasks of a natively streamed agent answer, rendered as the Slack client shows them (safe HTML)."""

from __future__ import annotations

import html
from typing import Any

from doubles.slack import SlackServer

LAST = "9999999999.999999"  # sorts after every message: prompts and the status sit at the bottom
SHORTCUTS = {"summarize_thread": "Summarize this thread", "ask_about_message": "Ask Team AI about this message"}
TASK_ICONS = {"pending": "○", "in_progress": "◔", "complete": "✓", "error": "⚠"}

Payload = dict[str, Any]


def surface_items(slack: SlackServer, visible: set[str], bot_name: str) -> list[tuple[str, str, str | None, str, str]]:
    """(key, channel, thread or None, sort, html) for each status and set of prompts in a visible conversation."""
    out: list[tuple[str, str, str | None, str, str]] = []
    for (channel, thread), status in list(slack.thread_statuses.items()):
        if channel in visible:
            parent = slack.message(channel, thread) if thread else None
            # A thread with no replies yet cannot be opened: the status shows under its message, as in a DM.
            where = thread if parent is None or parent.get("reply_count") else None
            out.append((f"s:{channel}:{thread}", channel, where or None, LAST, status_html(status, bot_name)))
    for (channel, thread), prompts in list(slack.suggested_prompts.items()):
        if channel in visible:
            out.append((f"p:{channel}:{thread}", channel, thread or None, LAST, prompts_html(prompts, channel, thread)))
    return out


def status_html(status: Payload, bot_name: str) -> str:
    loading = [str(m) for m in status.get("loading_messages") or []]
    rotating = "".join(f'<span class="loading">{html.escape(m)}</span>' for m in loading)
    return (
        f'<div class="status" role="status" aria-live="polite"><span class="spinner" aria-hidden="true"></span>'
        f"<b>{html.escape(bot_name)}</b> {html.escape(str(status.get('status', '')))} {rotating}</div>"
    )


def prompts_html(prompts: Payload, channel: str, thread: str) -> str:
    buttons = "".join(
        f'<button type="button" class="prompt" data-channel="{html.escape(channel, quote=True)}" '
        f'data-thread="{html.escape(thread, quote=True)}" '
        f'data-prompt="{html.escape(str(p.get("message", "")), quote=True)}" '
        f'data-focus-key="prompt:{html.escape(channel)}:{html.escape(thread)}:{index}">'
        f"{html.escape(str(p.get('title', '')))}</button>"
        for index, p in enumerate(prompts.get("prompts") or [])
    )
    title = html.escape(str(prompts.get("title") or "Suggested prompts"))
    return f'<div class="prompts" role="group" aria-label="{title}"><div class="prompts-title">{title}</div>{buttons}</div>'


def plan_html(message: Payload) -> str:
    """The plan title and its tasks, above the streamed text (empty for other messages)."""
    tasks = message.get("tasks") or []
    if not tasks and not message.get("plan"):
        return ""
    title = html.escape(str((message.get("plan") or {}).get("title") or "Plan"))
    rows = "".join(
        f'<li class="task {html.escape(str(t.get("status", "")))}">'
        f'<span class="task-icon" aria-hidden="true">{TASK_ICONS.get(str(t.get("status")), "•")}</span> '
        f'<span class="task-title">{html.escape(str(t.get("title", "")))}</span>'
        + (f' <span class="task-output">{html.escape(str(t["output"]))}</span>' if t.get("output") else "")
        + f'<span class="sr-only"> ({html.escape(str(t.get("status", "")))})</span></li>'
        for t in tasks
    )
    return f'<div class="plan"><div class="plan-title">{title}</div><ol class="tasks">{rows}</ol></div>'


def shortcut_button(channel: str, ts: str, callback_id: str = "summarize_thread") -> str:
    """A message shortcut (Slack puts them in the message's ⋯ menu): "Summarize this thread" or "Ask Team AI"."""
    label = SHORTCUTS[callback_id]
    return (
        f'<button type="button" class="shortcut" data-shortcut="{callback_id}" '
        f'data-channel="{html.escape(channel, quote=True)}" data-ts="{html.escape(ts, quote=True)}" '
        f'data-focus-key="shortcut:{callback_id}:{html.escape(channel)}:{html.escape(ts)}">{label}</button>'
    )
