"""Hybrid retrieval over a loaded index: BM25 and vector search (LlamaIndex retrievers), fused by reciprocal rank.

Fusion is reciprocal rank fusion as in LlamaIndex's `QueryFusionRetriever` (k=60), done here so each passage
keeps both of its original scores (that retriever overwrites them, and needs an LLM object even for one query).
Each hit then gets `relevance`: the IDF-weighted share of the question's terms found in the passage
(`knowledge.terms`). Whether the documents answer the question at all is `knowledge.confidence`'s call, from the
best passage's similarity against this index's null distribution and from that coverage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from knowledge.confidence import Confidence, LazyNull, NullStats, assess, measure_null
from knowledge.llama import prepare
from knowledge.store import Snapshot
from knowledge.terms import Vocabulary, terms

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

RRF_K = 60.0
POOL = 10  # candidates each retriever contributes to the fusion


class EmbeddingMismatch(Exception):
    """The index was built with another embedding model than the one configured now."""


@dataclass(frozen=True)
class Hit:
    node_id: str
    text: str
    title: str
    heading: str
    source: str
    url: str
    fused: float
    relevance: float
    similarity: float | None
    bm25: float | None

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "heading": self.heading, "source": self.source, "url": self.url or None,
                "score": round(self.relevance, 4), "similarity": None if self.similarity is None
                else round(self.similarity, 4), "bm25": None if self.bm25 is None else round(self.bm25, 4)}


@dataclass(frozen=True)
class SearchResult:
    query: str
    terms: list[str]
    hits: list[Hit]  # best first
    found: bool
    confidence: Confidence = Confidence("none", None, 0.0)
    null: NullStats | None = None  # what an unrelated question scores on this index

    @property
    def best(self) -> float:
        return max((h.relevance for h in self.hits), default=0.0)


class DocsIndex:
    """A loaded snapshot with its two retrievers and vocabulary, ready for concurrent read-only queries."""

    def __init__(self, snapshot: Snapshot, embed_model: "BaseEmbedding") -> None:
        prepare()
        from llama_index.core import VectorStoreIndex

        from knowledge.embeddings import embedding_id

        configured = embedding_id(embed_model)
        if snapshot.embedding_id != configured:
            raise EmbeddingMismatch(
                f"The docs index was built with the embedding model '{snapshot.embedding_id}', but the bot is "
                f"configured for '{configured}'. Vectors of different models cannot be compared: re-index with "
                "`python app.py ingest --rebuild PATH...`, or configure the model that built the index "
                "(EMBEDDING_MODEL / DOCS_EMBEDDING)."
            )
        self.snapshot = snapshot
        self.embed_model = embed_model
        self.size = len(snapshot.nodes)
        self.vocabulary = Vocabulary()
        self._vector_index = VectorStoreIndex.from_vector_store(snapshot.store, embed_model=embed_model)
        self._bm25 = None
        if snapshot.nodes:
            from llama_index.retrievers.bm25 import BM25Retriever

            self._bm25 = BM25Retriever.from_defaults(nodes=snapshot.nodes, similarity_top_k=min(POOL, self.size))
            self.vocabulary = Vocabulary.from_bm25(self._bm25.bm25)
        self._null = LazyNull(self._measure_null)

    def null(self) -> NullStats:
        """This index's null statistics (measured on first use: one batch of probe embeddings)."""
        return self._null.get()

    def _measure_null(self) -> NullStats:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        def best(probes: list[str]) -> list[float]:
            vectors = self.embed_model.get_text_embedding_batch(probes)
            results = [self.snapshot.store.query(VectorStoreQuery(query_embedding=v, similarity_top_k=1))
                       for v in vectors]
            return [max(r.similarities or [float("nan")]) for r in results]

        return measure_null(best)

    def search(self, question: str, *, top_k: int = 4, with_model: bool = False) -> SearchResult:
        """The best passages, fused; `with_model` (a model will read them) lowers the bar for "not found"."""
        from llama_index.core.schema import QueryBundle

        question_terms = terms(question)
        if not self.size or not question.strip():
            return SearchResult(question, question_terms, [], False)
        pool = max(POOL, top_k)
        bundle = QueryBundle(question)
        dense = self._vector_index.as_retriever(similarity_top_k=min(pool, self.size)).retrieve(bundle)
        lexical = []
        if self._bm25 is not None and question_terms:
            lexical = [h for h in self._bm25.retrieve(bundle) if (h.score or 0) > 0]
        fused: dict[str, float] = {}
        nodes: dict[str, Any] = {}
        similarity: dict[str, float] = {}
        bm25: dict[str, float] = {}
        for ranked, scores in ((dense, similarity), (lexical, bm25)):
            for rank, hit in enumerate(ranked):
                node_id = hit.node.node_id
                fused[node_id] = fused.get(node_id, 0.0) + 1.0 / (RRF_K + rank)
                nodes.setdefault(node_id, hit.node)
                scores[node_id] = float(hit.score or 0.0)
        hits = []
        for node_id in sorted(fused, key=lambda i: fused[i], reverse=True)[:top_k]:
            node = nodes[node_id]
            content = node.get_content(metadata_mode=_EMBED())
            hits.append(Hit(
                node_id=node_id, text=node.get_content(), title=node.metadata.get("title", ""),
                heading=node.metadata.get("heading", ""), source=node.metadata.get("source", ""),
                url=node.metadata.get("url", ""), fused=fused[node_id],
                relevance=self.vocabulary.coverage(question_terms, content),
                similarity=similarity.get(node_id), bm25=bm25.get(node_id),
            ))
        null = self.null() if similarity else None
        confidence = assess(hits, null, with_model=with_model)
        return SearchResult(question, question_terms, hits, confidence.level != "none", confidence, null)


def _EMBED() -> Any:  # noqa: N802 - reads like the enum it returns
    from llama_index.core.schema import MetadataMode

    return MetadataMode.EMBED
