"""Docs Q&A retrieval: quality on a labelled question set, p99 latency at 1k and 50k chunks, ingest throughput.

Everything runs offline and in-process with the default offline embedding (the static model) plus BM25,
fused, exactly as `python app.py ask` retrieves; no model is called (retrieval is what is measured).

- Quality: a generated handbook (one page per service, five sections each, facts that differ per service)
  and labelled questions that paraphrase the page ("tech lead" for "technical lead", "availability target"
  for "availability objective"). A hit is the right page and section. Not-in-docs questions are half
  unrelated, half near misses that name a real service but ask what no page says (its budget, its logo).
  `not_in_docs_precision`: of the questions the bot declared "not in the docs", the share that truly are not.
- Latency: `DocsIndex.search` (query embedding, vector top-k, BM25 top-k, fusion, relevance) on indexes of
  1,000 and 50,000 synthetic chunks of ~120 words, 300 queries each.
- Ingest: `knowledge.ingest` end to end (read, chunk, embed, write) over generated Markdown files.
- `DOCS_STORE=postgres` (when `requirements-pgvector.txt` is installed): the same quality questions, indexes and
  queries against a real pgvector server started for the run (`postgres_*` figures): p99 for a search everyone
  may read and for one that filters out a tenth of the sources (`_filtered`), the share of the exact vector top
  10 in its cosine ranking (HNSW plus the exact cosines of the BM25 candidates), the labelled questions among
  the large index's passages, the bulk load rate of the large index, and the same end-to-end ingest.
  Query embedding is the offline lexical one (about 0.1 ms); no model is called.

`--quick`: small sizes (2,000 chunks, 60 queries, 30 files) to check that it runs.
Last line: JSON with hit_at_1, hit_at_3, mrr, not_in_docs_precision, p99_ms_1k, p99_ms_50k, ingest_chunks_per_s,
and the postgres_* figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one query is one small product: threads only add jitter

from knowledge.llama import prepare  # noqa: E402

prepare()

from knowledge.access import Audience  # noqa: E402
from knowledge.embeddings import StaticEmbedding  # noqa: E402
from knowledge.ingest import ingest  # noqa: E402
from knowledge.progress import Progress  # noqa: E402
from knowledge.retrieval import DocsIndex  # noqa: E402
from knowledge.store import LocalIndexStore, MatrixVectorStore, Snapshot  # noqa: E402

SERVICES = [
    "Billing API",
    "Search Indexer",
    "Payments Gateway",
    "Notification Service",
    "Identity Provider",
    "Media Transcoder",
    "Reporting Warehouse",
    "Feature Flags",
    "Checkout Frontend",
    "Inventory Sync",
    "Fraud Scorer",
    "Email Relay",
    "Audit Log",
    "Pricing Engine",
    "Recommendation Model",
    "Shipping Tracker",
    "Support Desk Bridge",
    "Mobile Push Hub",
    "Data Lake Loader",
    "Session Store",
    "Geo Lookup",
    "Invoice Renderer",
    "Partner Webhooks",
    "Tax Calculator",
    "Currency Rates",
    "Image Resizer",
    "Chat Backend",
    "Loyalty Points",
    "Survey Collector",
    "Status Page",
]
TEAMS = ["Atlas", "Borealis", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper"]
PEOPLE = [
    "Amara Okafor",
    "Bruno Lindqvist",
    "Chen Wei",
    "Dana Whitfield",
    "Elif Kaya",
    "Farid Haddad",
    "Greta Novak",
    "Hiro Tanaka",
    "Ines Duarte",
    "Jonas Berg",
    "Kofi Mensah",
    "Lena Vogel",
]
TOOLS = ["Spinnaker", "ArgoCD", "shipit", "Jenkins", "GitHub Actions"]
DATA = ["request logs", "customer addresses", "payment tokens", "audit events", "uploaded images"]
UNRELATED = [
    "What is the wifi password in the Lisbon office?",
    "How many vacation days do interns get?",
    "Who won the football world cup in 1954?",
    "What is the capital of Australia?",
    "How do I book a meeting room on the third floor?",
    "When is the summer party this year?",
    "What is the parental leave policy in Germany?",
    "Which health insurance plans do we offer?",
    "How do I expense a home office chair?",
    "What is the dress code for client visits?",
    "Where can I park my bicycle at headquarters?",
    "How much does the company match on pensions?",
    "What is the recipe for the cafeteria lasagna?",
    "Who is the CEO's assistant?",
    "How tall is the Eiffel Tower?",
]
NEAR_MISS = [
    "What is the monthly cloud budget of the {name}?",
    "Who designed the logo of the {name}?",
    "Which programming language is the {name} written in?",
    "How many customers use the {name}?",
    "When was the {name} first launched?",
]


def service_page(index: int, name: str, rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A Markdown page for one service and its labelled questions (question, section heading)."""
    team, lead, backup = TEAMS[index % len(TEAMS)], PEOPLE[index % len(PEOPLE)], PEOPLE[(index + 5) % len(PEOPLE)]
    tool, data = TOOLS[index % len(TOOLS)], DATA[index % len(DATA)]
    minutes, slo, p99, days = 5 + index % 25, [99.9, 99.95, 99.5][index % 3], 100 + 25 * (index % 9), 30 + index
    page = f"""# {name}

## Ownership

The {name} is owned by the {team} team. The technical lead is {lead}, who reviews every design change.

## On-call

Pages for the {name} go to the {team} primary rotation. If nobody acknowledges within {minutes} minutes, the
page escalates to {backup}.

## Deployment

The {name} deploys with {tool} from the main branch. A production rollout takes about {minutes + 3} minutes and
can be rolled back from the release channel.

## Service level

The availability objective of the {name} is {slo}% per calendar month, and p99 latency must stay under {p99} ms.

## Data retention

The {name} keeps {data} for {days} days; after that a nightly job deletes them.
"""
    questions = [
        (f"Who is the tech lead for the {name}?", "Ownership"),
        (f"Where do alerts for the {name} get paged?", "On-call"),
        (f"How is the {name} rolled out to production?", "Deployment"),
        (f"What availability target does the {name} have?", "Service level"),
        (f"How long is {data} retained by the {name}?", "Data retention"),
    ]
    return page, questions


