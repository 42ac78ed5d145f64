"""`DOCS_STORE=postgres`: the docs index in one PostgreSQL database (pgvector) shared by every bot process and worker.

Nothing is loaded or rebuilt when a process starts: passages, their vectors (a pgvector column with an HNSW index,
cosine) and the BM25 statistics live in the database, and every search runs there.

- `docs_index`: one row: the embedding model that built the index, passages, total length, and a version that
  each ingest bumps (readers reload the little they cache when it changes).
- `docs_sources`: the manifest (per file: sha256, title, url, passages, visibility scope), as the local store's.
- `docs_scopes`: the distinct visibilities (workspace, channels); passages carry their scope's number, so a
  search filters on `scope = ANY(...)` inside the same SQL that ranks.
- `docs_chunks`: passages, their vectors and token counts. `docs_postings` (term, passage, tf) and `docs_terms`
  (term, document frequency) give BM25 in SQL with the tokens, IDF and length normalisation of the local
  store's BM25 (bm25s, Lucene variant), so both stores rank alike; the fusion and the "not in the docs"
  decision are the shared code of `knowledge.retrieval.DocsIndex`.

An ingest holds an advisory lock (one ingest at a time) and applies its change in one transaction, so readers see
the index before or after it, never half of it.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from knowledge.access import Visibility
from knowledge.confidence import LazyNull
from knowledge.pgvector import PgvectorUnavailable, engine_for, index_version
from knowledge.retrieval import POOL, DocsIndex, check_embedding
from knowledge.terms import Vocabulary, terms

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import NodeWithScore, TextNode

    from knowledge.ingest import Change

K1, B = 1.5, 0.75  # bm25s defaults, as the local store's BM25
INGEST_LOCK = 0x646F6373  # "docs": one ingest at a time per database
_TOP = "\U0010ffff"  # after every term in "C" collation: [t, t || _TOP) are the terms that start with t

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs_index (
    id int PRIMARY KEY CHECK (id = 1), embedding_id text NOT NULL, dimensions int NOT NULL,
    version bigint NOT NULL DEFAULT 0, chunks bigint NOT NULL DEFAULT 0, total_length bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS docs_scopes (
    id serial PRIMARY KEY, team text NOT NULL, channels text[] NOT NULL, UNIQUE (team, channels));
CREATE TABLE IF NOT EXISTS docs_sources (
    key text PRIMARY KEY, sha256 text NOT NULL, title text NOT NULL, url text NOT NULL, chunks int NOT NULL,
    scope int NOT NULL REFERENCES docs_scopes, channel_names text[] NOT NULL DEFAULT '{}',
    indexed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS docs_terms (term text COLLATE "C" PRIMARY KEY, df int NOT NULL);
"""
CHUNKS = """
CREATE TABLE docs_chunks (
    id serial PRIMARY KEY, node_id text NOT NULL UNIQUE, source text NOT NULL, scope int NOT NULL,
    text text NOT NULL, metadata jsonb NOT NULL, hidden text[] NOT NULL, length int NOT NULL,
    embedding vector({dimensions}) NOT NULL);
CREATE INDEX docs_chunks_source ON docs_chunks (source);
CREATE TABLE docs_postings (
    term text COLLATE "C" NOT NULL, chunk int NOT NULL, tf int NOT NULL, length int NOT NULL, scope int NOT NULL,
    PRIMARY KEY (term, chunk) INCLUDE (tf, length, scope));
CREATE INDEX docs_postings_chunk ON docs_postings (chunk);
"""
# Both rankings in one round trip. Cosine: the HNSW top k (iterative scan when filtered), with the BM25 top k's
# exact cosines added before cutting to k, so a passage that shares the question's words is never lost to the
# approximate index (it is, without this, on corpora whose vectors are nearly equidistant, e.g. hashed lexical
# ones). BM25: the Lucene variant as bm25s computes it: idf = ln(1 + (N - df + .5) / (df + .5)) and
# tf / (tf + k1 (1 - b + b len / avglen)) = tf / (tf + c0 + c1 len).
CANDIDATES = """
WITH q AS (
    SELECT t.term, ln(1 + (CAST(:n AS float8) - t.df + 0.5) / (CAST(t.df AS float8) + 0.5)) AS idf
    FROM unnest(CAST(:tokens AS text[])) AS u(term) JOIN docs_terms t ON t.term = u.term),
lexical AS (
    SELECT p.chunk AS id, sum(q.idf * p.tf / (p.tf + CAST(:c0 AS float8) + CAST(:c1 AS float8) * p.length)) AS score
    FROM q JOIN docs_postings p ON p.term = q.term {lexical_filter}
    GROUP BY p.chunk ORDER BY score DESC, p.chunk LIMIT :k),
approximate AS (
    SELECT id, embedding <=> CAST(:q AS vector) AS distance FROM docs_chunks {dense_filter}
    ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k),
rescored AS (
    SELECT c.id, c.embedding <=> CAST(:q AS vector) AS distance FROM docs_chunks c JOIN lexical l ON l.id = c.id),
dense AS (
    SELECT id, 1 - min(distance) AS score FROM (SELECT * FROM approximate UNION ALL SELECT * FROM rescored) d
    GROUP BY id ORDER BY min(distance), id LIMIT :k),
ranked AS (SELECT 'dense' AS kind, id, score FROM dense UNION ALL SELECT 'lexical', id, score FROM lexical)
SELECT r.kind, r.id, r.score, c.node_id, c.text, c.metadata, c.hidden FROM ranked r JOIN docs_chunks c ON c.id = r.id
"""
# Document frequencies of the question's terms and their 4+ letter prefixes, and of up to 8 terms each starts.
VOCABULARY = """
SELECT term, df FROM docs_terms WHERE term = ANY(CAST(:exact AS text[]))
UNION
SELECT x.term, x.df FROM unnest(CAST(:wanted AS text[])) AS w(t),
    LATERAL (SELECT term, df FROM docs_terms WHERE term >= w.t AND term < w.t || :top ORDER BY term LIMIT 8) x
"""
HNSW = "CREATE INDEX IF NOT EXISTS docs_chunks_embedding ON docs_chunks USING hnsw (embedding vector_cosine_ops)"
TABLES = ("docs_postings", "docs_chunks", "docs_terms", "docs_sources", "docs_scopes", "docs_index")


