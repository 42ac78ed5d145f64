"""Column types shared by the stores."""

from __future__ import annotations

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class StorableText(TypeDecorator[str]):
    """Text as people and models write it. PostgreSQL's text cannot hold NUL characters (a model's output or a
    document may have them, and one such row would be refused): each is stored as U+FFFD, on every database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value.replace("\x00", "\ufffd") if value else value
