"""Decide whether a model-written SQL query may run: exactly one read-only SELECT, nothing with side effects.

This is the first of two walls (the second is the database itself: a read-only connection or transaction with
a statement timeout, see `database.py`). The query is parsed with sqlglot, checked node by node, and what runs
is the SQL regenerated from the checked tree (comments dropped, a row LIMIT added), so a comment trick or a
parser/database disagreement cannot smuggle in text that was never checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # it warns on every statement it cannot fully parse

MAX_QUERY_CHARS = 5_000
MAX_SIZE_ARGUMENT = 10_000  # repeat('x', n), zeroblob(n)...: larger n is a memory bomb, not a question

# SQLAlchemy backend name -> sqlglot dialect.
DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "mssql": "tsql",
            "oracle": "oracle", "duckdb": "duckdb", "snowflake": "snowflake", "bigquery": "bigquery"}

# Statement kinds that may not appear anywhere in the tree (data-modifying CTEs, SELECT ... INTO, FOR UPDATE...).
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Command", "Pragma",
        "Attach", "Detach", "Copy", "Set", "Use", "Transaction", "Commit", "Rollback", "Grant", "Revoke",
        "LoadData", "Kill", "Analyze", "Into", "Lock", "Cache", "Uncache", "Refresh", "Export", "Execute",
        "Declare", "Describe", "Show", "Summarize",
    ) if hasattr(exp, name)
)

# Functions with side effects, file or network access, sleeps, locks, or session changes.
DENIED_FUNCTIONS = frozenset({
    # PostgreSQL
    "set_config", "current_setting", "nextval", "setval", "currval", "lastval", "txid_current",
    "txid_current_if_assigned", "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema",
    "cursor_to_xml", "cursor_to_xmlschema", "table_to_xml", "database_to_xml", "schema_to_xml", "dblink",
    "copy", "make_set", "version", "inet_server_addr", "inet_server_port",
    # SQLite
    "load_extension", "writefile", "readfile", "edit", "fts3_tokenizer", "sqlite_compileoption_get",
    "sqlite_compileoption_used", "sqlite_offset",
    # MySQL / SQL Server
    "sleep", "benchmark", "load_file", "get_lock", "release_lock", "sys_exec", "sys_eval", "xp_cmdshell",
    "openrowset", "opendatasource", "openquery",
})
DENIED_PREFIXES = ("pg_", "lo_", "dblink", "xp_", "sp_", "dbms_", "utl_")
# Function -> index of the argument that sets an output size; it must be a small integer constant.
SIZE_ARGUMENTS = {"repeat": 1, "lpad": 1, "rpad": 1, "pad": 1, "zeroblob": 0, "randomblob": 0, "space": 0,
                  "replicate": 1}
DENIED_TABLE_PREFIXES = ("pg_",)  # catalogs: password hashes, other sessions' queries, server files


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    sql: str = ""  # what to run (regenerated, with the row limit) when allowed
    reason: str = ""  # why not, in words the model and the user can act on


def dialect_for(backend: str) -> str:
    return DIALECTS.get(backend, backend)


def check_query(sql: str, *, dialect: str, row_limit: int) -> Verdict:
    """Allow exactly one read-only SELECT (or WITH … SELECT, UNION …); return the SQL to run, with a LIMIT."""
    if not sql or not sql.strip():
        return _refuse("the query is empty")
    if len(sql) > MAX_QUERY_CHARS:
        return _refuse(f"the query is longer than {MAX_QUERY_CHARS} characters")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as error:
        return _refuse(f"the query could not be parsed ({_first_line(error)})")
    if len(statements) != 1:
        return _refuse(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery)):
        return _refuse(f"only SELECT queries are allowed, not {_kind(tree)}")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            return _refuse(f"{_kind(node)} is not allowed in a read-only query")
        if isinstance(node, exp.Func) and (problem := _function_problem(node)):
            return _refuse(problem)
        if isinstance(node, exp.Table) and node.name.lower().startswith(DENIED_TABLE_PREFIXES):
            return _refuse(f"the system table {node.name} is not available")
    try:
        bounded = _with_limit(tree, row_limit + 1)  # one extra row tells that the result was cut
        return Verdict(True, sql=bounded.sql(dialect=dialect, comments=False))
    except SqlglotError as error:
        return _refuse(f"the query could not be prepared ({_first_line(error)})")


def function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _function_problem(node: exp.Func) -> str | None:
    name = function_name(node)
    if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
        return f"the function {name}() is not allowed (it has side effects or reaches outside the data)"
    if name in SIZE_ARGUMENTS:
        arguments = node.expressions if isinstance(node, exp.Anonymous) else [
            value for key in node.arg_types if isinstance(value := node.args.get(key), exp.Expression)]
        index = SIZE_ARGUMENTS[name]
        size = arguments[index] if index < len(arguments) else None
        if size is not None and not (isinstance(size, exp.Literal) and not size.is_string
                                     and _small_integer(size.this)):
            return f"{name}() needs a constant size of at most {MAX_SIZE_ARGUMENT}"
    return None


def _small_integer(text: str) -> bool:
    try:
        return abs(int(text)) <= MAX_SIZE_ARGUMENT
    except ValueError:
        return False


def _with_limit(tree: exp.Expression, limit: int) -> exp.Expression:
    """The query with at most `limit` rows: its own smaller constant LIMIT is kept."""
    if isinstance(tree, exp.Select):
        current = tree.args.get("limit")
        value = current.expression if isinstance(current, exp.Limit) else None
        if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit() \
                and int(value.this) <= limit and not tree.args.get("offset"):
            return tree
        if current is None and not tree.args.get("offset"):
            return tree.limit(limit, copy=True)
    return exp.select("*").from_(tree.subquery("agent_query", copy=True)).limit(limit)


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return f"{str(node.this).upper()} statement"
    return {"Into": "SELECT … INTO", "Lock": "FOR UPDATE/SHARE locking"}.get(
        type(node).__name__, f"{type(node).__name__.upper()} statement")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]


def _refuse(reason: str) -> Verdict:
    return Verdict(False, reason=reason)
