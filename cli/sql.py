"""`python app.py sql`: the agent's sql tool from the shell, with the configured database, allow-lists and limits.

It goes through the same `Toolbox` the agent uses, so an admin sees exactly what the agent would get: the rows,
the refusal or the error. `--batch FILE` (or `-` for standard input) reads one JSON object `{"sql": ...}` per
line and writes one JSON object per line as each query ends. With a database the tool may not use (an unsafe
role, tables that do not exist), it prints the message the agent gets and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from contextlib import nullcontext
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the rest is imported when the command runs: `app.py --help` stays quick
    from bot.settings import Settings
    from patterns.agent_tools.registry import Toolbox


def add_commands(commands: argparse._SubParsersAction) -> None:
    sql = commands.add_parser(
        "sql",
        help="run the agent's sql tool from the shell",
        description="Run a query through the agent's sql tool exactly as the agent would: the configured "
        "database (AGENT_DATABASE_URL), allowed tables (AGENT_SQL_TABLES) and limits. Exits 2 when "
        "the database may not be used (for example a PostgreSQL role that can do more than read).",
    )
    sql.add_argument("query", nargs="?", help="one SELECT")
    sql.add_argument("--batch", metavar="FILE", help="run each line {\"sql\": ...} of FILE ('-': standard input)")
    sql.add_argument("--schema", action="store_true", help="show the tables and columns the agent may read")
    sql.add_argument("--json", action="store_true", help="print JSON: status, columns, rows, error, elapsed_ms")
    sql.set_defaults(run=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from patterns.agent_tools.database import DatabaseRefused
    from patterns.agent_tools.registry import Permissions, Toolbox, unavailable_message
    from patterns.agent_tools.wiring import database_for

    if bool(args.query) + bool(args.batch) + bool(args.schema) != 1:
        print("give one query, --batch FILE or --schema (see python app.py sql --help)", file=sys.stderr)
        return 2
    try:
        database_for(settings)
    except DatabaseRefused as error:
        print(unavailable_message(error), file=sys.stderr)
        return 2
    toolbox = Toolbox(
        database=lambda: database_for(settings),
        library=lambda: None,
        permissions=Permissions(),
        row_limit=settings.agent_sql_row_limit,
    )
    if args.schema:
        output = toolbox.run("schema", "{}", _context())
        print(output.content if args.json else _schema_text(json.loads(output.content)))
        return 0 if output.ok else 1
    if args.batch:
        with nullcontext(sys.stdin) if args.batch == "-" else open(args.batch, encoding="utf-8") as source:
            for line in _lines(source):
                print(
                    json.dumps(line if "status" in line else run_one(toolbox, line["sql"]), ensure_ascii=False),
                    flush=True,
                )
        return 0
    result = run_one(toolbox, args.query)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    elif result["status"] == "ok":
        print(_rows_text(result))
    else:
        print(f"{result['status']}: {result['error']}", file=sys.stderr)
    return 0 if result["status"] == "ok" else 1


def run_one(toolbox: Toolbox, sql: str) -> dict[str, Any]:
    """One query through the agent's sql tool: status (ok, refused, error, timeout), columns, rows, error."""
    output = toolbox.run("sql", json.dumps({"query": sql}), _context())
    content = json.loads(output.content)
    status = output.data.get("status") or ("ok" if output.ok else "refused" if output.refused else "error")
    return {
        "status": status,
        "columns": content.get("columns", []),
        "rows": content.get("rows", []),
        "error": content.get("error"),
        "elapsed_ms": output.data.get("elapsed_ms"),
        "truncated": bool(output.data.get("truncated")),
    }


def _context() -> Any:
    from patterns.agent_tools.registry import ToolContext

    return ToolContext(channel="cli", user="cli")


def _lines(source: IO[str]) -> Iterable[dict[str, Any]]:
    for number, raw in enumerate(source, 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
            if isinstance(item, dict) and isinstance(item.get("sql"), str):
                yield {"sql": item["sql"]}
                continue
        except ValueError:
            pass
        yield {
            "status": "error",
            "columns": [],
            "rows": [],
            "elapsed_ms": 0,
            "error": f'line {number} is not a JSON object with a "sql" string',
        }


def _rows_text(result: dict[str, Any]) -> str:
    lines = ["\t".join(result["columns"])] + [
        "\t".join("" if v is None else str(v) for v in row) for row in result["rows"]
    ]
    if result["truncated"]:
        lines.append(f"(only the first {len(result['rows'])} rows)")
    return "\n".join(lines)


def _schema_text(payload: dict[str, Any]) -> str:
    if "error" in payload:
        return payload["error"]
    return "\n".join(f"{t['name']}: {', '.join(t['columns'])}" for t in payload["tables"])


def database_report(settings: Settings) -> tuple[str, str]:
    """For `doctor`: ("ok" | "fail", what the agent may read, or the message the agent would get)."""
    from patterns.agent_tools.database import DatabaseRefused
    from patterns.agent_tools.registry import unavailable_message
    from patterns.agent_tools.wiring import agent_database_url, database_for

    if not settings.agent_database_url:
        return "ok", (
            "the agent reads the demo SQLite database "
            f"({agent_database_url(settings).removeprefix('sqlite:///')}, built on first use)."
        )
    try:
        tables = database_for(settings).tables()
    except DatabaseRefused as error:
        return "fail", unavailable_message(error)
    return "ok", f"the agent may read {len(tables)} tables: {', '.join(t.name for t in tables)}."
