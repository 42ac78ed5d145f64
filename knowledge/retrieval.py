"""Hybrid retrieval over a loaded index: BM25 and vector search (LlamaIndex retrievers), fused by reciprocal rank.

Fusion is reciprocal rank fusion as in LlamaIndex's `QueryFusionRetriever` (k=60), done here so each passage
keeps both of its original scores (that retriever overwrites them, and needs an LLM object even for one query).
Each hit then gets `relevance`: the IDF-weighted share of the question's terms found in the passage
(`knowledge.terms`). Whether the documents answer the question at all is `knowledge.confidence`'s call, from the
best passage's similarity against this index's null distribution and from that coverage.

Every search is made for an `Audience` (`knowledge.access`): passages it may not read are masked out of both
retrievers before ranking, so they are never candidates. A store keeps its candidates' retrieval in
`_candidates` and `_vocabulary` (the PostgreSQL store answers them in SQL); fusion and the decision are shared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from knowledge.access import Audience, Visibility
from knowledge.confidence import Confidence, LazyNull, NullStats, assess, measure_null
from knowledge.llama import prepare
from knowledge.store import Snapshot
from knowledge.terms import Vocabulary, terms

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import NodeWithScore

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
        return {
            "title": self.title,
            "heading": self.heading,
            "source": self.source,
            "url": self.url or None,
            "score": round(self.relevance, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "bm25": None if self.bm25 is None else round(self.bm25, 4),
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    terms: list[str]
    hits: list[Hit]  # best first
    found: bool
    confidence: Confidence = Confidence("none", None, 0.0)
    null: NullStats | None = None  # what an unrelated question scores on this index
    weights: dict[str, float] = field(default_factory=dict)  # each question term's IDF in this index

    @property
    def best(self) -> float:
        return max((h.relevance for h in self.hits), default=0.0)


class DocsIndex:
    """A loaded snapshot with its two retrievers and vocabulary, ready for concurrent read-only queries."""

    def __init__(self, snapshot: Snapshot, embed_model: BaseEmbedding) -> None:
        prepare()
        check_embedding(snapshot.embedding_id, embed_model)
        self.snapshot = snapshot
        self.generation = snapshot.generation
        self.embed_model = embed_model
        self.size = len(snapshot.nodes)
        self.vocabulary = Vocabulary()
        self._scopes, self._scope_of = _scopes(snapshot)
        self._scope_sizes = np.bincount(self._scope_of, minlength=len(self._scopes))
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
        return measure_null(self._best_similarities)

    def _best_similarities(self, probes: list[str]) -> list[float]:
        """Each probe's best cosine over all passages: what an unrelated question scores on this index."""
        from llama_index.core.vector_stores.types import VectorStoreQuery

        vectors = self.embed_model.get_text_embedding_batch(probes)
        results = [self.snapshot.store.query(VectorStoreQuery(query_embedding=v, similarity_top_k=1)) for v in vectors]
        return [max(r.similarities or [float("nan")]) for r in results]

    def search(
        self, question: str, *, top_k: int = 4, with_model: bool = False, audience: Audience | None = None
    ) -> SearchResult:
        """The fused ranking of the passages `audience` may read (default: `Audience.public()`); `with_model` (a
        model will read them) lowers the bar for "not found"."""
        question_terms = terms(question)
        allowed = self.allowed_scopes(audience or Audience.public())
        if not self.size or not question.strip() or not any(allowed):
            return SearchResult(question, question_terms, [], False)
        pool = max(POOL, top_k)
        dense, lexical = self._candidates(question, pool, allowed)
        vocabulary = self._vocabulary(question_terms)
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
            hits.append(
                Hit(
                    node_id=node_id,
                    text=node.get_content(),
                    title=node.metadata.get("title", ""),
                    heading=node.metadata.get("heading", ""),
                    source=node.metadata.get("source", ""),
                    url=node.metadata.get("url", ""),
                    fused=fused[node_id],
                    relevance=vocabulary.coverage(question_terms, content),
                    similarity=similarity.get(node_id),
                    bm25=bm25.get(node_id),
                )
            )
        null = self.null() if similarity else None
        confidence = assess(hits, null, with_model=with_model)
        weights = {t: vocabulary.weight(t) for t in set(question_terms)}
        return SearchResult(question, question_terms, hits, confidence.level != "none", confidence, null, weights)

    # What a store provides ---------------------------------------------------------------------------------

    def allowed_scopes(self, audience: Audience) -> list[bool]:
        """For each visibility scope of the index, whether `audience` may read it."""
        return audience.allowed(self._scopes)

    def visible_size(self, audience: Audience) -> int:
        """How many passages `audience` may read."""
        allowed = self.allowed_scopes(audience)
        return int(sum(int(n) for n, ok in zip(self._scope_sizes, allowed) if ok))

    def _candidates(
        self, question: str, pool: int, allowed: list[bool]
    ) -> tuple[list[NodeWithScore], list[NodeWithScore]]:
        """The best `pool` passages by cosine, and by BM25 (score > 0), among the readable ones."""
        import bm25s
        from llama_index.core.schema import NodeWithScore
        from llama_index.core.vector_stores.types import VectorStoreQuery

        mask = None if all(allowed) else np.asarray(allowed, dtype=bool)[self._scope_of]
        k = min(pool, self.size)
        query = VectorStoreQuery(query_embedding=self.embed_model.get_query_embedding(question), similarity_top_k=k)
        found = self.snapshot.store.query(query, mask=mask)
        dense = [NodeWithScore(node=n, score=s) for n, s in zip(found.nodes or [], found.similarities or [])]
        lexical: list[NodeWithScore] = []
        if self._bm25 is not None and terms(question):
            tokens = bm25s.tokenize(
                question, stemmer=self._bm25.stemmer, token_pattern=self._bm25.token_pattern, show_progress=False
            )
            if tokens.vocab:
                weights = None if mask is None else mask.astype(np.float32)
                indexes, scores = self._bm25.bm25.retrieve(tokens, k=k, show_progress=False, weight_mask=weights)
                lexical = [
                    NodeWithScore(node=self.snapshot.nodes[int(i)], score=float(v))
                    for i, v in zip(indexes[0], scores[0])
                    if v > 0
                ]
        return dense, lexical

    def _vocabulary(self, question_terms: list[str]) -> Vocabulary:
        return self.vocabulary


