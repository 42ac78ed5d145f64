"""Alembic environment: run against the connection `Ledger.migrate()` passes in, or `sqlalchemy.url`."""

from alembic import context
from sqlalchemy import create_engine

from bot.storage.ledger import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    connection = create_engine(config.get_main_option("sqlalchemy.url")).connect()
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
