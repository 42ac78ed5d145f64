"""`DOCS_STORE=postgres`: the documented choice for large corpora (pgvector), checked before it is used.

The check tells, in one line, whether the database can hold vectors: the `vector` extension must be installed
on the server (`CREATE EXTENSION vector` needs the pgvector package there). The store itself is not part of
this version (the servers it was developed on have no pgvector to test it against), so after a successful
check the commands say so rather than pretend.
"""

from __future__ import annotations

from bot.settings import Settings


class PgvectorUnavailable(Exception):
    """The configured PostgreSQL cannot store vectors; the message says why and what to do."""


def check_pgvector(settings: Settings) -> None:
    import sqlalchemy
    from sqlalchemy.engine import make_url

    url = settings.database_url
    if not url or make_url(url).get_backend_name() != "postgresql":
        raise PgvectorUnavailable("DOCS_STORE=postgres needs DATABASE_URL to point at PostgreSQL with pgvector.")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            available = connection.execute(sqlalchemy.text(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first()
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise PgvectorUnavailable(f"DOCS_STORE=postgres: cannot connect to the database ({type(error).__name__})."
                                  ) from None
    finally:
        engine.dispose()
    if available is None:
        raise PgvectorUnavailable(
            "DOCS_STORE=postgres: this PostgreSQL server has no pgvector extension (`vector` is not in "
            "pg_available_extensions). Install pgvector on the server, or use DOCS_STORE=local.")
