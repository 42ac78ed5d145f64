"""How sure retrieval is that the documents answer a question: `high`, `low` (answer, and say so) or `none`.

The decision reads meaning first. Its main signal is the embedding similarity of the best passage, measured in
units of this index's *null distribution*: when an index is loaded, a fixed set of off-topic probe questions
(`PROBES`: geography, cooking, sport...) is searched, and the mean and spread of their best similarities say
what "unrelated" looks like for this corpus and this embedding model. A question whose best passage is as close
as an unrelated probe's (`z` near 0) has nothing in the documents; one several spreads above has. Being relative,
the same thresholds hold for the offline static model and for a configured model whose cosines sit on another
scale. The second signal is lexical: the IDF-weighted share of the question's words found in a passage
(`coverage`), which is what rescues exact names and codes that embeddings blur.

The refusal thresholds are those that one evaluation set of `bench/rag_eval.py` (Sourcegraph's handbook) picks
alone, and are checked on the other (TTS's handbook, held out); neither is the bench's or the demo's documents.
`--calibrate` prints the signals and what each set alone would choose, scored on the other.

- `none` (refuse): `z < Z_NONE` and `coverage < COVERAGE_NONE`, the pair that refuses the most unanswerable
  questions of the calibration set while keeping its refusals at least 90% right (on the held-out set, with the
  offline model: 80% right, a quarter of the unanswerable questions refused). Paraphrased questions and near-miss
  questions overlap on these signals with the offline static model, so this bar refuses few of the latter; the
  rest get a `low` answer. With a model configured the bar is lower (`MODEL_Z_NONE`: no closer than an average
  off-topic probe): the model reads the passages and declines (`NOT_IN_DOCS`) what they do not answer.
- `high`: `z >= Z_HIGH`, or `coverage >= COVERAGE_HIGH` with `z >= Z_NONE` (every plain question of the sets).
- `low`: the rest: the bot answers from the passages and says they may not answer the question.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from knowledge.retrieval import Hit

Level = Literal["high", "low", "none"]

Z_NONE = 1.75
COVERAGE_NONE = 0.25
MODEL_Z_NONE = 0.0
MODEL_COVERAGE_NONE = 0.2
Z_HIGH = 4.0
COVERAGE_HIGH = 0.75

PROBES = (
    "What is the tallest mountain in South America?",
    "How do I bake sourdough bread at home?",
    "Who wrote the novel War and Peace?",
    "What is the boiling point of water at high altitude?",
    "How many players are on a rugby union team?",
    "What causes the northern lights?",
    "Which planet has the most moons?",
    "How do I remove a red wine stain from a carpet?",
    "What year did the Berlin Wall fall?",
    "How long should I boil an egg for a soft yolk?",
    "What is the population of Brazil?",
    "Who painted the ceiling of the Sistine Chapel?",
    "How do bees make honey?",
    "What is the best way to train a puppy to sit?",
    "Which ocean is the deepest?",
    "How do I change a flat bicycle tire?",
    "What language is spoken in Mozambique?",
    "How far is the Moon from the Earth?",
    "Who composed the Four Seasons?",
    "What is the rule for offside in football?",
    "How do I grow tomatoes on a balcony?",
    "What is photosynthesis?",
    "When was the printing press invented?",
    "Which film won the first Academy Award for best picture?",
)


@dataclass(frozen=True)
class NullStats:
    """Best-passage similarity of off-topic probe questions on one index: what "unrelated" scores."""

    mean: float
    spread: float

    def z(self, similarity: float) -> float:
        return (similarity - self.mean) / self.spread


@dataclass(frozen=True)
class Confidence:
    level: Level
    z: float | None  # best passage similarity in null spreads (None: no vector scores)
    coverage: float  # best lexical coverage

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "z": None if self.z is None else round(self.z, 2),
            "coverage": round(self.coverage, 4),
        }


def measure_null(best_similarity: Callable[[list[str]], list[float]]) -> NullStats:
    """Null statistics from the best similarity of each probe (`best_similarity` searches the index)."""
    scores = [s for s in best_similarity(list(PROBES)) if math.isfinite(s)]
    if len(scores) < 2:
        return NullStats(mean=0.0, spread=1.0)
    return NullStats(mean=statistics.fmean(scores), spread=max(statistics.pstdev(scores), 1e-3))


def assess(hits: Sequence[Hit], null: NullStats | None, *, with_model: bool) -> Confidence:
    coverage = max((h.relevance for h in hits), default=0.0)
    similarities = [h.similarity for h in hits if h.similarity is not None]
    if not hits:
        return Confidence("none", None, 0.0)
    z = null.z(max(similarities)) if similarities and null is not None else None
    z_none, coverage_none = (MODEL_Z_NONE, MODEL_COVERAGE_NONE) if with_model else (Z_NONE, COVERAGE_NONE)
    meaning = z if z is not None else -math.inf
    if meaning < z_none and coverage < coverage_none:
        return Confidence("none", z, coverage)
    if meaning >= Z_HIGH or (coverage >= COVERAGE_HIGH and meaning >= Z_NONE):
        return Confidence("high", z, coverage)
    return Confidence("low", z, coverage)


class LazyNull:
    """Measures an index's null statistics once, on first use, one thread at a time."""

    def __init__(self, measure: Callable[[], NullStats]) -> None:
        self._measure = measure
        self._lock = threading.Lock()
        self._value: NullStats | None = None

    def get(self) -> NullStats:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._measure()
        return self._value
