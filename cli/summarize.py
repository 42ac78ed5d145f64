"""`python app.py summarize`: summarize text from the command line, the way /summarize does."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cli.plain import plain_text

if TYPE_CHECKING:
    from bot.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "summarize",
        help="summarize text from the command line",
        description="Summarize TEXT (or standard input when TEXT is '-' or absent) the way /summarize does.",
    )
    parser.add_argument("text", nargs="?", default="-", help="the text, or '-' for standard input")
    parser.set_defaults(run=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.model.gateway import ModelError
    from bot.model.metering import Meter
    from patterns.summarize import NothingToSummarize, summarize
    from services import Services

    text = sys.stdin.read() if args.text == "-" else args.text
    services = Services.build(settings)
    services.ledger.migrate()
    meter = Meter(pattern="summarize", trigger="cli")
    try:
        summary = summarize(
            text,
            gateway=services.gateway,
            meter=meter,
            context_tokens=settings.model_context_tokens,
            max_input_tokens=settings.max_input_tokens,
        )
    except (NothingToSummarize, ModelError) as error:
        message = error.user_message if isinstance(error, ModelError) else str(error)
        services.ledger.record(meter, status="error", error_kind=getattr(error, "kind", "error"))
        print(message, file=sys.stderr)
        return 1
    services.ledger.record(meter, status="ok")
    print(plain_text(summary.for_display()))
    return 0
