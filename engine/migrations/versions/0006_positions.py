"""tasks addressed to positions: the case's unit, the task's position, who a completer acted for

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN_WITH_POSITION = "state IN ('ready', 'waiting') AND position_code IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("case_instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_code", sa.String(length=100), nullable=True))
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position_code", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("on_behalf_of", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_case_task_position", ["municipality_code", "position_code"], unique=False,
                              sqlite_where=sa.text(_OPEN_WITH_POSITION), postgresql_where=sa.text(_OPEN_WITH_POSITION))


def downgrade() -> None:
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.drop_index("ix_case_task_position")
        batch_op.drop_column("on_behalf_of")
        batch_op.drop_column("position_code")
    with op.batch_alter_table("case_instance", schema=None) as batch_op:
        batch_op.drop_column("unit_code")