def handbook(folder: Path) -> tuple[Path, list[tuple[str, str, str]]]:
    """The generated handbook's folder and its labelled questions (question, page title, section heading)."""
    rng = random.Random(7)
    labelled: list[tuple[str, str, str]] = []
    docs = folder / "handbook"
    docs.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(SERVICES):
        page, questions = service_page(i, name, rng)
        (docs / f"{name.lower().replace(' ', '-')}.md").write_text(page)
        labelled += [(q, name, heading) for q, heading in questions]
    return docs, labelled


def quality(folder: Path, store: Any = None, label: str = "") -> dict[str, float]:
    docs, labelled = handbook(folder)
    store = store or LocalIndexStore(folder / "index")
    embed = StaticEmbedding()
    report = ingest([str(docs)], store=store, embed_model=embed, progress=Progress(_Quiet()))
    print(
        f"{label}quality: {len(labelled)} labelled questions over {report.chunks_total} chunks of "
        f"{report.files_total} pages"
    )
    return evaluate(store.reader(embed), labelled)


def evaluate(index: Any, labelled: list[tuple[str, str, str]]) -> dict[str, float]:
    ranks, declared_absent_on_answerable = [], 0
    everything = Audience.operator()
    for question, title, heading in labelled:
        result = index.search(question, top_k=5, audience=everything)
        rank = next((r for r, h in enumerate(result.hits, 1) if (h.title, h.heading) == (title, heading)), None)
        ranks.append(rank)
        declared_absent_on_answerable += not result.found
    absent = UNRELATED + [NEAR_MISS[i % len(NEAR_MISS)].format(name=name) for i, name in enumerate(SERVICES[:15])]
    declared_absent_on_absent = sum(not index.search(q, top_k=5, audience=everything).found for q in absent)
    declared = declared_absent_on_absent + declared_absent_on_answerable
    figures = {
        "hit_at_1": sum(r == 1 for r in ranks) / len(ranks),
        "hit_at_3": sum(r is not None and r <= 3 for r in ranks) / len(ranks),
        "mrr": sum(1 / r for r in ranks if r) / len(ranks),
        "not_in_docs_precision": declared_absent_on_absent / declared if declared else 1.0,
        "not_in_docs_recall": declared_absent_on_absent / len(absent),
        "answerable_declared_absent": declared_absent_on_answerable / len(labelled),
    }
    print(f"  {len(absent)} not-in-docs questions ({len(UNRELATED)} unrelated, rest near misses)")
    print(f"  hit@1 {figures['hit_at_1']:.3f}  hit@3 {figures['hit_at_3']:.3f}  MRR {figures['mrr']:.3f}")
    print(
        f"  not in docs: precision {figures['not_in_docs_precision']:.3f}, recall {figures['not_in_docs_recall']:.3f}"
        f"; answerable questions wrongly declared absent: {figures['answerable_declared_absent']:.3f}"
    )
    return figures


