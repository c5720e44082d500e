"""Named fault points: where a process may be killed to prove that a step is all or nothing (docs/operations.md
「障害の試験」).

Every step of a case (start, task completion, timer) passes these points in order, inside one transaction:

    after_spiff_step   SpiffWorkflow has run the step in memory; nothing written yet
    after_state_write  the case's state row is written (not committed)
    after_audit_write  the task rows and the audit event are written (not committed)

(On PostgreSQL a clerk's task completion, and a case's start, writes its case, its task rows and its audit event
with one statement: after_state_write and after_audit_write are both passed once that statement is through. Through
the JSON API without an Idempotency-Key that statement is a transaction of its own
(engine.db.reads_without_transaction): the step is committed by before_commit already, and a kill there is a kill
after_commit.)
    before_commit      everything of the step is written, including the API's stored answer to an Idempotency-Key
    after_commit       committed; the caller (a clerk's browser, an API client) has not been answered yet

A process started with JICHI_FAULT_POINT=<point> kills itself with SIGKILL — no cleanup, no rollback, the
database connection simply drops — the (JICHI_FAULT_SKIP + 1)-th time it passes that point. Unset (always in
production), `point` is one comparison. Tests that fork a prepared process call `arm` in the child instead.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_spiff_step", "after_state_write", "after_audit_write", "before_commit", "after_commit")
# A batch of `jichi migrate import` (engine/migration.py): its residents and audit event written / committed.
MIGRATION_POINTS = ("migrate_before_commit", "migrate_after_commit")

_armed: str | None = None
_skip = 0


def arm(point: str | None, skip: int = 0) -> None:
    """Kill this process at the (skip + 1)-th pass of `point` (None: never)."""
    global _armed, _skip
    if point is not None and point not in POINTS + MIGRATION_POINTS:
        raise ValueError(f"unknown fault point {point!r}; known: {', '.join(POINTS + MIGRATION_POINTS)}")
    _armed, _skip = point, skip


def point(name: str) -> None:
    """A named point of a step: SIGKILL here if this process was armed for it."""
    global _skip
    if _armed != name:
        return
    if _skip > 0:
        _skip -= 1
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _from_environment() -> None:
    name = os.environ.get("JICHI_FAULT_POINT") or None
    skip = os.environ.get("JICHI_FAULT_SKIP", "0")
    arm(name, int(skip) if skip.isdigit() else 0)


_from_environment()
