"""Decide whether a model-written SQL query may run: one SELECT built only from what `allow_list` allows.

This is the first of two walls (the second is the database: a read-only role in a read-only transaction, or a
read-only SQLite connection whose authorizer allows the same tables and functions, see `database.py`). The
query is parsed with sqlglot and every node must be on an allow-list: structure, functions, cast types; every
table must be an allowed table (or a CTE of the query), and every column must resolve to an allowed column.
What runs is SQL regenerated from the checked tree (comments dropped), with each string-growing expression cut
to `STRING_CAP` characters and a row LIMIT, so text that was never checked cannot reach the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from patterns.agent_tools.allow_list import (
    CAST_TYPES,
    FUNCTIONS,
    GROWING,
    MAX_TYPE_SIZE,
    NAMED_FUNCTIONS,
    STRING_CAP,
    STRUCTURE,
    VAR_PARENTS,
)

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # it warns on every statement it cannot fully parse

MAX_QUERY_CHARS = 5_000
MAX_DEPTH = 60  # nesting of the parsed query; deeper trees are refused before anything recurses over them
MAX_COLUMNS = 50
_TABLE_ARGS = {"this", "alias", "only"}

# SQLAlchemy backend name -> sqlglot dialect; only these two have database-level guards (see database.py).
DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}

_KINDS = {
    "Lock": "FOR UPDATE/SHARE locking",
    "Into": "SELECT … INTO",
    "Placeholder": "a query parameter",
    "Parameter": "a query parameter",
    "Dot": "a schema-qualified name",
    "Collate": "COLLATE",
    "TableSample": "TABLESAMPLE",
    "Lateral": "LATERAL",
    "Array": "an array",
    "Any": "ANY/ALL",
    "All": "ANY/ALL",
    "RegexpLike": "a regular expression match",
    "SimilarTo": "SIMILAR TO",
    "Unnest": "UNNEST",
    "ObjectIdentifier": "an object identifier type (regclass, oid…)",
}


@dataclass(frozen=True)
class Policy:
    """What a query may read, as resolved from the database: table -> its allowed columns, in order."""

    dialect: str
    tables: dict[str, tuple[str, ...]]
    restricted: frozenset[str] = frozenset()  # tables of which only some columns may be read
    row_limit: int = 50

    @cached_property
    def schema(self) -> dict[str, dict[str, str]]:
        """For sqlglot's qualifier: only the allowed columns exist, so `*` expands to them alone."""
        return {table: {column: "UNKNOWN" for column in columns} for table, columns in self.tables.items()}

    @property
    def table_list(self) -> str:
        return ", ".join(sorted(self.tables)) or "none"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    sql: str = ""  # what to run (regenerated, with the row limit) when allowed
    reason: str = ""  # why not, in words the model and the user can act on


def dialect_for(backend: str) -> str:
    return DIALECTS.get(backend, backend)


