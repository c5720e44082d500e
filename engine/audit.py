"""Audit events, written in the caller's transaction: the change and its record commit or fail together.

Structured fields are stored as canonical JSON text (UTF-8, sorted keys, no insignificant whitespace,
dates as ISO 8601, exact fractions as "n/d"). `event` builds the values of one event; `store.insert_events`
appends them to the municipality's hash chain (engine/audit_chain.py, docs/audit.md). Personal data
(the case data before and after, form input) goes in `before` / `after` / `personal`, which are stored
apart and erasable; `detail` must hold none.

`admin_event` is the API for administrative actions (keys, checkpoints, schema upgrades, registration,
erasure; later users and roles, packs, configuration): one call, one chained event in the caller's
transaction, in the deployment's chain (`DEPLOYMENT`, "000000") unless a municipality is named.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from engine import clock, store
from engine.audit_chain import DEPLOYMENT
from engine.restricted import redact


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def canonical(value: Any) -> str:
    """The canonical JSON text of a value (see module docstring)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_default)


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys whose values differ, as (old values, new values); absent keys are left out of a side."""
    keys = {k for k in set(before) | set(after) if before.get(k, _MISSING) != after.get(k, _MISSING)}
    return ({k: before[k] for k in keys if k in before}, {k: after[k] for k in keys if k in after})


_MISSING = object()

# Read access (engine/access_log.py): who saw which residents' data, through which screen or API call.
READ_ACTIONS = frozenset({
    "case.viewed", "task.viewed", "case.diagram_downloaded", "resident.searched", "notice.printed",
    "impact.viewed", "impact.downloaded", "audit.searched", "audit.exported",
    "migration.report_viewed", "migration.report_downloaded",
})
# Events about a case that do not change its state, so its version stays: who holds a task (the inbox), and every
# read of its data.
NON_STATE_ACTIONS = frozenset({"task.claimed", "task.released"}) | READ_ACTIONS


def event(
    *, municipality: str, actor: str, action: str, case_id: str | None = None, task_id: str | None = None,
    before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None, personal: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The values of one audit event (appended by `store.insert_events`, in the caller's transaction).

    `before` / `after` / `personal` are personal data (erasable); `detail` is kept for ever.
    """
    # 特定個人情報 (個人番号) is never written to the log, not even to its erasable part (engine/restricted.py).
    return {
        "occurred_at": (at or clock.now()).astimezone(dt.UTC), "municipality_code": municipality, "actor": actor,
        "action": action, "case_id": case_id, "task_id": task_id, "detail": canonical(redact(dict(detail or {}))),
        "data_before": canonical(redact(dict(before or {}))), "data_after": canonical(redact(dict(after or {}))),
        "personal": canonical(redact(dict(personal or {}))),
    }


def admin_event(
    session: Session, *, action: str, actor: str, municipality: str = DEPLOYMENT,
    detail: Mapping[str, Any] | None = None, personal: Mapping[str, Any] | None = None,
) -> tuple[str, int]:
    """Record an administrative action in the caller's transaction; returns (municipality, seq).

    Actions are named `<object>.<past participle>` (`audit.key_created`, `db.upgraded`,
    `municipality.registered`, later `user.role_granted`, `pack.activated`, `config.changed`). Names of
    people other than the actor go in `personal`, so that they can be erased; the caller commits.
    """
    (appended,) = store.insert_events(session, [event(
        municipality=municipality, actor=actor, action=action, detail=detail, personal=personal)])
    return appended