def check_embedding(index_model: str, embed_model: BaseEmbedding) -> None:
    from knowledge.embeddings import embedding_id

    configured = embedding_id(embed_model)
    if index_model != configured:
        raise EmbeddingMismatch(
            f"The docs index was built with the embedding model '{index_model}', but the bot is "
            f"configured for '{configured}'. Vectors of different models cannot be compared: re-index with "
            "`python app.py ingest --rebuild PATH...`, or configure the model that built the index "
            "(EMBEDDING_MODEL / DOCS_EMBEDDING)."
        )


def _scopes(snapshot: Snapshot) -> tuple[list[tuple[str, tuple[str, ...]]], np.ndarray]:
    """The distinct visibility scopes of the index, and each passage's scope number."""
    numbers: dict[tuple[str, tuple[str, ...]], int] = {}
    of_source: dict[str, int] = {}
    scope_of = np.zeros(len(snapshot.nodes), dtype=np.int32)
    for i, node in enumerate(snapshot.nodes):
        source = node.metadata.get("source", "")
        if source not in of_source:
            visibility = Visibility.from_manifest(snapshot.manifest.get(source, {}))
            of_source[source] = numbers.setdefault((visibility.team, visibility.channels), len(numbers))
        scope_of[i] = of_source[source]
    return list(numbers) or [("", ())], scope_of


def _EMBED() -> Any:  # noqa: N802 - reads like the enum it returns
    from llama_index.core.schema import MetadataMode

    return MetadataMode.EMBED
