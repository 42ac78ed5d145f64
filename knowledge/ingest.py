"""Index team documents incrementally: new and changed files are (re)indexed, unchanged skipped, deleted removed.

The manifest remembers each file's sha256. Deletion is scoped to the paths given: a file indexed from
`docs/` disappears from the index when `docs/` is ingested again without it, not when `handbook/` is. A file
that cannot be read is reported and skipped; if it was indexed before, its last good version stays.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.progress import Progress
from knowledge.sources import SourceFile, UnreadableFile, discover, read

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import TextNode

    from knowledge.store import LocalIndexStore

EMBED_BATCH = 64


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_total: int = 0
    files_total: int = 0
    seconds: float = 0.0
    embedding_id: str = ""

    def summary(self) -> str:
        lines = [
            f"Indexed {len(self.added)} new and {len(self.updated)} changed files ({self.chunks_added} chunks) in "
            f"{self.seconds:.1f} s; {len(self.unchanged)} unchanged skipped, {len(self.removed)} removed, "
            f"{len(self.failed)} failed.",
            f"The index now holds {self.files_total} files, {self.chunks_total} chunks "
            f"(embeddings: {self.embedding_id}).",
        ]
        lines += [f"  removed: {path}" for path in self.removed]
        lines += [f"  failed: {path}: {why}" for path, why in self.failed]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
                "failed": [{"path": p, "error": e} for p, e in self.failed], "chunks_added": self.chunks_added,
                "chunks_total": self.chunks_total, "files_total": self.files_total,
                "seconds": round(self.seconds, 3), "embedding": self.embedding_id}


def ingest(paths: list[str], *, store: "LocalIndexStore", embed_model: "BaseEmbedding", rebuild: bool = False,
           progress: Progress | None = None) -> IngestReport:
    from knowledge.embeddings import embedding_id
    from knowledge.retrieval import EmbeddingMismatch
    from knowledge.store import Snapshot

    started = time.monotonic()
    progress = progress or Progress()
    model_id = embedding_id(embed_model)
    snapshot = store.load() if store.exists() and not rebuild else Snapshot(embedding_id=model_id, dimensions=0)
    if snapshot.embedding_id != model_id:
        raise EmbeddingMismatch(
            f"The docs index was built with the embedding model '{snapshot.embedding_id}', not the configured "
            f"'{model_id}'. Run `python app.py ingest --rebuild PATH...` to rebuild it with the new model."
        )
    report = IngestReport(embedding_id=model_id)
    files, problems, roots = discover(paths)
    report.failed.extend(problems)
    missing_roots = [Path(p).expanduser().resolve() for p, why in problems if why == "no such file or folder"]

    seen = {f.key for f in files}
    for key in sorted(snapshot.manifest):
        if key not in seen and any(_under(key, root) for root in [*roots, *missing_roots]):
            report.removed.append(key)
    todo: list[SourceFile] = []
    for source in files:
        known = snapshot.manifest.get(source.key)
        if known and known.get("sha256") == source.digest:
            report.unchanged.append(source.key)
        else:
            todo.append(source)

    new_nodes: list["TextNode"] = []
    fresh: dict[str, dict[str, Any]] = {}
    from knowledge.chunking import chunk

    for number, source in enumerate(todo, 1):
        try:
            document = read(source)
            nodes = chunk(document)
            if not nodes:
                raise UnreadableFile("no text in it")
        except UnreadableFile as error:
            report.failed.append((source.key, str(error)))
        else:
            new_nodes.extend(nodes)
            fresh[source.key] = {"sha256": source.digest, "title": document.title, "url": document.url,
                                 "chunks": len(nodes)}
            (report.updated if source.key in snapshot.manifest else report.added).append(source.key)
        progress.reading(number, len(todo), source.path.name, len(new_nodes))

    _embed(new_nodes, embed_model, progress)
    snapshot.store.delete_sources(set(report.removed) | set(fresh))
    for key in report.removed:
        snapshot.manifest.pop(key, None)
    if new_nodes:
        snapshot.store.add(new_nodes)
        snapshot.dimensions = int(snapshot.store.matrix.shape[1])
    snapshot.manifest.update(fresh)
    if fresh or report.removed or not store.exists():
        store.save(snapshot)
    report.chunks_added = len(new_nodes)
    report.chunks_total = len(snapshot.nodes)
    report.files_total = len(snapshot.manifest)
    report.seconds = time.monotonic() - started
    return report


def _embed(nodes: list["TextNode"], embed_model: "BaseEmbedding", progress: Progress) -> None:
    from llama_index.core.schema import MetadataMode

    progress.restart_clock()
    for start in range(0, len(nodes), EMBED_BATCH):
        batch = nodes[start:start + EMBED_BATCH]
        vectors = embed_model.get_text_embedding_batch([n.get_content(metadata_mode=MetadataMode.EMBED)
                                                        for n in batch])
        for node, vector in zip(batch, vectors):
            node.embedding = vector
        progress.embedding(start + len(batch), len(nodes))


def _under(key: str, root: Path) -> bool:
    return key == str(root) or key.startswith(str(root) + os.sep)
