"""Agent runs per Slack thread: each task's tool calls and results, so follow-ups can build on them.

Revision ID: 0005_agent
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_agent"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace", sa.String(32), nullable=False, server_default=""),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("transcript", sa.Text, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(32), nullable=False),
    )
    op.create_index("ix_agent_runs_thread", "agent_runs", ["channel", "thread_ts"])


def downgrade() -> None:
    op.drop_index("ix_agent_runs_thread", table_name="agent_runs")
    op.drop_table("agent_runs")
