"""Claiming tasks from a shared inbox (Camunda's claim/unclaim): a claimed task is its assignee's until they
complete it or give it back; a position's task is claimed only by whoever acts for the position that day; an
operator may take a leaver's task back with a reason. Each change is one audit event."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.cases import CaseError, list_tasks
from engine.models import AuditEvent, AuditPersonal
from tests.engine_support import environment
from tests.test_engine_cli import jichi, ready_task
from tests.test_positions import _start as start_shokui


def _code(caught: pytest.ExceptionInfo[CaseError]) -> str:
    return caught.value.diagnostics[0].code


def _events(env: Any, case_id: str) -> list[tuple[str, str]]:
    with env.session() as s:
        return [(e.action, e.actor) for e in s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                                      .order_by(AuditEvent.seq))]


def test_a_claimed_task_is_its_assignees_until_released(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": "備品購入"})
        (task,) = env.ready(case_id)
        with env.session() as s:
            claimed = env.cases.claim(s, task.id, "担当A")
            assert claimed.assignee == "担当A"
            assert env.cases.claim(s, task.id, "担当A").assignee == "担当A"  # again: no change, no event
            with pytest.raises(CaseError) as caught:
                env.cases.claim(s, task.id, "担当B")
            assert _code(caught) == "ENG524" and "担当A" in caught.value.diagnostics[0].message
            assert [t.id for t in list_tasks(s, assignee="担当A")] == [task.id]
        with pytest.raises(CaseError) as caught:
            env.complete(case_id, "起案", {"起案回数": 1}, actor="担当B")
        assert _code(caught) == "ENG524"
        with env.session() as s:
            with pytest.raises(CaseError) as caught:
                env.cases.release(s, task.id, "担当B")
            assert _code(caught) == "ENG524"
            assert env.cases.release(s, task.id, "担当A").assignee is None
            assert list_tasks(s, assignee="担当A") == []
        env.complete(case_id, "起案", {"起案回数": 1}, actor="担当B")
        assert _events(env, case_id) == [("case.started", "tester"), ("task.claimed", "担当A"),
                                         ("task.released", "担当A"), ("task.completed", "担当B")]


def test_an_operator_takes_a_leavers_task_back_with_a_reason(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": "備品購入"})
        (task,) = env.ready(case_id)
        with env.session() as s:
            env.cases.claim(s, task.id, "退職者")
            with pytest.raises(CaseError) as caught:
                env.cases.release(s, task.id, "管理者", force=True, reason=" ")
            assert _code(caught) == "ENG525"
            assert list_tasks(s, assignee="退職者")[0].id == task.id  # nothing changed
            env.cases.release(s, task.id, "管理者", force=True, reason="3月31日 退職")
            event = s.scalars(select(AuditEvent).where(AuditEvent.action == "task.released")).one()
            assert json.loads(event.detail)["reason"] == "3月31日 退職" and event.actor == "管理者"
            personal = s.get(AuditPersonal, (event.municipality_code, event.seq))
            assert personal is not None and json.loads(personal.personal) == {"from": "退職者"}


def test_only_open_user_tasks_can_be_claimed(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": "備品購入"})
        (task,) = env.ready(case_id)
        env.complete(case_id, "起案", {"起案回数": 1}, actor="担当A")
        with env.session() as s:
            with pytest.raises(CaseError) as caught:
                env.cases.claim(s, task.id, "担当A")  # already completed
            assert _code(caught) == "ENG511"
            with pytest.raises(CaseError) as caught:
                env.cases.claim(s, "nope", "x")
            assert _code(caught) == "ENG514"
        assert [a for a, _ in _events(env, case_id)].count("task.claimed") == 0


def test_a_positions_task_is_claimed_only_by_who_acts_for_it_that_day(org: Any) -> None:
    with clock.frozen(dt.datetime(2026, 3, 30, 1, tzinfo=dt.UTC)):
        case_id = start_shokui(org)
        (task,) = org.ready(case_id)
        with org.session() as s:
            with pytest.raises(CaseError) as caught:
                org.cases.claim(s, task.id, "takahashi")  # becomes 課長 on 4月1日
            assert _code(caught) == "ENG519"
            assert org.cases.claim(s, task.id, "suzuki").assignee == "suzuki"


def test_jichi_task_claim_and_release(database_url: str) -> None:
    jichi(database_url, "demo", "load")
    case = json.loads(jichi(database_url, "case", "start", "Process_JuminhyoKofu", "--municipality", "162108",
                            "--as", "窓口A", "--json").stdout)
    task = ready_task(database_url, case["id"])
    claimed = jichi(database_url, "task", "claim", task["id"][:8], "--as", "窓口A")
    assert "担当 窓口A" in claimed.stdout
    taken = jichi(database_url, "task", "claim", task["id"], "--as", "窓口B", "--json", ok=False)
    assert taken.returncode == 1 and json.loads(taken.stdout)["diagnostics"][0]["code"] == "ENG524"
    listed = jichi(database_url, "task", "list", "--assignee", "窓口A", "--json").stdout
    assert [t["id"] for t in json.loads(listed)] == [task["id"]]
    refused = jichi(database_url, "task", "release", task["id"], "--as", "窓口B", ok=False)
    assert refused.returncode == 1 and "ENG524" in refused.stderr
    jichi(database_url, "task", "release", task["id"], "--as", "管理者", "--force", "--reason", "異動")
    assert ready_task(database_url, case["id"])["assignee"] is None
