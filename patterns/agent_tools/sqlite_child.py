"""Run one query on a SQLite file, in a child process the bot ends at the deadline (see `sqlite_runner.py`).

Standard library only: it is started as `python -I -S sqlite_child.py` and reads one JSON request on standard
input. The process may not write files (RLIMIT_FSIZE 0) and has a memory and CPU cap; the connection is
read-only (`mode=ro`, `query_only`), its authorizer allows only reading the allowed tables and columns and
calling the allowed functions, and its limits bound every string and blob. Rows, cells and total bytes are
bounded here, so no more than that ever reaches the bot. The answer is one JSON object on standard output.
"""

from __future__ import annotations

import json
import resource
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ALLOWED = sqlite3.SQLITE_OK
_DENIED = sqlite3.SQLITE_DENY


def main() -> None:
    text = sys.stdin.read(1_000_000)
    if not text:  # a spare child whose bot has gone
        return
    request = json.loads(text)
    _limit_process(request["memory_bytes"], request["cpu_seconds"])
    try:
        answer = run(request)
    except sqlite3.Error as error:
        answer = {"status": "error", "error": (str(error).strip().splitlines() or [type(error).__name__])[0][:300]}
    except MemoryError:
        answer = {"status": "error", "error": "the query needed too much memory"}
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))
    sys.stdout.flush()


def _limit_process(memory_bytes: int, cpu_seconds: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the file size limit fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def run(request: dict[str, Any]) -> dict[str, Any]:
    uri = Path(request["path"]).resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        for pragma in (
            "query_only = 1",
            "trusted_schema = 0",
            "temp_store = MEMORY",
            f"hard_heap_limit = {int(request['heap_bytes'])}",
            "cache_size = -4000",
        ):
            connection.execute(f"PRAGMA {pragma}")
        limits = {
            sqlite3.SQLITE_LIMIT_LENGTH: request["max_length"],
            sqlite3.SQLITE_LIMIT_ATTACHED: 0,
            sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
            sqlite3.SQLITE_LIMIT_COLUMN: 200,
            sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
            sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 20,
            sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
            sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 0,
            sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 0,
            sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
        }
        for category, value in limits.items():
            connection.setlimit(category, value)
        connection.set_authorizer(authorizer(request["tables"], frozenset(request["functions"])))
        return _fetch(connection.execute(request["sql"]), request)
    finally:
        connection.close()


def authorizer(tables: dict[str, list[str] | None], functions: frozenset[str]) -> Callable[..., int]:
    """Reads of allowed tables and columns, SELECT itself, allowed functions: nothing else."""
    allowed = {name.lower(): (None if cols is None else {c.lower() for c in cols}) for name, cols in tables.items()}

    def decide(action: int, arg1: str | None, arg2: str | None, database: str | None, source: str | None) -> int:
        if action == sqlite3.SQLITE_SELECT:
            return _ALLOWED
        if action == sqlite3.SQLITE_READ and database in ("main", None) and (arg1 or "").lower() in allowed:
            columns = allowed[(arg1 or "").lower()]
            return _ALLOWED if columns is None or (arg2 or "") == "" or (arg2 or "").lower() in columns else _DENIED
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in functions:
            return _ALLOWED
        return _DENIED

    return decide


def _fetch(cursor: sqlite3.Cursor, request: dict[str, Any]) -> dict[str, Any]:
    columns = [d[0] for d in cursor.description or []]
    max_rows, max_cell, max_bytes = request["max_rows"], request["max_cell_chars"], request["max_bytes"]
    rows: list[list[Any]] = []
    size = len(json.dumps(columns))
    clipped = 0
    truncated = False
    while True:
        record = cursor.fetchone()
        if record is None:
            break
        if len(rows) >= max_rows:
            truncated = True
            break
        row = []
        for value in record:
            cell, cut = _cell(value, max_cell)
            clipped += cut
            row.append(cell)
        size += len(json.dumps(row, ensure_ascii=False))
        if size > max_bytes:
            truncated = True
            break
        rows.append(row)
    return {"status": "ok", "columns": columns, "rows": rows, "truncated": truncated, "clipped": clipped}


def _cell(value: Any, limit: int) -> tuple[Any, int]:
    if value is None or isinstance(value, int):
        return value, 0
    if isinstance(value, float):
        return round(value, 6), 0
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>", 0
    text = str(value)
    if len(text) > limit:
        return text[:limit] + "…", 1
    return text, 0


if __name__ == "__main__":
    main()
