"""Demo data for `jichi demo load`: the municipalities the sample rule packs model (domain/local-rules.md)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.db import Municipality

# 全国地方公共団体コード (with check digit) → name.
DEMO_MUNICIPALITIES: tuple[tuple[str, str], ...] = (
    ("074829", "矢祭町"),
    ("132233", "武蔵村山市"),
    ("141003", "横浜市"),
    ("141305", "川崎市"),
    ("162108", "南砺市"),
    ("212181", "本巣市"),
    ("261009", "京都市"),
    ("270008", "大阪府"),
    ("272078", "高槻市"),
    ("272183", "大東市"),
    ("341002", "広島市"),
    ("432156", "天草市"),
    ("470007", "沖縄県"),
    ("472018", "那覇市"),
)


def load_demo(session: Session, actor: str = "system:demo") -> int:
    """Insert the demo municipalities that are missing; returns how many were added.

    Idempotent: rows already present (by code) are left as they are, so a second run adds nothing.
    Each registration is an audit event (`municipality.registered`, deployment chain). The caller commits.
    """
    existing = set(session.scalars(select(Municipality.code)))
    added = 0
    for code, name in DEMO_MUNICIPALITIES:
        if code not in existing:
            session.add(Municipality(code=code, name=name))
            audit.admin_event(session, action="municipality.registered", actor=actor,
                              detail={"code": code, "name": name})
            added += 1
    session.flush()
    return added
