"""Helpers for the docs Q&A tests: run `app.py ingest` / `app.py ask` as real processes on a copy of the corpus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DOCS = Path(__file__).resolve().parent / "fixtures" / "docs"


def copy_corpus(target: Path) -> Path:
    shutil.copytree(FIXTURE_DOCS, target)
    return target


def cli_env(
    index_dir: Path,
    *,
    model_url: str | None = None,
    model_key: str = "sk-test-key-93be",
    database_url: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Settings for a CLI run: its own index and SQLite ledger; a model only when `model_url` is given."""
    env = {
        "DOCS_INDEX_DIR": str(index_dir),
        "DATA_DIR": str(index_dir.parent / "data"),
        "DATABASE_URL": database_url or f"sqlite:///{index_dir.parent / 'ledger.db'}",
        "REDIS_URL": "",
        "OPENAI_BASE_URL": model_url or "",
        "OPENAI_API_KEY": model_key if model_url else "",
        "MODEL": "test-model",
        "SLACK_BOT_TOKEN": "",
        "SLACK_SIGNING_SECRET": "",
        "SLACK_APP_TOKEN": "",
        "LOG_LEVEL": "WARNING",
    }
    return {**env, **extra}


def run_app(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ingest(env: dict[str, str], *paths: str | Path, rebuild: bool = False) -> dict:
    args = ["ingest", "--json", *(["--rebuild"] if rebuild else []), *map(str, paths)]
    done = run_app(env, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def ask(env: dict[str, str], question: str) -> dict:
    done = run_app(env, "ask", "--json", question)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def static_embedder(texts: list[str]) -> list[list[float]]:
    """Serve the offline static embedding model (`knowledge.static_model`) as if it were a remote one."""
    from knowledge import static_model

    return static_model.embed(texts).tolist()
