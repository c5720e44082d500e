"""住民票の写し等交付請求 (processes/juminhyo/juminhyo.bpmn) on SpiffWorkflow: the 本人確認 rule of
domain/standard-core.md case by case, the 代理人 / 第三者 / 郵送 requirements and the fee, through the real
BPMN with the DSL engine, saving and restoring the workflow after every step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import ProcessRuntimeError, start, validate_bpmn
from tests.test_bpmn_run import complete, path_taken, save_restore

JUMINHYO = Path(__file__).resolve().parent.parent / "processes" / "juminhyo" / "juminhyo.bpmn"
PROCESS = "Process_JuminhyoKofu"
# 南砺市: 住民票の写し 1通 300円 (南砺市手数料条例; domain/standard-core.md「住民票の写し等交付請求」).
# Only a test input: the core has no fee of its own, each municipality supplies 手数料単価.
NANTO_FEE = 300

RECEPTION = {"受付日": "2025-04-01", "請求者区分": "本人", "請求方法": "窓口", "交付部数": 3}
NOTHING = {"書類2種別": "なし"}
REASON_DOCUMENTS = "本人確認書類が足りません"
REASON_EXPIRED = "有効期限の切れた書類では本人確認ができません"


def run(reception: dict[str, Any], documents: dict[str, Any], review: dict[str, Any] | None = None,
        fee: int | None = NANTO_FEE) -> BpmnWorkflow:
    """Start a case (with 手数料単価 as the process input) and complete 受付, 本人確認 and any 審査."""
    loaded, found = validate_bpmn(JUMINHYO, "juminhyo.bpmn")
    assert loaded is not None and found == []
    workflow = start([loaded], PROCESS)
    if fee is not None:
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data["手数料単価"] = fee
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


CASES = [
    # (受付, 本人確認, 係長の審査, 却下理由の書き出し — None なら交付)
    ({}, {"書類1種別": "マイナンバーカード", "書類1有効期限": "2030-03-31", **NOTHING}, None, None),
    ({}, {"書類1種別": "健康保険資格確認書", "書類1有効期限": "2026-03-31", "書類2種別": "年金手帳"}, None, None),
    ({}, {"書類1種別": "介護保険被保険者証", "書類1有効期限": "2027-07-31",
          "書類2種別": "学生証", "書類2有効期限": "2026-03-31"}, None, None),
    ({}, {"書類1種別": "社員証", "書類1有効期限": "2026-03-31", "書類2種別": "年金証書"}, None, None),
    ({}, {"書類1種別": "学生証", "書類1有効期限": "2026-03-31",
          "書類2種別": "社員証", "書類2有効期限": "2026-03-31"}, None, REASON_DOCUMENTS),
    ({}, {"書類1種別": "運転免許証", "書類1有効期限": "2025-03-31", **NOTHING}, None, REASON_EXPIRED),
    ({}, {"書類1種別": "運転免許証", "書類1有効期限": "2025-04-01", **NOTHING}, None, None),
    ({}, {"書類1種別": "健康保険資格確認書", "書類1有効期限": "2026-03-31", **NOTHING}, None, REASON_DOCUMENTS),
    ({}, {"書類1種別": "健康保険被保険者証", "書類1有効期限": "2025-03-31",
          "書類2種別": "学生証", "書類2有効期限": "2026-03-31"}, None, REASON_EXPIRED),
    ({}, {"書類1種別": "図書館カード", "書類1有効期限": "2026-03-31", "書類2種別": "年金手帳"}, None,
     REASON_DOCUMENTS),
    ({}, {"書類1種別": "なし", **NOTHING}, None, REASON_DOCUMENTS),
    ({"請求者区分": "代理人"}, {"書類1種別": "旅券", "書類1有効期限": "2030-01-01", **NOTHING,
                            "委任状あり": False}, None, "代理人による請求には委任状が必要です"),
    ({"請求者区分": "代理人"}, {"書類1種別": "旅券", "書類1有効期限": "2030-01-01", **NOTHING,
                            "委任状あり": True}, None, None),
    ({"請求方法": "郵送"}, {"書類1種別": "在留カード", "書類1有効期限": "2028-01-01", **NOTHING,
                        "返送先が住民票の住所": False}, None, "郵送請求の写しは住民票の住所にだけ送付します"),
    ({"請求方法": "郵送"}, {"書類1種別": "在留カード", "書類1有効期限": "2028-01-01", **NOTHING,
                        "返送先が住民票の住所": True}, None, None),
    ({"請求者区分": "第三者"}, {"書類1種別": "運転免許証", "書類1有効期限": "2027-01-01", **NOTHING},
     {"正当な理由あり": True}, None),
    ({"請求者区分": "第三者"}, {"書類1種別": "運転免許証", "書類1有効期限": "2027-01-01", **NOTHING},
     {"正当な理由あり": False}, "第三者による請求には正当な理由の疎明が必要です"),
    ({"請求者区分": "家族"}, {"書類1種別": "マイナンバーカード", "書類1有効期限": "2030-03-31", **NOTHING}, None,
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
        assert path_taken(workflow)[-3:] == ["ScriptTask_Tesuryo", "UserTask_Kofu", "EndEvent_Kofu"]
    else:
        assert ready_task(workflow) == "UserTask_Kyakka"
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert task.data["交付可"] is False and task.data["却下理由"].startswith(reason)
        workflow = complete(workflow, "UserTask_Kyakka", {"説明済": True})
        assert path_taken(workflow)[-2:] == ["UserTask_Kyakka", "EndEvent_Kyakka"]
        assert "手数料" not in workflow.data
    assert workflow.is_completed()
    assert ("UserTask_Shinsa" in path_taken(workflow)) == (reception.get("請求者区分") == "第三者")


@pytest.mark.parametrize(("copies", "unit", "fee"), [(3, NANTO_FEE, 900), (1, 200, 200), (2, 450, 900)],
                         ids=["nanto-3-copies", "one-copy", "other-municipality"])
def test_fee_is_copies_times_the_municipal_unit_fee(copies: int, unit: int, fee: int) -> None:
    workflow = run({"交付部数": copies}, {"書類1種別": "マイナンバーカード", "書類1有効期限": "2030-03-31", **NOTHING},
                   fee=unit)
    workflow = complete(workflow, "UserTask_Kofu", {"手数料収納済": True, "交付日": "2025-04-01"})
    assert workflow.is_completed() and workflow.data["手数料"] == fee


def test_no_core_default_fee() -> None:
    # 手数料単価 is an open parameter: a case started without it cannot compute a fee, it never falls back.
    with pytest.raises(ProcessRuntimeError) as caught:
        run({}, {"書類1種別": "マイナンバーカード", "書類1有効期限": "2030-03-31", **NOTHING}, fee=None)
    assert caught.value.diagnostic.code == "ENG504"
    assert "手数料単価" in caught.value.diagnostic.message