def is_query(sql: str, dialect: str) -> bool:
    """Whether `sql` is one SELECT-like statement (what the guard lets through), as opposed to anything else."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (SqlglotError, RecursionError):
        return False
    return len(statements) == 1 and isinstance(statements[0], exp.Query)


def check_query(sql: str, policy: Policy) -> Verdict:
    """Allow exactly one SELECT (or WITH … SELECT, UNION …) made only of allowed parts; return the SQL to run."""
    if not sql or not sql.strip():
        return _refuse("the query is empty")
    if len(sql) > MAX_QUERY_CHARS:
        return _refuse(f"the query is longer than {MAX_QUERY_CHARS} characters")
    try:
        statements = [s for s in sqlglot.parse(sql, read=policy.dialect) if s is not None]
    except SqlglotError as error:
        return _refuse(f"the query could not be parsed ({_first_line(error)})")
    except RecursionError:
        return _refuse("the query is nested too deeply")
    if len(statements) != 1:
        return _refuse(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery)):
        return _refuse(f"only SELECT queries are allowed, not {_kind(tree)}")
    if _depth(tree) > MAX_DEPTH:
        return _refuse("the query is nested too deeply")
    try:
        return _check(normalize_identifiers(tree, dialect=policy.dialect), policy)
    except RecursionError:
        return _refuse("the query is nested too deeply")
    except SqlglotError as error:
        return _refuse(f"the query could not be prepared ({_first_line(error)})")


def _check(tree: exp.Expression, policy: Policy) -> Verdict:
    for node in tree.walk():
        if problem := _node_problem(node, policy.dialect):
            return _refuse(problem)
    if problem := _table_problem(tree, policy):
        return _refuse(problem)
    try:
        qualified = qualify(
            tree.copy(), dialect=policy.dialect, schema=policy.schema, quote_identifiers=False, identify=False
        )
    except OptimizeError as error:
        return _refuse(
            f"{_first_line(error)}; the agent may read only these tables: {policy.table_list} "
            "(use the schema tool to see their columns)"
        )
    if any(isinstance(node, exp.TableColumn) for node in qualified.walk()):
        return _refuse("a whole row of a table cannot be selected; name the columns")
    outputs = qualified.selects if isinstance(qualified, exp.Query) else []
    if len(outputs) > MAX_COLUMNS:
        return _refuse(f"the query returns more than {MAX_COLUMNS} columns")
    reads = {t.name for t in tree.find_all(exp.Table)}
    runnable = qualified if reads & policy.restricted else tree  # stars expanded to the allowed columns only
    bounded = _with_limit(_cap_strings(runnable), policy.row_limit + 1)  # one extra row: the result was cut
    return Verdict(True, sql=bounded.sql(dialect=policy.dialect, comments=False))


def _node_problem(node: exp.Expression, dialect: str) -> str | None:
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name not in NAMED_FUNCTIONS.get(dialect, frozenset()):
            return _function_refusal(name)
        return None
    kind = type(node)
    if kind not in STRUCTURE and kind not in FUNCTIONS:
        if isinstance(node, exp.Func):
            return _function_refusal(node.sql_name().lower())
        return f"{_kind(node)} is not allowed in the agent's queries"
    if isinstance(node, exp.With) and node.args.get("recursive"):
        return "recursive queries (WITH RECURSIVE) are not allowed"
    if isinstance(node, exp.DataType):
        if node.this not in CAST_TYPES:
            return f"the type {node.sql()} is not allowed; use text, integer, numeric, real, boolean, date or timestamp"
        if any(not _small_literal(p.this, MAX_TYPE_SIZE) for p in node.expressions):
            return f"type sizes are limited to {MAX_TYPE_SIZE}"
    if isinstance(node, exp.Var) and not isinstance(node.parent, VAR_PARENTS):
        return f"the keyword {node.name} is not allowed here"
    if isinstance(node, exp.Table):
        extra = [key for key in node.args if key not in _TABLE_ARGS and node.args.get(key)]
        if not isinstance(node.this, exp.Identifier) or extra:
            return "tables must be named plainly (no schema, function, sample or time travel)"
        alias = node.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.columns:
            return "renaming a table's columns in its alias is not allowed"
    if isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
        return "columns must be named as column or table.column"
    if isinstance(node, (exp.Limit, exp.Offset)) and not _small_literal(node.expression, 10**9):
        return "LIMIT and OFFSET must be whole numbers"
    return None


def _table_problem(tree: exp.Expression, policy: Policy) -> str | None:
    """Every table is an allowed table or a CTE visible where it is used."""
    try:
        scopes = traverse_scope(tree)
    except (OptimizeError, SqlglotError) as error:
        return f"the query could not be checked ({_first_line(error)})"
    checked: set[int] = set()
    for scope in scopes:
        for table in scope.tables:
            checked.add(id(table))
            if table.name in scope.cte_sources:
                continue
            if table.name not in policy.tables:
                return f"the table {table.name} is not one the agent may read; it may read only: {policy.table_list}"
    if any(id(table) not in checked for table in tree.find_all(exp.Table)):
        return "the query could not be checked (a table is used where tables cannot be checked)"
    return None


def _cap_strings(tree: exp.Expression) -> exp.Expression:
    """Each concatenation or replace() cut to STRING_CAP characters, innermost first, so nothing doubles far."""
    tree = tree.copy()
    for node in reversed(list(tree.walk(bfs=False))):  # descendants come before their ancestors
        if isinstance(node, GROWING) and node.parent is not None:
            wrapper = exp.Anonymous(this="substr")
            node.replace(wrapper)
            wrapper.set("expressions", [node, exp.Literal.number(1), exp.Literal.number(STRING_CAP)])
    return tree


def _with_limit(tree: exp.Expression, limit: int) -> exp.Expression:
    """The query with at most `limit` rows: its own smaller constant LIMIT is kept."""
    if isinstance(tree, exp.Select):
        current = tree.args.get("limit")
        value = current.expression if isinstance(current, exp.Limit) else None
        if (
            isinstance(value, exp.Literal)
            and not value.is_string
            and value.this.isdigit()
            and int(value.this) <= limit
            and not tree.args.get("offset")
        ):
            return tree
        if current is None and not tree.args.get("offset"):
            return tree.limit(limit, copy=True)
    return exp.select("*").from_(tree.subquery("agent_query", copy=True)).limit(limit)


def _depth(tree: exp.Expression) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _small_literal(value: object, most: int) -> bool:
    if not isinstance(value, exp.Literal) or value.is_string:
        return False
    try:
        return 0 <= int(value.this) <= most
    except ValueError:
        return False


def _function_refusal(name: str) -> str:
    return (
        f"the function {name}() is not allowed; only ordinary aggregate, arithmetic, string, date and "
        "conditional functions are (for example count, sum, avg, round, lower, substr, coalesce, case)"
    )


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return f"a {str(node.this).upper()} statement"
    name = type(node).__name__
    return _KINDS.get(name, f"{name.upper()}")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


def _refuse(reason: str) -> Verdict:
    return Verdict(False, reason=reason)
