"""The docs modules are imported once per process, one thread at a time."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_imported = False


def import_docs_modules() -> None:
    """Import LlamaIndex and the docs modules once per process, one thread at a time.

    Several listener threads importing them for the first time at once can see partly initialised modules
    (LlamaIndex's packages import each other in cycles): that failed docs questions under load.
    """
    global _imported
    if _imported:
        return
    with _lock:
        if _imported:
            return
        from knowledge.llama import prepare

        prepare()
        import llama_index.core  # noqa: F401  (what retrieval imports when an index is first loaded)
        import llama_index.core.schema  # noqa: F401
        import llama_index.retrievers.bm25  # noqa: F401

        import knowledge.embeddings  # noqa: F401
        import knowledge.library  # noqa: F401
        import knowledge.pg_store  # noqa: F401  (DOCS_STORE=postgres; only SQLAlchemy on top of retrieval)
        import knowledge.retrieval  # noqa: F401
        import knowledge.store  # noqa: F401

        _imported = True
