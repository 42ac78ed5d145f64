"""Hostile SQL against the agent's allow-lists: what a deny list misses, by kind.

Each case names its kind and whether the tool must refuse it outright (`refuse`: the dialects on which the
guard must say no before anything runs) or may run it bounded (rows, cells, bytes, time). Placeholders are
filled in by the test with the names of the secrets it plants: `{schema}` (another schema holding a token),
`{victim}` (a role with a password), `{file}` (a file holding a secret), `{out}` (a path nothing may write),
`{secret_db}` (another SQLite file). Every case runs on SQLite and on PostgreSQL as a role that can only read.
"""

from __future__ import annotations

from dataclasses import dataclass

BOTH = frozenset({"sqlite", "postgres"})
NEITHER: frozenset[str] = frozenset()

KINDS = ("string", "relation", "memory", "slow", "session", "file", "hex")


@dataclass(frozen=True)
class Case:
    label: str
    kind: str
    sql: str
    refuse: frozenset[str] = BOTH


_GROW = "name || name || name || name"
_DOUBLING = (
    f"WITH a AS (SELECT {_GROW} AS x FROM customers), b AS (SELECT x || x || x || x AS x FROM a), "
    "c AS (SELECT x || x || x || x AS x FROM b), d AS (SELECT x || x || x || x AS x FROM c), "
    "e AS (SELECT x || x || x || x AS x FROM d), f AS (SELECT x || x || x || x AS x FROM e) "
    "SELECT f1.x, f2.x, f1.x || f2.x FROM f AS f1, f AS f2"
)
_WIDE = (
    "SELECT "
    + ", ".join(f"c.name || p.name || r.name || c.segment AS w{i}" for i in range(45))
    + " FROM customers c, products p, regions r"
)

