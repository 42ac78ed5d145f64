"""The command line on a fresh checkout: `doctor` sets the database up like every other command and finds the
Redis the playground uses, output carries no log lines unless `--verbose`, answers print as plain text, and the
metrics folder a server makes in DATA_DIR goes away with it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from doubles.bot_process import BotProcess
from doubles.slack import SlackServer
from tests.conftest import bot_env
from tests.rag_support import FIXTURE_DOCS, cli_env, ingest
from tests.test_cli import run_app

LOG_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING) \d+ ", re.MULTILINE)


def test_doctor_on_a_fresh_checkout_creates_the_schema_and_finds_local_redis(tmp_path: Path) -> None:
    result = run_app("doctor", env={"DATA_DIR": str(tmp_path)})
    assert "[ok  ] database: sqlite reachable, schema created (" in result.stdout, result.stdout
    assert "[ok  ] redis: Redis answers on 127.0.0.1:6379, and the playground uses it." in result.stdout
    assert "REDIS_URL is not set" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stdout
    again = run_app("doctor", env={"DATA_DIR": str(tmp_path)})
    assert "database: sqlite reachable, schema up to date (" in again.stdout


def test_commands_print_no_log_lines_unless_verbose(tmp_path: Path) -> None:
    text = (
        "The payment service timed out twice overnight. The on-call engineer restarted the workers at 2am. "
        "Root cause is a slow database query on the invoices table. A fix with a new index ships today."
    )
    quiet = run_app("summarize", "-", env={"DATA_DIR": str(tmp_path)}, stdin=text)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert not LOG_LINE.search(quiet.stdout)
    verbose = run_app("summarize", "--verbose", "-", env={"DATA_DIR": str(tmp_path)}, stdin=text)
    assert verbose.returncode == 0 and "REDIS_URL is not set" in verbose.stderr
    assert LOG_LINE.search(verbose.stderr)


def test_ask_and_summarize_print_plain_text(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "index", LOG_LEVEL="INFO")
    ingest(env, FIXTURE_DOCS)
    done = run_app("ask", "How long do card refunds take?", env=env)
    assert done.returncode == 0, done.stderr
    assert "Sources" in done.stdout and "No model is configured" in done.stdout
    assert "**" not in done.stdout and not re.search(r"(^|\s)_\S", done.stdout), done.stdout
    assert done.stderr == ""

    text = (
        "The release moved to Friday because QA found two bugs in checkout. The payment form rejects cards with "
        "spaces in the number. Bob reverts the validation change today and Carol reviews it after lunch."
    )
    summary = run_app("summarize", "-", env=env, stdin=text)
    assert summary.returncode == 0 and "No model is configured" in summary.stdout
    assert not re.search(r"(^|\s)_\S", summary.stdout), summary.stdout


def test_a_server_removes_its_metrics_folder_and_those_of_servers_gone(slack: SlackServer, tmp_path: Path) -> None:
    stale = tmp_path / "prometheus-4194303"  # above any pid this machine hands out: its server is gone
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"")
    env = bot_env(slack, None, f"sqlite:///{tmp_path / 'ledger.db'}", DATA_DIR=str(tmp_path), REDIS_URL="")
    with BotProcess(env) as bot:
        assert not stale.exists()
        assert (tmp_path / f"prometheus-{bot.process.pid}").is_dir()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("prometheus-")] == []
    assert os.path.exists(tmp_path / "ledger.db")
