"""Operations: Prometheus metrics over all workers, JSON logs with request ids, and `app.py doctor`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import BOT_TOKEN, METRICS_TOKEN, MODEL_KEY, REDIS_URL
from tests.test_summarize import MEETING_NOTES, placeholder_and_final

ROOT = Path(__file__).resolve().parent.parent
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_metrics_count_requests_tokens_and_cost_across_worker_processes(
    slack: SlackServer, model: ModelServer, sender: SlackSender, bot: BotProcess
) -> None:
    before = httpx.get(bot.base_url + "/metrics", headers=SCRAPER).text
    for i in range(4):  # two worker processes share the port; the figures are summed over both
        sender.slash_command("/summarize", f"{i} {MEETING_NOTES}")
    slack.wait_for(lambda: len([c for c in slack.calls_to("chat.update") if "Summary for" in c.params["text"]]) == 4)
    usage = [c.usage for c in model.calls_to("/chat/completions")]

    def counted() -> str | None:
        text = httpx.get(bot.base_url + "/metrics", headers=SCRAPER).text
        done = metric(text, "bot_requests_total", pattern="summarize", status="ok")
        return text if done - metric(before, "bot_requests_total", pattern="summarize", status="ok") >= 4 else None

    after = slack.wait_for(counted, timeout=20)
    prompt = metric(after, "bot_tokens_total", pattern="summarize", direction="prompt")
    prompt -= metric(before, "bot_tokens_total", pattern="summarize", direction="prompt")
    assert prompt == sum(u["prompt_tokens"] for u in usage)
    assert metric(after, "bot_cost_usd_total", pattern="summarize") > metric(
        before, "bot_cost_usd_total", pattern="summarize"
    )
    assert metric(after, "bot_request_latency_seconds_count", pattern="summarize") >= 4
    assert "bot_queue_depth" in after


def test_logs_are_json_lines_with_the_request_id(
    slack: SlackServer, model: ModelServer, sender: SlackSender, bot: BotProcess
) -> None:
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="555.666.log-trace")
    placeholder_and_final(slack)

    def logged() -> list[dict] | None:
        entries = []
        for line in bot.output.splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry["request_id"] == "555.666.log-trace":
                    entries.append(entry)
        # the request's ledger line comes last, after the lines logged on the way
        return entries if any("pattern=summarize" in e["message"] for e in entries) else None

    entries = slack.wait_for(logged, timeout=20)
    assert all(e["request_id"] == "555.666.log-trace" for e in entries)
    assert {"time", "level", "logger", "message", "process"} <= set(entries[0])


def run_doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", "doctor"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
    )


def test_doctor_on_a_broken_configuration_says_what_is_wrong(
    slack: SlackServer, model: ModelServer, tmp_path: Path
) -> None:
    result = run_doctor(
        {
            "SLACK_BOT_TOKEN": "xoxb-wrong-token",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-wrong-key",
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[FAIL] slack: Slack rejected SLACK_BOT_TOKEN (invalid_auth)")
    assert lines[1] == f"[FAIL] model: The model server at {model.base_url} rejected OPENAI_API_KEY (401)."
    assert lines[2].startswith("[FAIL] database: Cannot connect to the database") and "DATABASE_URL" in lines[2]
    assert lines[3].startswith("[FAIL] redis: Cannot reach Redis") and "REDIS_URL" in lines[3]
    assert "xoxb-wrong-token" not in result.stdout + result.stderr and "sk-wrong-key" not in result.stdout


def test_doctor_on_a_working_configuration(slack: SlackServer, model: ModelServer, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    subprocess.run(
        [sys.executable, "app.py", "migrate"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database},
        check=True,
        capture_output=True,
        timeout=60,
    )
    result = run_doctor(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": MODEL_KEY,
            "MODEL": "playground-chat",
            "DATABASE_URL": database,
            "REDIS_URL": REDIS_URL,
        }
    )
    assert result.returncode == 0, result.stdout
    assert all(line.startswith("[ok  ]") for line in result.stdout.splitlines()), result.stdout
