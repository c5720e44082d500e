"""Background jobs with leases (docs/operations.md「ジョブ」): an app server queues the work, any `jichi worker`
runs it, exactly one at a time, and a worker that dies does not lose it.

- `claim` takes the oldest job that is queued, or running under a lease that ran out (its worker died), with
  `FOR UPDATE SKIP LOCKED` on PostgreSQL — several workers never take the same job — and gives it a lease.
  (SQLite has no row locks: its single writer makes the claim safe for the one worker SQLite allows.)
- The holder renews the lease while it works (`Lease.renew`, e.g. with each progress report). Every write the job
  makes goes with a renewal in the same transaction, and the renewal is fenced — `WHERE id = … AND lease_owner =
  me AND status = 'running'` — so a worker that lost its lease (paused too long, taken over) can write nothing.
- A job taken over too often (MAX_ATTEMPTS) is failed instead of retried forever.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.models import Job

LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 3


class LeaseLost(Exception):
    """The job's lease ran out and another worker may hold it: stop without writing."""


def owner_name() -> str:
    """This process, as a lease owner: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def enqueue(session: Session, *, kind: str, payload: Mapping[str, Any], municipality: str | None,
            actor: str) -> Job:
    """Queue a job in the caller's transaction (the caller commits, together with whatever the job belongs to)."""
    job = Job(kind=kind, municipality_code=municipality, payload=json.dumps(payload, ensure_ascii=False),
              status="queued", attempts=0, created_at=clock.now(), created_by=actor)
    session.add(job)
    session.flush()
    return job


@dataclass(frozen=True)
class Lease:
    job_id: int
    owner: str
    kind: str
    municipality: str | None
    payload: dict[str, Any]
    attempts: int

    def renew(self, session: Session) -> None:
        """Extend the lease in the session's transaction (commit it with the job's write); LeaseLost if gone."""
        moved = session.execute(update(Job).where(Job.id == self.job_id, Job.lease_owner == self.owner,
                                                   Job.status == "running")
                                .values(lease_until=clock.now() + LEASE))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(self.job_id)

    def finish(self, session: Session, *, error: str | None = None) -> None:
        """Mark the job done (or failed) in the session's transaction, fenced like renew."""
        moved = session.execute(update(Job).where(Job.id == self.job_id, Job.lease_owner == self.owner,
                                                   Job.status == "running")
                                .values(status="failed" if error else "done", finished_at=clock.now(), error=error,
                                        lease_until=None))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(self.job_id)


def claim(session: Session, owner: str) -> Lease | None:
    """Take the next job (see the module's text), committed; None when there is nothing to do."""
    while True:
        now = clock.now()
        job = session.scalars(
            select(Job).where(or_(Job.status == "queued",
                                  and_(Job.status == "running", Job.lease_until < now)))
            .order_by(Job.id).limit(1).with_for_update(skip_locked=True)).first()
        if job is None:
            session.rollback()
            return None
        if job.attempts >= MAX_ATTEMPTS:  # its workers died every time: stop retrying it
            job.status, job.finished_at, job.lease_owner, job.lease_until = "failed", now, None, None
            job.error = f"{job.attempts} 回とも途中で worker が止まりました"
            session.commit()
            continue
        job.status, job.lease_owner, job.lease_until, job.attempts = "running", owner, now + LEASE, job.attempts + 1
        lease = Lease(job.id, owner, job.kind, job.municipality_code, json.loads(job.payload), job.attempts)
        session.commit()
        return lease


# kind → handler(sessions, root, lease); a handler writes its result with lease.finish in one transaction
Handler = Callable[[Callable[[], Session], Path, Lease], None]


def handlers() -> dict[str, Handler]:
    from engine.impact import run_job

    return {"impact": run_job}


def run_next(sessions: Callable[[], Session], root: Path, owner: str) -> Lease | None:
    """Claim and run one job; the lease of what was run (None: nothing queued). A handler's exception fails the
    job (its text kept for the page) unless the lease was lost, when the new holder decides."""
    with sessions() as session:
        lease = claim(session, owner)
    if lease is None:
        return None
    handler = handlers().get(lease.kind)
    try:
        if handler is None:
            raise ValueError(f"この版の jichi が知らないジョブの種類です: {lease.kind}")
        handler(sessions, root, lease)
    except LeaseLost:
        return lease
    except Exception as e:  # the job failed: say so on its row (the operator's log has the traceback)
        with sessions() as session:
            try:
                lease.finish(session, error=f"{type(e).__name__}: {e}"[:1000])
                session.commit()
            except LeaseLost:
                session.rollback()
        raise
    return lease
