"""The agent's tools as the model sees them (OpenAI function specs) and as the agent runs them.

A tool call becomes a `ToolOutput`: `content` for the model (JSON, clipped), `summary` and `shown_input` for the
step line in Slack, `ok` for the ledger. A tool never raises: a bad argument, a refused query or a failure
becomes an error result the model can read and recover from, and is logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from patterns.agent_tools.calculator import CalculationError, calculate
from patterns.agent_tools.database import DatabaseRefused, QueryFailed, QueryTimeout, ReadOnlyDatabase
from patterns.agent_tools.sql_guard import check_query

if TYPE_CHECKING:
    from bot.model.metering import Meter
    from knowledge.access import Audience
    from knowledge.library import Library

log = logging.getLogger(__name__)

MAX_CONTENT_CHARS = 6_000  # one tool result as the model reads it
DOC_PASSAGE_CHARS = 1_200
DATABASE_TOOLS = frozenset({"sql", "schema"})


@dataclass(frozen=True)
class ToolContext:
    """Who asked, and where: permissions are decided from this, never from anything the model writes."""

    channel: str = ""
    user: str = ""
    meter: Meter | None = None
    audience: Audience | None = None  # which documents `search_docs` may read (None: workspace-wide ones)


@dataclass
class ToolOutput:
    content: str  # for the model
    summary: str  # short, for the step line
    ok: bool = True
    refused: bool = False  # refused by a rule (permission, read-only guard), as opposed to failed
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Permissions:
    """Who may use the database tools: both lists must admit the request; an empty list admits everyone."""

    channels: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, channels: str, users: str) -> Permissions:
        split = lambda text: frozenset(p.strip() for p in text.split(",") if p.strip())  # noqa: E731
        return cls(split(channels), split(users))

    def allows(self, context: ToolContext) -> bool:
        return (not self.channels or context.channel in self.channels) and (
            not self.users or context.user in self.users
        )


SQL_REFUSAL = (
    "The database tools (sql, schema) are not enabled for you in this channel. An admin can allow it "
    "with AGENT_SQL_ALLOWED_CHANNELS / AGENT_SQL_ALLOWED_USERS."
)


class Toolbox:
    def __init__(
        self,
        *,
        database: Callable[[], ReadOnlyDatabase],
        permissions: Permissions,
        library: Callable[[], Library | None],
        row_limit: int,
    ) -> None:
        self._database = database
        self.permissions = permissions
        self._library = library
        self.row_limit = row_limit

    # Specs ------------------------------------------------------------------------------------------------

    def specs(self, context: ToolContext) -> list[dict[str, Any]]:
        """The tools offered for this request: the database tools only where they are allowed."""
        allowed = self.permissions.allows(context)
        return [spec for spec in SPECS if allowed or spec["function"]["name"] not in DATABASE_TOOLS]

    # Running ----------------------------------------------------------------------------------------------

    def run(self, name: str, raw_arguments: str, context: ToolContext) -> ToolOutput:
        started = time.monotonic()
        try:
            arguments = json.loads(raw_arguments or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as error:
            return _error(f"the arguments are not valid JSON ({error})", "invalid arguments")
        handler = self._handlers().get(name)
        if handler is None:
            return _error(
                f"there is no tool named {name!r}; use one of: {', '.join(s['function']['name'] for s in SPECS)}",
                "unknown tool",
                refused=True,
            )
        if name in DATABASE_TOOLS and not self.permissions.allows(context):
            log.info("agent: database tool %s refused for user %s in %s", name, context.user, context.channel)
            return _error(SQL_REFUSAL, "not allowed for you here", refused=True)
        try:
            output = handler(arguments, context)
        except Exception as error:  # a tool failure is a result, not a crash of the task
            log.exception("agent: tool %s failed", name)
            output = _error(f"the tool failed ({type(error).__name__})", f"failed ({type(error).__name__})")
        output.data["elapsed_ms"] = round((time.monotonic() - started) * 1000, 2)
        return output

    def _handlers(self) -> dict[str, Callable[[dict[str, Any], ToolContext], ToolOutput]]:
        return {
            "sql": self._sql,
            "schema": self._schema,
            "calculate": self._calculate,
            "search_docs": self._search_docs,
        }

    def _sql(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        query = arguments.get("query")
        if not isinstance(query, str):
            return _error("the sql tool needs a 'query' string", "no query given")
        try:
            database = self._database()
            policy = database.policy()
        except DatabaseRefused as error:
            return _unavailable(error)
        verdict = check_query(query, policy)
        if not verdict.allowed:
            log.warning("agent: SQL refused (%s)", verdict.reason)
            return _error(
                f"query refused: {verdict.reason}. Only a single read-only SELECT over the allowed tables is allowed.",
                f"refused: {verdict.reason}",
                refused=True,
                status="refused",
            )
        try:
            result = database.query(verdict.sql)
        except DatabaseRefused as error:
            return _unavailable(error)
        except QueryFailed as error:
            log.info("agent: SQL failed: %s", error)
            return _error(
                f"the database returned an error: {error}",
                f"error: {error}",
                status="timeout" if isinstance(error, QueryTimeout) else "error",
            )
        payload: dict[str, Any] = {"columns": result.columns, "rows": result.rows, "row_count": len(result.rows)}
        if result.truncated:
            payload["note"] = (
                f"only the first {len(result.rows)} rows are shown; aggregate or filter in SQL "
                "instead of reading more rows"
            )
        content = _clip_json(payload)
        count = f"{len(result.rows)}{'+' if result.truncated else ''} row{'s' if len(result.rows) != 1 else ''}"
        summary = count
        if len(result.rows) == 1 and len(result.columns) <= 3:
            summary += ": " + ", ".join(f"{c} = {_short(v)}" for c, v in zip(result.columns, result.rows[0]))
        return ToolOutput(
            content,
            summary,
            data={
                "rows": len(result.rows),
                "truncated": result.truncated,
                "sql_ms": round(result.elapsed_ms, 2),
                "status": "ok",
            },
        )

    def _schema(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        wanted = arguments.get("table")
        try:
            database = self._database()
            tables = database.tables()
        except DatabaseRefused as error:
            return _unavailable(error)
        if isinstance(wanted, str) and wanted.strip():
            tables = [t for t in tables if t.name.lower() == wanted.strip().lower()]
            if not tables:
                return _error(f"there is no table named {wanted!r}", "no such table")
        payload = {
            "dialect": database.dialect,
            "tables": [{"name": t.name, "columns": [f"{c.name} {c.type}" for c in t.columns]} for t in tables],
        }
        return ToolOutput(
            _clip_json(payload),
            f"{len(tables)} table{'s' if len(tables) != 1 else ''}: " + _short(", ".join(t.name for t in tables), 80),
        )

    def _calculate(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        expression = arguments.get("expression")
        if not isinstance(expression, str):
            return _error("the calculate tool needs an 'expression' string", "no expression given")
        try:
            value = calculate(expression)
        except CalculationError as error:
            return _error(f"cannot calculate: {error}", f"error: {error}")
        return ToolOutput(
            json.dumps({"expression": expression, "result": value}, ensure_ascii=False),
            value if value.startswith("≈") else f"= {value}",
        )

    def _search_docs(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return _error("the search_docs tool needs a 'query' string", "no query given")
        from knowledge.access import Audience

        library = self._library()
        library = library.scoped(context.audience or Audience.public()) if library is not None else None
        if library is None or not library.has_documents():
            return ToolOutput(
                json.dumps({"passages": [], "note": "No documents are indexed, so there is nothing to search."}),
                "no documents indexed",
                ok=False,
            )
        from knowledge.retrieval import EmbeddingMismatch
        from knowledge.store import IndexMissing

        try:
            result = library.search(query, meter=context.meter)  # type: ignore[arg-type]
        except IndexMissing:
            return ToolOutput(
                json.dumps({"passages": [], "note": "No documents are indexed."}), "no documents indexed", ok=False
            )
        except EmbeddingMismatch:
            log.error("agent: the docs index was built with another embedding model")
            return _error("the docs index cannot be searched right now (it needs re-indexing)", "index unusable")
        passages = [
            {
                "number": n,
                "title": h.title,
                "heading": h.heading,
                "source": h.source,
                "score": round(h.relevance, 3),
                "text": h.text[:DOC_PASSAGE_CHARS],
            }
            for n, h in enumerate(result.hits, 1)
        ]
        if not result.found:
            return ToolOutput(
                json.dumps({"passages": [], "note": "Nothing relevant was found in the documents."}),
                "nothing relevant found",
            )
        titles = ", ".join(dict.fromkeys(p["title"] for p in passages))
        return ToolOutput(
            _clip_json({"passages": passages}),
            f"{len(passages)} passage{'s' if len(passages) != 1 else ''}: {_short(titles, 80)}",
            data={"sources": [p["source"] for p in passages]},
        )


SPECS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "sql",
            "description": "Run one read-only SQL SELECT query on the team's database and get the rows back "
            "(at most a few dozen: aggregate in SQL). Call `schema` first to see the tables.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "a single SELECT statement in the database's dialect"}
                },
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "schema",
            "description": "List the database's tables with their columns and types, and the SQL dialect.",
            "parameters": {
                "type": "object",
                "properties": {"table": {"type": "string", "description": "optional: only this table"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "calculate",
            "description": "Exact arithmetic: numbers, + - * / // % ** and parentheses, plus round(x, n), abs(x), "
            "min(...), max(...), percent(part, whole) and growth(old, new) (percentage change). "
            "Use it for every calculation instead of doing arithmetic yourself.",
            "parameters": {
                "type": "object",
                "properties": {
                    "expression": {"type": "string", "description": "e.g. growth(1200.5, 1350) or (3 + 4) * 2"}
                },
                "required": ["expression"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Search the team's indexed documents and get the most relevant passages with sources.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "what to look for"}},
                "required": ["query"],
            },
        },
    },
]


def _error(message: str, summary: str, *, refused: bool = False, status: str | None = None) -> ToolOutput:
    return ToolOutput(
        json.dumps({"error": message}), summary, ok=False, refused=refused, data={"status": status} if status else {}
    )


def unavailable_message(error: DatabaseRefused) -> str:
    """What the agent, `app.py sql` and `doctor` all say when the database may not be used as configured."""
    return f"the database tools cannot be used: {error}"


def _unavailable(error: DatabaseRefused) -> ToolOutput:
    log.error("agent: database tools refused to start: %s", error)
    return _error(unavailable_message(error), "database tools unavailable", refused=True, status="refused")


def _clip_json(payload: dict[str, Any]) -> str:
    """JSON for the model, never longer than MAX_CONTENT_CHARS: rows are dropped from the end if needed."""
    text = json.dumps(payload, ensure_ascii=False, default=str)
    rows = payload.get("rows") or payload.get("passages") or payload.get("tables")
    while len(text) > MAX_CONTENT_CHARS and isinstance(rows, list) and len(rows) > 1:
        del rows[len(rows) // 2 :]
        payload["note"] = "the result was shortened to fit; narrow the query to see the rest"
        text = json.dumps(payload, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CONTENT_CHARS else text[:MAX_CONTENT_CHARS] + "…(cut)"


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