def quality_among(folder: Path, snapshot: Snapshot, pg_store: Any = None) -> dict[str, float]:
    """The labelled questions once the handbook is a few pages among the large index's synthetic passages: exact
    vector search (local) against HNSW (postgres), where near-ties among thousands of passages are the rule."""
    docs, labelled = handbook(folder)
    embed = StaticEmbedding()
    local = LocalIndexStore(folder / "among-index")
    ingest([str(docs)], store=local, embed_model=embed, progress=Progress(_Quiet()))
    merged = local.load()
    for node, vector in zip(snapshot.nodes, snapshot.store.matrix):
        node.embedding = vector.tolist()
    merged.store.add(list(snapshot.nodes))
    print(f"quality among {len(snapshot.nodes):,} synthetic passages, local store:")
    figures = {"local": evaluate(DocsIndex(merged, embed), labelled)["hit_at_3"]}
    if pg_store is not None:
        ingest([str(docs)], store=pg_store, embed_model=embed, progress=Progress(_Quiet()))
        print(f"quality among {len(snapshot.nodes):,} synthetic passages, postgres store:")
        figures["postgres"] = evaluate(pg_store.reader(embed), labelled)["hit_at_3"]
    return figures


def synthetic_snapshot(chunks: int, embed: StaticEmbedding, rng: random.Random) -> Snapshot:
    from llama_index.core.schema import MetadataMode, TextNode

    vocabulary = [f"term{i}" for i in range(30_000)] + [w.lower() for s in SERVICES for w in s.split()]
    cumulative = list(itertools.accumulate(1 / (i + 1) ** 0.9 for i in range(len(vocabulary))))  # Zipf-like
    nodes = []
    for i in range(chunks):
        text = " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=120))
        nodes.append(
            TextNode(
                id_=f"n{i}",
                text=text,
                metadata={
                    "title": f"Page {i // 5}",
                    "heading": f"S{i % 5}",
                    "source": f"/bench/{i // 5}.md",
                    "url": "",
                },
                excluded_embed_metadata_keys=["source", "url"],
            )
        )
    vectors = embed.get_text_embedding_batch([n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
    import numpy as np

    store = MatrixVectorStore.from_arrays(nodes, np.asarray(vectors, dtype=np.float32))
    return Snapshot(embedding_id=embed.embedding_id, dimensions=store.matrix.shape[1], store=store)


def latency(chunks: int, queries: int, rng: random.Random, server: Any = None) -> dict[str, Any]:
    """p99 of the local store's search; with `server`, the PostgreSQL store's on the same passages and queries."""
    embed = StaticEmbedding()
    started = time.perf_counter()
    snapshot = synthetic_snapshot(chunks, embed, rng)
    index = DocsIndex(snapshot, embed)
    built = time.perf_counter() - started
    figures: dict[str, Any] = {"snapshot": snapshot}
    words = [f"term{rng.randrange(3_000)}" for _ in range(queries * 4)]
    texts = [
        f"What does the {rng.choice(SERVICES)} say about {' and '.join(words[i * 4 : i * 4 + 3])}?"
        for i in range(queries)
    ]
    for text in texts[:10]:  # warm-up
        index.search(text)
    times = []
    for text in texts:
        t = time.perf_counter()
        index.search(text)
        times.append((time.perf_counter() - t) * 1000)
    p99 = percentile(times, 0.99)
    print(
        f"latency at {chunks:,} chunks (index built in {built:.1f} s): p50 {statistics.median(times):.2f} ms, "
        f"p99 {p99:.2f} ms over {queries} queries"
    )
    figures["p99"] = p99
    if server is not None:
        from bench import rag_postgres

        store, rate = rag_postgres.load(server, f"bench_{chunks}", snapshot, embed.embedding_id)
        pg = rag_postgres.latency(store, embed, texts, index, percentile)
        print(
            f"postgres at {chunks:,} chunks (bulk load {rate:.0f} chunks/s): p50 {pg['p50']:.2f} ms, p99 "
            f"{pg['p99']:.2f} ms; filtered p50 {pg['p50_filtered']:.2f} ms, p99 {pg['p99_filtered']:.2f} ms; "
            f"share of the exact vector top 10 in its cosine ranking: {pg['recall']:.3f} (the 10th's cosine: "
            f"{abs(pg['gap']):.4f} below the exact 10th on average)"
        )
        figures.update(
            {
                "postgres_p99": pg["p99"],
                "postgres_p99_filtered": pg["p99_filtered"],
                "postgres_recall": pg["recall"],
                "postgres_gap": pg["gap"],
                "postgres_load_rate": rate,
                "postgres_store": store,
            }
        )
    return figures


def throughput(folder: Path, files: int) -> float:
    docs = folder / "ingest"
    docs.mkdir(parents=True)
    rng = random.Random(3)
    filler = "Runbooks, dashboards and alerts are reviewed every quarter by the owning team. " * 12
    for i in range(files):
        name = f"{SERVICES[i % len(SERVICES)]} {i}"
        page, _ = service_page(i, name, rng)
        (docs / f"page-{i}.md").write_text(page.replace("\n## ", f"\n{filler}\n\n## "))
    report = ingest(
        [str(docs)],
        store=LocalIndexStore(folder / "ingest-index"),
        embed_model=StaticEmbedding(),
        progress=Progress(_Quiet()),
    )
    rate = report.chunks_added / report.seconds
    print(
        f"ingest: {report.files_total} files, {report.chunks_added} chunks in {report.seconds:.1f} s "
        f"= {rate:.0f} chunks/s (read, chunk, embed, write; offline embeddings)"
    )
    return rate


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class _Quiet:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=50_000, help="chunks of the large index (default 50,000)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ingest-files", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check that it runs")
    parser.add_argument("--no-postgres", action="store_true", help="only the local store")
    args = parser.parse_args()
    if args.quick:
        args.large, args.queries, args.ingest_files = 2_000, 60, 30
    from bench import rag_postgres

    server = None
    if not args.no_postgres and rag_postgres.available():
        from doubles.pgvector_server import PgvectorServer

        server = PgvectorServer().start()
    elif not args.no_postgres:
        print("postgres: skipped (pip install -r requirements-pgvector.txt for a pgvector server)")
    rng = random.Random(11)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = quality(Path(tmp))
            ingest_rate = throughput(Path(tmp), args.ingest_files)
            if server is not None:
                from knowledge.pg_store import PgIndexStore

                pg_quality = quality(Path(tmp), PgIndexStore(server.create_database("bench_quality")), "postgres ")
                pg_ingest = rag_postgres.ingest_rate(server, Path(tmp) / "ingest", _Quiet())
        small = latency(1_000, args.queries, rng, server)
        large = latency(args.large, args.queries, rng, server)
        with tempfile.TemporaryDirectory() as tmp:
            among = quality_among(Path(tmp), large["snapshot"], large.get("postgres_store"))
    finally:
        if server is not None:
            server.stop()
    result = {
        "hit_at_1": round(figures["hit_at_1"], 3),
        "hit_at_3": round(figures["hit_at_3"], 3),
        "mrr": round(figures["mrr"], 3),
        "not_in_docs_precision": round(figures["not_in_docs_precision"], 3),
        "p99_ms_1k": round(small["p99"], 2),
        "p99_ms_50k": round(large["p99"], 2),
        "ingest_chunks_per_s": round(ingest_rate, 1),
        "hit_at_3_among_50k": round(among["local"], 3),
    }
    if server is not None:
        result.update(
            {
                "postgres_hit_at_3": round(pg_quality["hit_at_3"], 3),
                "postgres_mrr": round(pg_quality["mrr"], 3),
                "postgres_not_in_docs_precision": round(pg_quality["not_in_docs_precision"], 3),
                "postgres_p99_ms_1k": round(small["postgres_p99"], 2),
                "postgres_p99_ms_50k": round(large["postgres_p99"], 2),
                "postgres_p99_ms_50k_filtered": round(large["postgres_p99_filtered"], 2),
                "postgres_hit_at_3_among_50k": round(among["postgres"], 3),
                "postgres_dense_recall_at_10": round(large["postgres_recall"], 3),
                "postgres_dense_cosine_gap_at_10": round(large["postgres_gap"], 4),
                "postgres_load_chunks_per_s": round(large["postgres_load_rate"], 1),
                "postgres_ingest_chunks_per_s": round(pg_ingest, 1),
            }
        )
    if args.large != 50_000:
        result = {key.replace("_50k", f"_{args.large // 1000}k"): value for key, value in result.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
