"""Results, limits and errors shared by the agent's database runners (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class QueryFailed(Exception):
    """The database refused or could not run the query; the message is safe to show (no URL, no secrets)."""


class QueryTimeout(QueryFailed):
    """The query ran past its deadline and was stopped."""


class DatabaseRefused(Exception):
    """The agent's database may not be used as configured (an unsafe role, missing tables…); the message says
    what is wrong and how to fix it, and is safe to show."""


@dataclass(frozen=True)
class Limits:
    """How much one query may take and return."""

    row_limit: int = 50
    timeout_seconds: float = 5.0
    max_cell_chars: int = 200
    max_result_bytes: int = 100_000  # JSON of all rows that come back to the bot
    sqlite_max_length: int = 1_000_000  # bytes in one SQLite string or blob
    sqlite_heap_bytes: int = 128 * 1024 * 1024
    child_memory_bytes: int = 768 * 1024 * 1024  # address space of the SQLite child process
    postgres_work_mem: str = "4MB"
    postgres_temp_file_limit_kb: int = 64 * 1024


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool  # more rows (or bytes) existed than the limits let through
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
    restricted: bool = False  # only some of the table's columns may be read
