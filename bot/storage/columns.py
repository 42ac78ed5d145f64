"""Column types shared by the stores."""

from __future__ import annotations

import re

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from bot.logs import mask_secrets

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class StoredText(TypeDecorator[str]):
    """Text as people, models and tools write it (prompts, answers, tool results), stored safely.

    Secret-looking strings (tokens, keys, URL passwords, this process's own secrets) are masked as in the logs:
    a model can echo a token it was shown in a document, and the ledger keeps answers for evaluation. NUL
    characters, which PostgreSQL's text cannot hold (one such row would be refused), and lone surrogates, which
    no database driver can encode (JSON's "\\ud800" decodes to one), are stored as U+FFFD.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return mask_secrets(_UNSTORABLE.sub("\ufffd", value)) if value else value
