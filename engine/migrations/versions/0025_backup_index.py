"""The newest `jichi db backup` found by an index (jichi status, /metrics: when was the last backup): a partial index
of the audit events that record a backup, so the lookup stays one index probe however long the deployment's chain
(its sign-ins, its administration) grows, and costs the other events' inserts nothing

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKED_UP = "action = 'db.backed_up'"


def upgrade() -> None:
    op.create_index("ix_audit_event_backed_up", "audit_event", ["municipality_code", "seq"], unique=False,
                    sqlite_where=sa.text(BACKED_UP), postgresql_where=sa.text(BACKED_UP))


def downgrade() -> None:
    op.drop_index("ix_audit_event_backed_up", table_name="audit_event")
