"""The database walls behind the agent's SQL guard, each shown without the guard (queries go straight to
`ReadOnlyDatabase.query`): which PostgreSQL roles are refused at start; the read-only transaction, its limits
and the server-side cursor; that no session state survives a query; the SQLite child process, its authorizer,
its size limits and the deadline that holds inside one slow step; and results bounded before they reach us."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from patterns.agent_tools.database import DatabaseRefused, QueryFailed, QueryTimeout, ReadOnlyDatabase
from patterns.agent_tools.sql_guard import check_query
from tests.agent_support import demo_postgres, demo_sqlite, reader_role
from tests.conftest import POSTGRES_URL

TIMEOUT = 1.0
GROWTH_LIMIT_KB = 50 * 1024


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = demo_sqlite(tmp_path_factory.mktemp("walls"))
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE secret_tokens (token TEXT)")
        connection.execute("INSERT INTO secret_tokens VALUES ('xoxb-wall-secret')")
    return path


@pytest.fixture(scope="module")
def schema(demo_file: Path) -> Iterator[str]:
    with demo_postgres(demo_file, "walls", as_admin=True) as admin:
        yield sqlalchemy.engine.make_url(admin).query["options"].split("=")[1]


@pytest.fixture(scope="module")
def reader(schema: str) -> Iterator[ReadOnlyDatabase]:
    with reader_role(schema, "walls") as url:
        yield ReadOnlyDatabase(url, row_limit=20, timeout_seconds=TIMEOUT)


def admin() -> psycopg.Connection:
    url = sqlalchemy.engine.make_url(POSTGRES_URL)
    return psycopg.connect(host=url.host, port=url.port, dbname=url.database, user=url.username, autocommit=True)


def memory_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert match
    return int(match.group(1))


def growth_kb(action) -> int:  # type: ignore[no-untyped-def]
    """How far this process's peak memory rose above where it was while `action` ran."""
    before = memory_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    action()
    return memory_kb("VmHWM") - before


# PostgreSQL: the role --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label,grants,temp_limit,message",
    [
        ("reads server files", ("GRANT pg_read_server_files TO {role}",), True, "member of pg_read_server_files"),
        ("writes server files", ("GRANT pg_write_server_files TO {role}",), True, "member of pg_write_server_files"),
        ("runs programs", ("GRANT pg_execute_server_program TO {role}",), True, "member of pg_execute_server_program"),
        ("signals backends", ("GRANT pg_signal_backend TO {role}",), True, "member of pg_signal_backend"),
        ("reads every setting", ("GRANT pg_read_all_settings TO {role}",), True, "member of pg_read_all_settings"),
        (
            "inherits through a group",
            ("CREATE ROLE {role}_group", "GRANT pg_signal_backend TO {role}_group", "GRANT {role}_group TO {role}"),
            True,
            "member of pg_signal_backend",
        ),
        ("inserts", ("GRANT INSERT ON {schema}.sales TO {role}",), True, "can write to sales, which it reads"),
        ("updates one column", ("GRANT UPDATE (amount) ON {schema}.sales TO {role}",), True, "can write to sales"),
        ("truncates", ("GRANT TRUNCATE ON {schema}.regions TO {role}",), True, "can write to regions"),
        ("writes every table", ("GRANT pg_write_all_data TO {role}",), True, "member of pg_write_all_data"),
        ("creates roles", ("ALTER ROLE {role} CREATEROLE",), True, "has CREATEROLE"),
        ("unbounded temporary files", (), False, "may use unlimited temporary files"),
    ],
)
def test_a_role_that_can_do_more_than_read_is_refused_at_start(
    schema: str, label: str, grants: tuple[str, ...], temp_limit: bool, message: str
) -> None:
    name = re.sub(r"\W", "_", label)[:20]
    try:
        with reader_role(schema, name, grants=grants, temp_file_limit=temp_limit) as url:
            with pytest.raises(DatabaseRefused, match=re.escape(message)):
                ReadOnlyDatabase(url)
    finally:
        with admin() as connection:
            connection.execute(f"DROP ROLE IF EXISTS agent_reader_{name}_{os.getpid()}_group")


