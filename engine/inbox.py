"""The clerk's inbox (受付箱): the tasks a person works on, in lists, filtered, sorted, counted, one page at a time.

Two lists, as in Camunda Tasklist:

- **mine** (自分の担当): the ready tasks the person has claimed, their 後閲, and the tasks addressed to a position
  (職) they act for today — held, or as 代理 or 代決者 of an absent holder (engine.organisation.positions_of) —
  that nobody else has claimed;
- **group** (共有): the ready user tasks of the municipalities where the person operates that nobody has claimed
  and that are not addressed to a position (those go to the position's holder only).

Filters: procedure (process id), claimed or not, due (overdue, today, within 7 days, none), and a name or kana
entered in the case (found however it is typed: hiragana or katakana, full or half width, 異体字). Sorted by due date
(no due date last), then by creation. Each row carries its days left in **open days** of the municipality's
calendar (閉庁日 do not count: 地方自治法4条の2). The session passed in is the request's, already scoped to the
person's municipalities (engine.tenancy), so nothing here can reach another municipality's tasks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal_column, or_, select
from sqlalchemy.orm import Session

from engine import clock, store
from engine.organisation import positions_of
from engine.residents import cases_named
from standard_core.holidays import OutOfCalendarRange, check_in_range
from standard_core.municipal_calendar import MunicipalCalendar

LISTS = ("mine", "group")
DUE_FILTERS = ("overdue", "today", "week", "none")
CLAIM_FILTERS = ("claimed", "unclaimed")
PAGE_SIZE = 50
# Counts stop here: a list of a whole prefecture's open tasks is not paged through but narrowed with the filters,
# and counting a million rows on every page would cost more than the page (shown as 「10,000 件以上」).
COUNT_LIMIT = 10_000
_STANDARD_CALENDAR = MunicipalCalendar(name="標準の暦")


@dataclass(frozen=True)
class InboxFilter:
    list: str = "mine"
    process_id: str | None = None
    due: str | None = None
    claimed: str | None = None
    who: str | None = None  # a name or kana entered in the case (engine.residents: folded, however typed)
    page: int = 1


@dataclass(frozen=True)
class InboxRow:
    id: str
    case_id: str
    municipality: str
    process_id: str
    name: str
    kind: str
    assignee: str | None
    position: str | None
    due_at: dt.datetime | None
    created_at: dt.datetime
    days_left: int | None = None  # open days from today to the due date (negative: past it)
    overdue: bool = False  # the deadline has passed (even when no open day lies between)


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    counts: dict[str, int]  # list → how many tasks match the filters in it, at most COUNT_LIMIT
    total: int  # in the list shown
    page: int
    pages: int
    more: frozenset[str] = frozenset()  # the lists with more than COUNT_LIMIT tasks (counts say COUNT_LIMIT)


def inbox(session: Session, *, person: str, municipalities: Sequence[str], query: InboxFilter,
          calendar_of: Callable[[str], MunicipalCalendar | None], today: dt.date | None = None) -> InboxPage:
    """One page of a person's inbox. `municipalities`: where they operate (start and complete tasks)."""
    today = today or clock.today()
    lists = {"mine": _mine(session, person, today, municipalities), "group": _group(municipalities)}
    filters = _filters(query, today, municipalities)
    counted = {name: _count(session, and_(where, *filters)) for name, where in lists.items()}
    counts = {name: min(n, COUNT_LIMIT) for name, n in counted.items()}
    more = frozenset(name for name, n in counted.items() if n > COUNT_LIMIT)
    total = counts[query.list]
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, query.page), pages)
    found = [InboxRow(*row) for row in _page(session, and_(lists[query.list], *filters), (page - 1) * PAGE_SIZE)]
    now = clock.now()
    dues = {r.id: clock.as_utc(r.due_at).astimezone(clock.TOKYO).date() for r in found if r.due_at is not None}
    left: dict[str, dict[dt.date, int | None]] = {}
    for code in {r.municipality for r in found if r.id in dues}:
        calendar = calendar_of(code) or _STANDARD_CALENDAR
        left[code] = open_days_from(calendar, today, {dues[r.id] for r in found if r.municipality == code and r.id in dues})
    shown = [replace(r, days_left=left[r.municipality][dues[r.id]], overdue=clock.as_utc(r.due_at) < now)
             if r.due_at is not None and r.id in dues else r for r in found]
    return InboxPage(shown, counts, total, page, pages, more)


def _count(session: Session, where: ColumnElement[bool]) -> int:
    """How many tasks match, counting no further than COUNT_LIMIT + 1 (more than the limit: COUNT_LIMIT + 1)."""
    t = store.TASKS
    matching = select(t.c.id).where(where).limit(COUNT_LIMIT + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(matching)) or 0)


