"""The agent without a model: it runs the one tool the task names, as written, and shows the result.

`agent: sql SELECT ...`, `agent: schema [table]` and `agent: calculate <expression>` each become one tool call
(the agent's permissions and guards apply as for a model's call); a bare `SELECT` counts as `sql`. The tool's
result is then shown as the answer. A task in plain words gets an honest reply that lists these forms.
"""

from __future__ import annotations

import json
import re
from typing import Any

Message = dict[str, Any]
MAX_ROWS_SHOWN = 20

_TOOL_TASK = re.compile(r"^\s*(sql|schema|calculate|calc)\b[\s:]*(.*)$", re.IGNORECASE | re.DOTALL)
_BARE_SQL = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)

PLAIN_WORDS_REPLY = (
    "I can't plan a task written in plain words because no language model is configured, but the agent's tools "
    "work when you name one:\n"
    "• `agent: schema` lists the tables and columns I may read.\n"
    "• `agent: sql SELECT ...` runs one read-only query, for example "
    "`agent: sql SELECT count(*) AS sales, sum(amount) AS total FROM sales` on the demo data.\n"
    "• `agent: calculate (1250 - 1100) / 1100 * 100` does exact arithmetic."
)


def offline_agent_turn(messages: list[Message]) -> tuple[str, tuple[str, dict[str, Any]] | None]:
    """The offline engine's turn: `(text, None)` to answer, or `("", (tool, arguments))` to call a tool."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return _show_results(messages), None
    task = last.get("content") if last.get("role") == "user" else ""
    call = tool_call_for(task if isinstance(task, str) else "")
    return ("", call) if call else (PLAIN_WORDS_REPLY, None)


def tool_call_for(task: str) -> tuple[str, dict[str, Any]] | None:
    """The tool a task names, with its arguments; None for a task in plain words."""
    task = task.strip().strip("`").strip()
    if _BARE_SQL.match(task):
        return "sql", {"query": task}
    match = _TOOL_TASK.match(task)
    if not match:
        return None
    tool, rest = match.group(1).lower(), match.group(2).strip().strip("`").strip()
    if tool == "sql":
        return ("sql", {"query": rest}) if rest else None
    if tool == "schema":
        return "schema", ({"table": rest} if rest else {})
    return ("calculate", {"expression": rest}) if rest else None


def _show_results(messages: list[Message]) -> str:
    """The answer after the tool ran: its result as the reader wants to see it."""
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(str(message.get("content") or ""))
    return "\n\n".join(_shown(content) for content in reversed(results))


def _shown(content: str) -> str:
    try:
        data = json.loads(content)
    except ValueError:
        return content
    if not isinstance(data, dict):
        return content
    if "error" in data:
        return f"The tool could not do it: {data['error']}"
    if "columns" in data:
        return _table(data)
    if "tables" in data:
        lines = [f"• `{t['name']}`: {', '.join(t['columns'])}" for t in data["tables"]]
        return f"Tables I may read ({data.get('dialect', 'SQL')}):\n" + "\n".join(lines)
    if "result" in data:
        return f"`{data.get('expression', '')}` = *{data['result']}*"
    return content


def _table(data: dict[str, Any]) -> str:
    columns, rows = [str(c) for c in data["columns"]], data["rows"]
    if not rows:
        return "The query returned no rows."
    shown = [[_cell(v) for v in row] for row in rows[:MAX_ROWS_SHOWN]]
    widths = [max(len(c), *(len(r[i]) for r in shown)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in shown]
    count = len(rows)
    head = f"{count} row{'s' if count != 1 else ''}"
    if count > MAX_ROWS_SHOWN:
        head += f", the first {MAX_ROWS_SHOWN} shown"
    note = f"\n_{data['note']}_" if data.get("note") else ""
    return f"{head}:\n```\n" + "\n".join(lines) + "\n```" + note


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
