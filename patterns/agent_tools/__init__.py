"""The agent's tools: `sql` and `schema` (read-only database), `calculate` (exact arithmetic), `search_docs`.

Each module has one job: `sql_guard` decides whether a query may run, `database` runs it read-only and bounded,
`calculator` evaluates arithmetic without executing code, `registry` turns tool calls into results.
"""
