"""A PostgreSQL schema of one bench run's own (not a bench): runs started at once never share tables.

SQLite URLs are used as they are (a bench keeps its SQLite file in a temporary folder of its own).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy


@contextmanager
def ledger_schema(database_url: str, name: str) -> Iterator[str]:
    """Yield `database_url` pointed at a fresh schema `bench_<name>_<pid>`, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield database_url
        return
    schema = f"bench_{name}_{os.getpid()}"
    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()
