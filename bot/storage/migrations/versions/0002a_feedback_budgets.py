"""Prompts and answers on the ledger (for feedback export), feedback votes, and budgets.

Revision ID: 0002a
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002a"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("prompt", sa.Text, nullable=True))
        batch.add_column(sa.Column("response", sa.Text, nullable=True))
        batch.add_column(sa.Column("context", sa.Text, nullable=True))
    op.create_index("ix_requests_request_id", "requests", ["request_id"])
    op.create_table(
        "feedback_votes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False, index=True),
        sa.Column("workspace", sa.String(32), nullable=False, server_default=""),
        sa.Column("user", sa.String(32), nullable=False),
        sa.Column("vote", sa.Integer, nullable=False),
        sa.UniqueConstraint("request_id", "user", name="uq_feedback_vote_per_user"),
    )
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("workspace", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_id", sa.String(32), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("metric", sa.String(8), nullable=False),
        sa.Column("limit_value", sa.Float, nullable=False),
        sa.Column("warn_fraction", sa.Float, nullable=False, server_default="0.8"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("workspace", "scope", "scope_id", "period", "metric", name="uq_budget"),
    )


def downgrade() -> None:
    op.drop_table("budgets")
    op.drop_table("feedback_votes")
    op.drop_index("ix_requests_request_id", "requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("context")
        batch.drop_column("response")
        batch.drop_column("prompt")
