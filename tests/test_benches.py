"""Every bench runs in its quick mode and ends with its figures: a bench that breaks fails here, not months later.

Each bench runs as an operator runs it (`python bench/<name>.py --quick`, from the repository root) and must exit
0 with one JSON object on its last line holding the figures its docstring names. The figures' values are not
checked: quick runs say nothing of the goals, and timings belong to the full runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The figures each bench's last line must hold (with --quick).
FIGURES: dict[str, list[str]] = {
    "ack": ["ack_p50_ms", "ack_p99_ms"],
    "agent": ["overhead_per_step_ms_p50", "overhead_per_step_ms_p99"],
    "cost": ["cost_saved_pct", "hit_rate"],
    "digests": ["token_ratio_vs_naive", "wall_vs_ideal"],
    "streaming": ["n5_429s", "n5_first_text_p99_ms", "n5_updates_per_stream_min", "all_final_exact"],  # N=5 quick
    "load": ["ack_p99_ms_5x", "lost", "duplicates", "slack_429s"],
    "rag_eval": [
        f"{corpus}_{figure}"
        for corpus in ("sourcegraph_handbook", "tts_handbook")
        for figure in ("hit_at_3", "mrr", "fact_rate", "no_answer_precision", "no_answer_recall", "p99_ms")
    ],
    "rag": [
        "hit_at_1",
        "hit_at_3",
        "mrr",
        "not_in_docs_precision",
        "p99_ms_1k",
        "ingest_chunks_per_s",
        "postgres_hit_at_3",
        "postgres_p99_ms_1k",
        "postgres_ingest_chunks_per_s",
    ],
}
RUN_TIMEOUT = 240  # seconds; a quick run takes seconds to tens of seconds on a busy machine


def bench_redis_url() -> str:
    """A Redis database of this test process's own (benches may flush theirs): parallel workers never share one."""
    base = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    prefix, _, db = base.rpartition("/")
    return f"{prefix}/{(int(db) - worker % 2) % 16}"


@pytest.mark.timeout(RUN_TIMEOUT + 30)
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_bench_quick_mode_ends_with_its_figures(name: str) -> None:
    env = {
        **os.environ,
        "BENCH_REDIS_URL": bench_redis_url(),
        # PostgreSQL ledgers get a schema of the run's own (named by its pid); temporary folders are the bench's own
        # (the pgvector server runs as an unprivileged user, who cannot enter pytest's private tmp_path).
        "BENCH_DATABASE_URL": os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    }
    result = subprocess.run(
        [sys.executable, f"bench/{name}.py", "--quick"],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    output = f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, output
    lines = result.stdout.strip().splitlines()
    assert lines, output
    try:
        figures = json.loads(lines[-1])
    except json.JSONDecodeError:
        pytest.fail(f"bench/{name}.py --quick: the last line is not JSON\n{output}")
    assert isinstance(figures, dict), output
    missing = [figure for figure in FIGURES[name] if figure not in figures]
    assert not missing, f"bench/{name}.py --quick: last line lacks {missing}\n{output}"
