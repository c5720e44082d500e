"""Timers follow jichi's clock (injected here), fire once through the worker's call, and are audited."""

from __future__ import annotations

import datetime as dt

from engine import clock
from engine.cases import CaseError
from tests.engine_support import environment

START = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)  # 09:00 in Tokyo


def test_boundary_timer_fires_when_due_and_not_before(database_url: str) -> None:
    with clock.frozen(START) as now, environment(database_url) as env:
        case_id = env.start("Process_Timers", {"公開日": "2026-04-03"})
        timers = [t for t in env.ready(case_id)]
        assert [t.name for t in timers] == ["審査"]
        with env.session() as s:
            view = env.cases.get_case(s, case_id)
        (timer,) = [t for t in view.tasks if t.kind == "timer"]
        assert timer.name == "1時間経過" and timer.due_at == START + dt.timedelta(hours=1)

        now.advance(minutes=59)
        with env.session() as s:
            assert env.cases.fire_due_timers(s) == []
        assert [t.name for t in env.ready(case_id)] == ["審査"]

        now.advance(minutes=2)
        with env.session() as s:
            assert env.cases.fire_due_timers(s) == [case_id]
        with env.session() as s:
            assert env.cases.fire_due_timers(s) == []  # fires once
        assert [t.name for t in env.ready(case_id)] == ["期限切れの対応"]
        assert env.audit_count(case_id, "timer.fired") == 1
        with env.session() as s:
            history = {t.name: t.state for t in env.cases.get_case(s, case_id).history or []}
        assert history == {"審査": "cancelled", "1時間経過": "completed", "期限切れの対応": "ready"}


def test_completing_in_time_cancels_the_timer(database_url: str) -> None:
    with clock.frozen(START) as now, environment(database_url) as env:
        case_id = env.start("Process_Timers", {"公開日": "2026-04-03"})
        now.advance(minutes=30)
        env.complete(case_id, "審査")
        with env.session() as s:
            view = env.cases.get_case(s, case_id)
        (waiting,) = view.tasks
        # The intermediate timer waits for 公開日 at midnight in Tokyo (a DSL date means 00:00 +09:00).
        assert waiting.name == "公開日まで待つ" and waiting.due_at == dt.datetime(2026, 4, 2, 15, 0, tzinfo=dt.UTC)
        now.advance(hours=2)
        with env.session() as s:
            assert env.cases.fire_due_timers(s) == []  # the boundary timer was cancelled with its task
        now.current = dt.datetime(2026, 4, 2, 15, 0, 1, tzinfo=dt.UTC)
        with env.session() as s:
            assert env.cases.fire_due_timers(s) == [case_id]
        assert env.case(case_id).status == "completed"


def test_a_timer_is_not_a_task_a_person_can_complete(database_url: str) -> None:
    with clock.frozen(START), environment(database_url) as env:
        case_id = env.start("Process_Timers", {"公開日": "2026-04-03"})
        with env.session() as s:
            (timer,) = [t for t in env.cases.get_case(s, case_id).tasks if t.kind == "timer"]
            try:
                env.cases.complete_task(s, timer.id, {}, "clerk")
            except CaseError as e:
                assert e.code == "ENG515"
            else:
                raise AssertionError("a timer was completed by hand")


def test_timers_that_fell_due_while_no_worker_ran_fire_on_the_next_call(database_url: str) -> None:
    with clock.frozen(START) as now, environment(database_url) as env:
        cases = [env.start("Process_Timers", {"公開日": "2026-04-03"}) for _ in range(3)]
        now.advance(days=3)
        with env.session() as s:
            assert sorted(env.cases.fire_due_timers(s)) == sorted(cases)
        for case_id in cases:
            assert [t.name for t in env.ready(case_id)] == ["期限切れの対応"]
