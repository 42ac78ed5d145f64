"""The demo sales database the agent uses out of the box (AGENT_DATABASE_URL unset): SQLite in DATA_DIR.

Tables and reference data come from `schema.sql`; sales rows are generated for the 15 months up to the day of
creation (deterministic, with a gentle growth trend), so "total sales last month" and "growth" have answers.
A database from an earlier month is rebuilt on first use, so it never goes stale. Creation writes a temporary
file and renames it, so concurrent bot processes never see half a database.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = Path(__file__).with_name("schema.sql")
FILENAME = "demo_sales.db"
MONTHS = 15
_lock = threading.Lock()
_checked: dict[Path, str] = {}  # path -> the month it was last found current, so the check is a dict lookup


def demo_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILENAME


def ensure_demo_database(path: Path, *, today: dt.date | None = None) -> Path:
    """Create the demo database at `path` unless one built this month is already there."""
    today = today or dt.date.today()
    month = today.isoformat()[:7]
    if _checked.get(path) == month:
        return path
    with _lock:
        if (_built_on(path) or "")[:7] != month:
            build_demo_database(path, today=today)
        _checked[path] = month
    return path


def build_demo_database(path: Path, *, today: dt.date | None = None) -> Path:
    """(Re)build the demo database at `path` for `today`."""
    today = today or dt.date.today()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary)
    try:
        connection.executescript(SCHEMA.read_text(encoding="utf-8"))
        connection.executemany(
            "INSERT INTO sales (sale_date, customer_id, product_id, quantity, amount) VALUES (?, ?, ?, ?, ?)",
            _sales(connection, today),
        )
        connection.execute("INSERT INTO demo_info (key, value) VALUES ('built_on', ?)", (today.isoformat(),))
        connection.commit()
    finally:
        connection.close()
    os.replace(temporary, path)
    log.info("agent demo database built at %s for %s", path, today.isoformat())
    return path


def _sales(connection: sqlite3.Connection, today: dt.date) -> list[tuple[str, int, int, int, float]]:
    prices = dict(connection.execute("SELECT id, unit_price FROM products"))
    customers = [row[0] for row in connection.execute("SELECT id FROM customers ORDER BY id")]
    rng = random.Random(20240601)
    first = _add_months(today.replace(day=1), -(MONTHS - 1))
    rows = []
    day = first
    while day <= today:
        months_in = (day.year - first.year) * 12 + day.month - first.month
        trend = 1.0 + 0.03 * months_in  # about 3% more sales each month
        for _ in range(rng.randint(3, 6) + (1 if rng.random() < 0.3 * trend else 0)):
            product = rng.choice(list(prices))
            quantity = rng.randint(1, 4 if prices[product] >= 1000 else 12)
            discount = rng.choice((0, 0, 0, 5, 10))
            amount = round(float(prices[product]) * quantity * (100 - discount) / 100 * trend, 2)
            rows.append((day.isoformat(), rng.choice(customers), product, quantity, amount))
        day += dt.timedelta(days=1)
    return rows


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _built_on(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = connection.execute("SELECT value FROM demo_info WHERE key = 'built_on'").fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None
