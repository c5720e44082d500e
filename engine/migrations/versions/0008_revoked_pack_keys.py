"""revoked pack keys: a municipality stops trusting a vendor key (rotation) without losing when it trusted it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("trusted_pack_key", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("trusted_pack_key", sa.Column("revoked_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("trusted_pack_key", "revoked_by")
    op.drop_column("trusted_pack_key", "revoked_at")
