"""The inbox at scale: each task row carries its case's procedure (filter without a join), and a partial index
serves the shared list (unclaimed user tasks not addressed to a position) in due order

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED = "state = 'ready' AND kind = 'user' AND assignee IS NULL AND position_code IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("process_id", sa.String(length=200), nullable=True))
    op.execute("UPDATE case_task SET process_id = (SELECT process_id FROM case_instance "
               "WHERE case_instance.id = case_task.case_id)")
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_task_shared", ["municipality_code", "due_at", "created_at", "id", "process_id"], unique=False,
            sqlite_where=sa.text(SHARED), postgresql_where=sa.text(SHARED))


def downgrade() -> None:
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.drop_index("ix_case_task_shared")
        batch_op.drop_column("process_id")