def tokens(texts: list[str]) -> list[list[str]]:
    """BM25 tokens exactly as the local store's BM25 (LlamaIndex's BM25Retriever) makes them."""
    import bm25s

    from knowledge.terms import _stemmer

    return bm25s.tokenize(
        texts,
        stopwords="en",
        stemmer=_stemmer(),
        return_ids=False,  # type: ignore[return-value]
        show_progress=False,
    )


class PgIndexStore:
    """The index in PostgreSQL: an `IngestTarget` for `knowledge.ingest`, and readers for the bot's processes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ingest: Connection | None = None

    @property
    def engine(self) -> Engine:
        return engine_for(self.url)

    def current(self) -> str | None:
        """The index's version, or None when nothing is indexed yet."""
        return index_version(self.url)

    def reader(self, embed_model: BaseEmbedding) -> PgDocsIndex:
        return PgDocsIndex(self, embed_model)

    # As an `IngestTarget` ----------------------------------------------------------------------------------

    def begin(self, model_id: str, rebuild: bool) -> tuple[str | None, dict[str, dict[str, Any]]]:
        connection = self._ingest = self.engine.connect()
        try:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            connection.commit()
        except sqlalchemy.exc.DBAPIError as error:
            connection.rollback()
            raise PgvectorUnavailable(
                "DOCS_STORE=postgres: the pgvector extension cannot be enabled in this database "
                f"({type(error.orig).__name__}). Install pgvector on the server and run `CREATE EXTENSION vector` "
                "as a superuser once, or use DOCS_STORE=local."
            ) from None
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": INGEST_LOCK})
        connection.commit()
        self._model_id, self._rebuild = model_id, rebuild
        if rebuild:  # the old index stays readable until the new one is committed
            return None, {}
        with connection.begin():
            for statement in filter(str.strip, SCHEMA.split(";")):
                connection.execute(text(statement))
        meta = connection.execute(text("SELECT embedding_id FROM docs_index")).first()
        manifest: dict[str, dict[str, Any]] = {}
        for row in connection.execute(
            text(
                "SELECT s.key, s.sha256, s.title, s.url, s.chunks, c.team, c.channels, s.channel_names "
                "FROM docs_sources s JOIN docs_scopes c ON c.id = s.scope"
            )
        ).mappings():
            manifest[row["key"]] = {
                "sha256": row["sha256"],
                "title": row["title"],
                "url": row["url"],
                "chunks": row["chunks"],
                "team": row["team"],
                "channels": list(row["channels"]),
                "channel_names": list(row["channel_names"]),
            }
        connection.commit()
        return (None if meta is None else meta[0]), manifest

    def commit(self, change: Change) -> tuple[int, int]:
        connection = self._ingest
        assert connection is not None, "begin() first"
        with connection.begin():
            connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            version = 0  # versions only grow, also across a rebuild, so that every reader notices it
            if self._rebuild:
                if connection.execute(text("SELECT to_regclass('docs_index') IS NOT NULL")).scalar():
                    version = connection.execute(text("SELECT coalesce(max(version), 0) FROM docs_index")).scalar()
                connection.execute(text("DROP TABLE IF EXISTS " + ", ".join(TABLES)))
            for statement in filter(str.strip, SCHEMA.split(";")):
                connection.execute(text(statement))
            meta = connection.execute(text("SELECT dimensions FROM docs_index")).first()
            dimensions = len(change.nodes[0].embedding) if change.nodes else (meta[0] if meta else 0)
            has_chunks = bool(connection.execute(text("SELECT to_regclass('docs_chunks') IS NOT NULL")).scalar())
            if not has_chunks and dimensions:
                for statement in filter(str.strip, CHUNKS.format(dimensions=int(dimensions)).split(";")):
                    connection.execute(text(statement))
                has_chunks = True
            if meta is None:
                connection.execute(
                    text("INSERT INTO docs_index (id, embedding_id, dimensions, version) VALUES (1, :m, :d, :v)"),
                    {"m": self._model_id, "d": dimensions, "v": version},
                )
            elif not meta[0] and dimensions:
                connection.execute(text("UPDATE docs_index SET dimensions = :d"), {"d": dimensions})
            if has_chunks:
                self._remove(connection, set(change.removed) | set(change.fresh))
            for key in change.removed:
                connection.execute(text("DELETE FROM docs_sources WHERE key = :k"), {"k": key})
            for key, entry in {**change.fresh, **change.relabelled}.items():
                self._upsert_source(connection, key, entry)
            if change.nodes:
                self._add(connection, change.nodes, change.fresh)
            connection.execute(
                text("DELETE FROM docs_scopes s WHERE NOT EXISTS (SELECT 1 FROM docs_sources WHERE scope = s.id)")
            )
            totals = (
                (
                    "chunks = (SELECT count(*) FROM docs_chunks), "
                    "total_length = (SELECT coalesce(sum(length), 0) FROM docs_chunks), "
                )
                if has_chunks
                else ""
            )
            if change or meta is None or self._rebuild:
                connection.execute(text(f"UPDATE docs_index SET {totals}version = version + 1, updated_at = now()"))
            chunks = connection.execute(text("SELECT chunks FROM docs_index")).scalar() or 0
            files = connection.execute(text("SELECT count(*) FROM docs_sources")).scalar() or 0
        if change.nodes or change.removed:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM (ANALYZE) docs_postings, docs_chunks, docs_terms")
            )  # index-only scans for BM25
        return int(chunks), int(files)

    def end(self) -> None:
        if self._ingest is not None:
            try:
                self._ingest.rollback()
                self._ingest.execute(text("SELECT pg_advisory_unlock_all()"))
                self._ingest.commit()
            finally:
                self._ingest.close()
                self._ingest = None

    # Writing -----------------------------------------------------------------------------------------------

    @staticmethod
    def _scope(connection: Connection, entry: dict[str, Any]) -> int:
        visibility = Visibility.from_manifest(entry)
        params = {"team": visibility.team, "channels": list(visibility.channels)}
        connection.execute(
            text("INSERT INTO docs_scopes (team, channels) VALUES (:team, :channels) ON CONFLICT DO NOTHING"), params
        )
        return int(
            connection.execute(
                text("SELECT id FROM docs_scopes WHERE team = :team AND channels = :channels"), params
            ).scalar_one()
        )

    def _upsert_source(self, connection: Connection, key: str, entry: dict[str, Any]) -> None:
        scope = self._scope(connection, entry)
        connection.execute(
            text(
                "INSERT INTO docs_sources (key, sha256, title, url, chunks, scope, channel_names) "
                "VALUES (:key, :sha, :title, :url, :chunks, :scope, :names) ON CONFLICT (key) DO UPDATE SET "
                "sha256 = excluded.sha256, title = excluded.title, url = excluded.url, chunks = excluded.chunks, "
                "scope = excluded.scope, channel_names = excluded.channel_names, indexed_at = now()"
            ),
            {
                "key": key,
                "sha": entry["sha256"],
                "title": entry["title"],
                "url": entry.get("url") or "",
                "chunks": entry["chunks"],
                "scope": scope,
                "names": list(entry.get("channel_names") or []),
            },
        )
        connection.execute(
            text("UPDATE docs_chunks SET scope = :scope WHERE source = :key AND scope <> :scope"),
            {"scope": scope, "key": key},
        )
        connection.execute(
            text(
                "UPDATE docs_postings p SET scope = :scope FROM docs_chunks c "
                "WHERE c.source = :key AND p.chunk = c.id AND p.scope <> :scope"
            ),
            {"scope": scope, "key": key},
        )

    @staticmethod
    def _remove(connection: Connection, keys: set[str]) -> None:
        if not keys:
            return
        gone = "SELECT id FROM docs_chunks WHERE source = ANY(:keys)"
        params = {"keys": sorted(keys)}
        connection.execute(
            text(
                f"UPDATE docs_terms t SET df = t.df - d.n FROM (SELECT term, count(*) AS n FROM docs_postings "
                f"WHERE chunk IN ({gone}) GROUP BY term) d WHERE t.term = d.term"
            ),
            params,
        )
        connection.execute(text(f"DELETE FROM docs_postings WHERE chunk IN ({gone})"), params)
        connection.execute(text("DELETE FROM docs_chunks WHERE source = ANY(:keys)"), params)
        connection.execute(text("DELETE FROM docs_terms WHERE df <= 0"))

    def _add(self, connection: Connection, nodes: list[TextNode], fresh: dict[str, dict[str, Any]]) -> None:
        from llama_index.core.schema import MetadataMode
        from pgvector.psycopg import register_vector

        raw = connection.connection.driver_connection
        register_vector(raw)
        scopes = {
            key: int(connection.execute(text("SELECT scope FROM docs_sources WHERE key = :k"), {"k": key}).scalar_one())
            for key in fresh
        }
        first = int(connection.execute(text("SELECT nextval('docs_chunks_id_seq')")).scalar_one())
        empty = not connection.execute(text("SELECT EXISTS (SELECT 1 FROM docs_chunks)")).scalar()
        if empty:  # a bulk load builds the HNSW graph once, after the rows are in: much faster
            connection.execute(text("DROP INDEX IF EXISTS docs_chunks_embedding"))
        counts = Counter[str]()
        postings = []
        with raw.cursor() as cursor:
            with cursor.copy(
                "COPY docs_chunks (id, node_id, source, scope, text, metadata, hidden, length, "
                "embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int4", "text", "text", "int4", "text", "jsonb", "text[]", "int4", "vector"])
                all_tokens = tokens([n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
                for offset, (node, chunk_tokens) in enumerate(zip(nodes, all_tokens)):
                    source = node.metadata.get("source", "")
                    tf = Counter(chunk_tokens)
                    counts.update(tf.keys())
                    postings.append((first + offset, len(chunk_tokens), scopes[source], tf))
                    copy.write_row(
                        [
                            first + offset,
                            node.node_id,
                            source,
                            scopes[source],
                            node.get_content(),
                            node.metadata,
                            list(node.excluded_embed_metadata_keys),
                            len(chunk_tokens),
                            np.asarray(node.embedding, dtype=np.float32),
                        ]
                    )
            with cursor.copy("COPY docs_postings (term, chunk, tf, length, scope) FROM STDIN") as copy:
                for start in range(0, len(postings), 1_000):  # tokens are \w+ words: no tab, newline or backslash
                    copy.write(
                        "".join(
                            f"{term}\t{chunk}\t{n}\t{length}\t{scope}\n"
                            for chunk, length, scope, tf in postings[start : start + 1_000]
                            for term, n in tf.items()
                        )
                    )
        connection.execute(text("SELECT setval('docs_chunks_id_seq', :last)"), {"last": first + len(nodes)})
        connection.execute(
            text(
                "INSERT INTO docs_terms (term, df) SELECT * FROM unnest(CAST(:terms AS text[]), CAST(:dfs AS int[])) "
                "ON CONFLICT (term) DO UPDATE SET df = docs_terms.df + excluded.df"
            ),
            {"terms": list(counts), "dfs": list(counts.values())},
        )
        connection.execute(text(HNSW))


class PgDocsIndex(DocsIndex):
    """`DocsIndex` whose candidates come from SQL: nothing is loaded but the list of visibility scopes."""

    def __init__(self, store: PgIndexStore, embed_model: BaseEmbedding) -> None:
        self.store = store
        self.embed_model = embed_model
        with store.engine.connect() as connection:
            meta = (
                connection.execute(text("SELECT embedding_id, version, chunks, total_length FROM docs_index"))
                .mappings()
                .first()
            )
            if meta is None:
                from knowledge.store import IndexMissing

                raise IndexMissing(
                    "No documents are indexed yet in the PostgreSQL docs store: run `python app.py ingest PATH`."
                )
            check_embedding(meta["embedding_id"], embed_model)
            rows = connection.execute(
                text(
                    "SELECT s.id, s.team, s.channels, count(c.id) AS n FROM docs_scopes s "
                    "LEFT JOIN docs_chunks c ON c.scope = s.id GROUP BY s.id ORDER BY s.id"
                )
            ).all()
        self.generation = str(meta["version"])
        self.size = int(meta["chunks"])
        self._average_length = float(meta["total_length"]) / self.size if self.size else 1.0
        self._scope_ids = [int(r[0]) for r in rows]
        self._scopes = [(str(r[1]), tuple(r[2])) for r in rows]
        self._scope_sizes = np.asarray([int(r[3]) for r in rows], dtype=np.int64)
        self.vocabulary = Vocabulary()
        self._local = threading.local()  # the vocabulary read with a search's candidates, for its coverage
        self._null = LazyNull(self._measure_null)

    def _best_similarities(self, probes: list[str]) -> list[float]:
        everyone = [True] * len(self._scopes)
        return [
            max((float(hit.score or 0.0) for hit in self._candidates(probe, 1, everyone)[0]), default=float("nan"))
            for probe in probes
        ]

    def _candidates(
        self, question: str, pool: int, allowed: list[bool]
    ) -> tuple[list[NodeWithScore], list[NodeWithScore]]:
        """Both rankings and their passages in one statement, and the vocabulary coverage needs in a second."""
        from llama_index.core.schema import NodeWithScore

        scopes = [i for i, ok in zip(self._scope_ids, allowed) if ok]
        everyone = all(allowed)
        vector = "[" + ",".join(f"{v:.7g}" for v in self.embed_model.get_query_embedding(question)) + "]"
        params = {
            "q": vector,
            "k": min(pool, self.size),
            "scopes": scopes,
            "tokens": tokens([question])[0],
            "n": float(self.size),
            "c0": K1 * (1 - B),
            "c1": K1 * B / self._average_length,
        }
        with self.store.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            rows = connection.execute(
                text(
                    CANDIDATES.format(
                        dense_filter="" if everyone else "WHERE scope = ANY(:scopes)",
                        lexical_filter="" if everyone else "WHERE p.scope = ANY(:scopes)",
                    )
                ),
                params,
            ).all()
            self._local.vocabulary = (question, self._read_vocabulary(connection, terms(question)))
        ranked: dict[str, list[tuple[float, int, TextNode]]] = {"dense": [], "lexical": []}
        for kind, chunk, score, node_id, body, metadata, hidden in rows:
            ranked[kind].append((float(score), int(chunk), _node(node_id, body, metadata, hidden)))
        for pairs in ranked.values():
            pairs.sort(key=lambda item: (-item[0], item[1]))
        return (
            [NodeWithScore(node=node, score=score) for score, _, node in ranked["dense"]],
            [NodeWithScore(node=node, score=score) for score, _, node in ranked["lexical"] if score > 0],
        )

    def _vocabulary(self, question_terms: list[str]) -> Vocabulary:
        stashed = getattr(self._local, "vocabulary", None)
        if stashed is not None and terms(stashed[0]) == question_terms:
            return stashed[1]
        with self.store.engine.connect() as connection:
            return self._read_vocabulary(connection, question_terms)

    def _read_vocabulary(self, connection: Connection, question_terms: list[str]) -> Vocabulary:
        """The document frequencies coverage needs: the question's terms, their prefixes and extensions."""
        wanted = sorted(set(question_terms))
        exact = sorted(set(wanted) | {t[:n] for t in wanted for n in range(4, len(t))})
        vocabulary = Vocabulary()
        vocabulary.size = self.size
        if wanted:
            rows = connection.execute(
                text(VOCABULARY), {"exact": exact, "top": _TOP, "wanted": [t for t in wanted if len(t) >= 4]}
            ).all()
            vocabulary.df = Counter({str(term): int(df) for term, df in rows})
        return vocabulary


def _node(node_id: str, body: str, metadata: dict[str, Any], hidden: list[str]) -> TextNode:
    from llama_index.core.schema import TextNode

    return TextNode(
        id_=node_id,
        text=body,
        metadata=metadata,
        excluded_embed_metadata_keys=list(hidden),
        excluded_llm_metadata_keys=list(hidden),
    )


__all__ = ["PgIndexStore", "PgDocsIndex", "PgvectorUnavailable", "POOL"]
