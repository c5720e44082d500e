"""Reports of `jichi migrate` dry runs and imports, for the migration team's page

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "migration_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("file", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_report")),
    )
    op.create_index("ix_migration_report_latest", "migration_report", ["municipality_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_migration_report_latest", table_name="migration_report")
    op.drop_table("migration_report")
