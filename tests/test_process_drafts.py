"""Process drafts (engine/process_drafts.py): a diagram edited in the studio's modeler is checked exactly as
`jichi check` checks the pack, each diagnostic placed on the element it is about; only clean diagrams of the
municipality's own pack are saved, numbered and audited; core files and paths out of the pack are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine import process_drafts
from engine.bpmn.xml import MAX_FILE_BYTES
from engine.check import check_paths
from engine.models import AuditEvent
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import environment

ROOT = Path(__file__).resolve().parent.parent
HOOK = "local_rules/141305-kawasaki/processes/tennyu_hook.bpmn"
TEXT = (ROOT / HOOK).read_text(encoding="utf-8")


def placed(text: str, file: str = HOOK) -> list[tuple[str, str | None]]:
    return [(p.diagnostic.code, p.element) for p in process_drafts.check(ROOT, "141305", file, text)
            if p.diagnostic.is_error]


def test_the_pack_hook_checks_clean_and_matches_jichi_check() -> None:
    assert placed(TEXT) == []
    assert [d for d in check_paths([ROOT / HOOK], ROOT) if d.is_error] == []


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("世帯員数 &gt;= 2", "世帯員数 &gt;= 「二」", ("DSL207", "Flow_KA1")),
    ("世帯員数 &gt;= 2", "${世帯員数 >= 2}", ("BPM415", "Flow_KA1")),
    ('name="案内の記録">', 'name="案内の記録" scriptFormat="python">', ("BPM414", "ScriptTask_Kawasaki_Kiroku")),
    ("医療費助成の案内状況 := もし", 'import os\nos.system("rm -rf /")\n医療費助成の案内状況 := もし',
     ("DSL105", "ScriptTask_Kawasaki_Kiroku")),
    ('jichi:hook="転入.記載後"', 'jichi:hook="転入.受付後"', ("STD305", "Hook_Tennyu_AfterKisai")),
    ('jichi:hook="転入.記載後"', "", ("STD305", "Hook_Tennyu_AfterKisai")),
    ('targetRef="EndEvent_Kawasaki_Nashi" />', 'targetRef="EndEvent_Nowhere" />', ("BPM421", "Flow_KA_Nashi")),
])
def test_each_diagnostic_is_placed_on_its_element(old: str, new: str, expected: tuple[str, str]) -> None:
    assert TEXT.count(old) == 1
    assert expected in placed(TEXT.replace(old, new))


def test_the_process_id_of_a_core_procedure_is_refused_on_the_process() -> None:
    edited = TEXT.replace('id="Hook_Tennyu_AfterKisai"', 'id="Process_Tennyu"').replace(
        ' jichi:hook="転入.記載後"', "").replace('bpmnElement="Hook_Tennyu_AfterKisai"', 'bpmnElement="Process_Tennyu"')
    assert ("STD304", "Process_Tennyu") in placed(edited)


def test_unreadable_or_oversized_text_is_a_diagnostic() -> None:
    assert placed("<bpmn:definitions") == [("BPM401", None)]
    assert placed("") == [("BPM401", None)]
    assert placed("<!DOCTYPE x [<!ENTITY a 'b'>]><x/>")[0][0] in ("BPM401", "BPM405")
    assert placed("x" * (MAX_FILE_BYTES + 1)) == [("BPM403", None)]


def test_only_clean_diagrams_of_the_own_pack_are_saved(database_url: str) -> None:
    with environment(database_url) as env, env.session() as s:
        with pytest.raises(DiagnosticError) as refused:
            process_drafts.save(s, ROOT, "141305", HOOK, TEXT.replace('name="案内の記録">',
                                                                      'name="案内の記録" scriptFormat="python">'), "分析")
        assert [d.code for d in refused.value.diagnostics] == ["BPM414"]
        for file in ("processes/tennyu/tennyu.bpmn", "local_rules/141305-kawasaki/processes/../../../x.bpmn",
                     "local_rules/162108-nanto/processes/x.bpmn", "local_rules/141305-kawasaki/rules/x.bpmn"):
            with pytest.raises(DiagnosticError) as outside:
                process_drafts.save(s, ROOT, "141305", file, TEXT, "分析")
            assert [d.code for d in outside.value.diagnostics] == ["PCK632"], file
        s.rollback()
        first = process_drafts.save(s, ROOT, "141305", HOOK, TEXT.replace("&gt;= 2", "&gt;= 3"), "分析")
        second = process_drafts.save(s, ROOT, "141305", HOOK, TEXT, "分析")
        assert (first.number, second.number) == (1, 2)
        pack = process_drafts.own_pack(ROOT, "141305")
        files = process_drafts.files(s, ROOT, pack)
        text, draft = process_drafts.source(s, ROOT, pack, next(f for f in files if f.file == HOOK))
        assert draft is not None and draft.number == 2 and text == TEXT
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "process.draft_saved")).all() == \
            ["process.draft_saved"] * 2
        assert [f.file for f in files if f.editable] == [
            "local_rules/141305-kawasaki/processes/iryosho_shinsei.bpmn",
            "local_rules/141305-kawasaki/processes/shokan_barai.bpmn", HOOK]
        assert "processes/tennyu/tennyu.bpmn" in [f.file for f in files if not f.editable]
    assert (ROOT / HOOK).read_text(encoding="utf-8") == TEXT  # the pack on disk is never written


def test_new_processes_start_clean_from_a_template(database_url: str) -> None:
    with environment(database_url) as env, env.session() as s:
        local = process_drafts.new(s, ROOT, "141305", "kodomo_annai.bpmn", "", "分析")
        assert local.number == 1 and 'id="Process_141305_kawasaki_kodomo_annai"' in local.text
        assert placed(local.text, local.file) == []
        with pytest.raises(DiagnosticError) as again:
            process_drafts.new(s, ROOT, "141305", "kodomo_annai.bpmn", "", "分析")
        assert [d.code for d in again.value.diagnostics] == ["PCK633"]
        with pytest.raises(DiagnosticError) as taken:  # 川崎市 already implements 転入.記載後 in tennyu_hook.bpmn
            process_drafts.new(s, ROOT, "141305", "annai2.bpmn", "Hook_Tennyu_AfterKisai", "分析")
        assert [d.code for d in taken.value.diagnostics] == ["PCK633"]
        with pytest.raises(DiagnosticError) as unknown:
            process_drafts.new(s, ROOT, "141305", "annai3.bpmn", "Hook_Nothing", "分析")
        assert [d.code for d in unknown.value.diagnostics] == ["STD305"]
        with pytest.raises(DiagnosticError) as bad_name:
            process_drafts.new(s, ROOT, "141305", "../x.bpmn", "", "分析")
        assert [d.code for d in bad_name.value.diagnostics] == ["PCK632"]
        # 南砺市's pack has no hook yet: a new implementation of 転入.記載後 checks clean there.
        hook = process_drafts.new(s, ROOT, "162108", "tennyu_hook.bpmn", "Hook_Tennyu_AfterKisai", "分析")
        assert 'jichi:hook="転入.記載後"' in hook.text and placed(hook.text, hook.file) == []
