"""Which `jichi worker` processes run (docs/operations.md「監視」): each says it is alive when it starts and every
HEARTBEAT while it runs, and takes its row away when it stops cleanly (SIGTERM, Ctrl+C). `jichi status` and
/metrics show them with their release — during a rolling update, which workers still run the old one — and a row
not written for STALE is a problem: that worker died (SIGKILL, the machine) or hangs. Such rows are deleted after
FORGET by the housekeeping duty.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.models import WorkerHeartbeat

HEARTBEAT = dt.timedelta(seconds=30)
STALE = dt.timedelta(minutes=3)  # six heartbeats missed: longer than any round of a healthy worker
FORGET = dt.timedelta(hours=1)  # reported for an hour or two (the duty runs hourly), then dropped


@dataclass(frozen=True)
class Worker:
    owner: str
    host: str
    pid: int
    version: str
    started_at: dt.datetime
    seen_at: dt.datetime

    def stale(self, now: dt.datetime) -> bool:
        return now - self.seen_at > STALE


def beat(session: Session, owner: str, version: str, started_at: dt.datetime) -> None:
    """Record that this worker is alive now; committed."""
    now = clock.now()
    written = session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.owner == owner).values(seen_at=now))
    if getattr(written, "rowcount", 0) != 1:  # its first beat (an owner name is never reused)
        session.add(WorkerHeartbeat(owner=owner, host=socket.gethostname(), pid=os.getpid(), version=version,
                                    started_at=started_at, seen_at=now))
    session.commit()


def stopped(session: Session, owner: str) -> None:
    """This worker stops cleanly: its row goes; committed."""
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.owner == owner))
    session.commit()


def running(session: Session) -> list[Worker]:
    """Every worker that has a row, the longest running first."""
    return [Worker(w.owner, w.host, w.pid, w.version, clock.as_utc(w.started_at), clock.as_utc(w.seen_at))
            for w in session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.started_at,
                                                                      WorkerHeartbeat.owner))]


def forget(session: Session, now: dt.datetime) -> int:
    """Delete the rows of workers not seen for FORGET (the caller commits); how many."""
    gone = session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - FORGET))
    return int(getattr(gone, "rowcount", 0))
