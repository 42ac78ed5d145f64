"""The command line, `python app.py COMMAND`: one module per group of commands, each adding its own parsers.

Every command is a function `(settings, args) -> exit status`, set as the parser's `run` default.
"""

from __future__ import annotations

import argparse
import sys

from bot.logs import add_known_secrets, configure_logging
from bot.settings import SettingsError, load_settings
from cli import database, digests, docs, doctor, playground, serve, sql, summarize

DESCRIPTION = "A Slack bot with five ways of using a language model (summarize, chat, docs Q&A, digests, agent)."
GROUPS = (serve, playground, summarize, docs, digests, database, sql, doctor)
SERVICES = ("serve", "worker")  # long-running: they log JSON lines (LOG_FORMAT); the rest talk to a person


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", metavar="command")
    for group in GROUPS:
        group.add_commands(commands)
    return parser


def command_names() -> frozenset[str]:
    return frozenset(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format if (args.command or "serve") in SERVICES else "text")
    add_known_secrets(*settings.secret_values())
    if args.command is None:
        return serve.default(settings)
    return args.run(settings, args)
