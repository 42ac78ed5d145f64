"""Build the agent's toolbox from settings: one read-only database per process, and the process's docs library."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from patterns.agent_demo import demo_path, ensure_demo_database
from patterns.agent_tools.database import ReadOnlyDatabase
from patterns.agent_tools.registry import Permissions, Toolbox

if TYPE_CHECKING:
    from bot.settings import Settings
    from knowledge.library import Library

_databases: dict[tuple[str, str, int, float], ReadOnlyDatabase] = {}
_lock = threading.Lock()


def agent_database_url(settings: Settings) -> str:
    """AGENT_DATABASE_URL, or the demo SQLite database in DATA_DIR."""
    return settings.agent_database_url or f"sqlite:///{demo_path(settings.data_dir).as_posix()}"


def database_for(settings: Settings) -> ReadOnlyDatabase:
    """The process's read-only database; the demo database is (re)built on first use when it is the default.

    Raises `DatabaseRefused` (nothing is kept, so the next call checks again) when the database may not be used:
    an unsafe PostgreSQL role, or AGENT_SQL_TABLES naming what does not exist."""
    url = agent_database_url(settings)
    key = (url, settings.agent_sql_tables, settings.agent_sql_row_limit, settings.agent_sql_timeout_seconds)
    with _lock:
        database = _databases.get(key)
        if database is None:
            if not settings.agent_database_url:
                ensure_demo_database(Path(make_url(url).database or ""))
            database = _databases[key] = ReadOnlyDatabase(
                url,
                tables=settings.agent_sql_tables,
                row_limit=settings.agent_sql_row_limit,
                timeout_seconds=settings.agent_sql_timeout_seconds,
            )
    if not settings.agent_database_url:
        ensure_demo_database(database.path)  # cheap check; rebuilt when the month has changed
    return database


def build_toolbox(settings: Settings, library: Library) -> Toolbox:
    """The agent's tools for one process (`Services.toolbox`): its database is opened on first use."""
    return Toolbox(
        database=lambda: database_for(settings),
        library=lambda: library,
        permissions=Permissions.parse(settings.agent_sql_allowed_channels, settings.agent_sql_allowed_users),
        row_limit=settings.agent_sql_row_limit,
    )