def test_a_role_with_a_bounded_temp_file_limit_of_its_own_starts(schema: str) -> None:
    with reader_role(
        schema, "templimit", temp_file_limit=False, grants=("ALTER ROLE {role} SET temp_file_limit = '32MB'",)
    ) as url:
        database = ReadOnlyDatabase(url, timeout_seconds=TIMEOUT)
        assert database.query("SELECT current_setting('temp_file_limit') AS t").rows == [["32MB"]]


def test_column_grants_narrow_what_the_agent_sees_and_reads(schema: str) -> None:
    tables = ("sales", "regions", "products", "demo_info")
    grants = (f"GRANT SELECT (id, name) ON {schema}.customers TO {{role}}",)
    with reader_role(schema, "columns", tables=tables, grants=grants) as url:
        database = ReadOnlyDatabase(url, timeout_seconds=TIMEOUT)
        customers = next(t for t in database.tables() if t.name == "customers")
        assert [c.name for c in customers.columns] == ["id", "name"] and customers.restricted
        verdict = check_query("SELECT * FROM customers ORDER BY id LIMIT 1", database.policy())
        assert verdict.allowed and database.query(verdict.sql).rows == [[1, "Acme Corp"]]
        assert not check_query("SELECT segment FROM customers", database.policy()).allowed
        with pytest.raises(QueryFailed, match="only reading is allowed"):
            database.query("SELECT segment FROM customers")  # the role's own grants stop it without the guard


# PostgreSQL: each query ------------------------------------------------------------------------------------


def test_each_query_runs_read_only_with_its_limits_from_a_server_side_cursor(reader: ReadOnlyDatabase) -> None:
    result = reader.query(
        "SELECT current_setting('transaction_read_only') AS read_only, current_setting('statement_timeout') AS st, "
        "current_setting('lock_timeout') AS lt, current_setting('idle_in_transaction_session_timeout') AS idle, "
        "current_setting('work_mem') AS wm, current_setting('temp_file_limit') AS tf, "
        "(SELECT count(*) FROM pg_cursors WHERE name = 'agent_rows') AS cursors"
    )
    read_only, statement_timeout, lock_timeout, idle, work_mem, temp_file_limit, cursors = result.rows[0]
    assert (read_only, lock_timeout, idle, work_mem, temp_file_limit, cursors) == ("on", "1s", "6s", "4MB", "64MB", 1)
    assert 0 < int(statement_timeout.removesuffix("ms")) <= 1000  # what is left of the query's one second
    with pytest.raises(QueryFailed, match="only reading is allowed"):
        reader.query("SELECT nextval('sales_id_seq')")


def test_the_timeout_covers_the_whole_query_across_fetches(reader: ReadOnlyDatabase) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="longer than 1 s"):
        reader.query("SELECT pg_sleep(0.2) FROM generate_series(1, 15)")  # each fetch is short, all are not
    assert time.monotonic() - started < TIMEOUT + 1


def test_no_setting_or_lock_survives_a_query(reader: ReadOnlyDatabase) -> None:
    assert reader.query(
        "SELECT set_config('search_path', 'pg_temp', false) AS path, pg_advisory_lock(4244) AS lock, "
        "pg_advisory_lock_shared(4245) AS shared"
    ).rows == [["pg_temp", "", ""]]
    with admin() as other:
        assert other.execute("SELECT pg_try_advisory_lock(4244), pg_try_advisory_lock(4245)").fetchone() == (True, True)
        other.execute("SELECT pg_advisory_unlock_all()")
        assert other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state <> 'idle'", [reader.url.username]
        ).fetchone() == (0,)
    assert reader.query("SELECT current_setting('search_path') AS path").rows[0][0].startswith("agent_walls_")


def test_cells_are_cut_in_the_query_so_big_values_never_reach_the_bot(reader: ReadOnlyDatabase) -> None:
    database = ReadOnlyDatabase(reader.url, row_limit=20, timeout_seconds=10)
    results = []
    grown = growth_kb(
        lambda: results.append(
            database.query(
                "SELECT repeat('x', 10000000) AS big, repeat('9', 400)::numeric AS digits FROM generate_series(1, 20)"
            )
        )
    )
    result = results[0]
    assert len(result.rows) == 20 and result.clipped_cells == 40
    assert all(len(big) == 201 and big.endswith("…") and len(digits) == 201 for big, digits in result.rows)
    assert grown < GROWTH_LIMIT_KB, f"{grown} kB for 200 MB of cells on the server"


