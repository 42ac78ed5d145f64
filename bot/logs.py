"""Logging: one JSON object per line (or plain text), each with the request id, and secrets masked.

Every line a request causes carries its id (the Slack trigger id, event id or message ts), so one request can
be followed across the web and work threads of a process.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Slack tokens (bot, user, app, refresh `xoxe-` and rotated `xoxe.xoxp-`), OpenAI-style keys and bearer headers.
_SECRET = re.compile(r"\b(xox[a-z][-.]|xapp-|sk-)[A-Za-z0-9_.-]{4,}|(?i:bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# The password of any URL (`postgresql://user:password@host`, `redis://:password@host`).
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@")
_known: set[str] = set()  # this process's own secret values (settings), masked wherever they appear


def add_known_secrets(*values: str | None) -> None:
    """Mask these exact values too (the signing secret, the client secret, database passwords...)."""
    _known.update(value for value in values if value and len(value) >= 6)


def mask_secrets(text: str) -> str:
    for value in _known:
        if value in text:
            text = text.replace(value, "***")
    text = _SECRET.sub(lambda m: (m.group(1) or "Bearer ") + "***", text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + "***@", text)


class _RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.msg = mask_secrets(record.getMessage())
        record.args = None
        return True


class TextFormatter(logging.Formatter):
    """One plain line, masked as a whole: the message and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
            "request_id": getattr(record, "request_id", ""),
            "process": record.process,
        }
        if record.exc_info:
            entry["error"] = mask_secrets(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = mask_secrets(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RequestContext())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)s %(process)d %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("alembic", "httpx", "httpcore", "openai", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
