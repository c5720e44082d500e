"""Read access in the audit log: the residents each read-access event showed, indexed for the auditor

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_access_subject",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("atena_number", sa.String(length=15), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "seq", "atena_number", name=op.f("pk_audit_access_subject")),
    )
    op.create_index("ix_audit_access_subject_resident", "audit_access_subject",
                    ["municipality_code", "atena_number", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_access_subject_resident", table_name="audit_access_subject")
    op.drop_table("audit_access_subject")
