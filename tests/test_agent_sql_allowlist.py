"""The agent's sql tool is least privilege by construction: the hostile allow-list catalogue, run through
`python app.py sql` (the agent's own tool, its settings and limits) on SQLite and on PostgreSQL as a role that
can only read, with secrets planted where a deny list would miss them; and a superuser refused at start."""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from patterns.agent_tools.database import DatabaseRefused, QueryFailed, ReadOnlyDatabase
from patterns.agent_tools.registry import Permissions, Toolbox, ToolContext
from tests.agent_hostile_sql_allowlist import CASES, KINDS
from tests.agent_support import TABLES, demo_postgres, demo_sqlite, fingerprint, reader_role
from tests.conftest import POSTGRES_URL
from tests.sql_cli import ROOT, SqlBatch, cli_env, run_sql

TIMEOUT = 1.0
ROW_LIMIT = 20
GROWTH_LIMIT_KB = 50 * 1024
WARM_UP = (
    "SELECT count(*) AS n FROM sales",
    "SELECT * FROM pg_authid",
    "SELECT c.name, sum(s.amount) FROM sales s JOIN customers c ON c.id = s.customer_id GROUP BY 1",
)


@dataclass
class Target:
    """A database with planted secrets, and what must not change or appear."""

    dialect: str
    url: str
    secrets: list[str]
    fill: dict[str, str]
    out_paths: list[Path]
    admin: str | None = None  # PostgreSQL: the admin's URL, to look at sessions, locks and settings
    extra: dict[str, object] = field(default_factory=dict)


def encodings(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()]


def leaked(text: str, target: Target) -> list[str]:
    return [form for secret in target.secrets for form in encodings(secret) if form in text]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sql-allowlist")


@pytest.fixture(scope="module")
def secret_file() -> Iterator[tuple[Path, str]]:
    """A file the database server could read (world-readable in /tmp), holding a secret."""
    secret = f"file-secret-{secrets.token_hex(8)}"
    path = Path(f"/tmp/agent-secret-{os.getpid()}.txt")
    path.write_text(secret)
    path.chmod(0o644)
    yield path, secret
    path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def sqlite_target(home: Path, secret_file: tuple[Path, str]) -> Target:
    token = f"xoxb-planted-{secrets.token_hex(8)}"
    other = f"other-file-{secrets.token_hex(8)}"
    path = demo_sqlite(home / "sqlite")
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE secret_tokens (token TEXT)")
        connection.execute("INSERT INTO secret_tokens VALUES (?)", (token,))
    secret_db = home / "secrets.db"
    with sqlite3.connect(secret_db) as connection:
        connection.execute("CREATE TABLE tokens (token TEXT)")
        connection.execute("INSERT INTO tokens VALUES (?)", (other,))
    out = Path(f"/tmp/agent-out-sqlite-{os.getpid()}")
    fill = {
        "schema": "leak",
        "victim": "victim",
        "file": str(secret_file[0]),
        "out": str(out),
        "secret_db": str(secret_db),
    }
    return Target("sqlite", f"sqlite:///{path}", [token, other, secret_file[1]], fill, [out])


