"""Restricted items (特定個人情報: 個人番号): which roles may see them, and redaction everywhere else.

The standard data model marks the items (`restricted=True`, standard_core/data_model). Their values:
- are shown only to roles that handle them in a procedure (窓口 and 決裁: `SEEING_ROLES`), masked for the
  others (業務分析, 監査, 管理者) in the API's case views and explanations;
- are never written to the audit log (engine/audit.py redacts before/after/personal data), nor echoed in
  error messages (engine/cases.py), so they cannot reach logs, exports or notices either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standard_core.data_model import restricted_names

RESTRICTED: frozenset[str] = restricted_names()
SEEING_ROLES: frozenset[str] = frozenset({"clerk", "approver"})
MASK = "（非表示）"


def may_see(roles: set[str] | frozenset[str] | None) -> bool:
    """Whether someone holding these roles (in the object's municipality) may see restricted values."""
    return bool(set(roles or ()) & SEEING_ROLES)


_AS_IS = frozenset({str, int, bool, float, type(None)})


def redact(value: Any) -> Any:
    """The value with every restricted item masked: keys named like one, and trace entries about one
    ({"name": "個人番号", "value": …}), at any depth."""
    if type(value) in _AS_IS:  # most values are leaves: no ABC check needed
        return value
    if isinstance(value, Mapping):
        named = value.get("name") in RESTRICTED
        return {k: MASK if (k in RESTRICTED or (named and k == "value")) and v is not None else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def scrub(message: str, data: Mapping[str, Any]) -> str:
    """A message with the values of restricted items found in `data` (at any depth) masked: for diagnostics
    that quote what was sent."""
    for secret in _restricted_values(data):
        message = message.replace(secret, MASK)
    return message


def _restricted_values(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k in RESTRICTED and v not in (None, ""):
                found.add(str(v))
            found |= _restricted_values(v)
    elif isinstance(value, list):
        for v in value:
            found |= _restricted_values(v)
    return found
