"""The offline embedding model ships inside a package: it loads, indexes and answers with no network at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge import static_model
from tests.rag_support import FIXTURE_DOCS, ROOT, ask, cli_env, ingest

pytestmark = pytest.mark.timeout(300)


def run_without_network(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`app.py` in a network namespace of its own: no interface but a loopback that is down."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed to cut the network"
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))} | env
    return subprocess.run(
        [unshare, "--net", sys.executable, str(ROOT / "app.py"), *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_offline_model_loads_indexes_and_answers_a_paraphrase_with_the_network_unreachable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(tmp_path / "index", HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    probe = run_without_network(env, "--help")
    assert probe.returncode == 0, probe.stderr

    indexed = run_without_network(env, "ingest", "--json", str(FIXTURE_DOCS))
    assert indexed.returncode == 0, indexed.stderr
    report = json.loads(indexed.stdout.strip().splitlines()[-1])
    assert report["embedding"] == static_model.model_id() and len(report["added"]) == 6

    # Worded unlike the page ("Refunds to credit or debit cards take 5 business days to appear ..."): only
    # meaning connects them.
    asked = run_without_network(env, "ask", "--json", "My customer paid by Visa; when will the money show up again?")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout.strip().splitlines()[-1])
    assert answer["found"] and "5 business days" in answer["answer"]
    assert answer["citations"][0]["heading"] == "Card payments"
    assert not any(home.rglob("*")), "nothing may be downloaded or cached"


def test_a_missing_model_file_is_an_error_not_a_download(tmp_path: Path) -> None:
    """The loader never falls back to downloading: a package without its weights fails clearly."""
    import wordllama

    broken = tmp_path / "site" / "wordllama"
    shutil.copytree(Path(wordllama.__file__).parent, broken)
    for weights in (broken / "weights").glob("*.safetensors"):
        weights.unlink()
    env = cli_env(tmp_path / "index", PYTHONPATH=str(tmp_path / "site"))
    done = run_without_network(env, "ingest", str(FIXTURE_DOCS))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "the wordllama package is incomplete" in done.stderr and "pip install -r requirements.txt" in done.stderr


def test_weak_passages_are_answered_with_a_stated_confidence_or_declined_when_the_operator_asks(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "index")
    ingest(env, FIXTURE_DOCS)
    question = "My customer paid by Visa; when will the money show up again?"
    weak = ask(env, question)
    assert (weak["found"], weak["confidence"]) == (True, "low")
    assert weak["answer"].startswith("I'm not sure the documents answer this (confidence: low)")
    assert "5 business days" in weak["answer"]

    strict = ask({**env, "RAG_MIN_CONFIDENCE": "high"}, question)
    assert (strict["found"], strict["citations"]) == (False, [])
    assert strict["text"].startswith("I couldn't find this in the team's documents")
    sure = ask({**env, "RAG_MIN_CONFIDENCE": "high"}, "How long do card refunds take?")
    assert sure["found"] and sure["confidence"] == "high" and "5 business days" in sure["answer"]
