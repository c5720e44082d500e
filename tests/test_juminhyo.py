"""住民票の写し等交付請求 (processes/juminhyo/juminhyo.bpmn) on SpiffWorkflow: the 本人確認 rule of
domain/standard-core.md case by case, the 代理人 / 第三者 / 郵送 requirements and the fee, through the real
BPMN with the DSL engine, saving and restoring the workflow after every step."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from dsl.context import EvalContext
from dsl.rules.model import RuleSet
from engine.bpmn import ProcessRuntimeError, set_eval_context, set_rules, start, take_decided, validate_bpmn
from engine.rulesets import RuleSets
from tests.test_bpmn_run import complete, path_taken, save_restore

ROOT = Path(__file__).resolve().parent.parent
JUMINHYO = ROOT / "processes" / "juminhyo" / "juminhyo.bpmn"
PROCESS = "Process_JuminhyoKofu"
NANTO = "162108"  # 南砺市: 住民票の写し 1通 300円 (its pack sets the core's open 手数料単価)
KAWASAKI = "141305"  # its pack sets no fee: the core has none to fall back on
ON = dt.date(2025, 4, 1)

RECEPTION = {"受付日": "2025-04-01", "請求者区分": "本人", "郵送請求": False, "請求通数": 3}
REASON_DOCUMENTS = "本人確認書類が足りません"
REASON_EXPIRED = "有効期限の切れた書類では本人確認ができません"


@functools.cache
def _rules(municipality: str) -> RuleSet:
    rules, diagnostics = RuleSets(ROOT).for_municipality(municipality)
    assert rules is not None, diagnostics
    return rules


def doc(kind: str, expires: str | None = None) -> dict[str, str]:
    """One presented document (種別, and 有効期限 for a document that has one)."""
    return {"種別": kind} if expires is None else {"種別": kind, "有効期限": expires}


def run(reception: dict[str, Any], documents: dict[str, Any], review: dict[str, Any] | None = None,
        municipality: str = NANTO) -> BpmnWorkflow:
    """Start a case on the municipality's rules and complete 受付, 本人確認 and any 審査."""
    loaded, found = validate_bpmn(JUMINHYO, "juminhyo.bpmn", RuleSets(ROOT).for_file(JUMINHYO))
    assert loaded is not None and found == []
    workflow = start([loaded], PROCESS)
    set_eval_context(workflow, EvalContext(on=ON))
    set_rules(workflow, lambda: _rules(municipality))
    workflow.do_engine_steps()
    workflow = save_restore(workflow)
    workflow = complete(workflow, "UserTask_Uketsuke", {**RECEPTION, **reception})
    workflow = complete(workflow, "UserTask_Honninkakunin", documents)
    if review is not None:
        workflow = complete(workflow, "UserTask_Shinsa", review)
    return workflow


