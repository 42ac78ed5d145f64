"""Local Slack and model servers and other test doubles, used by tests, benches and the browser playground.

Nothing here imports the product (`bot`, `handlers`, `patterns`, `jobs`, `knowledge`, `playground`); the bot is
only ever started as a process (`python app.py`). `tests/test_layout.py` keeps it so.
"""
