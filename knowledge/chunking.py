"""Split a document into passages (LlamaIndex nodes) that each remember their source, title and heading.

Markdown headings split first (`MarkdownNodeParser`), then long sections are cut to `CHUNK_TOKENS` on sentence
boundaries (`SentenceSplitter`). A passage's heading is its section path without the document title, e.g.
"Refunds › Card payments". Node ids are derived from the source and position, so re-indexing a file replaces
exactly its passages.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from knowledge.llama import prepare
from knowledge.sources import SourceText

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode

CHUNK_TOKENS = 320
CHUNK_OVERLAP = 40
# Metadata kept for citations but not mixed into the text that is embedded, BM25-indexed or shown to the model.
HIDDEN_KEYS = ["source", "url", "position"]

_HEADING_LINE = re.compile(r"^\s*(#{1,6})\s+(.+?)\s*#*\s*$")


def chunk(document: SourceText) -> list[TextNode]:
    prepare()
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter
    from llama_index.core.schema import TextNode

    sections = MarkdownNodeParser().get_nodes_from_documents([Document(text=document.text)])
    splitter = SentenceSplitter(chunk_size=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP)
    nodes: list[TextNode] = []
    for section in sections:
        heading_path = [part for part in section.metadata.get("header_path", "/").split("/") if part]
        body = section.get_content()
        first, _, rest = body.partition("\n")
        if match := _HEADING_LINE.match(first):
            heading_path.append(match.group(2))
            body = rest
        if not body.strip():
            continue
        if heading_path and heading_path[0].strip() == document.title.strip():
            heading_path = heading_path[1:]  # the title is shown on its own
        heading = " › ".join(h.strip() for h in heading_path)
        for piece in splitter.split_text(body.strip()):
            position = len(nodes)
            node_id = hashlib.sha1(f"{document.key}\x00{position}".encode()).hexdigest()
            nodes.append(
                TextNode(
                    id_=node_id,
                    text=piece,
                    metadata={
                        "title": document.title,
                        "heading": heading,
                        "source": document.key,
                        "url": document.url or "",
                        "position": position,
                    },
                    excluded_embed_metadata_keys=list(HIDDEN_KEYS),
                    excluded_llm_metadata_keys=list(HIDDEN_KEYS),
                )
            )
    return nodes
