"""Business rule tasks: a BPMN process calls decisions of the rule files (`<jichi:decision>`), type-checked
against the rules when the file is loaded, evaluated on the case data with the case's pinned rule set, the
value stored in the case and the trace kept in the step's audit event."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.bpmn import validate_bpmn
from engine.cases import CaseError
from engine.models import AuditEvent, AuditPersonal
from engine.registry import Registry
from engine.rule_versions import activate
from engine.rulesets import RuleSets
from standard_core.diagnostics import Diagnostic
from tests.engine_support import ROOT, copy_core, environment

NANTO = "162108"
KAWASAKI = "141305"
NAHA = "472018"
NOON_TOKYO = dt.datetime(2025, 4, 10, 3, 0, tzinfo=dt.UTC)

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:jichi="urn:jichi:bpmn:1"
                  id="Definitions_1" targetNamespace="urn:test">
  <bpmn:process id="Process_1" isExecutable="true">
    <bpmn:extensionElements>
{data}
    </bpmn:extensionElements>
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:businessRuleTask id="RuleTask_1" name="判定">
{extension}
      <bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>Flow_2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="RuleTask_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="RuleTask_1" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""
DOCUMENTS = '      <jichi:data name="受付日" type="日付" /><jichi:data name="本人確認書類" type="提示書類の一覧" />'
CALL = '      <bpmn:extensionElements>{}</bpmn:extensionElements>'


def check(tmp_path: Path, data: str, calls: str | None) -> list[Diagnostic]:
    path = tmp_path / "process.bpmn"
    extension = "" if calls is None else CALL.format(calls)
    path.write_text(PROCESS.format(data=data, extension=extension), encoding="utf-8")
    _, found = validate_bpmn(path, "process.bpmn", RuleSets(ROOT).for_file(path))
    return found


def codes(found: list[Diagnostic]) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in found]


# ---- load time: every call is checked against the rule files ----------------------------------------

def test_a_call_whose_inputs_are_declared_is_clean(tmp_path: Path) -> None:
    assert check(tmp_path, DOCUMENTS, '<jichi:decision name="本人確認の結果" result="確認済" />') == []


@pytest.mark.parametrize(("data", "calls", "code", "says"), [
    (DOCUMENTS, None, "BPM460", "jichi:decision"),
    (DOCUMENTS, '<jichi:decision name="本人確認の結論" />', "BPM461", "近い名前: 本人確認の結果"),
    ('      <jichi:data name="受付日" type="日付" />', '<jichi:decision name="本人確認の結果" />', "BPM462",
     "「本人確認書類」（提示書類の一覧）"),
    ('      <jichi:data name="受付日" type="文字列" /><jichi:data name="本人確認書類" type="提示書類の一覧" />',
     '<jichi:decision name="本人確認の結果" />', "BPM463", "「受付日」はプロセスでは文字列"),
    (DOCUMENTS + '<jichi:data name="確認済" type="文字列" />',
     '<jichi:decision name="本人確認の結果" result="確認済" />', "BPM463", "判定「本人確認の結果」の値は真偽"),
    (DOCUMENTS, '<jichi:decision name="本人確認の結果" on="受付日 + 1" />', "BPM464", "基準日 on の式"),
    ('      <jichi:data name="書類" type="提示書類の束" />', '<jichi:decision name="郵送の返送先を受け付ける" />',
     "BPM451", "規則ファイルの型"),
], ids=["no-call", "unknown-decision", "input-not-declared", "input-type-differs", "result-type-differs",
        "bad-reference-date", "unknown-record-type"])
def test_a_call_that_cannot_run_is_refused_at_load(tmp_path: Path, data: str, calls: str | None, code: str,
                                                   says: str) -> None:
    found = check(tmp_path, data, calls)
    assert code in [d.code for d in found], [d.format() for d in found]
    (first,) = [d for d in found if d.code == code][:1]
    assert says in first.message + first.hint and first.span.file == "process.bpmn" and first.span.line > 1


def test_a_decision_element_outside_a_business_rule_task_is_refused(tmp_path: Path) -> None:
    found = check(tmp_path, DOCUMENTS + '<jichi:decision name="本人確認の結果" />',
                  '<jichi:decision name="本人確認の結果" />')
    assert [d.code for d in found] == ["BPM412"]


# ---- run time: the durable engine, the municipality's rules, the audit event ------------------------

def _start(env: Any, process_id: str, municipality: str) -> str:
    with env.session() as s:
        case_id: str = env.cases.start_case(s, process_id=process_id, municipality=municipality, data={},
                                            actor="窓口").id
        return case_id


def _events(env: Any, case_id: str) -> list[AuditEvent]:
    with env.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))


JUMINHYO_RECEPTION = {"受付日": "2025-04-10", "請求者区分": "本人", "郵送請求": False, "請求通数": 2}
MY_NUMBER_CARD = {"本人確認書類": [{"種別": "マイナンバーカード", "有効期限": "2030-03-31"}]}


def test_the_juminhyo_fee_comes_from_the_municipality_and_the_trace_goes_to_the_audit(database_url: str) -> None:
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(ROOT)) as env:
        case_id = _start(env, "Process_JuminhyoKofu", NANTO)
        env.complete(case_id, "受付", JUMINHYO_RECEPTION)
        env.complete(case_id, "本人確認", MY_NUMBER_CARD)
        with env.session() as s:
            data = env.cases.get_case(s, case_id).data
        assert (data["本人確認済"], data["交付可"], data["手数料"]) == (True, True, 600)
        step = _events(env, case_id)[-1]
        with env.session() as s:
            kept = s.get(AuditPersonal, (step.municipality_code, step.seq))
            assert kept is not None
            detail, personal = json.loads(step.detail), json.loads(kept.personal)
        assert [d["decision"] for d in detail["rule_decisions"]] == [
            "本人確認の結果", "本人確認の却下理由", "郵送の返送先を受け付ける", "住民票の写しの手数料"]
        fee = personal["decisions"][-1]
        assert fee["value"] == 600 and fee["trace"]["file"] == "standard_core/rules/juminhyo.rules"
        # the fee's trace names the pack's value of the open parameter
        used = [u for u in fee["trace"]["uses"] if u.get("name") == "住民票の写しの手数料単価"]
        assert used and used[0]["value"] == 300 and "南砺市" in used[0]["cite"]


def test_a_step_whose_decision_fails_changes_nothing(database_url: str) -> None:
    # 川崎市's pack sets no fee: the core has none to fall back on, so 手数料の計算 cannot run.
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(ROOT)) as env:
        case_id = _start(env, "Process_JuminhyoKofu", KAWASAKI)
        env.complete(case_id, "受付", JUMINHYO_RECEPTION)
        before = env.case(case_id).version
        with pytest.raises(CaseError) as caught:
            env.complete(case_id, "本人確認", MY_NUMBER_CARD)
        (diagnostic,) = caught.value.diagnostics
        assert diagnostic.code == "ENG504" and "DSL314" in diagnostic.message
        assert diagnostic.span.file == "processes/juminhyo/juminhyo.bpmn"
        assert env.case(case_id).version == before and [t.name for t in env.ready(case_id)] == ["本人確認"]


def test_a_case_decides_with_the_rule_set_it_pinned(database_url: str, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    copy_core(root)
    shutil.copytree(ROOT / "local_rules" / "162108-nanto", root / "local_rules" / "162108-nanto")
    (root / "standard_core" / "VERSION").write_text((ROOT / "standard_core" / "VERSION").read_text())
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(root)) as env:
        version = Registry.load(root).packs[0].version
        with env.session() as s:
            activate(s, root, pack_id="162108-nanto", version=version, municipality=NANTO,
                     effective_from=dt.date(2025, 4, 1), actor="管理者")
            case_id = env.cases.start_case(s, process_id="Process_JuminhyoKofu", municipality=NANTO, data={},
                                           actor="窓口").id
        # The fee changes on disk after the case pinned its rule set: the case keeps 300円.
        fee_file = root / "local_rules" / "162108-nanto" / "rules" / "tesuryo.rules"
        fee_file.write_text(fee_file.read_text(encoding="utf-8").replace("300円", "350円", 1), encoding="utf-8")
        env.cases.registry = Registry.load(root)
        env.cases._live.clear()
        env.complete(case_id, "受付", JUMINHYO_RECEPTION)
        env.complete(case_id, "本人確認", MY_NUMBER_CARD)
        with env.session() as s:
            assert env.cases.get_case(s, case_id).data["手数料"] == 600


# ---- 児童手当 認定請求 through the core procedure ---------------------------------------------------

def _child(name: str, born: str, care: bool = True, costs: bool = False) -> dict[str, Any]:
    return {"名前": name, "生年月日": born, "監護": care, "生計費負担": costs}


def _claim(env: Any, form: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    case_id = _start(env, "Process_JidoTeateNintei", NAHA)  # the core form: 川崎市 adds a local field
    env.complete(case_id, "認定請求の受付", {"請求者が公務員": False, "特例の事由": "特例なし", **form})
    with env.session() as s:
        return case_id, env.cases.get_case(s, case_id).data


def test_jido_teate_a_family_is_certified_with_its_first_month_and_payday(database_url: str) -> None:
    # 第3子 counted because the eldest (20) is supported (生計費負担); born 2025-03-28, claimed within 15 days.
    children = [_child("長男", "2005-05-01", costs=True), _child("長女", "2012-08-20"), _child("次男", "2025-03-28")]
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(ROOT)) as env:
        case_id, data = _claim(env, {"認定請求日": "2025-04-10", "児童": children, "特例の事由": "出生",
                                     "出生日": "2025-03-28"})
        assert data["認定可"] is True and data["却下理由"] == ""
        assert data["支給開始月"] == "2025-04"  # 15日特例: the month after the birth, not after the claim
        assert [(r["名前"], r["第何子"], r["月額"]) for r in data["支給開始月の内訳"]] == [
            ("長男", 1, 0), ("長女", 2, 10000), ("次男", 3, 30000)]
        assert data["支給開始月の月額"] == 40000
        assert (data["最初の支払月"], data["最初の支払日"]) == ("2025-06", "2025-06-10")
        # The 認定 goes through the core 決裁 (no 別表 in 那覇市's pack: up to the mayor; no unit: lane tasks).
        assert [t.name for t in env.ready(case_id)] == ["起案"]
        env.complete(case_id, "起案", {"件名": "児童手当の認定", "事案の種別": "児童手当の認定", "決裁金額": 40000,
                                       "重要異例": False, "部内の合議先": [], "他部の合議先": []})
        for _ in ("課長", "部長", "副市長", "市長"):
            env.complete(case_id, "決裁", {"判断": "承認"})
        env.complete(case_id, "回覧（供覧）", {"回覧済": True})
        assert [t.name for t in env.ready(case_id)] == ["認定通知書の送付"]


def test_jido_teate_refused_in_kessai_sends_a_refusal_with_the_reason(database_url: str) -> None:
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(ROOT)) as env:
        case_id, _ = _claim(env, {"認定請求日": "2025-04-10", "児童": [_child("一子", "2020-01-01")]})
        env.complete(case_id, "起案", {"件名": "児童手当の認定", "事案の種別": "児童手当の認定", "決裁金額": 10000,
                                       "重要異例": False, "部内の合議先": [], "他部の合議先": []})
        env.complete(case_id, "決裁", {"判断": "却下", "意見": "監護の事実を確認できません"})
        with env.session() as s:
            data = env.cases.get_case(s, case_id).data
        assert data["決裁結果"] == "却下" and data["却下理由"] == "監護の事実を確認できません"
        assert [t.name for t in env.ready(case_id)] == ["却下通知書の送付"]


@pytest.mark.parametrize(("form", "reason"), [
    ({"請求者が公務員": True, "児童": [_child("一子", "2020-01-01")]}, "公務員の児童手当は勤務先"),
    ({"児童": [_child("一子", "2006-04-01")]}, "支給の対象となる児童"),  # past 18歳年度末 on 2025-04-10
    ({"児童": [_child("一子", "2020-01-01", care=False)]}, "支給の対象となる児童"),
], ids=["koumuin", "past-18", "not-in-care"])
def test_jido_teate_refusals_carry_their_reason(database_url: str, form: dict[str, Any], reason: str) -> None:
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(ROOT)) as env:
        case_id, data = _claim(env, {"認定請求日": "2025-04-10", **form})
        assert data["認定可"] is False and data["却下理由"].startswith(reason)
        assert "支給開始月" not in data
        assert [t.name for t in env.ready(case_id)] == ["却下通知書の送付"]
