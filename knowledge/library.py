"""The docs index as a bot process sees it: opened on first use, reopened when an ingest publishes a new one.

`has_documents()` only reads a small pointer file, so routing can ask it on every message without importing
LlamaIndex; the index itself is loaded on the first docs question (about a second for 1,000s of passages).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.model.gateway import Gateway
    from bot.model.metering import Meter
    from bot.settings import Settings
    from knowledge.retrieval import DocsIndex, SearchResult

log = logging.getLogger(__name__)


class Library:
    def __init__(self, settings: "Settings", gateway: "Gateway") -> None:
        self.settings = settings
        self.gateway = gateway
        self.folder = Path(settings.docs_index_path)
        self._lock = threading.Lock()
        self._index: "DocsIndex | None" = None
        self._generation: str | None = None

    def has_documents(self) -> bool:
        return self._current() is not None

    def index(self) -> "DocsIndex":
        """The loaded index (reloaded if a newer one was published). Raises `IndexMissing`/`EmbeddingMismatch`."""
        generation = self._current()
        with self._lock:
            if self._index is None or generation != self._generation:
                from knowledge.embeddings import embedding_for
                from knowledge.retrieval import DocsIndex
                from knowledge.store import IndexMissing, LocalIndexStore

                if generation is None:
                    raise IndexMissing(
                        f"No documents are indexed yet (looked in {self.folder}): run `python app.py ingest PATH`.")
                snapshot = LocalIndexStore(self.folder).load()
                self._index = DocsIndex(snapshot, embedding_for(self.settings, self.gateway))
                self._generation = snapshot.generation
                log.info("docs index %s loaded: %d chunks from %d files", snapshot.generation,
                         len(snapshot.nodes), len(snapshot.manifest))
            return self._index

    def search(self, question: str, *, meter: "Meter") -> "SearchResult":
        from knowledge.embeddings import metered

        index = self.index()
        with metered(meter):
            return index.search(question, top_k=self.settings.rag_top_k, with_model=not self.gateway.offline)

    def _current(self) -> str | None:
        try:
            return (self.folder / "CURRENT").read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None
