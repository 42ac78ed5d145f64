"""Ledger rows say when their tokens were estimated (a model server that reports no usage, a stream cut short).

Revision ID: 0007_tokens_estimated
Revises: 0006_digest_journal
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_tokens_estimated"
down_revision = "0006_digest_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("tokens_estimated", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("requests", "tokens_estimated")
