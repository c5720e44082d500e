"""川崎市's own procedure 小児医療証の交付申請 (local_rules/141305-kawasaki/processes/iryosho_shinsei.bpmn).

The age limit comes from the pack's rule file (決定 助成対象, rules/kodomo_iryohi.rules): 0歳〜中学3年生 until
2026-08-31, up to the 18歳年度末 from 2026-09-01. The same 高校1年生 is refused on the 31st and accepted on the 1st.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.cases import CaseError
from engine.models import AuditEvent
from engine.registry import Registry
from tests.engine_support import ROOT, Env, environment

PROCESS = "Process_Kawasaki_IryoshoShinsei"
AGE_REASON = "申請日に、子が小児医療費助成の対象年齢ではありません（川崎市小児医療費助成条例）"
CHUGAKUSEI = "2012-06-01"  # 中学2年生 in 2026
KOKOSEI = "2010-06-01"  # 高校1年生相当 in 2026 (18歳年度末 2029-03-31)


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    with clock.frozen(dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)), \
            environment(database_url, Registry.load(ROOT)) as env:
        yield env


def _apply(env: Env, applied: str, born: str, **facts: bool) -> str:
    case_id = env.start(PROCESS)
    assert [t.name for t in env.ready(case_id)] == ["申請の受付"]
    env.complete(case_id, "申請の受付", {"申請日": applied, "生年月日": born, "保護者が市内に住所がある": True,
                                        "健康保険に加入している": True, **facts})
    return case_id


def _data(env: Env, case_id: str) -> dict[str, Any]:
    with env.session() as s:
        data: dict[str, Any] = env.cases.get_case(s, case_id).data
    return data


def _intake_event(env: Env, case_id: str) -> dict[str, Any]:
    """The detail of the audit event of the 受付 step: the rule decision and the gateway's choice are in it."""
    with env.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)).all()
    detail: dict[str, Any] = json.loads(events[1].detail)
    return detail


def _chosen(env: Env, case_id: str) -> list[str]:
    (decision,) = _intake_event(env, case_id)["decisions"]
    assert decision["gateway"] == "Gateway_Kawasaki_Taisho"
    chosen: list[str] = decision["chosen"]
    return chosen


def test_a_chugakusei_before_the_extension_gets_the_certificate(env: Env) -> None:
    case_id = _apply(env, "2026-08-31", CHUGAKUSEI)
    assert [t.name for t in env.ready(case_id)] == ["医療証の交付"]
    assert _chosen(env, case_id) == ["UserTask_Kawasaki_Kofu"]
    assert "助成対象" in json.dumps(_intake_event(env, case_id)["rule_decisions"], ensure_ascii=False)
    env.complete(case_id, "医療証の交付", {"医療証番号": "K-0001", "交付日": "2026-09-01"})
    assert env.case(case_id).status == "completed"
    data = _data(env, case_id)
    assert (data["診療日"], data["対象年齢"], data["交付できる"], data["却下理由"]) == ("2026-08-31", True, True, "")
    assert (data["医療証番号"], data["交付日"]) == ("K-0001", "2026-09-01")
    assert "通知日" not in data


@pytest.mark.parametrize(("applied", "eligible"), [("2026-08-31", False), ("2026-09-01", True)],
                         ids=["2026-08-31-refused", "2026-09-01-accepted"])
def test_the_age_extension_on_2026_09_01(env: Env, applied: str, eligible: bool) -> None:
    case_id = _apply(env, applied, KOKOSEI)
    data = _data(env, case_id)
    assert (data["診療日"], data["対象年齢"], data["交付できる"]) == (applied, eligible, eligible)
    if eligible:
        assert _chosen(env, case_id) == ["UserTask_Kawasaki_Kofu"]
        assert [t.name for t in env.ready(case_id)] == ["医療証の交付"]
        env.complete(case_id, "医療証の交付", {"医療証番号": "K-0002", "交付日": applied})
        assert _data(env, case_id)["医療証番号"] == "K-0002"
    else:
        assert _chosen(env, case_id) == ["UserTask_Kawasaki_Kyakka"]
        assert [t.name for t in env.ready(case_id)] == ["却下の通知"]
        assert data["却下理由"] == AGE_REASON
        env.complete(case_id, "却下の通知", {"通知日": "2026-09-01"})
        assert "医療証番号" not in _data(env, case_id)
    assert env.case(case_id).status == "completed"


@pytest.mark.parametrize(("facts", "reason"), [
    ({"保護者が市内に住所がある": False}, "保護者が川崎市内に住所を有していません"),
    ({"健康保険に加入している": False}, "子が健康保険に加入していません"),
], ids=["no-address", "no-insurance"])
def test_an_eligible_age_is_refused_without_the_other_requirements(env: Env, facts: dict[str, bool],
                                                                   reason: str) -> None:
    case_id = _apply(env, "2026-09-01", CHUGAKUSEI, **facts)
    data = _data(env, case_id)
    assert (data["対象年齢"], data["交付できる"], data["却下理由"]) == (True, False, reason)
    assert [t.name for t in env.ready(case_id)] == ["却下の通知"]


def test_the_forms_refuse_inconsistent_dates(env: Env) -> None:
    case_id = env.start(PROCESS)
    with pytest.raises(CaseError) as caught:
        env.complete(case_id, "申請の受付", {"申請日": "2026-09-02", "生年月日": "2026-09-02",
                                            "保護者が市内に住所がある": True, "健康保険に加入している": True})
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [("ENG518", "申請日が未来の日付です")]
    env.complete(case_id, "申請の受付", {"申請日": "2026-09-01", "生年月日": CHUGAKUSEI,
                                        "保護者が市内に住所がある": True, "健康保険に加入している": True})
    with pytest.raises(CaseError) as caught:
        env.complete(case_id, "医療証の交付", {"医療証番号": "K-0003", "交付日": "2026-08-31"})
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [("ENG518", "交付日は申請日以後です")]
    with pytest.raises(CaseError) as caught:
        env.complete(case_id, "医療証の交付", {"交付日": "2026-09-01"})
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [("ENG518", "「小児医療証の番号」は必須の項目です")]


def test_another_municipality_has_no_kawasaki_rules_to_decide_with(env: Env) -> None:
    # A pack's own procedure is not limited to the pack's municipalities when it starts (the engine lets any
    # registered municipality start it), but 那覇市's rules have no 助成対象: the decision step is refused, and
    # nothing of it is stored.
    with env.session() as s:
        case_id = env.cases.start_case(s, process_id=PROCESS, municipality="472018", data={}, actor="窓口").id
    version = env.case(case_id).version
    with pytest.raises(CaseError) as caught:
        env.complete(case_id, "申請の受付", {"申請日": "2026-09-01", "生年月日": CHUGAKUSEI,
                                            "保護者が市内に住所がある": True, "健康保険に加入している": True})
    assert [d.code for d in caught.value.diagnostics] == ["ENG506"]
    assert "助成対象" in caught.value.diagnostics[0].message
    assert env.case(case_id).version == version
