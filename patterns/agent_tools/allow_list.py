"""What the agent's SQL may use: the tables (and columns) it may read, and the SQL it may write.

Everything not listed here is refused, so a function that runs a string, reads a file, sleeps, takes a lock,
kills a session or reads a setting is refused without having to be known. The lists are sqlglot expression
classes (how the query parses) plus, for functions sqlglot does not model, plain names per dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot import exp

# The demo database's tables: what the agent reads when AGENT_SQL_TABLES is not set.
DEMO_TABLES = ("customers", "demo_info", "products", "regions", "sales")

MAX_TYPE_SIZE = 1_000  # CHAR(n), VARCHAR(n), NUMERIC(p, s): CHAR pads, so a huge n is a memory bomb
STRING_CAP = 1_000  # every concatenation or replace() result is cut to this many characters in the query

_NAME = r"[A-Za-z_][A-Za-z0-9_$]*"
_ENTRY = re.compile(rf"^({_NAME})(?:\.({_NAME}))?$")


class AllowListError(ValueError):
    """AGENT_SQL_TABLES is malformed; the message says how."""


@dataclass(frozen=True)
class TableRule:
    """One allowed table: every column (`columns` is None) or only the listed ones."""

    name: str
    columns: frozenset[str] | None = None


@dataclass(frozen=True)
class TableSpec:
    """The configured allow-list of tables and columns, before it is checked against a database."""

    rules: tuple[TableRule, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [rule.name for rule in self.rules]


def parse_tables(text: str | None) -> TableSpec:
    """`sales, customers.name, customers.id` → sales (all columns) and customers (name, id). Empty: the demo."""
    entries = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not entries:
        return TableSpec(tuple(TableRule(name) for name in DEMO_TABLES))
    whole: set[str] = set()
    columns: dict[str, set[str]] = {}
    order: list[str] = []
    for entry in entries:
        match = _ENTRY.match(entry)
        if not match:
            raise AllowListError(f"'{entry}' is not a table or table.column name")
        table, column = match.group(1).lower(), match.group(2)
        if table not in order:
            order.append(table)
        if column is None:
            whole.add(table)
        else:
            columns.setdefault(table, set()).add(column.lower())
    return TableSpec(tuple(TableRule(t, None if t in whole else frozenset(columns[t])) for t in order))


# Structure a SELECT needs. Anything else (locks, INTO, parameters, COLLATE, arrays, XML, JSON operators,
# table samples, lateral joins, schema-qualified calls through Dot, …) is refused.
STRUCTURE: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Select,
        exp.Union,
        exp.Intersect,
        exp.Except,
        exp.Subquery,
        exp.From,
        exp.Join,
        exp.Where,
        exp.Group,
        exp.Having,
        exp.Order,
        exp.Ordered,
        exp.Limit,
        exp.Offset,
        exp.With,
        exp.CTE,
        exp.TableAlias,
        exp.Alias,
        exp.Table,
        exp.Column,
        exp.Identifier,
        exp.Star,
        exp.Literal,
        exp.Boolean,
        exp.Null,
        exp.Paren,
        exp.Tuple,
        exp.Distinct,
        exp.Window,
        exp.WindowSpec,
        exp.Filter,
        exp.WithinGroup,
        exp.Values,
        exp.Exists,
        exp.Interval,
        exp.DataType,
        exp.DataTypeParam,
        exp.Var,
        exp.Neg,
        exp.Not,
        exp.Is,
        exp.In,
        exp.Between,
        exp.Like,
        exp.ILike,
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.NullSafeEQ,
        exp.NullSafeNEQ,
        exp.And,
        exp.Or,
        exp.Add,
        exp.Sub,
        exp.Mul,
        exp.Div,
        exp.IntDiv,
        exp.Mod,
        exp.DPipe,
        exp.AtTimeZone,
    }
)

# sqlglot's function classes the agent may call: ordinary aggregate, arithmetic, string, date and conditional
# functions. Those that make strings longer (concatenation, replace) are cut to STRING_CAP by the guard.
FUNCTIONS: frozenset[type[exp.Expression]] = frozenset(
    {
        # aggregate and window
        exp.Count,
        exp.Sum,
        exp.Avg,
        exp.Min,
        exp.Max,
        exp.Stddev,
        exp.StddevPop,
        exp.StddevSamp,
        exp.Variance,
        exp.VariancePop,
        exp.Corr,
        exp.LogicalAnd,
        exp.LogicalOr,
        exp.PercentileCont,
        exp.PercentileDisc,
        exp.RowNumber,
        exp.Rank,
        exp.DenseRank,
        exp.Ntile,
        exp.Lag,
        exp.Lead,
        exp.FirstValue,
        exp.LastValue,
        exp.CumeDist,
        exp.PercentRank,
        # arithmetic
        exp.Abs,
        exp.Round,
        exp.Ceil,
        exp.Floor,
        exp.Trunc,
        exp.Sqrt,
        exp.Pow,
        exp.Ln,
        exp.Log,
        exp.Exp,
        exp.Sign,
        # string
        exp.Lower,
        exp.Upper,
        exp.Length,
        exp.Substring,
        exp.Trim,
        exp.Replace,
        exp.StrPosition,
        exp.Left,
        exp.Right,
        exp.Initcap,
        exp.SplitPart,
        exp.Concat,
        exp.ConcatWs,
        # date and time
        exp.CurrentDate,
        exp.CurrentTimestamp,
        exp.Extract,
        exp.TimestampTrunc,
        exp.DateTrunc,
        exp.TimeToStr,
        exp.TsOrDsToTimestamp,
        exp.StrToDate,
        # conditional and conversion
        exp.Case,
        exp.If,
        exp.Coalesce,
        exp.Nullif,
        exp.Greatest,
        exp.Least,
        exp.Cast,
        exp.TryCast,
    }
)

# Functions sqlglot keeps as plain names (exp.Anonymous), per dialect.
NAMED_FUNCTIONS: dict[str, frozenset[str]] = {
    "sqlite": frozenset(
        {
            "total",
            "date",
            "time",
            "datetime",
            "julianday",
            "unixepoch",
            "strftime",
            "substr",
            "ltrim",
            "rtrim",
            "instr",
            "ifnull",
            "iif",
            "mod",
            "pi",
        }
    ),
    "postgres": frozenset(
        {
            "age",
            "date_part",
            "make_date",
            "make_time",
            "make_timestamp",
            "to_date",
            "to_timestamp",
            "to_number",
            "justify_days",
            "justify_hours",
            "justify_interval",
            "div",
            "substr",
            "btrim",
            "ltrim",
            "rtrim",
            "strpos",
            "char_length",
            "mod",
            "pi",
            "bool_and",
            "bool_or",
            "every",
            "covar_pop",
            "covar_samp",
            "stddev",
            "variance",
        }
    ),
}

# What SQLite's authorizer lets run: the SQL functions the classes and names above produce for SQLite.
SQLITE_FUNCTIONS = NAMED_FUNCTIONS["sqlite"] | frozenset(
    {
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "abs",
        "round",
        "ceil",
        "ceiling",
        "floor",
        "trunc",
        "sqrt",
        "power",
        "pow",
        "ln",
        "log",
        "exp",
        "sign",
        "lower",
        "upper",
        "length",
        "substring",
        "trim",
        "replace",
        "coalesce",
        "nullif",
        "like",
        "row_number",
        "rank",
        "dense_rank",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "cume_dist",
        "percent_rank",
        "concat",
        "concat_ws",
        "stddev",
        "variance",
        "current_date",
        "current_timestamp",
    }
)

# Types a CAST may name.
CAST_TYPES: frozenset[exp.DataType.Type] = frozenset(
    getattr(exp.DataType.Type, name)
    for name in (
        "TEXT",
        "VARCHAR",
        "CHAR",
        "NCHAR",
        "NVARCHAR",
        "INT",
        "BIGINT",
        "SMALLINT",
        "TINYINT",
        "DECIMAL",
        "DOUBLE",
        "FLOAT",
        "BOOLEAN",
        "DATE",
        "DATETIME",
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "TIME",
        "TIMETZ",
        "INTERVAL",
    )
    if hasattr(exp.DataType.Type, name)
)

# Parents a bare keyword (exp.Var) may appear under: date parts and units.
VAR_PARENTS: tuple[type[exp.Expression], ...] = (exp.Extract, exp.TimestampTrunc, exp.DateTrunc, exp.Interval)

# Function results that can grow a string beyond its inputs; the guard cuts each one to STRING_CAP.
GROWING: tuple[type[exp.Expression], ...] = (exp.DPipe, exp.Concat, exp.ConcatWs, exp.Replace)
