"""`DOCS_STORE=postgres` against a real pgvector server: incremental ingest with the local store's semantics, the same
ranking and "not in the docs" as the local store, one database for every process, and model mismatch refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.pgvector_server import PgvectorServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import SIGNING_SECRET, bot_env
from tests.pgvector_support import pgvector_fixture, store_env  # noqa: F401  (the `pgvector` fixture)
from tests.rag_support import ask, cli_env, copy_corpus, ingest, run_app
from tests.test_streaming import final_reply

pytestmark = pytest.mark.timeout(400)  # each test runs `app.py` as a real process a dozen times

QUESTIONS = [
    "How long do card refunds take?",
    "How much are meals reimbursed during business travel?",
    "refund window for damaged products",
    "What is the capital of France?",
]


def both(tmp_path: Path, server: PgvectorServer, **extra: str) -> dict[str, dict[str, str]]:
    return {
        store: cli_env(tmp_path / store / "index", **store_env(store, tmp_path / store / "index", server), **extra)
        for store in ("local", "postgres")
    }


def retrieval(result: dict) -> dict:
    """What retrieval decided: found or not, the citations and the nearest passages with their scores."""
    return {
        "found": result["found"],
        "answer": result["answer"],
        "citations": result["citations"],
        "chunks": result["searched"]["chunks"],
        "nearest": result["searched"]["nearest"],
    }


def test_the_postgres_store_ranks_and_declines_exactly_like_the_local_store(
    tmp_path: Path, pgvector: PgvectorServer
) -> None:
    docs = copy_corpus(tmp_path / "docs")
    envs = both(tmp_path, pgvector)
    reports = {store: ingest(env, docs) for store, env in envs.items()}
    assert reports["postgres"]["chunks_total"] == reports["local"]["chunks_total"] > 6
    assert {k: v for k, v in reports["postgres"].items() if k != "seconds"} == {
        k: v for k, v in reports["local"].items() if k != "seconds"
    }
    assert not (tmp_path / "postgres" / "index").exists()  # nothing of it is kept in files

    for question in QUESTIONS:
        local, postgres = (retrieval(ask(envs[store], question)) for store in ("local", "postgres"))
        assert postgres == local, question
    assert not ask(envs["postgres"], "What is the capital of France?")["found"]


def test_the_postgres_store_ingests_incrementally_like_the_local_store(
    tmp_path: Path, pgvector: PgvectorServer
) -> None:
    docs = copy_corpus(tmp_path / "docs")
    env = both(tmp_path, pgvector)["postgres"]
    first = ingest(env, docs)
    assert len(first["added"]) == 6 and [f["path"] for f in first["failed"]] == [str(docs / "broken.pdf")]
    again = ingest(env, docs)
    assert (again["added"], again["updated"], again["removed"], again["chunks_added"]) == ([], [], [], 0)
    assert again["chunks_total"] == first["chunks_total"]

    refunds = docs / "handbook" / "refunds.md"
    refunds.write_text(refunds.read_text().replace("30 days", "45 days"))
    (docs / "security.txt").unlink()
    (docs / "handbook" / "parking.md").write_text("# Parking\n\nVisitor parking is on level -2 of the garage.\n")
    third = ingest(env, docs)
    assert (third["updated"], third["removed"], third["added"]) == (
        [str(refunds)],
        [str(docs / "security.txt")],
        [str(docs / "handbook" / "parking.md")],
    )

    window = ask(env, "What is the refund window?")["answer"]
    assert "45 days" in window and "30 days" not in window
    gone = ask(env, "Which VPN profile should I use?")
    assert not gone["found"] and gone["citations"] == []
    assert ask(env, "Where is visitor parking?")["citations"][0]["title"] == "Parking"
    assert ingest(env, docs / "handbook", "--channel", "C0HR0001")["relabelled"] == [
        str(docs / "handbook" / p) for p in ("oncall.md", "parking.md", "refunds.md")
    ]
    assert ask(env, "Where is visitor parking?")["citations"][0]["title"] == "Parking"  # the operator reads all
    hidden = run_app(env, "ask", "--json", "--channel", "C0GENERAL", "Where is visitor parking?")
    assert hidden.returncode == 0 and not json.loads(hidden.stdout.splitlines()[-1])["found"]


def test_the_postgres_index_refuses_another_embedding_model(
    tmp_path: Path, pgvector: PgvectorServer, model: ModelServer
) -> None:
    docs = copy_corpus(tmp_path / "docs")
    offline = both(tmp_path, pgvector)["postgres"]
    ingest(offline, docs)
    online = {**offline, "OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": "sk-test-key-93be"}
    refused = run_app(online, "ask", "How long do card refunds take?")
    assert refused.returncode == 2 and "built with the embedding model 'offline-wordllama" in refused.stderr
    assert run_app(online, "ingest", str(docs)).returncode == 2  # no silent mixing of two models
    assert ask(offline, "How long do card refunds take?")["found"]  # the refusal changed nothing

    rebuilt = ingest(online, docs, rebuild=True)
    assert rebuilt["embedding"] == "model:text-embedding-3-small" and len(rebuilt["added"]) == 6
    model.enqueue("Card refunds take 5 business days [1].")
    assert ask(online, "How long do card refunds take?")["found"]


def test_running_bots_answer_from_what_an_ingest_process_just_wrote(
    tmp_path: Path, pgvector: PgvectorServer, slack: SlackServer, postgres_url: str
) -> None:
    """One database for every process: the bots load nothing and see each ingest, a rebuild included."""
    docs = copy_corpus(tmp_path / "docs")
    env = {**both(tmp_path, pgvector)["postgres"], "DOCS_EMBEDDING": "lexical"}
    ingest(env, docs)
    refunds = docs / "handbook" / "refunds.md"
    settings = {k: v for k, v in env.items() if k.startswith("DOCS_")}
    with BotProcess(bot_env(slack, None, postgres_url, **settings), workers=2) as bot:
        sender = SlackSender(bot.url, SIGNING_SECRET, bot_user_id="UBOT")
        sender.mention("What is the refund window?", ts="1750000000.000100")
        assert "30 days" in final_reply(slack, "C111", "1750000000.000100")[0]["text"]
        for number, days in enumerate(("45 days", "60 days"), 2):  # a rebuild, then an incremental ingest
            refunds.write_text(re.sub(r"\d+ days", days, refunds.read_text(), count=1))
            ingest(env, docs, rebuild=number == 2)
            sender.mention("What is the refund window?", ts=f"1750000000.00{number}00")
            assert days in final_reply(slack, "C111", f"1750000000.00{number}00")[0]["text"]
        sender.close()
