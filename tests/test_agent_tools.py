"""The agent's tools in-process: the hostile SQL catalogue against the demo SQLite database and PostgreSQL (the
parser guard, and the database-level guard on its own), the exact calculator, permissions and thread history."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from patterns.agent_history import AgentRunRecord, agent_history
from patterns.agent_tools.calculator import CalculationError, calculate, evaluate
from patterns.agent_tools.database import QueryFailed, ReadOnlyDatabase
from patterns.agent_tools.registry import Permissions, Toolbox, ToolContext
from patterns.agent_tools.sql_guard import check_query
from patterns.chat import Turn
from tests.agent_hostile_sql import HOSTILE_SQL
from tests.agent_support import demo_postgres, demo_sqlite, fingerprint

ROW_LIMIT = 20
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_sqlite(tmp_path_factory.mktemp("agent-tools"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, demo_file: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{demo_file}"
    else:
        with demo_postgres(demo_file, "tools") as url:
            yield url


@pytest.fixture(scope="module")
def original(database_url: str) -> str:
    return fingerprint(database_url)


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[ReadOnlyDatabase]:
    db = ReadOnlyDatabase(database_url, row_limit=ROW_LIMIT, timeout_seconds=TIMEOUT)
    yield db
    db.close()


def toolbox(database: ReadOnlyDatabase, permissions: Permissions = Permissions()) -> Toolbox:
    return Toolbox(database=lambda: database, library=lambda: None, permissions=permissions, row_limit=ROW_LIMIT)


def test_the_catalogue_is_large_and_varied() -> None:
    assert len(HOSTILE_SQL) >= 30
    assert len({label for label, _ in HOSTILE_SQL}) == len(HOSTILE_SQL)


@pytest.mark.parametrize("label,sql", HOSTILE_SQL, ids=[label for label, _ in HOSTILE_SQL])
def test_every_hostile_query_is_refused_or_bounded(
    database: ReadOnlyDatabase, database_url: str, original: str, label: str, sql: str
) -> None:
    started = time.monotonic()
    output = toolbox(database).run("sql", json.dumps({"query": sql}), ToolContext("C1", "U1"))
    elapsed = time.monotonic() - started
    result = json.loads(output.content)
    if output.ok:  # it ran: bounded rows, bounded cells, bounded time, and it changed nothing
        assert result["row_count"] <= ROW_LIMIT and len(result["rows"]) <= ROW_LIMIT
        assert all(len(str(cell)) <= 201 for row in result["rows"] for cell in row)
    else:
        assert "error" in result and (
            output.refused
            or "longer than" in result["error"]
            or "only reading" in result["error"]
            or "too big" in result["error"]
        ), result
    assert elapsed < TIMEOUT + 2.0
    assert fingerprint(database_url) == original


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM sales",
        "UPDATE sales SET amount = 0",
        "DROP TABLE sales",
        "CREATE TABLE pwned (x INTEGER)",
        "INSERT INTO regions (id, name) VALUES (99, 'x')",
        "ALTER TABLE sales ADD COLUMN pwned TEXT",
    ],
)
def test_the_database_refuses_writes_even_when_the_parser_is_bypassed(
    database: ReadOnlyDatabase, database_url: str, original: str, sql: str
) -> None:
    with pytest.raises(QueryFailed, match="only reading is allowed"):
        database.query(sql)
    assert fingerprint(database_url) == original


def test_the_database_stops_a_slow_query_at_the_timeout_without_the_parser(database: ReadOnlyDatabase) -> None:
    started = time.monotonic()
    with pytest.raises(QueryFailed, match="longer than 1 s"):
        database.query("SELECT count(*) FROM sales a, sales b, sales c, sales d")
    assert time.monotonic() - started < TIMEOUT + 1.5
    assert database.query("SELECT count(*) AS n FROM sales").rows[0][0] > 1_000  # the connection still works


def test_fetched_rows_and_cells_are_bounded_without_the_parser(database: ReadOnlyDatabase) -> None:
    result = database.query(
        "SELECT s.id, c.name || repeat_me.x AS long FROM sales s, customers c, "
        "(SELECT '" + "y" * 1_000 + "' AS x) repeat_me"
    )
    assert len(result.rows) == ROW_LIMIT and result.truncated
    assert all(len(row[1]) == 201 and row[1].endswith("…") for row in result.rows)


def test_a_legitimate_query_runs_and_keeps_its_own_smaller_limit(database: ReadOnlyDatabase) -> None:
    verdict = check_query("SELECT name FROM regions ORDER BY id LIMIT 2", database.policy())
    assert verdict.allowed and verdict.sql.endswith("LIMIT 2")
    assert database.query(verdict.sql).rows == [["North America"], ["Europe"]]
    verdict = check_query("SELECT name FROM regions WHERE name LIKE 'E%'", database.policy())
    assert database.query(verdict.sql).rows == [["Europe"]]  # a literal % survives %-style drivers


def test_schema_lists_the_demo_tables_with_columns(database: ReadOnlyDatabase) -> None:
    output = toolbox(database).run("schema", "{}", ToolContext())
    tables = {t["name"]: t["columns"] for t in json.loads(output.content)["tables"]}
    assert {"regions", "products", "customers", "sales"} <= set(tables)
    assert any(column.startswith("sale_date") for column in tables["sales"])


def test_permissions_need_both_lists_and_empty_means_everyone(database: ReadOnlyDatabase) -> None:
    rules = Permissions.parse("C1, C2", "U1")
    assert rules.allows(ToolContext("C1", "U1")) and not rules.allows(ToolContext("C3", "U1"))
    assert not rules.allows(ToolContext("C1", "U2"))
    assert Permissions.parse("", "").allows(ToolContext("anything", "anyone"))
    box = toolbox(database, rules)
    assert [s["function"]["name"] for s in box.specs(ToolContext("C3", "U1"))] == ["calculate", "search_docs"]
    refused = box.run("sql", json.dumps({"query": "SELECT 1"}), ToolContext("C3", "U1"))
    assert refused.refused and "not enabled for you in this channel" in refused.content


@pytest.mark.parametrize(
    "expression,expected",
    [
        ("0.1 + 0.2", "0.3"),
        ("1/3", "≈ 0.3333333333"),
        ("growth(1000, 1250)", "25"),
        ("percent(3, 8)", "37.5"),
        ("round(2.675, 2)", "2.68"),
        ("2 ** 10", "1024"),
        ("2 ^ 3", "8"),
        ("-(4 - 10) * 1.5", "9"),
        ("7 // 2 + 7 % 2", "4"),
        ("max(3, 9, 4) - min(3, 9, 4)", "6"),
        ("abs(-12.50)", "12.5"),
        ("(245516.34 - 278193.96) / 278193.96 * 100", "≈ -11.7463441694"),
    ],
)
def test_calculate_is_exact(expression: str, expected: str) -> None:
    assert calculate(expression) == expected


@pytest.mark.parametrize(
    "expression,reason",
    [
        ("__import__('os')", "unknown function"),
        ("__import__('os').system('id')", "found Call"),
        ("(1).real", "Attribute"),
        ("x + 1", "name 'x'"),
        ("9 ** 9 ** 9", "exponents are limited"),
        ("2 ** 0.5", "whole-number"),
        ("1 / 0", "division by zero"),
        ("'a' * 3", "constant 'a'"),
        ("[1, 2]", "List"),
        ("lambda: 1", "Lambda"),
        ("1e300 * 1e300", "400 digits"),
        ("growth(0, 5)", "undefined"),
        ("round(1, 2, 3)", "takes 1 to 2"),
        ("1 +", "not valid"),
        ("x" * 600, "longer than"),
    ],
)
def test_calculate_refuses_anything_but_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(CalculationError, match=reason):
        evaluate(expression)


def test_calculate_uses_fractions_not_floats() -> None:
    assert evaluate("0.1 * 3") == Fraction(3, 10)


def test_history_puts_each_runs_tool_calls_after_its_task_and_drops_its_text_answer() -> None:
    calls = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "calculate", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"result": "2"}'},
        {"role": "assistant", "content": "It is 2."},
    ]
    run = AgentRunRecord(
        task="what is 1+1", transcript=json.dumps(calls), channel="C", thread_ts="1", steps=1, status="answered"
    )
    turns = [
        Turn("user", "hello"),
        Turn("assistant", "hi!"),
        Turn("user", "what is 1+1"),
        Turn("assistant", "It is 2."),
    ]
    messages = agent_history(turns, [run], budget_tokens=4_000)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    assert messages[4]["content"] == '{"result": "2"}'
    assert agent_history(turns, [run], budget_tokens=80)[0]["content"] == "what is 1+1"  # oldest dropped first


def test_in_a_long_dm_a_repeated_task_is_paired_with_its_newest_run() -> None:
    """A DM's history holds only its recent turns; an older run of the same task is not attached to them."""

    def run(answer: str) -> AgentRunRecord:
        transcript = [{"role": "assistant", "content": answer}]
        return AgentRunRecord(
            task="sales today?", transcript=json.dumps(transcript), channel="D", thread_ts="dm", steps=1, status="ok"
        )

    recent = [Turn("user", "sales today?"), Turn("assistant", "Today: 12.")]  # the older asking was cut off
    messages = agent_history(recent, [run("Monday: 3."), run("Today: 12.")], budget_tokens=4_000)
    assert [m["content"] for m in messages] == ["sales today?", "Today: 12."]
