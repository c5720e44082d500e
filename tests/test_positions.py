"""Tasks addressed to positions, not people: a case belongs to a unit (課), its user tasks go to the
position of the lane's 職 (or the one jichi:assign names) in that unit, and land on whoever holds it on the
day the inbox is read — so the 4月1日 異動 moves open tasks to the new holder. Absences bring 代理 and 代決,
and the completion records whom the completer acted for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import clock
from engine.cases import CaseError, list_tasks
from engine.organisation import record_absence
from tests.test_kessai import MUNI, TEATE

KACHO = "kodomo.katei.kacho"


def _at(day: str) -> Any:
    return clock.frozen(dt.datetime.fromisoformat(f"{day}T01:00:00+00:00"))  # 10:00 in Tokyo


def _inbox(env: Any, person: str, day: str) -> list[str]:
    with env.session() as s:
        return [t.name for t in list_tasks(s, person=person, on=dt.date.fromisoformat(day))]


def _complete(env: Any, case_id: str, name: str, data: dict[str, Any], actor: str) -> None:
    env.complete(case_id, name, data, actor=actor)


def _start(env: Any, unit: str | None = TEATE) -> str:
    with env.session() as s:
        case_id: str = env.cases.start_case(s, process_id="Process_Shokui", municipality=MUNI,
                                            data={"段階": "部長"}, actor="起案者", unit=unit).id
        return case_id


def test_an_open_task_moves_to_the_new_holder_on_april_1(org: Any) -> None:
    with _at("2026-03-30"):
        case_id = _start(org)
    (task,) = org.ready(case_id)
    assert (task.name, task.position) == ("審査", KACHO)
    assert _inbox(org, "suzuki", "2026-03-31") == ["審査"] and _inbox(org, "takahashi", "2026-03-31") == []
    assert _inbox(org, "suzuki", "2026-04-01") == [] and _inbox(org, "takahashi", "2026-04-01") == ["審査"]
    with _at("2026-04-01"):
        with pytest.raises(CaseError) as caught:
            _complete(org, case_id, "審査", {"所見": "可"}, actor="suzuki")  # transferred out on 3月31日
        assert caught.value.diagnostics[0].code == "ENG519" and "高橋 三郎" in caught.value.diagnostics[0].hint
        _complete(org, case_id, "審査", {"所見": "可"}, actor="takahashi")


def test_jichi_assign_names_the_position_from_the_case_data(org: Any) -> None:
    with _at("2025-06-02"):
        case_id = _start(org)
        _complete(org, case_id, "審査", {"所見": "可"}, actor="suzuki")
    (task,) = org.ready(case_id)
    assert (task.name, task.position) == ("決裁", "kodomo.bucho")  # 段階 = 部長, found above the 係
    assert _inbox(org, "yamada", "2025-06-02") == ["決裁"]


def test_daiketsu_completes_the_absent_holders_task_and_says_for_whom(org: Any) -> None:
    with _at("2025-06-02"):
        case_id = _start(org)
        with org.session() as s:
            record_absence(s, municipality=MUNI, person="suzuki", start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 3),
                           reason="出張", substitute=None, actor="鈴木 一郎")
    assert _inbox(org, "sato", "2025-06-02") == ["審査"]  # the first 代決者 sees it while the 課長 is away
    assert _inbox(org, "sato", "2025-06-04") == []
    with _at("2025-06-02"):
        _complete(org, case_id, "審査", {"所見": "可"}, actor="sato")
    with org.session() as s:
        history = org.cases.get_case(s, case_id).history
    assert history is not None
    done = next(t for t in history if t.name == "審査")
    assert (done.completed_by, done.on_behalf_of) == ("sato", "suzuki")


def test_a_case_without_a_unit_keeps_lane_tasks_open_to_anyone(org: Any) -> None:
    with _at("2025-06-02"):
        case_id = _start(org, unit=None)
        (task,) = org.ready(case_id)
        assert task.position is None
        _complete(org, case_id, "審査", {"所見": "可"}, actor="だれでも")


def test_an_unknown_unit_is_refused(org: Any) -> None:
    with _at("2025-06-02"), pytest.raises(CaseError) as caught:
        _start(org, unit="kodomo.nai")
    assert caught.value.diagnostics[0].code == "ORG703"
