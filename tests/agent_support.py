"""Helpers for the agent tests: the demo database on SQLite and copied into a PostgreSQL schema, fingerprints."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy

from patterns.agent_demo import SCHEMA, build_demo_database
from tests.conftest import POSTGRES_URL

TABLES = ("regions", "products", "customers", "sales", "demo_info")


def demo_sqlite(folder: Path) -> Path:
    return build_demo_database(folder / "demo_sales.db")


@contextmanager
def demo_postgres(source: Path, name: str) -> Iterator[str]:
    """The demo database copied into a PostgreSQL schema of its own; yields its URL; dropped afterwards."""
    schema = f"agent_{name}_{os.getpid()}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    ddl = SCHEMA.read_text().split("INSERT INTO", 1)[0].replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        connection.exec_driver_sql(f"SET LOCAL search_path = {schema}")
        for statement in ddl.split(";"):
            if statement.strip() and not statement.strip().startswith("--") or "CREATE" in statement:
                connection.exec_driver_sql(statement)
        with sqlite3.connect(source) as lite:
            for table in TABLES:
                cursor = lite.execute(f"SELECT * FROM {table}")
                columns = [d[0] for d in cursor.description]
                rows = [dict(zip(columns, row)) for row in cursor]
                connection.execute(sqlalchemy.text(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"), rows)
        connection.exec_driver_sql("SELECT setval('sales_id_seq', (SELECT max(id) FROM sales))")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        for url in [u for u in _engines if schema in u]:
            _engines.pop(url).dispose()
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


_engines: dict[str, sqlalchemy.engine.Engine] = {}


def fingerprint(url: str) -> str:
    """A hash of every demo table's rows and of the list of tables: any change of data or schema changes it."""
    engine = _engines.get(url) or _engines.setdefault(url, sqlalchemy.create_engine(url))
    digest = hashlib.sha256()
    with engine.connect() as connection:
        names = sorted(sqlalchemy.inspect(connection).get_table_names())
        digest.update(repr(names).encode())
        for table in TABLES:
            for row in connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1"):
                digest.update(repr(tuple(str(v) for v in row)).encode())
        if engine.dialect.name == "postgresql":
            digest.update(repr(connection.exec_driver_sql("SELECT last_value FROM sales_id_seq").scalar()).encode())
    return digest.hexdigest()
