"""Digest jobs as queued, kept outside Redis: a digest that Redis forgot (restarted empty) is queued again.

Revision ID: 0006_digest_journal
Revises: 0005_agent
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_digest_journal"
down_revision = "0005_agent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_jobs",
        sa.Column("job_id", sa.String(16), primary_key=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missing_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_digest_jobs_open", "digest_jobs", ["done_at", "queued_at"])


def downgrade() -> None:
    op.drop_index("ix_digest_jobs_open", table_name="digest_jobs")
    op.drop_table("digest_jobs")
