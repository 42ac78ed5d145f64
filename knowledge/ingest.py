"""Index team documents incrementally: new and changed files are (re)indexed, unchanged skipped, deleted removed.

The manifest remembers each file's sha256 and visibility. Deletion is scoped to the paths given: a file indexed
from `docs/` disappears from the index when `docs/` is ingested again without it, not when `handbook/` is. A file
that cannot be read is reported and skipped; if it was indexed before, its last good version stays.

Visibility (`knowledge.access`): the flags of an ingest apply to every file it is given; a file ingested again
without them keeps the visibility it has, so re-running an ingest never widens who may read a file.

The index is written through an `IngestTarget`: the local store (files) and the PostgreSQL store implement it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from knowledge.access import Visibility, VisibilityChange
from knowledge.progress import Progress
from knowledge.sources import SourceFile, UnreadableFile, discover, read

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import TextNode

EMBED_BATCH = 64


@dataclass
class Change:
    """One ingest's effect on the index, applied by `IngestTarget.commit` all at once."""

    removed: set[str]  # source keys whose passages go
    fresh: dict[str, dict[str, Any]]  # manifest entries of new and changed files (their passages are `nodes`)
    nodes: list[TextNode]  # embedded
    relabelled: dict[str, dict[str, Any]]  # manifest entries of unchanged files whose visibility changed

    def __bool__(self) -> bool:
        return bool(self.removed or self.fresh or self.relabelled)


class IngestTarget(Protocol):
    def begin(self, model_id: str, rebuild: bool) -> tuple[str | None, dict[str, dict[str, Any]]]:
        """Hold the index for this ingest: the model that built it (None: none yet) and its manifest."""

    def commit(self, change: Change) -> tuple[int, int]:
        """Apply the change atomically for readers; the index's passages and files afterwards."""

    def end(self) -> None:
        """Release what `begin` held (called in every case)."""


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    relabelled: list[str] = field(default_factory=list)  # unchanged files whose visibility changed
    visibility: str = ""  # what the ingest set, when it set something
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
        if self.visibility:
            lines.append(f"Files given are {self.visibility}; {len(self.relabelled)} unchanged files relabelled.")
        lines += [f"  removed: {path}" for path in self.removed]
        lines += [f"  failed: {path}: {why}" for path, why in self.failed]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [{"path": p, "error": e} for p, e in self.failed],
            "relabelled": self.relabelled,
            "visibility": self.visibility or None,
            "chunks_added": self.chunks_added,
            "chunks_total": self.chunks_total,
            "files_total": self.files_total,
            "seconds": round(self.seconds, 3),
            "embedding": self.embedding_id,
        }


def ingest(
    paths: list[str],
    *,
    store: IngestTarget,
    embed_model: BaseEmbedding,
    rebuild: bool = False,
    progress: Progress | None = None,
    visibility: VisibilityChange | None = None,
) -> IngestReport:
    """Index `paths` into `store`; `visibility` sets who may read the files given (default: keep, or everyone)."""
    started = time.monotonic()
    try:
        built_with, manifest = store.begin(_model_id(embed_model), rebuild)
        return _ingest(
            paths,
            store,
            embed_model,
            built_with,
            manifest,
            progress or Progress(),
            visibility or VisibilityChange(),
            started,
        )
    finally:
        store.end()


def _model_id(embed_model: BaseEmbedding) -> str:
    from knowledge.embeddings import embedding_id

    return embedding_id(embed_model)


def _ingest(
    paths: list[str],
    store: IngestTarget,
    embed_model: BaseEmbedding,
    built_with: str | None,
    manifest: dict[str, dict[str, Any]],
    progress: Progress,
    visibility: VisibilityChange,
    started: float,
) -> IngestReport:
    from knowledge.retrieval import EmbeddingMismatch

    model_id = _model_id(embed_model)
    if built_with is not None and built_with != model_id:
        raise EmbeddingMismatch(
            f"The docs index was built with the embedding model '{built_with}', not the configured "
            f"'{model_id}'. Run `python app.py ingest --rebuild PATH...` to rebuild it with the new model."
        )
    report = IngestReport(embedding_id=model_id)
    if visibility.channels is not None:
        report.visibility = visibility.apply(None).describe()
    elif visibility.team is not None:
        report.visibility = f"in workspace {visibility.team} (channels kept)"
    files, problems, roots = discover(paths)
    report.failed.extend(problems)
    missing_roots = [Path(p).expanduser().resolve() for p, why in problems if why == "no such file or folder"]

    seen = {f.key for f in files}
    for key in sorted(manifest):
        if key not in seen and any(_under(key, root) for root in [*roots, *missing_roots]):
            report.removed.append(key)
    todo: list[SourceFile] = []
    relabelled: dict[str, dict[str, Any]] = {}
    for source in files:
        known = manifest.get(source.key)
        if known and known.get("sha256") == source.digest:
            report.unchanged.append(source.key)
            now = Visibility.from_manifest(known)
            wanted = visibility.apply(now)
            if (wanted.team, wanted.channels) != (now.team, now.channels):
                relabelled[source.key] = {**known, **wanted.as_manifest()}
                report.relabelled.append(source.key)
        else:
            todo.append(source)

    new_nodes: list[TextNode] = []
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
            known = manifest.get(source.key)
            wanted = visibility.apply(Visibility.from_manifest(known) if known else None)
            fresh[source.key] = {
                "sha256": source.digest,
                "title": document.title,
                "url": document.url,
                "chunks": len(nodes),
                **wanted.as_manifest(),
            }
            (report.updated if source.key in manifest else report.added).append(source.key)
        progress.reading(number, len(todo), source.path.name, len(new_nodes))

    _embed(new_nodes, embed_model, progress)
    report.chunks_total, report.files_total = store.commit(Change(set(report.removed), fresh, new_nodes, relabelled))
    report.chunks_added = len(new_nodes)
    report.seconds = time.monotonic() - started
    return report


def _embed(nodes: list[TextNode], embed_model: BaseEmbedding, progress: Progress) -> None:
    from llama_index.core.schema import MetadataMode

    progress.restart_clock()
    for start in range(0, len(nodes), EMBED_BATCH):
        batch = nodes[start : start + EMBED_BATCH]
        vectors = embed_model.get_text_embedding_batch([n.get_content(metadata_mode=MetadataMode.EMBED) for n in batch])
        for node, vector in zip(batch, vectors):
            node.embedding = vector
        progress.embedding(start + len(batch), len(nodes))


def _under(key: str, root: Path) -> bool:
    return key == str(root) or key.startswith(str(root) + os.sep)
