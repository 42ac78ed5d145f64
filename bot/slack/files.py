"""Files attached to a message (a DM or thread reply with a file): read text, Markdown, PDF and HTML into the
request, and say which files were skipped and why.

Each file is looked up with `files.info` and downloaded from its private URL with the bot token (redirects are
not followed: Slack answers a download it does not authorise with a redirect to its sign-in page). Downloads are
capped at `MAX_FILE_BYTES`, and the text taken from each file at `MAX_FILE_CHARS`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 2_000_000
MAX_FILE_CHARS = 40_000
MAX_FILES = 10  # Slack attaches at most 10 files to a message
_KINDS = {  # Slack filetype or mimetype -> how the bytes are read
    "text": "text",
    "markdown": "text",
    "md": "text",
    "text/plain": "text",
    "text/markdown": "text",
    "text/x-markdown": "text",
    "html": "html",
    "text/html": "html",
    "pdf": "pdf",
    "application/pdf": "pdf",
}


@dataclass
class Attachments:
    texts: list[tuple[str, str]] = field(default_factory=list)  # (file name, text)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)

    def prompt(self, question: str) -> str:
        """The question with each file's text after it, delimited and named."""
        parts = [question] if question else []
        for name, text in self.texts:
            parts.append(f'<attached_file name="{name}">\n{text}\n</attached_file>')
        return "\n\n".join(parts)

    def note(self) -> str | None:
        """What the user is told about files that were not read."""
        if not self.skipped:
            return None
        lines = [f"• {name}: {why}" for name, why in self.skipped]
        return "_Some attached files were not read:_\n" + "\n".join(lines)


def read_attachments(client: WebClient, files: list[dict[str, Any]]) -> Attachments:
    """The text of each readable file in `files` (from a Slack event), and the reasons others were skipped."""
    found = Attachments()
    for index, brief in enumerate(files):
        name = str(brief.get("name") or brief.get("title") or brief.get("id") or "a file")
        if index >= MAX_FILES:
            found.skipped.append((name, f"only the first {MAX_FILES} files of a message are read"))
            continue
        try:
            text = _read_one(client, brief)
        except _Skipped as why:
            log.info("attachments: skipped a file: %s", why.reason)
            found.skipped.append((name, why.reason))
            continue
        except Exception:  # a bug must not cost the user the answer
            log.exception("attachments: reading a file failed")
            found.skipped.append((name, "reading it failed on my side; it has been logged"))
            continue
        if len(text) > MAX_FILE_CHARS:
            found.skipped.append((name, f"only its first {MAX_FILE_CHARS:,} characters were read"))
            text = text[:MAX_FILE_CHARS]
        if not text.strip():
            found.skipped.append((name, "it has no text I could read"))
            continue
        found.texts.append((name, text))
    return found


class _Skipped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_one(client: WebClient, brief: dict[str, Any]) -> str:
    try:
        info = client.files_info(file=brief.get("id", "")).get("file") or {}
    except SlackApiError as error:
        raise _Skipped(f"Slack would not show it to me ({error.response.get('error')})") from None
    kind = _KINDS.get(str(info.get("filetype", "")).lower()) or _KINDS.get(str(info.get("mimetype", "")).lower())
    if kind is None:
        raise _Skipped(f"I can read text, Markdown, PDF and HTML files, not {info.get('filetype') or 'this type'}")
    size = int(info.get("size") or 0)
    if size > MAX_FILE_BYTES:
        raise _Skipped(f"it is too large ({size / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB)")
    data = _download(str(info.get("url_private_download") or info.get("url_private") or ""), client.token or "")
    if kind == "pdf":
        return _pdf_text(data)
    text = data.decode("utf-8", errors="replace")
    return _html_text(text) if kind == "html" else text


def _download(url: str, token: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise _Skipped("it has no download link")
    try:
        with httpx.stream("GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as response:
            if response.status_code != 200:
                raise _Skipped(f"the download failed (HTTP {response.status_code})")
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_FILE_BYTES:
                    raise _Skipped(f"it is too large (over {MAX_FILE_BYTES / 1e6:.0f} MB)")
            return data
    except httpx.HTTPError as error:
        raise _Skipped(f"the download failed ({type(error).__name__})") from None


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except Exception as error:  # pypdf raises many kinds on damaged files
        raise _Skipped(f"it is not a readable PDF ({type(error).__name__})") from None


class _TextOfHtml(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n- " if tag == "li" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