def _page(session: Session, where: ColumnElement[bool], offset: int) -> list[Any]:
    """PAGE_SIZE rows from `offset` in due order, no due date last. Two index-ordered reads — the rows with a
    due date by due date, then those without by creation — instead of one sort of every matching row: an
    index keeps NULLs on one side (SQLite first, PostgreSQL last), so NULLS LAST alone would sort them all."""
    t = store.TASKS
    columns = (t.c.id, t.c.case_id, t.c.municipality_code, t.c.process_id, t.c.name, t.c.kind, t.c.assignee,
               t.c.position_code, t.c.due_at, t.c.created_at)
    dated = and_(where, t.c.due_at.is_not(None))
    rows = list(session.execute(select(*columns).where(dated).order_by(t.c.due_at, t.c.created_at, t.c.id)
                                .limit(PAGE_SIZE).offset(offset)).all())
    if len(rows) == PAGE_SIZE:
        return rows
    # past the dated rows: the undated ones follow; count the dated ones only when this page has none of them
    skip = 0 if rows else max(0, offset - int(session.scalar(select(func.count()).select_from(t).where(dated)) or 0))
    rows += session.execute(select(*columns).where(where, t.c.due_at.is_(None)).order_by(t.c.created_at, t.c.id)
                            .limit(PAGE_SIZE - len(rows)).offset(skip)).all()
    return rows


def open_days_from(calendar: MunicipalCalendar, today: dt.date, days: set[dt.date]) -> dict[dt.date, int | None]:
    """calendar.open_days_between(today, day) for each day, walking the calendar once each way instead of once
    per day (a page of deadlines two months out would otherwise test thousands of days). None for a day whose
    holidays are not known yet (past the published 春分・秋分): the page then shows no count, never a guess."""
    found: dict[dt.date, int | None] = {}
    for ahead in (True, False):
        wanted = sorted((d for d in days if (d >= today) == ahead), reverse=not ahead)
        count, date = 0, today
        try:
            check_in_range(today)
            for day in wanted:
                while date != day:
                    date += dt.timedelta(days=1 if ahead else -1)
                    if calendar.is_open(date):
                        count += 1
                found[day] = count if ahead else -count
        except OutOfCalendarRange:
            found.update({day: None for day in wanted if day not in found})
    return found


# Written as SQL literals, not bound parameters: a partial index (engine/models.py) is used only when the query
# states its condition with the same constants.
_READY: ColumnElement[str] = literal_column("'ready'")
_USER: ColumnElement[str] = literal_column("'user'")


def _mine(session: Session, person: str, today: dt.date, municipalities: Sequence[str]) -> ColumnElement[bool]:
    t = store.TASKS
    held = positions_of(session, person, today)
    addressed = [and_(t.c.municipality_code == code, t.c.position_code == position)
                 for code, position in held if code in municipalities]
    position_tasks = (and_(t.c.kind == _USER, or_(t.c.assignee.is_(None), t.c.assignee == person), or_(*addressed))
                      if addressed else false())
    return and_(t.c.state == _READY, or_(t.c.assignee == person, position_tasks))


def _group(municipalities: Sequence[str]) -> ColumnElement[bool]:
    t = store.TASKS
    if not municipalities:
        return false()
    return and_(t.c.state == _READY, t.c.kind == _USER, t.c.assignee.is_(None), t.c.position_code.is_(None),
                t.c.municipality_code.in_(list(municipalities)))


def _filters(query: InboxFilter, today: dt.date, municipalities: Sequence[str]) -> list[Any]:
    t = store.TASKS
    found: list[Any] = []
    if query.who is not None and query.who.strip():
        found.append(t.c.case_id.in_(cases_named(query.who, municipalities)))
    if query.process_id is not None:
        found.append(t.c.process_id == query.process_id)
    if query.claimed == "claimed":
        found.append(t.c.assignee.is_not(None))
    elif query.claimed == "unclaimed":
        found.append(t.c.assignee.is_(None))
    start = dt.datetime.combine(today, dt.time(), tzinfo=clock.TOKYO).astimezone(dt.UTC)
    if query.due == "overdue":
        found.append(t.c.due_at < clock.now())
    elif query.due == "today":
        found.append(and_(t.c.due_at >= start, t.c.due_at < start + dt.timedelta(days=1)))
    elif query.due == "week":
        found.append(and_(t.c.due_at.is_not(None), t.c.due_at < start + dt.timedelta(days=8)))
    elif query.due == "none":
        found.append(t.c.due_at.is_(None))
    return found
