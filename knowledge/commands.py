"""`python app.py ingest PATH...` and `python app.py ask "question"`: docs Q&A for operators and evaluation."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.runtime import Services


def ingest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.metering import Meter
    from bot.runtime import Services
    from knowledge.embeddings import embedding_for, metered
    from knowledge.ingest import ingest as run
    from knowledge.pgvector import PgvectorUnavailable
    from knowledge.retrieval import EmbeddingMismatch

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
            report = run(args.paths, store=store, embed_model=embed_model, rebuild=args.rebuild,
                         visibility=visibility)
    except (EmbeddingMismatch, PgvectorUnavailable) as error:
        print(error, file=sys.stderr)
        return 2
    except Exception as error:
        from bot.gateway import ModelError

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


def _visibility(settings: Settings, args: argparse.Namespace, services: "Services"):  # type: ignore[no-untyped-def]
    """The `VisibilityChange` the flags ask for, or None after explaining what is wrong with them."""
    from knowledge.access import VisibilityChange
    from knowledge.slack_access import ChannelNotFound, resolve_channels

    channels, team = getattr(args, "channel", None) or [], getattr(args, "team", None)
    everyone = getattr(args, "workspace_wide", False)
    if settings.oauth_enabled and not team:
        print("With OAuth installs every document belongs to one workspace: give it with --team T… (the "
              "workspace's team id).", file=sys.stderr)
        return None
    if channels and everyone:
        print("--channel and --workspace-wide contradict each other: give one.", file=sys.stderr)
        return None
    if not channels:
        return VisibilityChange(team=team, channels=() if everyone else None)
    client = None
    if settings.oauth_enabled or settings.slack_bot_token:
        from bot.slack_client import workspace_client

        client = workspace_client(settings, services.ledger.engine, team or "")
    try:
        ids, names = resolve_channels(client, channels)
    except ChannelNotFound as error:
        print(error, file=sys.stderr)
        return None
    return VisibilityChange(team=team, channels=ids, names=names)


def ask(settings: Settings, args: argparse.Namespace) -> int:
    from bot.gateway import ModelError
    from bot.metering import Meter
    from bot.offline import OFFLINE_NOTE
    from bot.runtime import Services
    from knowledge.library import library_for
    from knowledge.pgvector import PgvectorUnavailable
    from knowledge.retrieval import EmbeddingMismatch
    from knowledge.store import IndexMissing
    from patterns.rag import answer

    if _store(settings) is None:
        return 2
    services = Services.build(settings)
    services.ledger.migrate()
    meter = Meter(pattern="rag", trigger="cli", request_id="cli")
    library = library_for(settings, services.gateway).scoped(_audience(args))
    try:
        result = answer(library, args.question, meter=meter)
        for delta in result:
            if not args.json:
                print(delta, end="", flush=True)
    except (IndexMissing, EmbeddingMismatch, PgvectorUnavailable) as error:
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


def _audience(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The command line reads everything, unless asked to answer as in a channel (`--channel`) or workspace."""
    from knowledge.access import Audience

    channel, team = getattr(args, "channel", None), getattr(args, "team", None)
    if channel:
        return Audience.in_channel(channel, "", team=team)
    return Audience.operator(team)


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    """The configured index store, or None after explaining why it cannot be used."""
    from knowledge.library import open_store
    from knowledge.pgvector import PgvectorUnavailable, check_pgvector

    try:
        if settings.docs_store == "postgres":
            check_pgvector(settings)
        return open_store(settings)
    except PgvectorUnavailable as error:
        print(error, file=sys.stderr)
        return None
