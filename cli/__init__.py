"""The command line, `python app.py COMMAND`: one module per group of commands, each adding its own parsers.

Every command is a function `(settings, args) -> exit status`, set as the parser's `run` default.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bot.logs import add_known_secrets, configure_logging
from bot.settings import SettingsError, load_settings
from cli import database, digests, docs, doctor, playground, serve, sql, summarize

DESCRIPTION = "A Slack bot with five ways of using a language model (summarize, chat, docs Q&A, digests, agent)."
GROUPS = (serve, playground, summarize, docs, digests, database, sql, doctor)
SERVICES = ("serve", "worker")
VERBOSE = "--verbose"  # long-running: they log JSON lines (LOG_FORMAT); the rest talk to a person


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description=DESCRIPTION)
    parser.add_argument(
        VERBOSE, action="store_true", help="show log lines too (commands other than serve and worker hide them)"
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    for group in GROUPS:
        group.add_commands(commands)
    return parser


def command_names() -> frozenset[str]:
    return frozenset(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = VERBOSE in argv  # accepted before or after the command
    args = build_parser().parse_args([a for a in argv if a != VERBOSE])
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if (args.command or "serve") in SERVICES:
        configure_logging(settings.log_level, settings.log_format)
    else:  # a person reads the output: only errors, unless asked for more
        configure_logging(settings.log_level if verbose else "ERROR", "text")
    for handler in logging.getLogger().handlers:  # libraries that set their own loggers to DEBUG (bm25s) too
        handler.setLevel(logging.getLogger().level)
    add_known_secrets(*settings.secret_values())
    if args.command is None:
        return serve.default(settings)
    return args.run(settings, args)
