"""The agent's database: the allowed tables, read-only and bounded, whatever the query says.

The second wall behind `sql_guard`, and what tells the guard which tables and columns exist and are allowed:
- SQLite (`sqlite_runner`): each query in a child process ended at the deadline, on a read-only connection whose
  authorizer allows reading only the allowed tables and calling only the allowed functions;
- PostgreSQL (`postgres_runner`): a role that can only read, checked at start; each query alone in a read-only
  transaction with timeouts and memory limits, no pooled session;
- other databases are refused: their privileges cannot be checked.
Rows, cells and the bytes of a result are bounded before they reach this process.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from patterns.agent_tools.allow_list import AllowListError, TableSpec, parse_tables
from patterns.agent_tools.postgres_runner import PostgresRunner
from patterns.agent_tools.query_types import (
    Column,
    DatabaseRefused,
    Limits,
    QueryFailed,
    QueryResult,
    QueryTimeout,
    Table,
)
from patterns.agent_tools.sql_guard import Policy, dialect_for, is_query
from patterns.agent_tools.sqlite_runner import SqliteRunner

__all__ = ["Column", "DatabaseRefused", "QueryFailed", "QueryResult", "QueryTimeout", "ReadOnlyDatabase", "Table"]

log = logging.getLogger(__name__)

CHECK_TTL_SECONDS = 60.0  # the role and the schema are checked again after this long


class ReadOnlyDatabase:
    """One per process and configuration; thread-safe. Raises `DatabaseRefused` when it may not be used."""

    def __init__(
        self,
        url: str | URL,
        *,
        tables: TableSpec | str | None = None,
        row_limit: int = 50,
        timeout_seconds: float = 5.0,
        limits: Limits | None = None,
    ) -> None:
        self.url = make_url(url)
        self.backend = self.url.get_backend_name()
        self.dialect = dialect_for(self.backend)
        try:
            self.spec = tables if isinstance(tables, TableSpec) else parse_tables(tables)
        except AllowListError as error:
            raise DatabaseRefused(f"AGENT_SQL_TABLES: {error}") from None
        self.limits = limits or Limits(row_limit=row_limit, timeout_seconds=timeout_seconds)
        self._lock = threading.Lock()
        self._checked: tuple[float, list[Table]] | None = None
        self._runner: SqliteRunner | PostgresRunner
        if self.backend == "sqlite":
            path = self.url.database or ""
            if not path or path == ":memory:":
                raise DatabaseRefused("the agent's SQLite database must be a file")
            self.path = Path(path)
            self._runner = SqliteRunner(self.path, self.limits)
        elif self.backend == "postgresql":
            self._runner = PostgresRunner(self.url, self.limits)
        else:
            raise DatabaseRefused(
                f"the agent's sql tool works with SQLite and PostgreSQL, whose read-only "
                f"guards it can check; {self.backend} is not supported"
            )
        self.tables()  # refuses to start when the role or the allow-list is wrong

    @property
    def row_limit(self) -> int:
        return self.limits.row_limit

    @property
    def timeout_seconds(self) -> float:
        return self.limits.timeout_seconds

    def tables(self) -> list[Table]:
        """The allowed tables and their allowed columns; the role and schema are checked again every minute."""
        with self._lock:
            now = time.monotonic()
            if self._checked is None or now - self._checked[0] >= CHECK_TTL_SECONDS:
                try:
                    self._checked = (now, self._runner.inspect(self.spec))
                except DatabaseRefused as error:
                    self._checked = None
                    log.error("agent database refused: %s", error)
                    raise
            return self._checked[1]

    def policy(self) -> Policy:
        tables = self.tables()
        return Policy(
            self.dialect,
            {t.name: tuple(c.name for c in t.columns) for t in tables},
            restricted=frozenset(t.name for t in tables if t.restricted),
            row_limit=self.row_limit,
        )

    def query(self, sql: str) -> QueryResult:
        """Run one already-checked query. Raises `QueryFailed` (or `QueryTimeout`) with a short, safe message."""
        tables = self.tables()
        if isinstance(self._runner, PostgresRunner):
            return self._runner.query(sql, tables, wrap=is_query(sql, self.dialect))
        return self._runner.query(sql, tables)

    def close(self) -> None:
        """Nothing stays open between queries; kept for callers that close what they open."""
