"""Read access in the audit log: who saw which residents' data, when, from which address, through which screen or
API call (docs/audit.md「閲覧の記録」).

Every view of a case or a task, every resident search (the query and the residents shown), every notice printed and
every download of data is one event in the municipality's chain, written in its own transaction before the page
is sent: an access that cannot be recorded is not served. The event says where it came from in `detail` (the
screen or API call, web or api, the client address, how many residents were shown), and whom it was about in the
erasable `personal` part (the 宛名番号 of the residents shown, the query typed), committed to by the chained digest.
`audit_access_subject` indexes the 宛名番号 of each event so that an auditor finds every access to one resident
without reading the payloads; it is derived from the payloads, erased with them, and never trusted on its own
(the bundle and `jichi audit verify` check the payloads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from engine import audit, store
from engine.models import AuditAccessSubject

MAX_SUBJECTS = 200  # residents one event names (a page shows at most 50)


def record(session: Session, *, municipality: str, actor: str, action: str, screen: str, via: str, address: str,
           case_id: str | None = None, task_id: str | None = None, residents: Iterable[str] = (),
           query: str | None = None, extra: Mapping[str, Any] | None = None) -> tuple[str, int]:
    """Append one read-access event and index its residents; the caller commits (before sending the data)."""
    if action not in audit.READ_ACTIONS:
        raise ValueError(f"not a read action: {action}")
    shown = list(dict.fromkeys(residents))[:MAX_SUBJECTS]
    personal: dict[str, Any] = {}
    if shown:
        personal["residents"] = shown
    if query is not None:
        personal["query"] = query
    detail = {"screen": screen, "via": via, "address": address, "residents": len(shown), **(extra or {})}
    (appended,) = store.insert_events(session, [audit.event(
        municipality=municipality, actor=actor, action=action, case_id=case_id, task_id=task_id, detail=detail,
        personal=personal)])
    code, seq = appended
    session.add_all(AuditAccessSubject(municipality_code=code, seq=seq, atena_number=number) for number in shown)
    return appended
