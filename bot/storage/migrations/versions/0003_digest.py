"""Stored digest schedules (daily or weekly digests of a channel).

Revision ID: 0003
Revises: 0002a
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_schedules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace", sa.String(32), nullable=False, server_default=""),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("channel_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("user", sa.String(32), nullable=False),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("weekday", sa.Integer, nullable=True),
        sa.Column("time_of_day", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("to_dm", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_digest_schedules_next_run_at", "digest_schedules", ["next_run_at"])
    op.create_index("ix_digest_schedules_owner", "digest_schedules", ["workspace", "user"])


def downgrade() -> None:
    op.drop_table("digest_schedules")
