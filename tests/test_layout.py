"""The layout's import rules, read from the source, so a new import that breaks them fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = frozenset(
    {
        "answering",
        "app",
        "bot",
        "cli",
        "digests",
        "handlers",
        "knowledge",
        "patterns",
        "playground",
        "server",
        "services",
    }
)


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, at any depth; relative ones resolved against `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            found.append((node.lineno, ".".join([*parts, *([node.module] if node.module else [])])))
    return sorted(found)


def test_doubles_import_nothing_from_the_product() -> None:
    files = sorted((ROOT / "doubles").rglob("*.py"))
    assert len(files) > 5
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(
            path.read_text(encoding="utf-8"), ".".join(path.relative_to(ROOT).parent.parts)
        )
        if module.split(".")[0] in PRODUCT
    ]
    assert offending == []


def test_imports_inside_functions_and_relative_ones_are_seen() -> None:
    source = "from . import http_server\nfrom ..slack import paging\n\n\ndef f():\n    import bot.settings\n"
    assert imported_modules(source, "doubles.slack") == [
        (1, "doubles.slack"),
        (2, "doubles.slack"),
        (6, "bot.settings"),
    ]
