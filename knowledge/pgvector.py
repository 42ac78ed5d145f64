"""`DOCS_STORE=postgres`: the database connection of the pgvector docs store, and the check run before it is used.

The check tells, in one line, whether the database can hold vectors: the `vector` extension must be installed on
the server (`CREATE EXTENSION vector` needs the pgvector package there). This module only needs SQLAlchemy, so
routing can ask whether documents exist without importing LlamaIndex; the store is `knowledge.pg_store`.
"""

from __future__ import annotations

import threading

import sqlalchemy
from sqlalchemy.engine import Engine, make_url

from bot.settings import Settings

# HNSW search: a candidate list of 100 (the default 40 misses some of the exact top 10 at 50k passages), and
# iterative scans (pgvector 0.8) so that a filtered search still finds k passages.
HNSW_OPTIONS = "-c hnsw.ef_search=100 -c hnsw.iterative_scan=relaxed_order"
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class PgvectorUnavailable(Exception):
    """The configured PostgreSQL cannot hold the docs index; the message says why and what to do."""


def docs_database_url(settings: Settings) -> str:
    url = settings.docs_database_url or settings.database_url
    if not url or make_url(url).get_backend_name() != "postgresql":
        raise PgvectorUnavailable(
            "DOCS_STORE=postgres needs DOCS_DATABASE_URL (or DATABASE_URL) to point at PostgreSQL with pgvector."
        )
    return url


def engine_for(url: str) -> Engine:
    """One pooled engine per database URL and process (`postgresql://` means psycopg 3 here)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = sqlalchemy.create_engine(
                parsed, pool_size=8, max_overflow=8, pool_pre_ping=True, connect_args={"options": HNSW_OPTIONS}
            )
        return _engines[key]


def check_pgvector(settings: Settings) -> None:
    engine = engine_for(docs_database_url(settings))
    try:
        with engine.connect() as connection:
            available = connection.execute(
                sqlalchemy.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            ).first()
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise PgvectorUnavailable(
            f"DOCS_STORE=postgres: cannot connect to the database ({type(error).__name__})."
        ) from None
    if available is None:
        raise PgvectorUnavailable(
            "DOCS_STORE=postgres: this PostgreSQL server has no pgvector extension (`vector` is not in "
            "pg_available_extensions). Install pgvector on the server, or use DOCS_STORE=local."
        )


def index_version(url: str) -> str | None:
    """The pgvector docs index's version, or None when nothing is indexed there yet (one cheap query)."""
    try:
        with engine_for(url).connect() as connection:
            row = connection.execute(
                sqlalchemy.text("SELECT version FROM docs_index WHERE to_regclass('docs_chunks') IS NOT NULL")
            ).first()
    except sqlalchemy.exc.ProgrammingError:  # no docs_index table yet
        return None
    except sqlalchemy.exc.OperationalError as error:
        raise PgvectorUnavailable(f"DOCS_STORE=postgres: cannot reach the database ({type(error).__name__}).") from None
    return None if row is None else str(row[0])
