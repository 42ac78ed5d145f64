"""The command line: help for every command, readable settings errors, the stats table on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy

from bot.model.metering import Meter
from bot.storage.ledger import Ledger
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent


def run_app(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_command_and_each_has_help() -> None:
    result = run_app("--help")
    assert result.returncode == 0
    for command in ("serve", "stats", "summarize", "migrate"):
        assert command in result.stdout
        sub = run_app(command, "--help")
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: app.py {command}")


def test_an_invalid_setting_stops_with_one_line_naming_it_and_no_secret() -> None:
    result = run_app("stats", env={"PORT": "eighty", "OPENAI_API_KEY": "sk-very-secret-1234"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("Invalid setting PORT:")
    assert "sk-very-secret" not in result.stderr + result.stdout

    result = run_app("serve", env={"SLACK_API_URL": "slack.com/api", "SLACK_BOT_TOKEN": "xoxb-do-not-print"})
    assert result.returncode == 2 and result.stderr.startswith("Invalid setting SLACK_API_URL: must be an http")
    assert "xoxb-do-not-print" not in result.stderr

    result = run_app("serve", env={"DATA_DIR": "/tmp/nothing"})
    assert result.returncode == 2 and "Missing setting SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in result.stderr


def test_cli_summarize_works_offline(tmp_path: Path) -> None:
    text = (
        "The payment service timed out twice overnight. The on-call engineer restarted the workers at 2am. "
        "Root cause is a slow database query on the invoices table. A fix with a new index ships today."
    )
    result = run_app("summarize", "-", env={"DATA_DIR": str(tmp_path)}, stdin=text)
    assert result.returncode == 0, result.stderr
    assert "• The payment service timed out twice overnight." in result.stdout
    assert "No model is configured" in result.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    schema = f"stats_test_{os.getpid()}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    yield POSTGRES_URL + f"?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def test_ledger_and_stats_table_on_both_databases(database_url: str) -> None:
    ledger = Ledger(database_url)
    ledger.migrate()
    ledger.migrate()  # idempotent
    for latency_ms, tokens, cached, status in [
        (100, 10, False, "ok"),
        (300, 20, True, "ok"),
        (200, 30, False, "error"),
    ]:
        meter = Meter(workspace="T1", channel="C1", user="U1", pattern="summarize", trigger="command")
        meter.started -= latency_ms / 1000
        meter.add_call(
            model="m", prompt_tokens=tokens, completion_tokens=tokens // 2, cost_usd=tokens / 1000, cached=cached
        )
        ledger.record(meter, status=status, error_kind="timeout" if status == "error" else None)
    chat = Meter(pattern="chat", trigger="dm")
    chat.add_call(model="m", prompt_tokens=5, completion_tokens=5, cost_usd=0.005, cached=False)
    ledger.record(chat, status="ok")

    stats = {s.pattern: s for s in ledger.stats(since=timedelta(days=7))}
    summarize = stats["summarize"]
    assert (summarize.requests, summarize.errors, summarize.prompt_tokens, summarize.completion_tokens) == (
        3,
        1,
        60,
        30,
    )
    assert summarize.cost_usd == pytest.approx(0.06)
    assert summarize.cache_hit_rate == pytest.approx(1 / 3)
    assert 190 <= summarize.avg_latency_ms <= 260 and 290 <= summarize.p95_latency_ms <= 360
    assert stats["chat"].requests == 1

    result = run_app("stats", "--since", "7d", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Usage over the last 7 days"
    assert lines[1].split() == [
        "pattern",
        "requests",
        "errors",
        "avg",
        "ms",
        "p95",
        "ms",
        "tokens",
        "in",
        "tokens",
        "out",
        "cost",
        "$",
        "cache",
        "hit",
        "up",
        "down",
    ]
    summarize_line = next(line.split() for line in lines if line.startswith("summarize"))
    assert summarize_line[1:3] == ["3", "1"] and summarize_line[5:9] == ["60", "30", "0.0600", "33%"]
    assert lines[-1] == "total: 4 requests, $0.0650"
    assert run_app("stats", "--since", "soon").returncode == 2
