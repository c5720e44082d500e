"""Audit events, written in the caller's transaction: the change and its record commit or fail together.

Structured fields are stored as canonical JSON text (UTF-8, sorted keys, no insignificant whitespace,
dates as ISO 8601, exact fractions as "n/d"), the encoding the tamper-evidence issue will hash.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from engine import clock


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


def event(
    *, municipality: str, actor: str, action: str, case_id: str | None = None, task_id: str | None = None,
    before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None, at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The column values of one audit_event row (inserted by the caller, in its transaction)."""
    return {
        "occurred_at": at or clock.now(), "municipality_code": municipality, "actor": actor, "action": action,
        "case_id": case_id, "task_id": task_id, "data_before": canonical(dict(before or {})),
        "data_after": canonical(dict(after or {})), "detail": canonical(dict(detail or {})),
    }