@pytest.fixture(scope="module")
def postgres_target(home: Path, secret_file: tuple[Path, str]) -> Iterator[Target]:
    pid = os.getpid()
    token, beside = f"xoxb-planted-{secrets.token_hex(8)}", f"xoxb-beside-{secrets.token_hex(8)}"
    setting, password = f"setting-secret-{secrets.token_hex(8)}", f"pw-{secrets.token_hex(8)}"
    secret_schema, victim = f"agent_secrets_{pid}", f"agent_victim_{pid}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with demo_postgres(demo_sqlite(home / "pg-source"), "allow", as_admin=True) as admin:
        schema = sqlalchemy.engine.make_url(admin).query["options"].split("=")[1]
        with engine.begin() as connection:
            for statement in (
                f"DROP SCHEMA IF EXISTS {secret_schema} CASCADE",
                f"CREATE SCHEMA {secret_schema}",
                f"CREATE TABLE {secret_schema}.tokens (token text)",
                f"INSERT INTO {secret_schema}.tokens VALUES ('{token}')",
                f"CREATE TABLE {schema}.secret_tokens (token text)",
                f"INSERT INTO {schema}.secret_tokens VALUES ('{beside}')",
                f"DROP ROLE IF EXISTS {victim}",
                f"CREATE ROLE {victim} LOGIN PASSWORD '{password}'",
            ):
                connection.exec_driver_sql(statement)
            hashed = connection.exec_driver_sql(
                f"SELECT rolpassword FROM pg_authid WHERE rolname = '{victim}'"
            ).scalar()
        grants = (
            f"GRANT USAGE ON SCHEMA {secret_schema} TO {{role}}",  # readable: only the allow-list stops it
            f"GRANT SELECT ON {secret_schema}.tokens, {schema}.secret_tokens TO {{role}}",
            f"ALTER ROLE {{role}} IN DATABASE test SET agent.api_token = '{setting}'",
        )
        try:
            with reader_role(schema, "allow", grants=grants) as url:
                out = Path(f"/tmp/agent-out-pg-{pid}")
                fill = {
                    "schema": secret_schema,
                    "victim": victim,
                    "file": str(secret_file[0]),
                    "out": str(out),
                    "secret_db": str(home / "secrets.db"),
                }
                yield Target(
                    "postgres",
                    url,
                    [token, beside, setting, password, str(hashed), secret_file[1]],
                    fill,
                    [out],
                    admin=admin,
                    extra={"role": sqlalchemy.engine.make_url(url).username},
                )
        finally:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {secret_schema} CASCADE")
                connection.exec_driver_sql(f"DROP ROLE IF EXISTS {victim}")
            engine.dispose()


def admin_connection(target: Target) -> psycopg.Connection:
    url = sqlalchemy.engine.make_url(POSTGRES_URL)
    return psycopg.connect(host=url.host, port=url.port, dbname=url.database, user=url.username, autocommit=True)


def postgres_state(target: Target, victim: psycopg.Connection) -> dict[str, object]:
    """What a hostile query could have changed outside the data: settings, locks, sessions."""
    role = target.extra["role"]
    with admin_connection(target) as admin:
        return {
            "role settings": admin.execute(
                "SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting ORDER BY 1, 2"
            ).fetchall(),
            "advisory locks": admin.execute(
                "SELECT pid, objid FROM pg_locks WHERE locktype = 'advisory' ORDER BY 1, 2"
            ).fetchall(),
            "busy reader sessions": admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state <> 'idle'", [role]
            ).fetchone(),
            "victim": victim.execute(
                "SELECT pg_backend_pid(), current_setting('application_name'), current_setting('search_path')"
            ).fetchone(),
            "files": [admin.execute("SELECT pg_stat_file(%s, true)", [str(p)]).fetchone() for p in target.out_paths],
        }


def run_catalogue(target: Target, home: Path) -> tuple[list[tuple[str, dict, str, float]], int, str]:
    env = cli_env(
        AGENT_DATABASE_URL=target.url,
        AGENT_SQL_TIMEOUT_SECONDS=str(TIMEOUT),
        AGENT_SQL_ROW_LIMIT=str(ROW_LIMIT),
        DATA_DIR=str(home / "data"),
    )
    batch = SqlBatch(env, home / f"{target.dialect}-stderr.log")
    try:
        for sql in WARM_UP:  # imports, the demo check, the first connection: what any first query pays
            batch.ask(sql)
        baseline = batch.memory_kb("VmRSS")
        batch.reset_peak()
        answers = []
        for case in CASES:
            answer, line, wall = batch.ask(case.sql.format(**target.fill))
            answers.append((case.label, answer, line, wall))
        growth = batch.memory_kb("VmHWM") - baseline
    finally:
        code, log = batch.close()
    assert code == 0, log[-2000:]
    return answers, growth, log


def check_answers(target: Target, answers: list[tuple[str, dict, str, float]], log: str) -> None:
    for case, (label, answer, line, wall) in zip(CASES, answers):
        assert label == case.label
        assert answer["status"] in ("ok", "refused", "error", "timeout"), (label, answer)
        if target.dialect in case.refuse:
            assert answer["status"] == "refused", (label, answer)
        if answer["status"] == "ok":
            assert len(answer["rows"]) <= ROW_LIMIT, label
            assert all(len(str(cell)) <= 201 for row in answer["rows"] for cell in row), label
        else:
            assert answer["error"] and answer["rows"] == [], (label, answer)
        assert wall <= TIMEOUT + 1 and answer["elapsed_ms"] <= (TIMEOUT + 1) * 1000, (label, wall, answer)
        assert not leaked(line, target), (label, line)
    assert not leaked(log, target)
    for path in target.out_paths:
        assert not path.exists(), path


