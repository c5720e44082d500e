"""Municipality isolation (engine/tenancy.py): a session scoped to municipality A finds nothing of B through
any engine entry point or query — B's case and task are "not found", exactly as ids that do not exist."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, update

from engine import clock
from engine.cases import CaseError, list_tasks
from engine.models import CaseInstance, CaseTask
from engine.tenancy import scope
from tests.engine_support import environment

A, B = "141305", "272078"


@pytest.fixture
def two(database_url: str) -> Any:
    with clock.frozen(dt.datetime(2026, 6, 10, 1, 0, tzinfo=dt.UTC)), environment(database_url) as env:
        ids = {}
        for code in (A, B):
            with env.session() as s:
                ids[code] = env.cases.start_case(s, process_id="Process_Deadline", municipality=code, data={},
                                                 actor="窓口").id
        tasks = {code: env.ready(case)[0].id for code, case in ids.items()}
        yield env, ids, tasks


def _code(call: Any) -> str:
    with pytest.raises(CaseError) as caught:
        call()
    return caught.value.code


def test_b_is_not_found_through_every_engine_entry_point(two: Any) -> None:
    env, ids, tasks = two
    with env.session() as s:
        scope(s, {A})
        assert env.cases.get_case(s, ids[A]).municipality == A
        missing_case = _code(lambda: env.cases.get_case(s, "00000000-0000-0000-0000-000000000000"))
        assert _code(lambda: env.cases.get_case(s, ids[B])) == missing_case == "ENG516"
        missing_task = _code(lambda: env.cases.complete_task(s, "00000000-0000-0000-0000-000000000000", {}, "窓口"))
        assert _code(lambda: env.cases.complete_task(s, tasks[B], {"異動日": "2026-06-09"}, "窓口")) == missing_task
        no_withdraw = _code(lambda: env.cases.withdraw(s, "00000000-0000-0000-0000-000000000000", "窓口", "誤り"))
        assert _code(lambda: env.cases.withdraw(s, ids[B], "窓口", "誤り")) == no_withdraw
        unknown = _code(lambda: env.cases.start_case(s, process_id="Process_Deadline", municipality="999999",
                                                     data={}, actor="窓口"))
        assert _code(lambda: env.cases.start_case(s, process_id="Process_Deadline", municipality=B, data={},
                                                  actor="窓口")) == unknown == "ENG512"
        assert {t.municipality for t in list_tasks(s)} == {A}
        assert list_tasks(s, municipality=B) == [] and list_tasks(s, case_id=ids[B]) == []


def test_b_is_not_found_through_orm_and_core_queries(two: Any) -> None:
    env, ids, tasks = two
    with env.session() as s:
        scope(s, {A})
        assert s.get(CaseInstance, ids[B]) is None and s.get(CaseTask, tasks[B]) is None
        assert s.get(CaseInstance, ids[A]) is not None
        assert {c.municipality_code for c in s.scalars(select(CaseInstance))} == {A}
        assert s.scalar(select(func.count()).select_from(CaseTask.__table__)) == 1
        joined = select(CaseTask.id).join(CaseInstance, CaseInstance.id == CaseTask.case_id)
        assert set(s.scalars(joined)) == {tasks[A]}
        # a write aimed at B's rows touches nothing
        s.execute(update(CaseTask.__table__).where(CaseTask.__table__.c.id == tasks[B]).values(lane="改ざん"))
        s.commit()
    with env.session() as s:  # unscoped (an operator's CLI): B's task is as it was
        assert s.get(CaseTask, tasks[B]).lane != "改ざん"


def test_a_session_scoped_to_nothing_sees_nothing_and_unscoped_sees_all(two: Any) -> None:
    env, _ids, _ = two
    with env.session() as s:
        scope(s, set())
        assert list_tasks(s) == [] and s.scalars(select(CaseInstance)).all() == []
    with env.session() as s:
        assert {c.municipality_code for c in s.scalars(select(CaseInstance))} == {A, B}


def test_a_user_of_both_sees_both_and_can_complete_in_each(two: Any) -> None:
    env, _ids, tasks = two
    with env.session() as s:
        scope(s, {A, B})
        assert {t.municipality for t in list_tasks(s)} == {A, B}
        view = env.cases.complete_task(s, tasks[B], {"異動日": "2026-06-09"}, "窓口")
        assert view.municipality == B
