"""The layout in docs/ARCHITECTURE.md holds: what may import what, module size, and the map naming every folder.

That `doubles/` imports nothing from the product is checked in `tests/test_layout.py`.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lower layers never import higher ones (same rank: not each other either, unless the same package).
LAYERS = {
    "bot": 0,
    "knowledge": 1,
    "patterns": 2,
    "services": 3,
    "answering": 4,
    "digests": 4,
    "handlers": 5,
    "server": 6,
    "playground": 6,
    "cli": 7,
    "app": 8,
}
PRODUCT = [*LAYERS, "doubles"]
MAX_LINES = 500


def product_files() -> list[Path]:
    files = []
    for name in LAYERS:
        path = ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [ROOT / f"{name}.py"]
    return files


def imported_packages(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_no_layer_imports_a_higher_one() -> None:
    wrong = []
    for path in product_files():
        layer = path.relative_to(ROOT).parts[0].removesuffix(".py")
        for line, package in imported_packages(path):
            if package in LAYERS and package != layer and LAYERS[package] >= LAYERS[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {package}")
    assert wrong == []


def test_no_product_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in product_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_architecture_note_names_every_folder_and_every_folder_it_names_exists() -> None:
    note = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"^\| `([a-z_]+/?(?:[a-z_]+/)?)`", note, flags=re.MULTILINE))
    packages = {
        f"{p.relative_to(ROOT).as_posix()}/"
        for p in [*ROOT.glob("*/"), *ROOT.glob("*/*/")]
        if (p / "__init__.py").exists() and p.parts[len(ROOT.parts)] in PRODUCT
    }
    assert packages - named == set(), "packages missing from docs/ARCHITECTURE.md"
    assert {n for n in named if not (ROOT / n).is_dir()} == set(), "the note names folders that do not exist"


def test_the_tree_passes_the_linter_and_is_formatted() -> None:
    """CI enforces the ruff configuration in pyproject.toml: lint findings and unformatted files fail the suite."""
    ruff = [sys.executable, "-m", "ruff"]
    lint = subprocess.run([*ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    style = subprocess.run([*ruff, "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert style.returncode == 0, "run `ruff format .`:\n" + style.stdout + style.stderr
