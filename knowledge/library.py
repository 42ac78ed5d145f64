"""The docs index as a bot process sees it: opened on first use, reopened when an ingest publishes a new one.

`DOCS_STORE=local` (default): the index folder; `has_documents()` only reads a small pointer file, so routing can
ask it on every message without importing LlamaIndex, and the index is loaded on the first docs question (about a
second for 1,000s of passages). `DOCS_STORE=postgres`: the index lives in PostgreSQL (`knowledge.pg_store`);
nothing is loaded, a version number says when the little that is cached must be read again.

Searches are made for an `Audience` (`knowledge.access`). `scoped(audience)` gives the view the docs pattern and
the agent's `search_docs` use: its `search`, `has_documents` and `index().size` only ever see what that audience
may read. A search that does not say for whom reads only workspace-wide documents tied to no workspace.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from knowledge.access import Audience

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

    from bot.model.gateway import Gateway
    from bot.model.metering import Meter
    from bot.settings import Settings
    from knowledge.retrieval import DocsIndex, SearchResult

log = logging.getLogger(__name__)


class DocsStore(Protocol):
    """What a bot process needs from an index store (`LocalIndexStore`, `PgIndexStore`)."""

    def current(self) -> str | None:
        """The published version, or None when nothing is indexed; cheap, asked on every message."""

    def reader(self, embed_model: BaseEmbedding) -> DocsIndex:
        """The published index, ready for concurrent searches."""


def open_store(settings: Settings) -> DocsStore:
    """The configured store (`DOCS_STORE`); its `begin/commit/end` make it an ingest target too."""
    if settings.docs_store == "postgres":
        from knowledge.pg_store import PgIndexStore
        from knowledge.pgvector import docs_database_url

        return PgIndexStore(docs_database_url(settings))
    from knowledge.store import LocalIndexStore

    return LocalIndexStore(Path(settings.docs_index_path))


class _LocalPointer:
    """`LocalIndexStore.current()` without importing it (and LlamaIndex with it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def current(self) -> str | None:
        try:
            return (self.folder / "CURRENT").read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None


class Library:
    def __init__(self, settings: Settings, gateway: Gateway) -> None:
        self.settings = settings
        self.gateway = gateway
        self.folder = Path(settings.docs_index_path)
        self._pointer: _LocalPointer | None = _LocalPointer(self.folder) if settings.docs_store == "local" else None
        self._store: DocsStore | None = None
        self._lock = threading.Lock()
        self._index: DocsIndex | None = None
        self._generation: str | None = None

    @property
    def store(self) -> DocsStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def has_documents(self) -> bool:
        return self._current() is not None

    def index(self) -> DocsIndex:
        """The loaded index (reloaded if a newer one was published). Raises `IndexMissing`/`EmbeddingMismatch`."""
        generation = self._current()
        with self._lock:
            if self._index is None or generation != self._generation:
                from knowledge.embeddings import embedding_for
                from knowledge.store import IndexMissing

                if generation is None:
                    raise IndexMissing(
                        f"No documents are indexed yet (looked in {self._where()}): run `python app.py ingest PATH`."
                    )
                index = self.store.reader(embedding_for(self.settings, self.gateway))
                self._index, self._generation = index, getattr(index, "generation", generation)
                log.info("docs index %s opened: %d chunks", self._generation, index.size)
            return self._index

    def search(self, question: str, *, meter: Meter, audience: Audience | None = None) -> SearchResult:
        """Search what `audience` may read (default: `Audience.public()`)."""
        from knowledge.embeddings import metered

        index = self.index()
        with metered(meter):
            return index.search(
                question,
                top_k=self.settings.rag_top_k,
                with_model=not self.gateway.offline,
                audience=audience or Audience.public(),
            )

    def scoped(self, audience: Audience) -> ScopedLibrary:
        return ScopedLibrary(self, audience)

    def _current(self) -> str | None:
        return self._pointer.current() if self._pointer is not None else self.store.current()

    def _where(self) -> str:
        return str(self.folder) if self.settings.docs_store == "local" else "the PostgreSQL docs store"


class ScopedLibrary:
    """A `Library` as one audience sees it; what `patterns.rag` and the agent's `search_docs` are given."""

    def __init__(self, library: Library, audience: Audience) -> None:
        self.library, self.audience = library, audience
        self.settings, self.gateway = library.settings, library.gateway

    def has_documents(self) -> bool:
        """Whether this audience may read any passage (True when the index cannot be read, to say why)."""
        if not self.library.has_documents():
            return False
        try:
            index = self.library.index()  # workspace-wide passages first: no need to ask Slack about members
            return index.visible_size(replace(self.audience, member=None)) > 0 or self.size > 0
        except Exception as error:  # a missing or mismatched index is explained by the docs answer itself
            log.info("docs: cannot count readable passages (%s)", type(error).__name__)
            return True

    @property
    def size(self) -> int:
        return self.library.index().visible_size(self.audience)

    def index(self) -> ScopedLibrary:
        """Itself: `index().size` is the number of passages this audience may read."""
        return self

    def search(self, question: str, *, meter: Meter) -> SearchResult:
        return self.library.search(question, meter=meter, audience=self.audience)
