"""The persisted local index: passages, their vectors and the file manifest, in one folder (`DOCS_INDEX_DIR`).

Layout: `CURRENT` names the live generation folder, which holds `meta.json` (embedding model, dimensions,
counts), `manifest.json` (per source file: sha256, title, passage count), `nodes.jsonl` and `vectors.npy` (row i
is the vector of line i). An ingest writes a new generation and then replaces `CURRENT` atomically, so a bot
process reading the index never sees half of one; it reloads when `CURRENT` changes.

`MatrixVectorStore` is a LlamaIndex vector store over one normalised float32 matrix: a query is one
matrix-vector product (50,000 passages × 512 dimensions in a few milliseconds), where LlamaIndex's
`SimpleVectorStore` loops in Python and persists vectors as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.llama import prepare

prepare()
from llama_index.core.schema import BaseNode, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    BasePydanticVectorStore,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from pydantic import PrivateAttr  # noqa: E402

FORMAT = 1


class IndexMissing(Exception):
    """No index has been built in the folder yet."""


class MatrixVectorStore(BasePydanticVectorStore):
    stores_text: bool = True
    is_embedding_query: bool = True
    _nodes: list[TextNode] = PrivateAttr(default_factory=list)
    _matrix: np.ndarray = PrivateAttr(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    @classmethod
    def from_arrays(cls, nodes: list[TextNode], matrix: np.ndarray) -> MatrixVectorStore:
        store = cls()
        store._nodes = list(nodes)
        store._matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        return store

    @property
    def client(self) -> Any:
        return None

    @property
    def nodes(self) -> list[TextNode]:
        return self._nodes

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix

    def add(self, nodes: list[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        vectors = _normalise(np.asarray([n.get_embedding() for n in nodes], dtype=np.float32))
        if self._matrix.size and self._matrix.shape[1] != vectors.shape[1]:
            raise ValueError(f"vectors of {vectors.shape[1]} dimensions added to an index of {self._matrix.shape[1]}")
        for node in nodes:
            node.embedding = None  # the matrix holds it; keeping both doubles the memory
        self._nodes.extend(nodes)  # type: ignore[arg-type]
        self._matrix = vectors if not self._matrix.size else np.vstack([self._matrix, vectors])
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **kwargs: Any) -> None:
        """Remove every passage of one source file (`ref_doc_id` is the file's key)."""
        self._keep([n.metadata.get("source") != ref_doc_id for n in self._nodes])

    def delete_sources(self, keys: set[str]) -> None:
        self._keep([n.metadata.get("source") not in keys for n in self._nodes])

    def query(self, query: VectorStoreQuery, mask: np.ndarray | None = None, **kwargs: Any) -> VectorStoreQueryResult:
        """The top-k passages by cosine; with `mask`, only among the passages it marks True."""
        if not self._nodes or query.query_embedding is None:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        vector = np.asarray(query.query_embedding, dtype=np.float32)
        if vector.shape[0] != self._matrix.shape[1]:
            raise ValueError(f"query vector has {vector.shape[0]} dimensions, the index {self._matrix.shape[1]}")
        norm = float(np.linalg.norm(vector))
        scores = self._matrix @ (vector / norm if norm else vector)
        k = min(query.similarity_top_k, len(scores))
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
            k = min(k, int(np.count_nonzero(mask)))
            if not k:
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        nodes = [self._nodes[i] for i in top]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[float(scores[i]) for i in top], ids=[n.node_id for n in nodes]
        )

    def _keep(self, mask: list[bool]) -> None:
        if all(mask):
            return
        keep = np.asarray(mask, dtype=bool)
        self._nodes = [n for n, k in zip(self._nodes, mask) if k]
        self._matrix = self._matrix[keep] if self._matrix.size else self._matrix


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


@dataclass
class Snapshot:
    """One generation of the index, in memory."""

    embedding_id: str
    dimensions: int
    manifest: dict[str, dict[str, Any]] = field(default_factory=dict)
    store: MatrixVectorStore = field(default_factory=MatrixVectorStore)
    generation: str = ""

    @property
    def nodes(self) -> list[TextNode]:
        return self.store.nodes


class LocalIndexStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pending: Snapshot | None = None

    # As an `IngestTarget` (knowledge.ingest) ---------------------------------------------------------------

    def begin(self, model_id: str, rebuild: bool) -> tuple[str | None, dict[str, dict[str, Any]]]:
        existing = self.exists() and not rebuild
        self._pending = self.load() if existing else Snapshot(embedding_id=model_id, dimensions=0)
        return (self._pending.embedding_id if existing else None), self._pending.manifest

    def commit(self, change: Any) -> tuple[int, int]:
        """Apply a `knowledge.ingest.Change` to the snapshot `begin` loaded and publish it as a new generation."""
        snapshot = self._pending
        assert snapshot is not None, "begin() first"
        snapshot.store.delete_sources(set(change.removed) | set(change.fresh))
        for key in change.removed:
            snapshot.manifest.pop(key, None)
        if change.nodes:
            snapshot.store.add(change.nodes)
            snapshot.dimensions = int(snapshot.store.matrix.shape[1])
        snapshot.manifest.update(change.fresh)
        snapshot.manifest.update(change.relabelled)
        if change or not self.exists():
            self.save(snapshot)
        return len(snapshot.nodes), len(snapshot.manifest)

    def end(self) -> None:
        self._pending = None

    # Reading and publishing -------------------------------------------------------------------------------

    def current(self) -> str | None:
        try:
            return (self.folder / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def exists(self) -> bool:
        return self.current() is not None

    def reader(self, embed_model: Any) -> Any:
        """The published generation, loaded into a `knowledge.retrieval.DocsIndex`."""
        from knowledge.retrieval import DocsIndex

        return DocsIndex(self.load(), embed_model)

    def load(self) -> Snapshot:
        generation = self.current()
        if generation is None:
            raise IndexMissing(f"no documents are indexed in {self.folder} yet: run `python app.py ingest PATH`")
        path = self.folder / generation
        meta = json.loads((path / "meta.json").read_text())
        manifest = json.loads((path / "manifest.json").read_text())
        nodes = []
        with open(path / "nodes.jsonl", encoding="utf-8") as lines:
            for line in lines:
                item = json.loads(line)
                nodes.append(
                    TextNode(
                        id_=item["id"],
                        text=item["text"],
                        metadata=item["metadata"],
                        excluded_embed_metadata_keys=item["hidden"],
                        excluded_llm_metadata_keys=item["hidden"],
                    )
                )
        matrix = np.load(path / "vectors.npy") if nodes else np.zeros((0, meta["dimensions"]), dtype=np.float32)
        return Snapshot(
            embedding_id=meta["embedding_id"],
            dimensions=meta["dimensions"],
            manifest=manifest,
            store=MatrixVectorStore.from_arrays(nodes, matrix),
            generation=generation,
        )

    def meta(self) -> dict[str, Any] | None:
        generation = self.current()
        if generation is None:
            return None
        return json.loads((self.folder / generation / "meta.json").read_text())

    def save(self, snapshot: Snapshot) -> str:
        """Write a new generation and switch `CURRENT` to it; keep the previous one for readers mid-load."""
        self.folder.mkdir(parents=True, exist_ok=True)
        previous = self.current()
        generation = f"gen-{time.time_ns()}"
        path = self.folder / generation
        path.mkdir()
        (path / "meta.json").write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "embedding_id": snapshot.embedding_id,
                    "dimensions": snapshot.dimensions,
                    "chunks": len(snapshot.nodes),
                    "files": len(snapshot.manifest),
                    "built_at": time.time(),
                },
                indent=2,
            )
        )
        (path / "manifest.json").write_text(json.dumps(snapshot.manifest, indent=1, sort_keys=True))
        with open(path / "nodes.jsonl", "w", encoding="utf-8") as out:
            for node in snapshot.nodes:
                out.write(
                    json.dumps(
                        {
                            "id": node.node_id,
                            "text": node.text,
                            "metadata": node.metadata,
                            "hidden": node.excluded_embed_metadata_keys,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        np.save(path / "vectors.npy", snapshot.store.matrix.astype(np.float32))
        pointer = self.folder / "CURRENT.tmp"
        pointer.write_text(generation)
        os.replace(pointer, self.folder / "CURRENT")
        for old in self.folder.glob("gen-*"):
            if old.name not in (generation, previous):
                shutil.rmtree(old, ignore_errors=True)
        snapshot.generation = generation
        return generation
