"""Modals the bot opens (`views.open`) as the page shows them, and their submission as Slack sends it.

The page shows the newest modal the person has not submitted or cancelled: its title, its blocks (sections as
text; inputs as a text box, a select, radio buttons or a conversation picker) and its submit and close buttons.
A submission becomes a `view_submission` whose `state.values` has the shape Slack gives each element type.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from playground.mrkdwn_html import mrkdwn_to_html

Payload = dict[str, Any]


def _text(value: Any) -> str:
    return str((value or {}).get("text", "")) if isinstance(value, dict) else ""


def _option_label(option: Payload) -> str:
    return _text(option.get("text"))


def modal_html(view: Payload, conversations: list[tuple[str, str]], user_name: Callable[[str], str]) -> str:
    """The modal as a dialog; `conversations` are the (id, name) pairs a conversation picker offers."""
    view_id = html.escape(str(view.get("id", "")), quote=True)
    title = html.escape(_text(view.get("title")))
    rows: list[str] = []
    for index, block in enumerate(view.get("blocks") or []):
        kind = block.get("type")
        if kind == "section":
            rows.append(f'<div class="block section">{mrkdwn_to_html(_text(block.get("text")), user_name)}</div>')
        elif kind == "input":
            rows.append(_input_html(block, index, conversations))
    submit = _text(view.get("submit"))
    close = _text(view.get("close")) or "Close"
    buttons = f'<button type="button" class="modal-close">{html.escape(close)}</button>'
    if submit:
        buttons += f'<button type="submit" class="modal-submit">{html.escape(submit)}</button>'
    return (
        f'<form class="modal" role="dialog" aria-modal="true" aria-labelledby="modal-title" data-view-id="{view_id}">'
        f'<h2 id="modal-title">{title}</h2>{"".join(rows)}'
        f'<p class="error modal-error" role="alert"></p><div class="modal-buttons">{buttons}</div></form>'
    )


def _input_html(block: Payload, index: int, conversations: list[tuple[str, str]]) -> str:
    element = block.get("element") or {}
    kind = str(element.get("type", ""))
    block_id = html.escape(str(block.get("block_id", "")), quote=True)
    action_id = html.escape(str(element.get("action_id", "")), quote=True)
    field_id = f"modal-field-{index}"
    data = f'data-block="{block_id}" data-action="{action_id}" data-kind="{html.escape(kind, quote=True)}"'
    label = html.escape(_text(block.get("label")))
    if kind == "plain_text_input":
        tag = "textarea" if element.get("multiline") else "input"
        field = f'<{tag} id="{field_id}" {data}></{tag}>' if tag == "textarea" else f'<input id="{field_id}" {data}>'
    elif kind == "static_select":
        options = "".join(
            f'<option value="{html.escape(str(o.get("value", "")), quote=True)}"{_chosen(element, o, " selected")}>'
            f"{html.escape(_option_label(o))}</option>"
            for o in element.get("options") or []
        )
        field = f'<select id="{field_id}" {data}><option value="">Choose…</option>{options}</select>'
    elif kind == "multi_conversations_select":
        options = "".join(
            f'<option value="{html.escape(cid, quote=True)}">{html.escape(name)}</option>'
            for cid, name in conversations
        )
        field = f'<select id="{field_id}" multiple {data}>{options}</select>'
    elif kind == "radio_buttons":
        choices = "".join(
            f'<label class="radio"><input type="radio" name="{field_id}" {data} '
            f'value="{html.escape(str(o.get("value", "")), quote=True)}"{_chosen(element, o, " checked")}> '
            f"{html.escape(_option_label(o))}</label>"
            for o in element.get("options") or []
        )
        return f'<fieldset class="modal-input" {data}><legend>{label}</legend>{choices}</fieldset>'
    else:
        return f'<p class="modal-input">{label}: (not shown in the playground)</p>'
    return f'<div class="modal-input"><label for="{field_id}">{label}</label>{field}</div>'


def _chosen(element: Payload, option: Payload, attribute: str) -> str:
    initial = element.get("initial_option") or {}
    return attribute if initial and initial.get("value") == option.get("value") else ""


def state_values(view: Payload, entered: Payload) -> Payload:
    """`state.values` for `entered` ({block_id: {action_id: str or list of str}}), shaped per element type."""
    values: Payload = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        block_id, action_id, kind = (
            str(block.get("block_id", "")),
            str(element.get("action_id", "")),
            element.get("type"),
        )
        given = (entered.get(block_id) or {}).get(action_id) if isinstance(entered.get(block_id), dict) else None
        state: Payload = {"type": kind}
        if kind == "plain_text_input":
            state["value"] = str(given) if given else None
        elif kind in ("static_select", "radio_buttons"):
            chosen = next((o for o in element.get("options") or [] if o.get("value") == given), None)
            state["selected_option"] = chosen
        elif kind == "multi_conversations_select":
            state["selected_conversations"] = [str(c) for c in given] if isinstance(given, list) else []
        values[block_id] = {action_id: state}
    return values


def missing(view: Payload, values: Payload) -> dict[str, str]:
    """Required inputs left empty, as Slack's client refuses them before sending (block_id -> message)."""
    errors: dict[str, str] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or block.get("optional"):
            continue
        state = next(iter((values.get(str(block.get("block_id", ""))) or {}).values()), {})
        if not (state.get("value") or state.get("selected_option") or state.get("selected_conversations")):
            errors[str(block.get("block_id", ""))] = "Please complete this required field."
    return errors
