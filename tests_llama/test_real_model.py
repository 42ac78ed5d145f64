"""The bot against a model server this project did not write: llama.cpp's OpenAI-compatible server running
SmolLM2-135M-Instruct (`requirements-llama.txt`). `/summarize`, a streamed chat answer, a docs answer and a digest
go through the real bot processes; the tests assert what a user sees (text arrives, the ledger row is written,
usage the server did not report is flagged as estimated), never the model's wording.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from doubles.bot_process import ROOT, BotProcess
from doubles.llama_server import MODEL_NAME, LlamaServer
from doubles.process_output import ProcessOutput
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.worker_process import WorkerProcess
from tests.conftest import SIGNING_SECRET, bot_env, ledger_rows
from tests.rag_support import FIXTURE_DOCS, cli_env, ingest
from tests.test_digest import DIGEST_SETTINGS, FINAL, job_ids, seed_discussion, wait_final
from tests.test_streaming import final_reply
from tests.test_summarize import MEETING_NOTES, placeholder_and_final

pytestmark = pytest.mark.timeout(600)  # a real model on a shared 2-core machine


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    with LlamaServer(context_tokens=4096, threads=1) as server:  # one core: the rest of the suite runs beside it
        yield server


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index = tmp_path_factory.mktemp("llama-docs") / "index"
    ingest(cli_env(index, DOCS_EMBEDDING="static"), FIXTURE_DOCS)
    return index


@pytest.fixture(scope="module")
def env(slack: SlackServer, llama: LlamaServer, postgres_url: str, index_dir: Path) -> dict[str, str]:
    return bot_env(
        slack,
        None,
        postgres_url,
        OPENAI_BASE_URL=llama.base_url,
        OPENAI_API_KEY="no-key",
        MODEL=MODEL_NAME,
        MODEL_TIMEOUT_SECONDS="240",
        MODEL_MAX_RETRIES="0",
        MODEL_CONTEXT_TOKENS="4096",
        MAX_INPUT_TOKENS="3000",
        ANSWER_MAX_TOKENS="96",
        DOCS_INDEX_DIR=str(index_dir),
        DOCS_EMBEDDING="static",
        **{**DIGEST_SETTINGS, "DIGEST_QUEUE": f"digest-llama-{os.getpid()}", "DIGEST_MODEL_CONCURRENCY": "1"},
    )


@pytest.fixture(scope="module")
def real_bot(env: dict[str, str]) -> Iterator[BotProcess]:
    with BotProcess(env) as bot:
        yield bot


@pytest.fixture
def sender(real_bot: BotProcess) -> Iterator[SlackSender]:
    client = SlackSender(real_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    yield client
    client.close()


def test_summarize_with_a_real_model(slack: SlackServer, sender: SlackSender, postgres_url: str) -> None:
    sender.slash_command("/summarize", MEETING_NOTES, trigger_id="llama.summarize")
    _, texts = placeholder_and_final(slack, timeout=300)
    heading = "*Summary for <@W111>*\n"
    assert texts[-1].startswith(heading) and texts[-1][len(heading) :].strip()
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="llama.summarize"))[0]
    assert (row["pattern"], row["status"], row["model"]) == ("summarize", "ok", MODEL_NAME)
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0


def test_a_streamed_chat_answer_with_a_real_model(slack: SlackServer, sender: SlackSender, postgres_url: str) -> None:
    sender.mention("chat: say hello to the team in one short sentence", ts="1730000000.000100")
    (reply,) = final_reply(slack, "C111", "1730000000.000100", timeout=300)
    assert reply["text"].strip() and reply["text"] != "_(no answer)_"
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="1730000000.000100"))[0]
    assert (row["pattern"], row["status"], row["model"]) == ("chat", "ok", MODEL_NAME)
    # llama.cpp's server sends no usage chunk for stream_options.include_usage: the tokens are estimated.
    assert row["tokens_estimated"] is True and row["completion_tokens"] > 0


def test_a_docs_answer_with_a_real_model(slack: SlackServer, sender: SlackSender, postgres_url: str) -> None:
    sender.mention("docs: how much are meals reimbursed per day on business travel?", ts="1730000000.000200")
    (reply,) = final_reply(slack, "C111", "1730000000.000200", timeout=300)
    assert reply["text"].strip()
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="1730000000.000200"))[0]
    assert (row["pattern"], row["status"]) == ("rag", "ok")
    assert row["tokens_estimated"] is True


def test_a_digest_with_a_real_model(
    slack: SlackServer, env: dict[str, str], sender: SlackSender, postgres_url: str
) -> None:
    slack.set_clock(time.time() - 3_600)  # the discussion happened in the last hour
    seed_discussion(slack)
    workers = WorkerProcess(env, processes=1).start()
    try:
        [job_id] = job_ids(sender.slash_command("/digest", "", user="W111", channel="C111").body)
        message = wait_final(slack, "C111", job_id, timeout=400)
    finally:
        workers.stop()
    assert FINAL.match(message["text"]), message["text"]
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=job_id))[0]
    assert (row["pattern"], row["status"], row["model"]) == ("digest", "ok", MODEL_NAME)


def test_the_playground_answers_from_the_local_model_and_says_so(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "app.py"), "playground", "--local-model", "--port", "0"]
    environment = {**os.environ, "DATA_DIR": str(tmp_path), "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODEL"):
        environment.pop(name, None)
    process = subprocess.Popen(command, env=environment, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = ProcessOutput()
    output.follow(process)
    try:
        output.wait_for(lambda text: "Playground ready" in text, 400, "the playground never came up")
        ready = next(line for line in output.lines if "Playground ready" in line)
        assert f"Model: {MODEL_NAME} at http://127.0.0.1:" in ready
        page = ready.rsplit("Open ", 1)[1].strip()
        state = httpx.get(f"{page.rstrip('/')}/api/state", timeout=30).json()
        assert state["engine"].startswith(f"Model: {MODEL_NAME} at http://127.0.0.1:")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
