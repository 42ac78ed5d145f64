"""`python app.py ingest PATH...` and `python app.py ask "question"`: docs Q&A for operators and evaluation."""

from __future__ import annotations

import argparse
import json
import sys

from bot.model.gateway import ModelError
from bot.model.metering import Meter
from bot.model.offline import OFFLINE_NOTE
from bot.settings import Settings
from knowledge.embeddings import embedding_for, metered
from knowledge.ingest import ingest as run
from knowledge.retrieval import EmbeddingMismatch
from knowledge.static_model import StaticModelMissing
from knowledge.store import IndexMissing, LocalIndexStore
from patterns.rag import answer
from services import Services


def add_commands(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser(
        "ingest", help="index team documents for docs questions",
        description="Index folders or files of team documents (Markdown, text, HTML, PDF) into DOCS_INDEX_DIR. "
                    "Incremental: unchanged files are skipped, changed ones re-indexed, files deleted under the "
                    "given paths removed. Unreadable files are reported and skipped.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="a folder or a file")
    ingest.add_argument("--rebuild", action="store_true",
                        help="start a new index (needed after changing the embedding model)")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON on standard output")

    ingest.set_defaults(run=ingest_command)

    ask = commands.add_parser(
        "ask", help="answer a question from the indexed documents",
        description="Answer QUESTION from the indexed documents, with numbered citations, the way @bot does; "
                    "says so when the documents do not contain the answer.",
    )
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true",
                     help="print JSON: answer, found, citations (source path, heading, score), what was searched")
    ask.set_defaults(run=ask_command)

def ingest_command(settings: Settings, args: argparse.Namespace) -> int:

    store = _store(settings)
    if store is None:
        return 2
    services = Services.build(settings)
    services.ledger.migrate()
    meter = Meter(pattern="rag", trigger="ingest", request_id="ingest")
    try:
        embed_model = embedding_for(settings, services.gateway)
        with metered(meter):
            report = run(args.paths, store=store, embed_model=embed_model, rebuild=args.rebuild)
    except (EmbeddingMismatch, StaticModelMissing) as error:
        print(error, file=sys.stderr)
        return 2
    except Exception as error:
        from bot.model.gateway import ModelError

        if not isinstance(error, ModelError):
            raise
        services.ledger.record(meter, status="error", error_kind=error.kind)
        print(f"Embedding failed: {error.user_message} Nothing was changed in the index.", file=sys.stderr)
        return 1
    services.ledger.record(meter, status="ok")
    if args.json:
        print(json.dumps(report.as_json()))
    print(report.summary(), file=sys.stderr if args.json else sys.stdout)
    return 0


def ask_command(settings: Settings, args: argparse.Namespace) -> int:

    if _store(settings) is None:
        return 2
    services = Services.build(settings)
    services.ledger.migrate()
    meter = Meter(pattern="rag", trigger="cli", request_id="cli")
    library = services.docs
    try:
        result = answer(library, args.question, meter=meter)
        for delta in result:
            if not args.json:
                print(delta, end="", flush=True)
    except (IndexMissing, EmbeddingMismatch, StaticModelMissing) as error:
        services.ledger.record(meter, status="error", error_kind=type(error).__name__.lower()[:60])
        print(error, file=sys.stderr)
        return 2
    except ModelError as error:
        services.ledger.record(meter, status="error", error_kind=error.kind)
        print(error.user_message, file=sys.stderr)
        return 1
    services.ledger.record(meter, status="ok")
    if args.json:
        print(json.dumps({**result.as_json(), "model": meter.model}, ensure_ascii=False))
    else:
        print("\n\n" + OFFLINE_NOTE if result.offline else "")
    return 0


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    """The configured index store, or None after explaining why it cannot be used."""
    if settings.docs_store == "postgres":
        from knowledge.pgvector import PgvectorUnavailable, check_pgvector

        try:
            check_pgvector(settings)
        except PgvectorUnavailable as error:
            print(error, file=sys.stderr)
            return None
        print("DOCS_STORE=postgres: the pgvector store is not implemented in this version; use DOCS_STORE=local.",
              file=sys.stderr)
        return None

    return LocalIndexStore(settings.docs_index_path)