def test_rows_stop_at_the_byte_limit(reader: ReadOnlyDatabase) -> None:
    wide = ", ".join(f"repeat('w', 190) AS c{i}" for i in range(50))
    database = ReadOnlyDatabase(reader.url, row_limit=1000, timeout_seconds=5)
    result = database.query(f"SELECT {wide} FROM generate_series(1, 1000)")
    assert result.truncated and 5 <= len(result.rows) < 20  # 100 kB of rows, not 1000 rows of 10 kB


# SQLite ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite(demo_file: Path) -> ReadOnlyDatabase:
    return ReadOnlyDatabase(f"sqlite:///{demo_file}", row_limit=20, timeout_seconds=TIMEOUT)


def _busy_children() -> list[int]:
    """Processes of ours running the SQLite child script that have used CPU (the spare waiting for the next
    query has only started Python)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and b"sqlite_child.py" in (entry / "cmdline").read_bytes()
                and f"PPid:\t{os.getpid()}\n" in (entry / "status").read_text()
            ):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") > 0.5:  # utime + stime
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_sqlite_timeout_holds_inside_one_slow_step(lite: ReadOnlyDatabase) -> None:
    grow = "'a'"
    for factor in (9, 9, 9, 9, 9, 16):
        grow = f"replace({grow}, 'a', '{'a' * factor}')"  # 9 ** 5 * 16 = 944,784 characters, under the 1 MB limit
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="longer than 1 s"):
        # One instr() call: a 472,000-character needle at each of 472,000 places is one VM step of about 3 s here.
        lite.query(f"WITH a(x) AS (SELECT {grow}) SELECT instr(x || 'b', substr(x, 1, 472000) || 'b') FROM a")
    assert time.monotonic() - started < TIMEOUT + 1
    assert _busy_children() == []


@pytest.mark.parametrize(
    "sql,reason",
    [
        ("SELECT token FROM secret_tokens", "only reading is allowed"),
        ("SELECT hex(name) FROM regions", "not authorized to use function: hex"),
        ("SELECT * FROM sqlite_master", "only reading is allowed"),
        ("SELECT * FROM pragma_table_info('secret_tokens')", "only reading is allowed"),
        ("ATTACH DATABASE ':memory:' AS other", "only reading is allowed"),
        ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n", "only reading"),
        (
            (
                "SELECT length(replace(replace(replace(replace(replace(replace(replace('aaaaaaaaaa', 'a', 'aaaaaaaaaa'), "
                "'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', "
                "'aa'))"
            ),
            "too big",
        ),
    ],
)
def test_sqlite_authorizer_and_limits_refuse_without_the_guard(lite: ReadOnlyDatabase, sql: str, reason: str) -> None:
    with pytest.raises(QueryFailed, match=reason):
        lite.query(sql)


def test_sqlite_results_are_bounded_in_the_child(lite: ReadOnlyDatabase) -> None:
    grow = "name"
    for _ in range(4):
        grow = f"replace({grow}, 'e', '{'e' * 30}')"  # about 900 kB per cell for names with an e
    results = []
    grown = growth_kb(
        lambda: results.append(
            lite.query(f"SELECT {grow} AS big, {grow} AS big2 FROM customers, sales WHERE name LIKE '%e%'")
        )
    )
    result = results[0]
    assert len(result.rows) == 20 and result.truncated
    assert all(len(cell) == 201 for row in result.rows for cell in row)
    assert grown < GROWTH_LIMIT_KB, f"{grown} kB for 36 MB of cells in the child"


def test_sqlite_rows_stop_at_the_byte_limit(demo_file: Path) -> None:
    wide = ", ".join(f"'{'w' * 190}' AS c{i}" for i in range(50))
    database = ReadOnlyDatabase(f"sqlite:///{demo_file}", row_limit=1000, timeout_seconds=5)
    result = database.query(f"SELECT {wide} FROM sales")
    assert result.truncated and 5 <= len(result.rows) < 20  # 100 kB of rows, not 1000 rows of 10 kB
