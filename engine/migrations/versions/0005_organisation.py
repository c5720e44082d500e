"""organisation: units, positions with their 代決者, dated assignments, absences

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "org_unit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("chart_from", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("parent_code", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_unit")),
    )
    op.create_index("ix_org_unit_chart", "org_unit", ["municipality_code", "chart_from", "code"], unique=True)
    op.create_table(
        "org_position",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("chart_from", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit_code", sa.String(length=100), nullable=True),
        sa.Column("deputies", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_position")),
    )
    op.create_index("ix_org_position_chart", "org_position", ["municipality_code", "chart_from", "code"],
                    unique=True)
    op.create_table(
        "org_assignment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("position_code", sa.String(length=100), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("person_name", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_assignment")),
    )
    op.create_index("ix_org_assignment_position", "org_assignment",
                    ["municipality_code", "position_code", "valid_from"], unique=False)
    op.create_table(
        "org_absence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("substitute", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_absence")),
    )
    op.create_index("ix_org_absence_person", "org_absence", ["municipality_code", "person", "valid_from"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_org_absence_person", table_name="org_absence")
    op.drop_table("org_absence")
    op.drop_index("ix_org_assignment_position", table_name="org_assignment")
    op.drop_table("org_assignment")
    op.drop_index("ix_org_position_chart", table_name="org_position")
    op.drop_table("org_position")
    op.drop_index("ix_org_unit_chart", table_name="org_unit")
    op.drop_table("org_unit")
