"""Import LlamaIndex with no network: tiktoken and NLTK must find their data inside the installed package.

`tiktoken` downloads its encodings on first use unless `TIKTOKEN_CACHE_DIR` points at a cache; llama-index-core
ships one (cl100k_base, o200k_base) in `_static/tiktoken_cache`. Call `prepare()` before importing
`llama_index` anywhere; it is cheap and idempotent.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_prepared = False


def prepare() -> None:
    global _prepared
    if _prepared:
        return
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or spec.origin is None:
        raise RuntimeError("llama-index-core is not installed: pip install -r requirements.txt")
    static = Path(spec.origin).parent / "_static"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(static / "tiktoken_cache"))
    os.environ.setdefault("NLTK_DATA", str(static / "nltk_cache"))
    _prepared = True
