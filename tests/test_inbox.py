"""The clerk's inbox (engine/inbox.py): the lists mine / group with their counts, claim moving a task between
them, position tasks only in their holder's list, filters, the deadline from a boundary timer, days left in open
days of the municipality's calendar, and paging."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.inbox
from engine import clock
from engine.inbox import PAGE_SIZE, InboxFilter, inbox, open_days_from
from standard_core.holidays import OutOfCalendarRange
from standard_core.municipal_calendar import MunicipalCalendar
from tests.engine_support import environment
from tests.test_positions import _start as start_shokui

A = "141305"
JST = dt.timezone(dt.timedelta(hours=9))


def _inbox(env: Any, person: str, **query: Any) -> Any:
    with env.session() as s:
        return inbox(s, person=person, municipalities=[A], query=InboxFilter(**query),
                     calendar_of=env.cases.registry.calendar)


def test_claiming_moves_a_task_from_the_group_to_mine(database_url: str) -> None:
    with environment(database_url) as env:
        first, second = (env.start("Process_Deadline") for _ in range(2))
        page = _inbox(env, "窓口A", list="group")
        assert page.counts == {"mine": 0, "group": 2} and page.total == 2
        task = env.ready(first)[0]
        with env.session() as s:
            env.cases.claim(s, task.id, "窓口A")
        assert _inbox(env, "窓口A").counts == {"mine": 1, "group": 1}
        assert [r.case_id for r in _inbox(env, "窓口A").rows] == [first]
        assert [r.case_id for r in _inbox(env, "窓口B", list="group").rows] == [second]
        assert _inbox(env, "窓口A", claimed="unclaimed").counts == {"mine": 0, "group": 1}
        assert _inbox(env, "窓口A", process_id="Process_Timers").counts == {"mine": 0, "group": 0}
        with env.session() as s:  # nothing of another municipality's list
            assert inbox(s, person="窓口A", municipalities=["272078"], query=InboxFilter(list="group"),
                         calendar_of=env.cases.registry.calendar).counts == {"mine": 1, "group": 0}


def test_a_positions_task_is_in_its_holders_list_only(org: Any) -> None:
    with clock.frozen(dt.datetime(2026, 3, 30, 1, tzinfo=dt.UTC)):
        case_id = start_shokui(org)
        assert [r.case_id for r in _inbox(org, "suzuki").rows] == [case_id]  # 課長 that day
        assert _inbox(org, "takahashi").counts == {"mine": 0, "group": 0}  # 課長 from 4月1日
    with clock.frozen(dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC)):
        assert _inbox(org, "suzuki").counts["mine"] == 0
        assert [r.case_id for r in _inbox(org, "takahashi").rows] == [case_id]


def test_the_deadline_of_a_boundary_timer_and_open_days_left(database_url: str) -> None:
    with environment(database_url) as env:
        # Thursday 2026-04-02 23:30: due Friday 00:30, one open day away
        with clock.frozen(dt.datetime(2026, 4, 2, 23, 30, tzinfo=JST)):
            env.start("Process_Timers", {"公開日": "2026-04-10"})
            (row,) = _inbox(env, "窓口A", list="group").rows
            assert row.due_at is not None and row.days_left == 1 and not row.overdue
            assert _inbox(env, "窓口A", list="group", due="week").total == 1
            assert _inbox(env, "窓口A", list="group", due="none").total == 0
        # Friday 23:30: due Saturday 00:30 — Saturday is closed, so no open day is left
        with clock.frozen(dt.datetime(2026, 4, 3, 23, 30, tzinfo=JST)):
            env.start("Process_Timers", {"公開日": "2026-04-10"})
            rows = _inbox(env, "窓口A", list="group").rows
            assert [r.days_left for r in rows] == [0, 0]
        with clock.frozen(dt.datetime(2026, 4, 6, 9, 0, tzinfo=JST)):  # Monday: both are past due
            page = _inbox(env, "窓口A", list="group", due="overdue")
            # Friday's deadline is one open day behind; Saturday's none, but it has passed all the same
            assert page.total == 2 and [(r.days_left, r.overdue) for r in page.rows] == [(-1, True), (0, True)]


def test_sorted_by_due_then_paged(database_url: str) -> None:
    with environment(database_url) as env:
        for _ in range(PAGE_SIZE + 3):
            env.start("Process_Deadline")
        env.start("Process_Timers", {"公開日": "2026-12-31"})  # the only one with a deadline: first
        first = _inbox(env, "窓口A", list="group")
        assert (first.total, first.pages, len(first.rows)) == (PAGE_SIZE + 4, 2, PAGE_SIZE)
        assert first.rows[0].process_id == "Process_Timers"
        last = _inbox(env, "窓口A", list="group", page=99)  # past the end: the last page
        assert last.page == 2 and len(last.rows) == 4
        assert not {r.id for r in first.rows} & {r.id for r in last.rows}


def test_counts_stop_at_the_limit_and_say_so(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.inbox, "PAGE_SIZE", 2)
    monkeypatch.setattr(engine.inbox, "COUNT_LIMIT", 4)
    with environment(database_url) as env:
        for _ in range(6):
            env.start("Process_Deadline")
        page = _inbox(env, "窓口A", list="group")
        assert (page.counts, page.more, page.total, page.pages) == ({"mine": 0, "group": 4}, {"group"}, 4, 2)
        assert len(_inbox(env, "窓口A", list="group", page=2).rows) == 2
        assert _inbox(env, "窓口A", list="group", page=3).page == 2  # nothing past the counted tasks
        narrowed = _inbox(env, "窓口A", list="group", claimed="claimed")  # filters narrow below the limit
        assert (narrowed.counts["group"], narrowed.more) == (0, frozenset())
        monkeypatch.setattr(engine.inbox, "COUNT_LIMIT", 6)  # exactly at the limit: counted, not "more"
        exact = _inbox(env, "窓口A", list="group")
        assert (exact.counts["group"], exact.more) == (6, frozenset())


@given(today=st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31)),
       days=st.sets(st.dates(dt.date(2023, 12, 1), dt.date(2028, 2, 1)), max_size=12))
@settings(max_examples=60, deadline=None)
def test_open_days_walked_once_match_the_calendar(today: dt.date, days: set[dt.date]) -> None:
    calendar = MunicipalCalendar(name="標準の暦")
    expected: dict[dt.date, int | None] = {}
    for d in days:
        try:
            expected[d] = calendar.open_days_between(today, d)
        except OutOfCalendarRange:  # holidays not published yet: no count rather than a guess
            expected[d] = None
    assert open_days_from(calendar, today, days) == expected


def test_a_name_entered_in_a_case_finds_it_however_it_is_typed(database_url: str) -> None:
    with environment(database_url) as env:
        yamada, other = env.start("Process_KojinBango"), env.start("Process_KojinBango")
        env.complete(yamada, "受付", {"氏名": "山﨑 ﾊﾅｺ"})  # 異体字 and half-width kana, kept as typed
        env.complete(other, "受付", {"氏名": "川崎 太郎"})
        for typed in ("はなこ", "ハナコ", "山崎", "ﾊﾅｺ"):
            assert [r.case_id for r in _inbox(env, "窓口A", list="group", who=typed).rows] == [yamada], typed
        assert _inbox(env, "窓口A", list="group", who="%").total == 0  # LIKE wildcards are literal
        with env.session() as s:
            assert env.cases.get_case(s, yamada).data["氏名"] == "山﨑 ﾊﾅｺ"
            assert [r.case_id for r in inbox(s, person="x", municipalities=["272078"],
                                              query=InboxFilter(list="group", who="はなこ"),
                                              calendar_of=env.cases.registry.calendar).rows] == []


def test_erasing_a_case_erases_its_name_keys(database_url: str) -> None:
    from sqlalchemy import func, select

    from engine.audit_erase import erase_case
    from engine.models import CaseSearchKey

    with environment(database_url) as env:
        case_id = env.start("Process_KojinBango")
        env.complete(case_id, "受付", {"氏名": "山田 花子"})
        env.complete(case_id, "確認", {})
        with env.session() as s:
            assert s.scalar(select(func.count()).select_from(CaseSearchKey)) == 1
            erase_case(s, case_id, actor="tester", reason="保存年限")
            assert s.scalar(select(func.count()).select_from(CaseSearchKey)) == 0
