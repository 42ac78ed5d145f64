"""Find the team's document files and read each into Markdown-like text with its title and URL.

Every format becomes text whose headings are Markdown headings, so one chunker (`knowledge.chunking`) keeps the
heading of each passage whatever the format. PDFs have no reliable headings: their pages become `## Page N`.
A file that cannot be read raises `UnreadableFile`; the caller reports it and goes on with the others.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MARKDOWN = {".md", ".markdown", ".mdx"}
TEXT = {".txt", ".text", ".rst"}
HTML = {".html", ".htm"}
PDF = {".pdf"}
SUPPORTED = MARKDOWN | TEXT | HTML | PDF

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


class UnreadableFile(Exception):
    """The file exists but its content cannot be turned into text; the message says why (one line)."""


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    digest: str  # sha256 of the bytes: what incremental ingest compares

    @property
    def key(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class SourceText:
    """A document as text: Markdown headings, a title, and a URL when the document names one."""

    key: str
    title: str
    text: str
    url: str | None = None


def discover(paths: Iterable[str | Path]) -> tuple[list[SourceFile], list[tuple[str, str]], list[Path]]:
    """The supported files under `paths` (sorted), the paths that could not be used with why, and the roots.

    Hidden files and folders are ignored. A file named explicitly must have a supported extension.
    """
    files: dict[Path, SourceFile] = {}
    problems: list[tuple[str, str]] = []
    roots: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            problems.append((str(raw), "no such file or folder"))
            continue
        roots.append(path)
        candidates = (
            [path]
            if path.is_file()
            else sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        )
        for candidate in candidates:
            if candidate.suffix.lower() not in SUPPORTED:
                if candidate == path:
                    problems.append((str(raw), f"unsupported file type '{candidate.suffix or 'none'}'"))
                continue
            try:
                digest = hashlib.sha256(candidate.read_bytes()).hexdigest()
            except OSError as error:
                problems.append((str(candidate), f"cannot read: {error.strerror or error}"))
                continue
            files[candidate] = SourceFile(candidate, digest)
    return [files[p] for p in sorted(files)], problems, roots


def read(source: SourceFile) -> SourceText:
    suffix = source.path.suffix.lower()
    try:
        if suffix in PDF:
            return _read_pdf(source)
        raw = source.path.read_bytes()
    except UnreadableFile:
        raise
    except OSError as error:
        raise UnreadableFile(f"cannot read: {error.strerror or error}") from None
    text = _decode(raw)
    if suffix in HTML:
        return _read_html(source, text)
    if suffix in MARKDOWN:
        return _read_markdown(source, text)
    return _read_text(source, text)


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:4096]:
        raise UnreadableFile("binary content, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("not valid UTF-8 text") from None


def _nonempty(source: SourceFile, title: str, text: str, url: str | None = None) -> SourceText:
    if not text.strip():
        raise UnreadableFile("no text in it")
    return SourceText(key=source.key, title=title.strip() or source.path.stem, text=text, url=url)


def _read_markdown(source: SourceFile, text: str) -> SourceText:
    meta: dict[str, str] = {}
    if match := _FRONT_MATTER.match(text):
        for line in match.group(1).splitlines():
            name, sep, value = line.partition(":")
            if sep:
                meta[name.strip().lower()] = value.strip().strip("'\"")
        text = text[match.end() :]
    h1 = _H1.search(text)
    title = meta.get("title") or (h1.group(1) if h1 else _title_from_name(source.path))
    url = meta.get("url") or meta.get("source_url")
    return _nonempty(source, title, text, url if url and url.startswith(("http://", "https://")) else None)


def _read_text(source: SourceFile, text: str) -> SourceText:
    return _nonempty(source, _title_from_name(source.path), text)


def _read_html(source: SourceFile, html: str) -> SourceText:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    url = None
    for selector in ('link[rel="canonical"]', 'meta[property="og:url"]'):
        tag = soup.select_one(selector)
        value = tag and (tag.get("href") or tag.get("content"))
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            url = value
            break
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer", "head"]):
        tag.decompose()
    lines: list[str] = []
    body = soup.body or soup
    for element in body.find_all(
        ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "th", "dt", "dd", "blockquote"]
    ):
        if element.find_parent(["p", "li", "pre", "td", "th", "dd", "blockquote"]):
            continue  # its text is part of the enclosing block
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name and element.name[0] == "h" and element.name[1:].isdigit():
            lines.append(f"\n{'#' * int(element.name[1:])} {text}\n")
        elif element.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(f"\n{text}\n")
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else _title_from_name(source.path)
    return _nonempty(source, title, "\n".join(lines), url)


def _read_pdf(source: SourceFile) -> SourceText:
    """LlamaIndex's PDFReader (pypdf), one document per page; a damaged PDF fails in many ways, all reported."""
    from knowledge.llama import prepare

    prepare()
    from llama_index.readers.file import PDFReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files are reported once, as a failure
    try:
        pages = PDFReader().load_data(source.path)
    except Exception as error:  # pypdf raises many kinds on damaged files; the reader retries, then re-raises
        cause = getattr(error, "last_attempt", None)
        if cause is not None and cause.exception() is not None:
            error = cause.exception()
        raise UnreadableFile(f"not a readable PDF ({type(error).__name__}: {str(error)[:100]})") from None
    parts = []
    for number, page in enumerate(pages, 1):
        label = page.metadata.get("page_label") or number
        if page.text.strip():
            parts.append(f"## Page {label}\n\n{page.text.strip()}")
    return _nonempty(source, _pdf_title(source.path), "\n\n".join(parts))


def _pdf_title(path: Path) -> str:
    try:
        from pypdf import PdfReader

        title = PdfReader(str(path)).metadata.title  # type: ignore[union-attr]
        return str(title) if title else _title_from_name(path)
    except Exception:
        return _title_from_name(path)


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name
