"""Helpers for the agent tests: the demo database on SQLite and copied into a PostgreSQL schema read by a role
that can only read it (as README tells admins to set up), and fingerprints of the data."""

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
def reader_role(
    schema: str,
    name: str,
    tables: tuple[str, ...] = TABLES,
    *,
    grants: tuple[str, ...] = (),
    temp_file_limit: bool = True,
) -> Iterator[str]:
    """A login role that may only read `tables` in `schema` (README's steps); yields its URL; dropped afterwards.

    `grants` are extra statements run as the admin (with {role} filled in), to make a role that is not safe."""
    role = f"agent_reader_{name}_{os.getpid()}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    statements = [
        f"CREATE ROLE {role} LOGIN",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT ON {', '.join(f'{schema}.{t}' for t in tables)} TO {role}",
    ]
    if temp_file_limit:
        statements.append(f"GRANT SET ON PARAMETER temp_file_limit TO {role}")
    with engine.begin() as connection:
        _drop_role(connection, role)
        for statement in [*statements, *(g.format(role=role, schema=schema) for g in grants)]:
            connection.exec_driver_sql(statement)
    url = sqlalchemy.engine.make_url(POSTGRES_URL).set(username=role, password=None)
    reader = f"{url.render_as_string(hide_password=False)}?options=-csearch_path%3D{schema}"
    _admin_urls[reader] = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        yield reader
    finally:
        _admin_urls.pop(reader, None)
        with engine.begin() as connection:
            _drop_role(connection, role)
        engine.dispose()


def _drop_role(connection: sqlalchemy.Connection, role: str) -> None:
    exists = connection.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").scalar()
    if exists:
        connection.exec_driver_sql(f"DROP OWNED BY {role}")
        connection.exec_driver_sql(f"DROP ROLE {role}")


@contextmanager
def demo_postgres(source: Path, name: str, *, as_admin: bool = False) -> Iterator[str]:
    """The demo database copied into a PostgreSQL schema of its own; yields the URL of a role that can only read
    it (or the admin's, with `as_admin`); dropped afterwards."""
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
                connection.execute(
                    sqlalchemy.text(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
                    ),
                    rows,
                )
        connection.exec_driver_sql("SELECT setval('sales_id_seq', (SELECT max(id) FROM sales))")
    try:
        if as_admin:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        else:
            with reader_role(schema, name) as url:
                yield url
    finally:
        for url in [u for u in _engines if schema in u]:
            _engines.pop(url).dispose()
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


_engines: dict[str, sqlalchemy.engine.Engine] = {}
_admin_urls: dict[str, str] = {}  # a reader role's URL -> the admin's, for fingerprints (sequences included)


def fingerprint(url: str) -> str:
    """A hash of every demo table's rows and of the list of tables: any change of data or schema changes it."""
    url = _admin_urls.get(url, url)
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