CASES: list[Case] = [
    # SQL run from a string: the guard never sees the text these functions execute.
    Case(
        "query_to_xml reads password hashes",
        "string",
        "SELECT query_to_xml('SELECT rolname, rolpassword FROM pg_authid', true, false, '')",
    ),
    Case(
        "query_to_xml_and_xmlschema",
        "string",
        "SELECT query_to_xml_and_xmlschema('SELECT token FROM {schema}.tokens', true, false, '')",
    ),
    Case("table_to_xml of another schema", "string", "SELECT table_to_xml('{schema}.tokens', true, false, '')"),
    Case("schema_to_xml", "string", "SELECT schema_to_xml('{schema}', true, false, '')"),
    Case("database_to_xml", "string", "SELECT database_to_xml(true, false, '')"),
    Case("ts_stat runs a query", "string", "SELECT * FROM ts_stat('SELECT to_tsvector(token) FROM {schema}.tokens')"),
    Case(
        "ts_rewrite runs a query",
        "string",
        "SELECT ts_rewrite('a'::tsquery, 'SELECT token::tsquery, token::tsquery FROM {schema}.tokens')",
    ),
    Case(
        "xpath over query_to_xml inside a CTE",
        "string",
        "WITH x AS (SELECT query_to_xml('SELECT current_setting(''agent.api_token'')', true, false, '') AS v) "
        "SELECT xpath('//text()', v) FROM x",
    ),
    Case(
        "query_to_xml hidden in WHERE",
        "string",
        "SELECT name FROM regions WHERE length(query_to_xml('SELECT pg_terminate_backend(pid) FROM "
        "pg_stat_activity', true, false, '')::text) > 0",
    ),
    Case(
        "dblink runs a query elsewhere",
        "string",
        "SELECT * FROM dblink('dbname=test', 'SELECT token FROM {schema}.tokens') AS t(token text)",
    ),
    Case("prepare and execute", "string", "PREPARE leak AS SELECT token FROM {schema}.tokens; EXECUTE leak"),
    Case("do block", "string", "DO $$ BEGIN PERFORM pg_sleep(30); END $$"),
    Case("sqlite eval", "string", "SELECT eval('SELECT token FROM secret_tokens')"),
    # Any relation but the allowed tables: other schemas, catalogs, information_schema.
    Case("token in another schema", "relation", "SELECT token FROM {schema}.tokens"),
    Case("token in a table beside the allowed ones", "relation", "SELECT token FROM secret_tokens"),
    Case("catalog-qualified table", "relation", "SELECT token FROM test.{schema}.tokens"),
    Case("pg_authid hashes", "relation", "SELECT rolname, rolpassword FROM pg_authid"),
    Case("pg_shadow hashes", "relation", "SELECT usename, passwd FROM pg_catalog.pg_shadow"),
    Case("information_schema", "relation", "SELECT table_schema, table_name FROM information_schema.tables"),
    Case(
        "pg_settings holds the secret setting",
        "relation",
        "SELECT name, setting FROM pg_settings WHERE name LIKE 'agent%'",
    ),
    Case("role settings catalog", "relation", "SELECT setconfig FROM pg_db_role_setting"),
    Case("other sessions' queries", "relation", "SELECT pid, query FROM pg_stat_activity"),
    Case("sqlite_master", "relation", "SELECT sql FROM sqlite_master"),
    Case(
        "a CTE named like an allowed table over a secret",
        "relation",
        "WITH sales AS (SELECT token AS name FROM {schema}.tokens) SELECT name FROM sales",
    ),
    Case("scalar subquery on a secret table", "relation", "SELECT (SELECT token FROM secret_tokens) FROM regions"),
    Case("union with a secret table", "relation", "SELECT name FROM regions UNION SELECT token FROM secret_tokens"),
    Case(
        "lateral join to another schema",
        "relation",
        "SELECT r.name, t.token FROM regions r JOIN LATERAL (SELECT token FROM {schema}.tokens) t ON true",
    ),
    Case("quoted name of another case", "relation", 'SELECT * FROM "SALES"', refuse=frozenset({"postgres"})),
    Case("regclass lookup", "relation", "SELECT 'pg_authid'::regclass::oid"),
    Case("function through column notation", "relation", "SELECT c.row_to_json FROM customers c"),
    Case("whole-row reference", "relation", "SELECT c FROM customers c"),
    Case("sqlite pragma table function", "relation", "SELECT * FROM pragma_table_info('secret_tokens')"),
    # Memory: strings that grow without bound, wide rows of big strings.
    Case("nested repeat", "memory", "SELECT repeat(repeat('x', 10000), 100000)"),
    Case("format width", "memory", "SELECT format('%1000000000s', 'x')"),
    Case("printf width", "memory", "SELECT printf('%.*c', 1000000000, 'x')"),
    Case("lpad width", "memory", "SELECT lpad('x', 1000000000, 'y')"),
    Case("zeroblob", "memory", "SELECT zeroblob(1000000000)"),
    Case("char padding", "memory", "SELECT CAST(name AS CHAR(10000000)) FROM customers"),
    Case("string_agg over a cross join", "memory", "SELECT string_agg(a.name, ',') FROM customers a, sales b, sales c"),
    Case("array_agg over a cross join", "memory", "SELECT array_agg(a.sale_date) FROM sales a, sales b"),
    Case("doubling concatenation through CTEs", "memory", _DOUBLING, refuse=NEITHER),
    Case(
        "replace that multiplies",
        "memory",
        "SELECT replace(replace(replace(replace(replace(name, 'a', name || name || name), 'a', name || name), "
        "'e', name || name), 'o', name || name), 'i', name || name) AS big FROM customers, sales",
        refuse=NEITHER,
    ),
    Case("wide rows of big strings", "memory", _WIDE, refuse=NEITHER),
    Case(
        "more columns than a result may have",
        "memory",
        "SELECT * FROM sales a, sales b, sales c, sales d, sales e, sales f, sales g, sales h, sales i",
    ),
    Case("generate_series rows", "memory", "SELECT * FROM generate_series(1, 10000000000)"),
    # Time: slow queries, slow single steps.
    Case("sleep", "slow", "SELECT pg_sleep(30)"),
    Case(
        "runaway recursive CTE",
        "slow",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    ),
    Case("cross join count", "slow", "SELECT count(*) FROM sales a, sales b, sales c", refuse=NEITHER),
    Case(
        "string search over a cross join",
        "slow",
        "SELECT count(*) FROM sales a, sales b, customers c WHERE instr(c.name || a.sale_date || b.sale_date, "
        "'zz') > 0",
        refuse=NEITHER,
    ),
    Case(
        "pathological LIKE",
        "slow",
        "SELECT count(*) FROM sales a, sales b WHERE a.sale_date || b.sale_date LIKE '%0%1%2%3%4%5%6%7%8%9%x'",
        refuse=NEITHER,
    ),
    Case(
        "sort of a cross join",
        "slow",
        "SELECT a.id FROM sales a, sales b ORDER BY a.sale_date || b.sale_date DESC LIMIT 1",
        refuse=NEITHER,
    ),
    Case("regular expression backtracking", "slow", "SELECT name ~ '(a+)+$' FROM customers"),
    # Settings, locks, sessions.
    Case("set_config changes the search path", "session", "SELECT set_config('search_path', 'pg_temp', false)"),
    Case("current_setting reads a secret setting", "session", "SELECT current_setting('agent.api_token')"),
    Case("advisory lock", "session", "SELECT pg_advisory_lock(4242)"),
    Case(
        "advisory lock hidden in a subquery",
        "session",
        "SELECT name FROM regions WHERE id = (SELECT pg_try_advisory_lock(4243)::int)",
    ),
    Case("terminate other sessions", "session", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"),
    Case("cancel other sessions", "session", "SELECT pg_cancel_backend(pg_backend_pid() + 1)"),
    Case("set search_path", "session", "SET search_path = pg_temp"),
    Case("reset all", "session", "RESET ALL"),
    Case("lock table", "session", "LOCK TABLE sales IN ACCESS EXCLUSIVE MODE"),
    Case("row locks", "session", "SELECT * FROM sales FOR UPDATE"),
    Case("notify", "session", "SELECT pg_notify('agent', 'x')"),
    Case("who am I", "session", "SELECT current_user, session_user, inet_server_addr(), version()"),
    # Files.
    Case("read a server file", "file", "SELECT pg_read_file('{file}')"),
    Case("read a binary server file", "file", "SELECT pg_read_binary_file('{file}')"),
    Case("list a directory", "file", "SELECT * FROM pg_ls_dir('/tmp')"),
    Case("stat a file", "file", "SELECT pg_stat_file('{file}')"),
    Case("large object import", "file", "SELECT lo_import('{file}')"),
    Case("large object export", "file", "SELECT lo_export(lo_from_bytea(0, 'x'), '{out}')"),
    Case("copy to a file", "file", "COPY (SELECT 1) TO '{out}'"),
    Case("copy from a program", "file", "COPY sales FROM PROGRAM 'touch {out}'"),
    Case("sqlite readfile", "file", "SELECT readfile('{file}')"),
    Case("sqlite writefile", "file", "SELECT writefile('{out}', 'x')"),
    Case("attach another file", "file", "ATTACH DATABASE '{secret_db}' AS leak"),
    Case("vacuum into a file", "file", "VACUUM INTO '{out}'"),
    # Hex-encoded exfiltration.
    Case("encode to hex", "hex", "SELECT encode(convert_to(token, 'UTF8'), 'hex') FROM {schema}.tokens"),
    Case("sqlite hex", "hex", "SELECT hex(token) FROM secret_tokens"),
    Case("to_hex character by character", "hex", "SELECT to_hex(ascii(substr(token, 1, 1))) FROM secret_tokens"),
    Case("hash hex", "hex", "SELECT encode(rolpassword::bytea, 'hex') FROM pg_authid"),
    Case("setting as base64", "hex", "SELECT encode(convert_to(current_setting('agent.api_token'), 'UTF8'), 'base64')"),
    Case("translate a secret", "hex", "SELECT translate(token, '0123456789', 'abcdefghij') FROM secret_tokens"),
    Case("unicode code points", "hex", "SELECT unicode(substr(token, 1, 1)) FROM secret_tokens"),
    Case("quote as a literal", "hex", "SELECT quote(token) FROM secret_tokens"),
]
