"""The offline embedding model: WordLlama's 256-dimension static model, shipped inside the `wordllama` wheel.

A static model is a table of token vectors averaged over the text: no neural network runs at query time, so it
embeds thousands of passages a second on one core, and it needs no network: the weights and the tokenizer are
files in the installed package. (WordLlama's loader looks for the tokenizer under `tokenizer/` in its package
and otherwise under `<cache_dir>/tokenizers/`; the wheel ships it in `tokenizers/`, so the package folder
itself is the cache folder, and downloads are disabled: a missing file is an error, never a download.)

It knows that "refreshed" is near "replaced" and "passed away" near "bereavement", which hashed word features
cannot; it is weaker than a transformer embedding model, which a team can still configure (`EMBEDDING_MODEL`).
"""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

CONFIG = "l2_supercat"
DIMENSIONS = 256

_lock = threading.Lock()
_model: Any = None


class StaticModelMissing(RuntimeError):
    """The wordllama package or its bundled files are not installed."""


def model_id() -> str:
    """Names the weights: the package version pins them (`wordllama==...` in requirements.txt)."""
    try:
        version = metadata.version("wordllama")
    except metadata.PackageNotFoundError:
        version = "missing"
    return f"offline-wordllama-{version}-{CONFIG}/{DIMENSIONS}"


def load() -> Any:
    """The process-wide loaded model (about 0.5 s and 33 MB of vectors the first time, then shared by threads)."""
    global _model
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            try:
                import wordllama
                from wordllama import WordLlama
            except ImportError as error:
                raise StaticModelMissing(
                    "The offline embedding model is not installed (package wordllama): pip install -r requirements.txt"
                ) from error
            package = Path(wordllama.__file__).parent
            try:
                _model = WordLlama.load(config=CONFIG, dim=DIMENSIONS, cache_dir=package, disable_download=True)
            except FileNotFoundError as error:
                raise StaticModelMissing(
                    f"The offline embedding model cannot load: the wordllama package is "
                    f"incomplete ({error}). Reinstall it: pip install -r requirements.txt"
                ) from error
    return _model


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (an empty text gets a zero row)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    # Small batches: each is padded to its longest text, and padding costs more than the batching saves.
    vectors = np.asarray(load().embed(texts, norm=False, batch_size=16), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
