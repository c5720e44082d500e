"""The auditor's questions of the audit log: who saw or changed which residents' data, when, from where.

A query is scoped to municipalities (the auditor's) and narrowed by any of: actor, resident (宛名番号), case, time
range, client address, action. "By resident" finds the read-access events that showed the resident (the index of
engine/access_log.py) and every event of the cases whose entered names fold to the resident's name or kana (the
search keys of engine/residents.py): a case does not carry a 宛名番号, so the match is by name and says so.

Results are newest first, at most `limit`, with the personal payload when it still exists (not erased). Values
are returned as stored; showing them inertly (control characters, bidi overrides) is the caller's job
(`inert`).
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import Session

from engine.clock import TOKYO
from engine.models import AuditAccessSubject, AuditEvent, AuditPersonal, CaseSearchKey, Resident
from standard_core.wareki import parse_date_input

MAX_LIMIT = 1000


@dataclass(frozen=True)
class Query:
    municipalities: Sequence[str]
    actor: str | None = None
    resident: str | None = None  # 宛名番号
    case_id: str | None = None
    address: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 200


@dataclass(frozen=True)
class Found:
    municipality: str
    seq: int
    occurred_at: dt.datetime
    actor: str
    action: str
    case_id: str | None
    task_id: str | None
    detail: dict[str, Any]
    personal: dict[str, Any] | None  # None: erased, or the event had none
    why: str = ""  # how it matched a resident: 宛名番号 | 氏名 | カナ
    hash: str = ""


@dataclass
class Result:
    events: list[Found] = field(default_factory=list)
    truncated: bool = False
    resident: str | None = None  # the resident's name, when searched by resident and known


def day_start(day: dt.date, after: bool = False) -> dt.datetime:
    """The start of a day in Tokyo (of the next day with `after`, for a range that includes `day`), as UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1 if after else 0), dt.time(), tzinfo=TOKYO).astimezone(dt.UTC)


def moment(text: str, end: bool = False) -> dt.datetime:
    """A time bound as an auditor types it, as UTC: an ISO 8601 date-time (Tokyo time when it has no zone) as it is,
    or a date (和暦 too) as the start of that day — of the next day with `end`, so that the day is included.
    Raises WarekiError when it is neither."""
    try:
        given = dt.datetime.fromisoformat(text)
        if "T" in text or " " in text.strip():
            return (given if given.tzinfo else given.replace(tzinfo=TOKYO)).astimezone(dt.UTC)
    except ValueError:
        pass
    return day_start(parse_date_input(text), after=end)


def search(session: Session, query: Query, cap: int = MAX_LIMIT) -> Result:
    """The events matching the query, newest first: at most query.limit (itself at most `cap`)."""
    limit = max(1, min(query.limit, cap))
    municipalities = list(query.municipalities)
    if not municipalities:
        return Result()
    conditions: list[Any] = [AuditEvent.municipality_code.in_(municipalities)]
    if query.actor:
        conditions.append(AuditEvent.actor == query.actor)
    if query.case_id:
        conditions.append(AuditEvent.case_id == query.case_id)
    if query.action:
        conditions.append(AuditEvent.action == query.action)
    if query.since is not None:
        conditions.append(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        conditions.append(AuditEvent.occurred_at < query.until)
    if query.address:
        # the address is inside the canonical JSON of detail: match the exact member text
        member = json.dumps({"address": query.address}, ensure_ascii=False, separators=(",", ":"))[1:-1]
        conditions.append(AuditEvent.detail.contains(member, autoescape=True))
    why: dict[tuple[str, int], str] = {}
    resident_name = None
    if query.resident:
        people = list(session.scalars(select(Resident).where(
            Resident.municipality_code.in_(municipalities), Resident.atena_number == query.resident)))
        resident_name = people[0].name if people else None
        shown = select(AuditAccessSubject.municipality_code, AuditAccessSubject.seq).where(
            AuditAccessSubject.municipality_code.in_(municipalities), AuditAccessSubject.atena_number == query.resident)
        by_subject = {(code, seq) for code, seq in session.execute(shown)}
        keys = [(p.municipality_code, p.name_key, "氏名") for p in people] + \
               [(p.municipality_code, p.kana_key, "カナ") for p in people if p.kana_key]
        named: dict[tuple[str, str], str] = {}
        for code, key, kind in keys:
            for case_id in session.scalars(select(CaseSearchKey.case_id).where(
                    CaseSearchKey.municipality_code == code, CaseSearchKey.key == key)):
                named.setdefault((code, case_id), kind)
        resident_conditions = []
        if by_subject:
            resident_conditions.append(tuple_(AuditEvent.municipality_code, AuditEvent.seq).in_(sorted(by_subject)))
        if named:
            resident_conditions.append(AuditEvent.case_id.in_(sorted({case_id for _, case_id in named})))
        if not resident_conditions:
            return Result(resident=resident_name)
        conditions.append(or_(*resident_conditions))
        why = {key: "宛名番号" for key in by_subject}
        case_why = named
    else:
        case_why = {}
    rows = list(session.execute(
        select(AuditEvent, AuditPersonal).outerjoin(AuditPersonal, and_(
            AuditPersonal.municipality_code == AuditEvent.municipality_code, AuditPersonal.seq == AuditEvent.seq))
        .where(*conditions).order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc()).limit(limit + 1)))
    found = []
    for event, personal in rows[:limit]:
        payload = None
        if personal is not None:
            payload = {key: json.loads(text) for key, text in (("before", personal.data_before),
                                                               ("after", personal.data_after),
                                                               ("personal", personal.personal)) if text not in ("{}", "")}
        matched = why.get((event.municipality_code, event.seq)) or case_why.get((event.municipality_code, event.case_id or ""), "")
        found.append(Found(event.municipality_code, event.seq, event.occurred_at, event.actor, event.action,
                           event.case_id, event.task_id, json.loads(event.detail), payload, matched, event.hash))
    return Result(found, len(rows) > limit, resident_name)


BIDI_AND_CONTROLS = {"Cc", "Cf", "Zl", "Zp"}


def inert(text: str) -> str:
    """A value as an auditor reads it: line breaks, tabs, U+2028/2029, bidi overrides and other control or format
    characters shown as \\uXXXX, so one record stays one line and nothing reorders what follows."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in BIDI_AND_CONTROLS else c for c in text)
