"""SQLite for the agent: each query in a child process that is killed at the deadline, whatever it is doing.

SQLite's progress handler only runs between virtual-machine steps, so one slow step (a string search on large
strings) could outlive any timeout; a child process ends for certain. The child (`sqlite_child.py`) bounds the
rows, cells and bytes it sends back, so the bot process never holds more than that. One spare child is kept
started and waiting for its query, so a query does not wait for Python to start; a spare whose parent is gone
reads the end of its input and exits.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from patterns.agent_tools.allow_list import SQLITE_FUNCTIONS, TableSpec
from patterns.agent_tools.query_types import (
    Column,
    DatabaseRefused,
    Limits,
    QueryFailed,
    QueryResult,
    QueryTimeout,
    Table,
)

CHILD = Path(__file__).with_name("sqlite_child.py")
_MAX_ANSWER_BYTES = 4_000_000  # far above what the child sends (Limits.max_result_bytes); a guard, not a limit


class SqliteRunner:
    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = path
        self.limits = limits
        self._lock = threading.Lock()
        self._spare: tuple[int, subprocess.Popen[bytes]] | None = None  # (the process that started it, child)

    def inspect(self, spec: TableSpec) -> list[Table]:
        """The allowed tables with their allowed columns; refuses when a table or column does not exist."""
        if not self.path.exists():
            raise DatabaseRefused(f"the database file {self.path.name} does not exist")
        connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            missing: list[str] = []
            tables: list[Table] = []
            for rule in spec.rules:
                info = connection.execute("SELECT name, type FROM pragma_table_info(?)", (rule.name,)).fetchall()
                if not info:
                    missing.append(rule.name)
                    continue
                present = {name.lower(): (name, kind) for name, kind in info}
                wanted = [c for c in (rule.columns or ()) if c not in present]
                missing.extend(f"{rule.name}.{c}" for c in sorted(wanted))
                columns = [
                    Column(name, kind or "")
                    for name, kind in info
                    if rule.columns is None or name.lower() in rule.columns
                ]
                tables.append(Table(rule.name, columns, restricted=rule.columns is not None))
        except sqlite3.Error as error:
            raise DatabaseRefused(f"the database file {self.path.name} cannot be read ({error})") from None
        finally:
            connection.close()
        if missing:
            raise DatabaseRefused(f"AGENT_SQL_TABLES names what the database does not have: {', '.join(missing)}")
        return tables

    def query(self, sql: str, tables: list[Table]) -> QueryResult:
        limits = self.limits
        request = {
            "path": str(self.path),
            "sql": sql,
            "functions": sorted(SQLITE_FUNCTIONS),
            "tables": {t.name: ([c.name for c in t.columns] if t.restricted else None) for t in tables},
            "max_rows": limits.row_limit,
            "max_cell_chars": limits.max_cell_chars,
            "max_bytes": limits.max_result_bytes,
            "max_length": limits.sqlite_max_length,
            "heap_bytes": limits.sqlite_heap_bytes,
            "memory_bytes": limits.child_memory_bytes,
            "cpu_seconds": math.ceil(limits.timeout_seconds) + 1,
        }
        if not self.path.exists():
            raise QueryFailed(f"the database file {self.path.name} does not exist")
        started = time.monotonic()
        child = self._child()
        try:
            out, _ = child.communicate(json.dumps(request).encode(), timeout=limits.timeout_seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise QueryTimeout(f"the query took longer than {limits.timeout_seconds:g} s and was stopped") from None
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        elapsed = (time.monotonic() - started) * 1000
        if child.returncode != 0 or not out or len(out) > _MAX_ANSWER_BYTES:
            raise QueryFailed("the query was stopped: it needed more memory or time than it may use")
        answer = json.loads(out)
        if answer["status"] != "ok":
            raise QueryFailed(_explain(answer["error"]))
        return QueryResult(
            columns=answer["columns"],
            rows=answer["rows"],
            truncated=answer["truncated"],
            elapsed_ms=elapsed,
            clipped_cells=answer["clipped"],
        )

    def _child(self) -> subprocess.Popen[bytes]:
        """The waiting spare (when this process started it and it is alive) or a new child; a new spare starts."""
        with self._lock:
            spare, self._spare = self._spare, None
            usable = spare is not None and spare[0] == os.getpid() and spare[1].poll() is None
            self._spare = (os.getpid(), _start())
        return spare[1] if usable and spare is not None else _start()


def _start() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )


def _explain(text: str) -> str:
    lowered = text.lower()
    if any(
        word in lowered for word in ("not authorized", "authorization denied", "readonly", "read-only", "prohibited")
    ):
        return f"the database refused it: only reading is allowed, and only the allowed tables ({text[:160]})"
    if "too big" in lowered or "out of memory" in lowered:
        return f"the result would be too big ({text[:120]})"
    return text[:300]
