"""The bot's tables, on SQLite (default) or PostgreSQL, with their Alembic migrations: every table lives here."""