def ready_task(workflow: BpmnWorkflow) -> str:
    (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    return str(task.task_spec.name)


def docs(*documents: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"本人確認書類": list(documents), **more}


CASES = [
    # (受付, 本人確認, 係長の審査, 却下理由の書き出し — None なら交付)
    ({}, docs(doc("マイナンバーカード", "2030-03-31")), None, None),
    ({}, docs(doc("健康保険資格確認書", "2026-03-31"), doc("年金手帳")), None, None),
    ({}, docs(doc("介護保険被保険者証", "2027-07-31"), doc("学生証", "2026-03-31")), None, None),
    ({}, docs(doc("社員証", "2026-03-31"), doc("年金証書")), None, None),
    ({}, docs(doc("学生証", "2026-03-31"), doc("社員証", "2026-03-31")), None, REASON_DOCUMENTS),
    ({}, docs(doc("運転免許証", "2025-03-31")), None, REASON_EXPIRED),
    ({}, docs(doc("運転免許証", "2025-04-01")), None, None),
    ({}, docs(doc("健康保険資格確認書", "2026-03-31")), None, REASON_DOCUMENTS),
    ({}, docs(doc("健康保険被保険者証", "2025-03-31"), doc("学生証", "2026-03-31")), None, REASON_EXPIRED),
    ({}, docs(doc("図書館カード", "2026-03-31"), doc("年金手帳")), None, REASON_DOCUMENTS),
    ({}, docs(), None, REASON_DOCUMENTS),
    ({"請求者区分": "代理人"}, docs(doc("旅券", "2030-01-01"), 委任状あり=False), None,
     "代理人による請求には委任状が必要です"),
    ({"請求者区分": "代理人"}, docs(doc("旅券", "2030-01-01"), 委任状あり=True), None, None),
    ({"郵送請求": True}, docs(doc("在留カード", "2028-01-01"), 返送先が住民票の住所=False), None,
     "郵送請求の写しは住民票の住所にだけ送付します"),
    ({"郵送請求": True}, docs(doc("在留カード", "2028-01-01"), 返送先が住民票の住所=True), None, None),
    ({"請求者区分": "第三者"}, docs(doc("運転免許証", "2027-01-01")), {"正当な理由あり": True}, None),
    ({"請求者区分": "第三者"}, docs(doc("運転免許証", "2027-01-01")), {"正当な理由あり": False},
     "第三者による請求には正当な理由の疎明が必要です"),
    ({"請求者区分": "家族"}, docs(doc("マイナンバーカード", "2030-03-31")), None,
     "請求者の区分は『本人』『代理人』『第三者』のいずれか"),
]
IDS = [
    "list1-alone", "a-plus-a", "a-plus-b", "b-plus-a", "b-plus-b-refused", "expired-list1-refused",
    "list1-on-expiry-day", "one-a-alone-refused", "expired-a-plus-b-refused", "unlisted-document-refused",
    "no-document-refused", "agent-without-proxy-refused", "agent-with-proxy", "post-elsewhere-refused",
    "post-registered-address", "third-party-justified", "third-party-not-justified-refused",
    "unknown-requester-refused",
]


@pytest.mark.parametrize(("reception", "documents", "review", "reason"), CASES, ids=IDS)
def test_honnin_kakunin(reception: dict[str, Any], documents: dict[str, Any], review: dict[str, Any] | None,
                        reason: str | None) -> None:
    workflow = run(reception, documents, review)
    if reason is None:
        assert ready_task(workflow) == "UserTask_Kofu"
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert task.data["交付可"] is True and task.data["却下理由"] == ""
        workflow = complete(workflow, "UserTask_Kofu", {"手数料収納済": True, "交付日": "2025-04-01"})
        assert path_taken(workflow)[-3:] == ["RuleTask_Tesuryo", "UserTask_Kofu", "EndEvent_Kofu"]
    else:
        assert ready_task(workflow) == "UserTask_Kyakka"
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert task.data["交付可"] is False and task.data["却下理由"].startswith(reason)
        workflow = complete(workflow, "UserTask_Kyakka", {"説明済": True})
        assert path_taken(workflow)[-2:] == ["UserTask_Kyakka", "EndEvent_Kyakka"]
        assert "手数料" not in workflow.data
    assert workflow.is_completed()
    assert ("UserTask_Shinsa" in path_taken(workflow)) == (reception.get("請求者区分") == "第三者")


def test_the_diagram_calls_the_core_rules_and_keeps_their_traces() -> None:
    workflow = run({"請求者区分": "第三者"}, docs(doc("健康保険資格確認書", "2026-03-31"), doc("年金手帳")))
    (review,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    review.data["正当な理由あり"] = True
    review.run()
    workflow.do_engine_steps()  # the decisions run here; a restored workflow starts with none taken
    decided = take_decided(workflow)
    assert [d["decision"] for d in decided] == ["本人確認の結果", "本人確認の却下理由", "郵送の返送先を受け付ける",
                                                 "住民票の写しの手数料"]
    first = decided[0]
    assert first["result"] == "本人確認済" and first["value"] is True
    assert first["trace"]["file"] == "standard_core/rules/honnin_kakunin.rules"
    assert [a["label"] for a in first["trace"]["applied"]] == ["甲と甲"]
    assert take_decided(workflow) == []  # taken once, for one audit event


@pytest.mark.parametrize(("copies", "fee"), [(3, 900), (1, 300), (2, 600)])
def test_fee_is_copies_times_the_municipal_unit_fee(copies: int, fee: int) -> None:
    workflow = run({"請求通数": copies}, docs(doc("マイナンバーカード", "2030-03-31")))
    workflow = complete(workflow, "UserTask_Kofu", {"手数料収納済": True, "交付日": "2025-04-01"})
    assert workflow.is_completed() and workflow.data["手数料"] == fee


def test_no_core_default_fee() -> None:
    # 手数料単価 is an open parameter: where no pack sets it, the fee cannot be computed; it never falls back.
    with pytest.raises(ProcessRuntimeError) as caught:
        run({}, docs(doc("マイナンバーカード", "2030-03-31")), municipality=KAWASAKI)
    assert caught.value.diagnostic.code == "ENG504"
    assert "DSL314" in caught.value.diagnostic.message and "住民票の写しの手数料" in caught.value.diagnostic.message
