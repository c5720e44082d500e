"""Periodic duties shared by several `jichi worker` processes (docs/operations.md「定期の仕事」): each duty — the
audit checkpoint, the housekeeping prune — is done by one worker per interval, however many run.

A worker takes a duty's turn with one conditional UPDATE: `next_at` moves forward only where it has come due,
so of several workers asking at once exactly one sees its row changed (PostgreSQL row-locks the row; SQLite has a
single writer). The turn is committed before the work starts: a worker that dies in the middle leaves the duty to
the next interval, never to two workers at once. Each turn records who took it and when (`jichi status`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import clock
from engine.models import PeriodicDuty

CHECKPOINT = "audit.checkpoint"
PRUNE = "housekeeping.prune"
NAMES = {CHECKPOINT: "監査ログのチェックポイント", PRUNE: "古い記録の削除"}


def take_turn(session: Session, name: str, every: dt.timedelta, owner: str, now: dt.datetime | None = None) -> bool:
    """True when this caller has the duty's turn for the interval starting now (then it is committed: do the work);
    False when the duty is not due yet, or another worker took this turn."""
    now = now or clock.now()
    table = cast(Table, PeriodicDuty.__table__)
    values = {"name": name, "next_at": now, "last_by": None, "last_at": None}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(table).values(values).on_conflict_do_nothing())
    taken = session.execute(update(table).where(table.c.name == name, table.c.next_at <= now)
                            .values(next_at=now + every, last_by=owner, last_at=now))
    session.commit()
    return bool(getattr(taken, "rowcount", 0) == 1)


@dataclass(frozen=True)
class DutyState:
    name: str
    label: str
    last_by: str | None
    last_at: dt.datetime | None
    next_at: dt.datetime


def duties(session: Session) -> list[DutyState]:
    """Every duty a worker has taken so far, with its last turn (for `jichi status`)."""
    return [DutyState(d.name, NAMES.get(d.name, d.name), d.last_by, clock.as_utc(d.last_at) if d.last_at else None,
                      clock.as_utc(d.next_at))
            for d in session.scalars(select(PeriodicDuty).order_by(PeriodicDuty.name))]
