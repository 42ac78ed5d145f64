"""`app.py ingest` and `app.py ask`: every format, sources kept, incremental re-runs, model mismatch, pgvector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.model_server import ModelServer
from knowledge import static_model
from tests.conftest import POSTGRES_URL
from tests.rag_support import ask, cli_env, copy_corpus, ingest, run_app

pytestmark = pytest.mark.timeout(400)  # each test runs `app.py` as a real process up to ten times


def test_ingest_reads_every_format_keeps_sources_and_reports_the_broken_file(tmp_path: Path) -> None:
    docs = copy_corpus(tmp_path / "docs")
    env = cli_env(tmp_path / "index")
    done = run_app(env, "ingest", str(docs))
    assert done.returncode == 0, done.stderr
    assert "reading files 7/7" in done.stderr and "embedding chunks" in done.stderr  # progress
    assert "Indexed 6 new and 0 changed files" in done.stdout
    assert f"failed: {docs / 'broken.pdf'}: not a readable PDF" in done.stdout  # reported, the rest indexed

    pdf = ask(env, "How much are meals reimbursed during business travel?")
    assert pdf["found"] and "60 euros per day" in pdf["answer"]
    assert pdf["citations"][0] | {"score": None} == {
        "number": 1,
        "title": "Travel and expenses policy",
        "heading": "Page 1",
        "source": str(docs / "expenses.pdf"),
        "url": None,
        "score": None,
    }
    html = ask(env, "When is the deploy freeze?")
    assert html["citations"][0]["heading"] == "Deploy freeze"
    assert html["citations"][0]["url"] == "https://wiki.example.com/eng/deploys"
    assert "tracking" not in json.dumps(html)  # scripts are not text
    markdown = ask(env, "How long do card refunds take?")
    top = markdown["citations"][0]
    assert (top["title"], top["heading"], top["source"]) == (
        "Refund policy",
        "Card payments",
        str(docs / "handbook" / "refunds.md"),
    )
    assert 0.5 <= top["score"] <= 1.0
    text = ask(env, "Where are passwords stored?")
    assert text["citations"][0]["source"] == str(docs / "security.txt") and "1Password" in text["answer"]


def test_re_running_ingest_skips_unchanged_reindexes_changed_and_removes_deleted(tmp_path: Path) -> None:
    docs = copy_corpus(tmp_path / "docs")
    env = cli_env(tmp_path / "index")
    first = ingest(env, docs)
    assert len(first["added"]) == 6 and first["chunks_total"] > 6

    again = ingest(env, docs)
    assert (again["added"], again["updated"], again["removed"], again["chunks_added"]) == ([], [], [], 0)
    assert len(again["unchanged"]) == 6 and again["chunks_total"] == first["chunks_total"]

    refunds = docs / "handbook" / "refunds.md"
    refunds.write_text(refunds.read_text().replace("30 days", "45 days"))
    (docs / "security.txt").unlink()
    (docs / "handbook" / "parking.md").write_text("# Parking\n\nVisitor parking is on level -2 of the garage.\n")
    third = ingest(env, docs)
    assert third["updated"] == [str(refunds)]
    assert third["removed"] == [str(docs / "security.txt")]
    assert third["added"] == [str(docs / "handbook" / "parking.md")]
    assert len(third["unchanged"]) == 4
    assert [f["path"] for f in third["failed"]] == [str(docs / "broken.pdf")]  # still reported, never indexed

    window = ask(env, "What is the refund window?")["answer"]
    assert "45 days" in window and "30 days" not in window
    gone = ask(env, "Which VPN profile should I use?")
    assert not gone["found"] and gone["citations"] == []
    assert ask(env, "Where is visitor parking?")["citations"][0]["title"] == "Parking"

    refunds.write_bytes(b"\x00\x01binary garbage")  # a changed file that is now broken keeps its last good text
    fourth = ingest(env, docs)
    assert [f["path"] for f in fourth["failed"]] == [str(docs / "broken.pdf"), str(refunds)]
    assert "45 days" in ask(env, "What is the refund window?")["answer"]


def test_an_index_refuses_to_be_queried_with_another_embedding_model(tmp_path: Path, model: ModelServer) -> None:
    docs = copy_corpus(tmp_path / "docs")
    offline = cli_env(tmp_path / "index")
    ingest(offline, docs)
    online = cli_env(tmp_path / "index", model_url=model.base_url)

    refused = run_app(online, "ask", "How long do card refunds take?")
    assert refused.returncode == 2
    assert f"built with the embedding model '{static_model.model_id()}'" in refused.stderr
    assert "configured for 'model:text-embedding-3-small'" in refused.stderr
    assert "ingest --rebuild" in refused.stderr
    assert model.calls_to("/chat/completions") == []
    assert run_app(online, "ingest", str(docs)).returncode == 2  # no silent mixing of two models either

    rebuilt = ingest(online, docs, rebuild=True)
    assert rebuilt["embedding"] == "model:text-embedding-3-small" and len(rebuilt["added"]) == 6
    assert model.calls_to("/embeddings")  # the embedding model was called over HTTP
    model.enqueue("Card refunds take 5 business days [1].")
    assert ask(online, "How long do card refunds take?")["found"]


def test_the_postgres_store_says_clearly_that_pgvector_is_missing(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "index", DOCS_STORE="postgres", DATABASE_URL=POSTGRES_URL)
    done = run_app(env, "ingest", str(tmp_path))
    assert done.returncode == 2
    assert "no pgvector extension" in done.stderr and "DOCS_STORE=local" in done.stderr


def test_ask_json_answers_with_the_model_and_cites_source_heading_and_score(tmp_path: Path, model: ModelServer) -> None:
    env = cli_env(tmp_path / "index", model_url=model.base_url)
    ingest(env, copy_corpus(tmp_path / "docs"))
    model.enqueue("There is a deploy freeze every Friday after 15:00 [1].")
    result = ask(env, "When is the deploy freeze?")
    assert result["found"] and not result["offline"] and result["model"] == "test-model"
    assert result["answer"] == "There is a deploy freeze every Friday after 15:00 [1]."
    assert [(c["number"], c["heading"], Path(c["source"]).name) for c in result["citations"]] == [
        (1, "Deploy freeze", "deploys.html")
    ]
    assert 0.5 <= result["citations"][0]["score"] <= 1
    assert "deploy freeze every Friday" in model.calls_to("/chat/completions")[0].body["messages"][-1]["content"]

    missing = ask(env, "Who won the football world cup in 1954?")
    assert (missing["found"], missing["citations"]) == (False, [])
    assert missing["searched"]["terms"] and missing["searched"]["chunks"] > 0
    assert len(model.calls_to("/chat/completions")) == 1  # no model call for a question the docs cannot answer
