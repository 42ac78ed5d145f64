"""Embedding models for the index, as LlamaIndex `BaseEmbedding`s.

- `GatewayEmbedding`: the configured OpenAI-compatible embedding model (`EMBEDDING_MODEL`), called through the
  model gateway so every call is metered into the current request's `Meter`.
- `LexicalEmbedding`: the offline default. It needs no network and no model weights, and is honest about what it
  is: a signed feature-hashing vector of stemmed words and character 4-grams (so "refunds"/"refunded" and small
  typos still meet). It is lexical, not semantic; with BM25 beside it, hybrid retrieval still gains fuzzy
  matching. A real embedding model is what finds paraphrases: configure one for that.

Every index records `embedding_id` (model name and dimensions) and refuses to be queried by another model.
"""

from __future__ import annotations

import contextvars
import math
import re
import zlib
from collections import Counter
from contextlib import contextmanager
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from knowledge.llama import prepare
from knowledge.terms import terms

if TYPE_CHECKING:
    from bot.gateway import Gateway
    from bot.metering import Meter
    from bot.settings import Settings

prepare()
from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

LEXICAL_DIMENSIONS = 512
LEXICAL_ID = f"offline-lexical-hash-v1/{LEXICAL_DIMENSIONS}"
BATCH = 64

_current_meter: contextvars.ContextVar["Meter | None"] = contextvars.ContextVar("embedding_meter", default=None)
_WORD = re.compile(r"(?u)\b\w\w+\b")


@contextmanager
def metered(meter: "Meter") -> Iterator[None]:
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
        vector = np.zeros(LEXICAL_DIMENSIONS, dtype=np.float32)
        features: Counter[str] = Counter(terms(text))
        weights = {f"w:{t}": 1.0 + math.log(n) for t, n in features.items()}
        grams: Counter[str] = Counter()
        for word in _WORD.findall(text.lower()):
            padded = f" {word} "
            grams.update(padded[i:i + 4] for i in range(max(1, len(padded) - 3)))
        for gram, n in grams.items():
            weights[f"g:{gram}"] = 0.35 * (1.0 + math.log(n))
        for feature, weight in weights.items():
            h = zlib.crc32(feature.encode())
            vector[h % LEXICAL_DIMENSIONS] += weight if (h >> 31) & 1 else -weight
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


class GatewayEmbedding(BaseEmbedding):
    """The configured embedding model, through `Gateway.embed` (metered, with the gateway's retries)."""

    _gateway: Any = PrivateAttr()

    def __init__(self, gateway: "Gateway", **kwargs: Any) -> None:
        super().__init__(model_name=gateway.settings.embedding_model, embed_batch_size=BATCH, **kwargs)
        self._gateway = gateway

    @property
    def embedding_id(self) -> str:
        return f"model:{self.model_name}"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from bot.metering import Meter

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


def embedding_for(settings: "Settings", gateway: "Gateway") -> BaseEmbedding:
    """`DOCS_EMBEDDING`: `auto` uses the model when one is configured, else the offline lexical default."""
    choice = settings.docs_embedding
    if choice == "model" or (choice == "auto" and not gateway.offline):
        if gateway.offline:
            raise ValueError("DOCS_EMBEDDING=model needs a configured model (OPENAI_BASE_URL / OPENAI_API_KEY)")
        return GatewayEmbedding(gateway)
    return LexicalEmbedding()


def embedding_id(model: BaseEmbedding) -> str:
    return str(getattr(model, "embedding_id"))
