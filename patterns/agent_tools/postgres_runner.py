"""PostgreSQL for the agent: a role that can only read, checked; each query alone in a read-only transaction.

At start (and again every minute) the role is checked: no superuser, no CREATEROLE, no membership in the
predefined roles that reach files, programs, other sessions, settings or all data, no way to write to a table
it reads, and a bounded `temp_file_limit`. Each query gets a connection of its own (no pool), `BEGIN READ
ONLY`, `SET LOCAL` statement, lock and idle timeouts, `work_mem` and `temp_file_limit`; it is read from a
server-side cursor in batches, each cell cut in the query itself, until the row or byte limit; then the
transaction is rolled back, `DISCARD ALL` drops anything the session picked up, and the connection is closed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
from psycopg import errors
from sqlalchemy.engine import URL

from patterns.agent_tools.allow_list import TableSpec
from patterns.agent_tools.query_types import (
    Column,
    DatabaseRefused,
    Limits,
    QueryFailed,
    QueryResult,
    QueryTimeout,
    Table,
)

# Predefined roles that reach beyond the allowed tables: server files, programs, other sessions, settings.
FORBIDDEN_ROLES = (
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
    "pg_read_all_settings",
    "pg_read_all_data",
    "pg_write_all_data",
)
WRITE_PRIVILEGES = "INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER"
BATCH_ROWS = 25
CONNECT_TIMEOUT_SECONDS = 10
HELP = "see README, 'A read-only role for the agent'"

# Each row comes back as one JSON array whose cells are cut in the query: a long text, or a number with more
# digits than a cell may hold, arrives as at most `cap` characters (the bot adds "…"); psycopg only sees that.
_ROWS = """SELECT (SELECT json_agg(CASE WHEN json_typeof(e.value) IN ('number', 'boolean', 'null')
                                      AND length(e.value::text) <= {cap} THEN e.value
                                 ELSE to_json(left(e.value #>> '{{}}', {cap} + 1)) END ORDER BY e.n)
        FROM json_each(row_to_json(agent_row.*)) WITH ORDINALITY AS e(key, value, n))::text
FROM ({query}) AS agent_row"""
_COLUMNS = "SELECT * FROM ({query}) AS agent_row LIMIT 0"


class PostgresRunner:
    def __init__(self, url: URL, limits: Limits) -> None:
        self.conninfo = psycopg.conninfo.make_conninfo(
            host=url.host or "",
            port=str(url.port or ""),
            dbname=url.database or "",
            user=url.username or "",
            password=url.password or "",
            **{k: str(v) for k, v in url.query.items()},
        )
        self.limits = limits
        self.set_temp_file_limit = True

    # Start: the role and the tables ----------------------------------------------------------------------

    def inspect(self, spec: TableSpec) -> list[Table]:
        """Check the role; return the allowed tables with the columns the role may read. Raises DatabaseRefused."""
        try:
            with self._connect() as connection:
                try:
                    self._check_role(connection)
                    return self._tables(connection, spec)
                finally:
                    connection.rollback()
        except psycopg.Error as error:
            raise DatabaseRefused(f"cannot check the agent's PostgreSQL database ({_first_line(error)})") from None

    def _check_role(self, connection: psycopg.Connection) -> None:
        row = connection.execute(
            "SELECT r.rolname, r.rolsuper, r.rolcreaterole, "
            "ARRAY(SELECT g.rolname FROM pg_roles g WHERE g.rolname = ANY(%s) "
            "      AND pg_has_role(current_user, g.oid, 'MEMBER') ORDER BY g.rolname), "
            "current_setting('server_version_num')::int "
            "FROM pg_roles r WHERE r.rolname = current_user",
            [list(FORBIDDEN_ROLES)],
        ).fetchone()
        assert row is not None
        role, superuser, createrole, memberships, version = row
        if superuser:
            raise DatabaseRefused(
                f"the agent's database role {role} is a superuser: it could read any table, "
                f"server files and settings. Connect as a role that can only read ({HELP})."
            )
        if createrole:
            raise DatabaseRefused(
                f"the agent's database role {role} has CREATEROLE: it could give itself any "
                f"privilege. Connect as a role that can only read ({HELP})."
            )
        if memberships:
            raise DatabaseRefused(
                f"the agent's database role {role} is a member of {', '.join(memberships)}: "
                f"it reaches beyond the allowed tables. Revoke it, or connect as a role that "
                f"can only read ({HELP})."
            )
        settable = (
            version >= 150000
            and connection.execute("SELECT has_parameter_privilege('temp_file_limit', 'SET')").fetchone()[0]
        )  # type: ignore[index]
        current = int(
            connection.execute("SELECT setting FROM pg_settings WHERE name = 'temp_file_limit'").fetchone()[0]
        )  # type: ignore[index]
        self.set_temp_file_limit = bool(settable)
        if not settable and not 0 <= current <= self.limits.postgres_temp_file_limit_kb:
            cap = self.limits.postgres_temp_file_limit_kb // 1024
            raise DatabaseRefused(
                f"the agent's database role {role} may use unlimited temporary files and cannot "
                f"limit them itself: run GRANT SET ON PARAMETER temp_file_limit TO {role} "
                f"(PostgreSQL 15+) or ALTER ROLE {role} SET temp_file_limit = '{cap}MB' ({HELP})."
            )

    def _tables(self, connection: psycopg.Connection, spec: TableSpec) -> list[Table]:
        role = connection.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
        missing: list[str] = []
        writable: list[str] = []
        tables: list[Table] = []
        for rule in spec.rules:
            found = connection.execute(
                "SELECT c.oid, has_table_privilege(c.oid, %s) "
                "OR has_any_column_privilege(c.oid, 'INSERT, UPDATE') FROM pg_class c "
                "WHERE c.oid = to_regclass(quote_ident(%s))",
                [WRITE_PRIVILEGES, rule.name],
            ).fetchone()
            if found is None:
                missing.append(rule.name)
                continue
            oid, can_write = found
            if can_write:
                writable.append(rule.name)
            info = connection.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                "has_column_privilege(a.attrelid, a.attnum, 'SELECT') FROM pg_attribute a "
                "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                [oid],
            ).fetchall()
            present = {name for name, _, _ in info}
            missing.extend(f"{rule.name}.{c}" for c in sorted(set(rule.columns or ()) - present))
            columns = [
                Column(name, kind)
                for name, kind, readable in info
                if readable and (rule.columns is None or name in rule.columns)
            ]
            if not columns:
                missing.append(f"{rule.name} (role {role} may not read it: GRANT SELECT ON {rule.name} TO {role})")
                continue
            tables.append(Table(rule.name, columns, restricted=len(columns) < len(info)))
        if writable:
            raise DatabaseRefused(
                f"the agent's database role {role} can write to {', '.join(writable)}, which it "
                f"reads: REVOKE INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON "
                f"{', '.join(writable)} FROM {role}, or connect as a role that can only read "
                f"({HELP})."
            )
        if missing:
            raise DatabaseRefused(
                f"AGENT_SQL_TABLES names what the database does not have or the role cannot read: {', '.join(missing)}"
            )
        return tables

    # Queries ----------------------------------------------------------------------------------------------

    def query(self, sql: str, tables: list[Table], *, wrap: bool = True) -> QueryResult:
        """Run checked SQL; `wrap=False` runs a statement as it is (only to show what the database refuses)."""
        started = time.monotonic()
        deadline = started + self.limits.timeout_seconds
        try:
            connection = self._connect()
        except psycopg.Error as error:
            raise QueryFailed(f"cannot connect to the agent's database ({_first_line(error)})") from None
        try:
            self._begin(connection)
            if wrap:
                columns, rows, truncated, clipped = self._fetch(connection, sql, deadline)
            else:
                columns, rows, truncated, clipped = self._fetch_plain(connection, sql)
        except errors.QueryCanceled:
            raise QueryTimeout(
                f"the query took longer than {self.limits.timeout_seconds:g} s and was stopped"
            ) from None
        except errors.LockNotAvailable:
            raise QueryFailed("the query waited too long for a lock and was stopped") from None
        except (errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege) as error:
            raise QueryFailed(f"the database refused it: only reading is allowed ({_first_line(error)})") from None
        except (errors.ProgramLimitExceeded, errors.OutOfMemory, errors.ConfigurationLimitExceeded) as error:
            raise QueryFailed(f"the result would be too big ({_first_line(error)})") from None
        except psycopg.Error as error:
            raise QueryFailed(_first_line(error)) from None
        finally:
            _end(connection)
        return QueryResult(
            columns=columns,
            rows=rows,
            truncated=truncated,
            elapsed_ms=(time.monotonic() - started) * 1000,
            clipped_cells=clipped,
        )

    def _connect(self) -> psycopg.Connection:
        connection = psycopg.connect(
            self.conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=False, application_name="agent-sql"
        )
        connection.read_only = True  # every transaction starts BEGIN READ ONLY
        return connection

    def _begin(self, connection: psycopg.Connection) -> None:
        limits = self.limits
        timeout_ms = max(1, int(limits.timeout_seconds * 1000))
        settings = {
            "statement_timeout": str(timeout_ms),
            "lock_timeout": str(timeout_ms),
            "idle_in_transaction_session_timeout": str(timeout_ms + 5_000),
            "work_mem": limits.postgres_work_mem,
        }
        if self.set_temp_file_limit:
            settings["temp_file_limit"] = str(limits.postgres_temp_file_limit_kb)
        connection.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings),
            [item for pair in settings.items() for item in pair],
        )

    def _fetch(
        self, connection: psycopg.Connection, sql: str, deadline: float
    ) -> tuple[list[str], list[list[Any]], bool, int]:
        limits = self.limits
        with connection.cursor() as plain:
            plain.execute(_COLUMNS.format(query=sql))
            columns = [d.name for d in plain.description or []]
        rows: list[list[Any]] = []
        size, clipped, truncated = len(json.dumps(columns)), 0, False
        with connection.cursor(name="agent_rows") as cursor:
            cursor.execute(_ROWS.format(query=sql, cap=limits.max_cell_chars))
            while not truncated:
                _remaining_timeout(connection, deadline)
                batch = cursor.fetchmany(BATCH_ROWS)
                if not batch:
                    break
                for (text,) in batch:
                    if len(rows) >= limits.row_limit:
                        truncated = True
                        break
                    size += len(text or "[]")
                    if size > limits.max_result_bytes:
                        truncated = True
                        break
                    row, cut = _row(json.loads(text) if text else [], limits.max_cell_chars)
                    rows.append(row)
                    clipped += cut
        return columns, rows, truncated, clipped

    def _fetch_plain(self, connection: psycopg.Connection, sql: str) -> tuple[list[str], list[list[Any]], bool, int]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            columns = [d.name for d in cursor.description or []]
            batch = cursor.fetchmany(self.limits.row_limit) if cursor.description else []
        return columns, [[str(v)[: self.limits.max_cell_chars] for v in r] for r in batch], False, 0


def _remaining_timeout(connection: psycopg.Connection, deadline: float) -> None:
    """The whole query, over all its fetches, stays within the one timeout."""
    remaining = int((deadline - time.monotonic()) * 1000)
    if remaining <= 0:
        raise errors.QueryCanceled("deadline")
    connection.execute("SELECT set_config('statement_timeout', %s, true)", [str(remaining)])


def _row(cells: list[Any], cap: int) -> tuple[list[Any], int]:
    row, clipped = [], 0
    for cell in cells:
        if isinstance(cell, float):
            cell = round(cell, 6)
        elif isinstance(cell, str) and len(cell) > cap:
            cell, clipped = cell[:cap] + "…", clipped + 1
        row.append(cell)
    return row, clipped


def _end(connection: psycopg.Connection) -> None:
    """Roll back, forget anything the session picked up (settings, locks, prepared plans), and disconnect."""
    try:
        connection.rollback()
        connection.autocommit = True
        connection.execute("DISCARD ALL")
    except psycopg.Error:
        pass
    finally:
        connection.close()


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:300]
