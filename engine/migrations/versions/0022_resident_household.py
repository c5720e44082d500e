"""Residents carry their household (世帯番号) and their relationship to its head (続柄), from a migration

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.add_column(sa.Column("household_number", sa.String(length=15), nullable=True))
        batch.add_column(sa.Column("relationship", sa.String(length=20), nullable=True))
        batch.create_index("ix_resident_household", ["municipality_code", "household_number"])


def downgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.drop_index("ix_resident_household")
        batch.drop_column("relationship")
        batch.drop_column("household_number")