def test_the_catalogue_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 40 and len({c.label for c in CASES}) == len(CASES)
    assert {c.kind for c in CASES} == set(KINDS)
    assert all(sum(c.kind == kind for c in CASES) >= 5 for kind in KINDS)


def test_sqlite_hostile_catalogue_leaks_nothing_writes_nothing_and_stays_bounded(
    sqlite_target: Target, home: Path
) -> None:
    before = fingerprint(sqlite_target.url)
    folder = Path(sqlite_target.url.removeprefix("sqlite:///")).parent
    files_before = sorted(p.name for p in folder.iterdir())
    answers, growth, log = run_catalogue(sqlite_target, home)

    check_answers(sqlite_target, answers, log)
    assert growth < GROWTH_LIMIT_KB, f"app.py sql grew by {growth} kB over the catalogue"
    assert sum(a["status"] == "refused" for _, a, _, _ in answers) >= len(CASES) - 10
    assert {a["status"] for _, a, _, _ in answers} >= {"ok", "refused", "timeout"}
    assert fingerprint(sqlite_target.url) == before
    assert sorted(p.name for p in folder.iterdir()) == files_before  # no journal, copy or attached file
    with sqlite3.connect(sqlite_target.url.removeprefix("sqlite:///"), timeout=0) as writer:
        writer.execute("BEGIN EXCLUSIVE")  # no lock is left on the file
        writer.rollback()


def test_postgres_hostile_catalogue_as_a_reader_leaks_nothing_and_leaves_no_session_state(
    postgres_target: Target, home: Path
) -> None:
    before = fingerprint(postgres_target.url)
    with admin_connection(postgres_target) as victim:
        victim.execute("SET application_name = 'agent-victim'")
        victim.execute("SELECT pg_advisory_lock(7)")
        state = postgres_state(postgres_target, victim)
        answers, growth, log = run_catalogue(postgres_target, home)

        check_answers(postgres_target, answers, log)
        assert growth < GROWTH_LIMIT_KB, f"app.py sql grew by {growth} kB over the catalogue"
        assert sum(a["status"] == "refused" for _, a, _, _ in answers) >= len(CASES) - 10
        assert {a["status"] for _, a, _, _ in answers} >= {"ok", "refused", "timeout"}
        assert postgres_state(postgres_target, victim) == state  # the victim lives on, its lock and settings too
        assert state["files"] == [(None,)] * len(postgres_target.out_paths)
    assert fingerprint(postgres_target.url) == before


