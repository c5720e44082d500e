"""Search keys of names recomputed with the wider folding (常用漢字表 旧字体 → 新字体 and name variants, katakana)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28

The keys are derived data (standard_core.names.search_key); the names themselves are not touched. A resident's
keys are made again from the stored name and kana. A case's key (case_search_key) is made from its previous key:
the new folding applied to a key of the old folding gives the key of the name itself (every old fold is one the
new folding also makes; tests/test_search_keys.py checks this), so the case data need not be read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from standard_core.names import search_key

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    connection = op.get_bind()
    residents = sa.table("resident", sa.column("id", sa.Integer), sa.column("name", sa.String),
                         sa.column("name_kana", sa.String), sa.column("name_key", sa.String),
                         sa.column("kana_key", sa.String))
    keys = sa.table("case_search_key", sa.column("id", sa.Integer), sa.column("key", sa.String))
    last = 0
    while True:
        rows = connection.execute(sa.select(residents.c.id, residents.c.name, residents.c.name_kana)
                                  .where(residents.c.id > last).order_by(residents.c.id).limit(_BATCH)).all()
        if not rows:
            break
        connection.execute(residents.update().where(residents.c.id == sa.bindparam("b_id")), [
            {"b_id": r.id, "name_key": search_key(r.name)[:200],
             "kana_key": search_key(r.name_kana)[:200] if r.name_kana else None} for r in rows])
        last = rows[-1].id
    last = 0
    while True:
        found = connection.execute(sa.select(keys.c.id, keys.c.key).where(keys.c.id > last)
                                   .order_by(keys.c.id).limit(_BATCH)).all()
        if not found:
            break
        connection.execute(keys.update().where(keys.c.id == sa.bindparam("b_id")),
                           [{"b_id": r.id, "key": search_key(r.key)[:200]} for r in found])
        last = found[-1].id


def downgrade() -> None:
    """The old keys cannot be made again from the new ones; the names are unchanged, so nothing is lost."""
