"""Search keys of the names and kana entered in cases (typed text kept in the case, folded keys for the inbox)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_search_key",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_instance.id"],
                                name=op.f("fk_case_search_key_case_id_case_instance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_search_key")),
    )
    with op.batch_alter_table("case_search_key", schema=None) as batch_op:
        batch_op.create_index("ix_case_search_key_key", ["municipality_code", "key"], unique=False)
        batch_op.create_index("ix_case_search_key_case", ["case_id", "item"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_search_key", schema=None) as batch_op:
        batch_op.drop_index("ix_case_search_key_case")
        batch_op.drop_index("ix_case_search_key_key")
    op.drop_table("case_search_key")
