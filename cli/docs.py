"""`python app.py ingest PATH...` and `python app.py ask "question"`: docs Q&A for operators and evaluation."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from cli.plain import PlainLines, plain_text
from knowledge.pgvector import PgvectorUnavailable, check_pgvector
from knowledge.static_model import StaticModelMissing

if TYPE_CHECKING:
    from bot.settings import Settings
    from knowledge.access import Audience, VisibilityChange
    from services import Services


def add_commands(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="index team documents for docs questions",
        description="Index folders or files of team documents (Markdown, text, HTML, PDF) into DOCS_INDEX_DIR. "
        "Incremental: unchanged files are skipped, changed ones re-indexed, files deleted under the "
        "given paths removed. Unreadable files are reported and skipped.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="a folder or a file")
    ingest.add_argument(
        "--rebuild", action="store_true", help="start a new index (needed after changing the embedding model)"
    )
    ingest.add_argument("--json", action="store_true", help="print the report as JSON on standard output")
    ingest.add_argument(
        "--channel",
        action="append",
        metavar="CHANNEL",
        help="limit the files given to this channel (#name or id; repeat for several): only "
        "questions asked there, and DMs of its members, can read them",
    )
    ingest.add_argument(
        "--workspace-wide",
        action="store_true",
        help="make the files given readable everywhere again (files keep their visibility otherwise)",
    )
    ingest.add_argument(
        "--team", metavar="TEAM_ID", help="the workspace the files belong to (required with OAuth installs)"
    )
    ingest.set_defaults(run=ingest_command)

    ask = commands.add_parser(
        "ask",
        help="answer a question from the indexed documents",
        description="Answer QUESTION from the indexed documents, with numbered citations, the way @bot does; "
        "says so when the documents do not contain the answer.",
    )
    ask.add_argument("question")
    ask.add_argument(
        "--json",
        action="store_true",
        help="print JSON: answer, found, citations (source path, heading, score), what was searched",
    )
    ask.add_argument(
        "--channel",
        metavar="CHANNEL_ID",
        help="answer as for a question asked in this channel (default: from every document)",
    )
    ask.add_argument("--team", metavar="TEAM_ID", help="answer from this workspace's documents only")
    ask.set_defaults(run=ask_command)


def ingest_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.model.gateway import ModelError
    from bot.model.metering import Meter
    from knowledge.embeddings import embedding_for, metered
    from knowledge.ingest import ingest as run
    from knowledge.retrieval import EmbeddingMismatch
    from services import Services

    store = _store(settings)
    if store is None:
        return 2
    services = Services.build(settings)
    services.ledger.migrate()
    visibility = _visibility(settings, args, services)
    if visibility is None:
        return 2
    meter = Meter(pattern="rag", trigger="ingest", request_id="ingest")
    try:
        embed_model = embedding_for(settings, services.gateway)
        with metered(meter):
            report = run(args.paths, store=store, embed_model=embed_model, rebuild=args.rebuild, visibility=visibility)
    except (EmbeddingMismatch, StaticModelMissing, PgvectorUnavailable) as error:
        print(error, file=sys.stderr)
        return 2
    except ModelError as error:
        services.ledger.record(meter, status="error", error_kind=error.kind)
        print(f"Embedding failed: {error.user_message} Nothing was changed in the index.", file=sys.stderr)
        return 1
    services.ledger.record(meter, status="ok")
    if args.json:
        print(json.dumps(report.as_json()))
    print(report.summary(), file=sys.stderr if args.json else sys.stdout)
    return 0


def _visibility(settings: Settings, args: argparse.Namespace, services: Services) -> VisibilityChange | None:
    """The `VisibilityChange` the flags ask for, or None after explaining what is wrong with them."""
    from bot.slack.client import workspace_client
    from knowledge.access import VisibilityChange
    from knowledge.slack_access import ChannelNotFound, resolve_channels

    channels, team = getattr(args, "channel", None) or [], getattr(args, "team", None)
    everyone = getattr(args, "workspace_wide", False)
    if settings.oauth_enabled and not team:
        print(
            "With OAuth installs every document belongs to one workspace: give it with --team T… (the "
            "workspace's team id).",
            file=sys.stderr,
        )
        return None
    if channels and everyone:
        print("--channel and --workspace-wide contradict each other: give one.", file=sys.stderr)
        return None
    if not channels:
        return VisibilityChange(team=team, channels=() if everyone else None)
    client = None
    if settings.oauth_enabled or settings.slack_bot_token:
        client = workspace_client(settings, services.ledger.engine, team or "")
    try:
        ids, names = resolve_channels(client, channels)
    except ChannelNotFound as error:
        print(error, file=sys.stderr)
        return None
    return VisibilityChange(team=team, channels=ids, names=names)


def ask_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.model.gateway import ModelError
    from bot.model.metering import Meter
    from bot.model.offline import OFFLINE_NOTE
    from knowledge.retrieval import EmbeddingMismatch
    from knowledge.store import IndexMissing
    from patterns.rag import answer
    from services import Services

    if _store(settings) is None:
        return 2
    services = Services.build(settings)
    services.ledger.migrate()
    meter = Meter(pattern="rag", trigger="cli", request_id="cli")
    library = services.docs.scoped(_audience(args))
    printer = PlainLines()  # a terminal shows no Markdown: the answer is printed as plain text
    try:
        result = answer(library, args.question, meter=meter)
        for delta in result:
            if not args.json:
                printer.write(delta)
        printer.close()
    except (IndexMissing, EmbeddingMismatch, StaticModelMissing, PgvectorUnavailable) as error:
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
        if result.offline:
            print("\n" + plain_text(OFFLINE_NOTE))
    return 0


def _audience(args: argparse.Namespace) -> Audience:
    """The command line reads everything, unless asked to answer as in a channel (`--channel`) or workspace."""
    from knowledge.access import Audience

    channel, team = getattr(args, "channel", None), getattr(args, "team", None)
    if channel:
        return Audience.in_channel(channel, "", team=team)
    return Audience.operator(team)


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    """The configured index store, or None after explaining why it cannot be used."""
    from knowledge.library import open_store

    try:
        if settings.docs_store == "postgres":
            check_pgvector(settings)
        return open_store(settings)
    except PgvectorUnavailable as error:
        print(error, file=sys.stderr)
        return None