def test_a_superuser_is_refused_at_start_by_the_cli_the_agent_and_doctor(postgres_target: Target, home: Path) -> None:
    admin = postgres_target.admin
    assert admin is not None
    env = cli_env(AGENT_DATABASE_URL=admin, DATA_DIR=str(home / "data"))
    lines = "".join(json.dumps({"sql": c.sql.format(**postgres_target.fill)}) + "\n" for c in CASES)
    result = run_sql(env, "--batch", "-", "--json", stdin=lines)
    message = (
        "the database tools cannot be used: the agent's database role postgres is a superuser: it could "
        "read any table, server files and settings. Connect as a role that can only read (see README, "
        "'A read-only role for the agent')."
    )
    assert result.returncode == 2 and result.stdout == "" and message in result.stderr
    assert not leaked(result.stdout + result.stderr, postgres_target)

    single = run_sql(env, "SELECT count(*) FROM sales")
    assert single.returncode == 2 and message in single.stderr

    toolbox = Toolbox(
        database=lambda: ReadOnlyDatabase(admin), library=lambda: None, permissions=Permissions(), row_limit=ROW_LIMIT
    )
    for tool, arguments in (("sql", {"query": "SELECT count(*) FROM sales"}), ("schema", {})):
        output = toolbox.run(tool, json.dumps(arguments), ToolContext("C1", "U1"))
        assert output.refused and json.loads(output.content) == {"error": message}

    doctor = subprocess.run(
        [sys.executable, "app.py", "doctor"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert f"[FAIL] agent database: {message}" in doctor.stdout.splitlines() and doctor.returncode == 1


def test_the_reader_role_starts_and_the_cli_shows_what_the_agent_may_read(postgres_target: Target, home: Path) -> None:
    env = cli_env(AGENT_DATABASE_URL=postgres_target.url, DATA_DIR=str(home / "data"))
    schema = run_sql(env, "--schema")
    assert schema.returncode == 0
    assert [line.split(":")[0] for line in schema.stdout.splitlines()] == sorted(TABLES)
    assert "secret_tokens" not in schema.stdout and "tokens" not in schema.stdout.replace("secret", "")
    ok = run_sql(env, "SELECT name FROM regions WHERE name LIKE 'E%'", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["rows"] == [["Europe"]]
    refused = run_sql(env, "SELECT token FROM secret_tokens", "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "refused"
    assert "it may read only: customers, demo_info, products, regions, sales" in json.loads(refused.stdout)["error"]


def test_the_cli_runs_a_batch_file_one_json_object_per_line(sqlite_target: Target, home: Path) -> None:
    queries = [
        "SELECT count(*) AS n FROM regions",
        "SELECT token FROM secret_tokens",
        "SELECT name FROM regions WHERE sum(id) > 1",
        "SELECT count(*) FROM sales a, sales b, sales c",
    ]
    batch = home / "batch.jsonl"
    batch.write_text("".join(json.dumps({"sql": q}) + "\n" for q in queries) + '{"query": 1}\n')
    env = cli_env(
        AGENT_DATABASE_URL=sqlite_target.url, AGENT_SQL_TIMEOUT_SECONDS=str(TIMEOUT), DATA_DIR=str(home / "data")
    )
    result = run_sql(env, "--batch", str(batch), "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["ok", "refused", "error", "timeout", "error"]
    assert all({"status", "rows", "error", "elapsed_ms"} <= set(line) for line in lines)
    assert lines[0]["rows"] == [[4]] and lines[0]["error"] is None
    assert "it may read only: customers, demo_info, products, regions, sales" in lines[1]["error"]
    assert "misuse of aggregate function" in lines[2]["error"] and "longer than 1 s" in lines[3]["error"]
    assert lines[4]["error"] == 'line 5 is not a JSON object with a "sql" string'
    assert not leaked(result.stdout + result.stderr, sqlite_target)

    single = run_sql(env, "SELECT name FROM regions ORDER BY id LIMIT 2")
    assert single.returncode == 0 and single.stdout == "name\nNorth America\nEurope\n"


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue(f"{request.param}_target")


def test_column_allow_list_hides_the_other_columns_everywhere(target: Target) -> None:
    tables = "sales, customers.id, customers.name"
    database = ReadOnlyDatabase(target.url, tables=tables, row_limit=ROW_LIMIT, timeout_seconds=TIMEOUT)
    toolbox = Toolbox(database=lambda: database, library=lambda: None, permissions=Permissions(), row_limit=ROW_LIMIT)
    listed = json.loads(toolbox.run("schema", "{}", ToolContext()).content)["tables"]
    assert [(t["name"], [c.split()[0] for c in t["columns"]]) for t in listed] == [
        ("sales", ["id", "sale_date", "customer_id", "product_id", "quantity", "amount"]),
        ("customers", ["id", "name"]),
    ]

    def sql(query: str) -> dict:
        return json.loads(toolbox.run("sql", json.dumps({"query": query}), ToolContext()).content)

    star = sql("SELECT * FROM customers ORDER BY id LIMIT 1")
    assert star == {"columns": ["id", "name"], "rows": [[1, "Acme Corp"]], "row_count": 1}
    assert "segment" in sql("SELECT segment FROM customers")["error"]
    assert "it may read only: customers, sales" in sql("SELECT name FROM regions")["error"]
    joined = sql(
        "SELECT c.name, count(*) AS n FROM sales s JOIN customers c ON c.id = s.customer_id "
        "GROUP BY c.name ORDER BY c.name LIMIT 1"
    )
    assert joined["columns"] == ["name", "n"] and joined["rows"][0][0] == "Acme Corp"
    if target.dialect == "sqlite":  # SQLite's authorizer stops it without the guard (PostgreSQL: column grants)
        with pytest.raises(QueryFailed, match="only reading is allowed"):
            database.query("SELECT segment FROM customers")


def test_allow_list_naming_what_does_not_exist_refuses_to_start(target: Target) -> None:
    with pytest.raises(DatabaseRefused, match="AGENT_SQL_TABLES names .*: orders, customers.nope"):
        ReadOnlyDatabase(target.url, tables="sales, orders, customers.nope")
    with pytest.raises(DatabaseRefused, match="'sales;drop' is not a table or table.column name"):
        ReadOnlyDatabase(target.url, tables="sales;drop")
