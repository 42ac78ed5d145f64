"""Embedding models for the index, as LlamaIndex `BaseEmbedding`s.

- `GatewayEmbedding`: the configured OpenAI-compatible embedding model (`EMBEDDING_MODEL`), called through the
  model gateway so every call is metered into the current request's `Meter`.
- `StaticEmbedding`: the offline default, a real (static) embedding model shipped inside a PyPI wheel
  (`knowledge.static_model`): semantic enough to meet paraphrases, fast enough for 50,000 passages, no network.
- `LexicalEmbedding` (`DOCS_EMBEDDING=lexical`): a signed feature-hashing vector of stemmed words and character
  4-grams. It needs no model at all, and is lexical, not semantic.

Every index records `embedding_id` (model name and dimensions) and refuses to be queried by another model.
"""

from __future__ import annotations

import contextvars
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from knowledge.llama import prepare
from knowledge.terms import terms

if TYPE_CHECKING:
    from bot.model.gateway import Gateway
    from bot.model.metering import Meter
    from bot.settings import Settings

prepare()
from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

LEXICAL_DIMENSIONS = 512
LEXICAL_ID = f"offline-lexical-hash-v1/{LEXICAL_DIMENSIONS}"
BATCH = 64

_current_meter: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("embedding_meter", default=None)
_WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=262_144)
def _word_features(word: str) -> tuple[np.ndarray, np.ndarray]:
    """One word's signed hashed features: its stem (weight 1, none for stop words) and its 4-grams (0.35 each)."""
    features: Counter[str] = Counter()
    for stem in terms(word):
        features[f"w:{stem}"] += 1.0
    padded = f" {word} "
    for i in range(max(1, len(padded) - 3)):
        features[f"g:{padded[i : i + 4]}"] += 0.35
    hashes = [zlib.crc32(f.encode()) for f in features]
    index = np.array([h % LEXICAL_DIMENSIONS for h in hashes], dtype=np.int64)
    signs = np.array([1.0 if (h >> 31) & 1 else -1.0 for h in hashes])
    return index, signs * np.array(list(features.values()))


@contextmanager
def metered(meter: Meter) -> Iterator[None]:
    """Meter the embedding calls made inside the block (the gateway needs a meter for each call)."""
    token = _current_meter.set(meter)
    try:
        yield
    finally:
        _current_meter.reset(token)


class LexicalEmbedding(BaseEmbedding):
    """Offline hashed lexical vectors (see the module docstring); deterministic across processes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name=LEXICAL_ID, embed_batch_size=256, **kwargs)

    @property
    def embedding_id(self) -> str:
        return LEXICAL_ID

    def _vector(self, text: str) -> list[float]:
        counts = Counter(_WORD.findall(text.lower()))
        if not counts:
            return np.zeros(LEXICAL_DIMENSIONS, dtype=np.float32).tolist()
        parts = [_word_features(word) for word in counts]
        index = np.concatenate([p[0] for p in parts])
        weights = np.concatenate([p[1] * (1.0 + math.log(n)) for p, n in zip(parts, counts.values())])
        vector = np.bincount(index, weights=weights, minlength=LEXICAL_DIMENSIONS).astype(np.float32)
        norm = float(np.linalg.norm(vector))
        return (vector / norm).tolist() if norm else vector.tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


class StaticEmbedding(BaseEmbedding):
    """The offline static embedding model (`knowledge.static_model`); the same text gives the same vector."""

    def __init__(self, **kwargs: Any) -> None:
        from knowledge import static_model

        super().__init__(model_name=static_model.model_id(), embed_batch_size=256, **kwargs)
        static_model.load()  # fail at start-up, not at the first question

    @property
    def embedding_id(self) -> str:
        return self.model_name

    def _vectors(self, texts: list[str]) -> list[list[float]]:
        from knowledge import static_model

        return static_model.embed(texts).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vectors([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vectors([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._vectors(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class GatewayEmbedding(BaseEmbedding):
    """The configured embedding model, through `Gateway.embed` (metered, with the gateway's retries)."""

    _gateway: Any = PrivateAttr()

    def __init__(self, gateway: Gateway, **kwargs: Any) -> None:
        super().__init__(model_name=gateway.settings.embedding_model, embed_batch_size=BATCH, **kwargs)
        self._gateway = gateway

    @property
    def embedding_id(self) -> str:
        return f"model:{self.model_name}"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from bot.model.metering import Meter

        meter = _current_meter.get() or Meter(pattern="rag", trigger="embed")
        return self._gateway.embed(texts, meter=meter)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def embedding_for(settings: Settings, gateway: Gateway) -> BaseEmbedding:
    """`DOCS_EMBEDDING`: `auto` uses the configured model when there is one, else the offline static model."""
    choice = settings.docs_embedding
    if choice == "model" or (choice == "auto" and not gateway.offline):
        if gateway.offline:
            raise ValueError("DOCS_EMBEDDING=model needs a configured model (OPENAI_BASE_URL / OPENAI_API_KEY)")
        return GatewayEmbedding(gateway)
    if choice == "lexical":
        return LexicalEmbedding()
    return StaticEmbedding()


def embedding_id(model: BaseEmbedding) -> str:
    return str(model.embedding_id)
