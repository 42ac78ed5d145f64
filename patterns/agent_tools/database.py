"""Run checked queries on the agent's database, read-only and bounded, whatever the query says.

The second wall behind `sql_guard`:
- SQLite is opened read-only (`file:…?mode=ro`), with `query_only` on, no ATTACH, a size cap on strings and
  blobs, an authorizer that denies every action but reading, and a progress handler that ends a query at the
  statement timeout;
- PostgreSQL runs each query in `SET TRANSACTION READ ONLY` with `SET LOCAL statement_timeout`, rolled back;
- any other backend runs in a transaction that is rolled back (use a read-only database user there).
At most `row_limit` rows are fetched, and every cell is clipped.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from patterns.agent_tools.sql_guard import dialect_for

log = logging.getLogger(__name__)

MAX_CELL_CHARS = 200
SQLITE_MAX_LENGTH = 1_000_000  # bytes in one string or blob
SCHEMA_TTL_SECONDS = 60.0

# SQLite authorizer actions a read-only query needs; everything else (writes, DDL, PRAGMA, ATTACH…) is denied.
_SQLITE_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                           getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_SQLITE_DENIED_FUNCTIONS = {"load_extension", "writefile", "readfile", "edit", "fts3_tokenizer"}
# Pragmas that only describe the schema (SQLAlchemy's inspector reads columns with them); none can write.
_SQLITE_SCHEMA_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                          "foreign_key_list"}


class QueryFailed(Exception):
    """The database refused or could not run the query; the message is safe to show (no URL, no secrets)."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool  # more rows existed than the limit
    elapsed_ms: float
    clipped_cells: int = 0


@dataclass
class Column:
    name: str
    type: str


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)


class ReadOnlyDatabase:
    """One per process and URL; thread-safe (a small connection pool)."""

    def __init__(self, url: str | URL, *, row_limit: int = 50, timeout_seconds: float = 5.0) -> None:
        self.url = make_url(url)
        self.backend = self.url.get_backend_name()
        self.dialect = dialect_for(self.backend)
        self.row_limit = row_limit
        self.timeout_seconds = timeout_seconds
        self._deadline = threading.local()
        self._schema: tuple[float, list[Table]] | None = None
        if self.backend == "sqlite":
            path = self.url.database or ""
            if not path or path == ":memory:":
                raise QueryFailed("the agent's SQLite database must be a file")
            self.path = Path(path)
            self.engine: Engine = create_engine("sqlite://", creator=self._connect_sqlite, poolclass=QueuePool,
                                                pool_size=4, max_overflow=4)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=2, max_overflow=4)
            if self.backend != "postgresql":
                log.warning("agent database %s: no database-level read-only guard for this backend; "
                            "connect with a read-only user", self.backend)

    # SQLite connection ------------------------------------------------------------------------------------

    def _connect_sqlite(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise QueryFailed(f"the database file {self.path.name} does not exist")
        connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                     check_same_thread=False)
        connection.execute("PRAGMA query_only = ON")
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_LENGTH)
        connection.set_authorizer(_sqlite_authorizer)
        connection.set_progress_handler(self._sqlite_progress, 2_000)
        return connection

    def _sqlite_progress(self) -> int:
        """Called every few thousand VM steps: a non-zero answer interrupts the running query."""
        deadline = getattr(self._deadline, "at", None)
        return int(deadline is not None and time.monotonic() > deadline)

    # Queries ----------------------------------------------------------------------------------------------

    def query(self, sql: str) -> QueryResult:
        """Run one already-checked query. Raises `QueryFailed` with a short, safe message."""
        started = time.monotonic()
        try:
            with self.engine.connect() as connection:
                if self.backend == "postgresql":
                    connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                    connection.exec_driver_sql(
                        f"SET LOCAL statement_timeout = {max(1, int(self.timeout_seconds * 1000))}")
                self._deadline.at = started + self.timeout_seconds
                try:
                    result = connection.exec_driver_sql(_escape_percent(sql, self.backend))
                    columns = list(result.keys())
                    raw = result.fetchmany(self.row_limit + 1)
                    result.close()
                finally:
                    self._deadline.at = None
                    connection.rollback()
        except DBAPIError as error:
            raise QueryFailed(self._explain(error)) from None
        except SQLAlchemyError as error:
            raise QueryFailed(type(error).__name__) from None
        clipped = 0
        rows = []
        for record in raw[: self.row_limit]:
            row = []
            for value in record:
                cell, cut = _cell(value)
                clipped += cut
                row.append(cell)
            rows.append(row)
        return QueryResult(columns=columns, rows=rows, truncated=len(raw) > self.row_limit,
                           elapsed_ms=(time.monotonic() - started) * 1000, clipped_cells=clipped)

    def _explain(self, error: DBAPIError) -> str:
        original = error.orig
        text = str(original).strip().splitlines()[0] if original is not None else type(error).__name__
        lowered = text.lower()
        if "interrupted" in lowered or "statement timeout" in lowered or "canceling statement" in lowered:
            return f"the query took longer than {self.timeout_seconds:g} s and was stopped"
        if "not authorized" in lowered or "read-only" in lowered or "readonly" in lowered:
            return f"the database refused it: only reading is allowed ({text[:160]})"
        return text[:300]

    # Schema -----------------------------------------------------------------------------------------------

    def tables(self) -> list[Table]:
        """Tables and their columns (system tables left out); cached for a minute."""
        now = time.monotonic()
        if self._schema is not None and now - self._schema[0] < SCHEMA_TTL_SECONDS:
            return self._schema[1]
        try:
            with self.engine.connect() as connection:
                inspector = inspect(connection)
                tables = []
                for name in sorted(inspector.get_table_names()):
                    if name.startswith(("sqlite_", "pg_")):
                        continue
                    columns = [Column(c["name"], str(c["type"])) for c in inspector.get_columns(name)]
                    tables.append(Table(name, columns))
                connection.rollback()
        except DBAPIError as error:
            raise QueryFailed(self._explain(error)) from None
        self._schema = (now, tables)
        return tables

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, database: str | None,
                       trigger: str | None) -> int:
    if action == sqlite3.SQLITE_PRAGMA and ((arg1 or "").lower() in _SQLITE_SCHEMA_PRAGMAS
                                            or ((arg1 or "").lower() == "read_uncommitted" and arg2 is None)):
        return sqlite3.SQLITE_OK  # describing the schema, or reading (not setting) the isolation level
    if action not in _SQLITE_ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _escape_percent(sql: str, backend: str) -> str:
    """Drivers with %-style parameters (psycopg, MySQL) read a literal % as a placeholder marker."""
    return sql.replace("%", "%%") if backend in {"postgresql", "mysql", "mariadb"} else sql


def _cell(value: Any) -> tuple[Any, int]:
    """A JSON-friendly cell, clipped; the second value is 1 when it was clipped."""
    if value is None or isinstance(value, (bool, int)):
        return value, 0
    if isinstance(value, float):
        return round(value, 6), 0
    if isinstance(value, decimal.Decimal):
        return (int(value) if value == value.to_integral_value() else float(value)), 0
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat(), 0
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>", 0
    text = str(value)
    if len(text) > MAX_CELL_CHARS:
        return text[:MAX_CELL_CHARS] + "…", 1
    return text, 0
