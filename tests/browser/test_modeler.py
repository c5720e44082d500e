"""The studio's BPMN modeler in a real browser: an analyst edits the condition of 川崎市's 転入.記載後 hook in the
properties panel, sees each diagnostic of `jichi check` on the diagram element it is about, and saves the diagram
as a draft only once it checks clean; a Python script, a diagram imported with a Python scriptFormat and a process
moved outside the declared hook are refused with their diagnostics shown. Core processes open read-only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.db import make_engine, make_session_factory
from engine.models import AuditEvent, RuleDraft
from tests.browser.conftest import MUNICIPALITY, sign_in

HOOK = "local_rules/141305-kawasaki/processes/tennyu_hook.bpmn"


def open_element(page: Any, element_id: str) -> None:
    """Select a diagram element as the analyst does (a click on it) and open the properties group of jichi."""
    page.locator(f'.djs-element[data-element-id="{element_id}"]').first.click(force=True)
    page.locator(".bio-properties-panel-header-label").first.wait_for()
    group = page.locator('[data-group-id="group-jichi"]')
    if not group.locator(".bio-properties-panel-group-entries.open").count():
        group.locator(".bio-properties-panel-group-header").click()


def diagnostics(page: Any) -> list[tuple[str, str]]:
    """(code, element id) of each diagnostic listed under the diagram."""
    items = page.locator("#m-diagnostics li")
    return [(items.nth(i).get_attribute("data-code") or "", items.nth(i).get_attribute("data-element") or "")
            for i in range(items.count())]


def press(page: Any, button: str, state: str) -> None:
    page.get_by_role("button", name=button).click()
    page.locator(f'#modeler[data-state="{state}"]').wait_for()


def edit_hook_condition(page: Any, live: Any, shot: Any) -> None:
    """From the studio's home: open the hook in the modeler, make its condition wrong (shown on the flow), right
    again, and save it as a draft."""
    page.goto(live.url("/studio/"))
    page.get_by_role("link", name="プロセス（BPMN モデラー）").first.click()
    page.get_by_role("link", name=HOOK).click()
    page.locator('#modeler[data-ready="true"]').wait_for()
    open_element(page, "Flow_KA1")
    condition = page.get_by_label("条件式（jichi の DSL）")
    assert condition.input_value() == "世帯員数 >= 2"
    condition.fill("世帯員数 >= 「二」")
    press(page, "検査する", "check-refused")
    assert ("DSL", "Flow_KA1") in {(code[:3], element) for code, element in diagnostics(page)}, diagnostics(page)
    assert "jichi-error" in (page.locator('.djs-element[data-element-id="Flow_KA1"]').get_attribute("class") or "")
    shot(page, "condition-diagnostic")
    condition.fill("世帯員数 >= 3")
    press(page, "下書きとして保存する", "saved")
    page.get_by_text("下書き 1 として保存しました").wait_for()
    assert diagnostics(page) == []
    shot(page, "condition-saved")


def test_an_analyst_edits_a_hook_condition_and_refused_diagrams_say_why(page: Any, live: Any, axe: Any,
                                                                       shot: Any, tmp_path: Path) -> None:
    sign_in(page, live, "bunseki", then="/studio/")
    edit_hook_condition(page, live, shot)
    axe(page, "modeler")

    # A Python script in a script task: refused, the diagnostic on the task.
    open_element(page, "ScriptTask_Kawasaki_Kiroku")
    script = page.get_by_label("スクリプト（jichi の DSL）")
    kept = script.input_value()
    script.fill('import os\nos.system("rm -rf /")')
    press(page, "下書きとして保存する", "save-refused")
    assert ("DSL105", "ScriptTask_Kawasaki_Kiroku") in diagnostics(page), diagnostics(page)
    page.get_by_text("保存できません").wait_for()
    shot(page, "python-refused")
    script.fill(kept)

    # The process attached outside the hooks the core declares: STD305 on the process.
    page.locator(".djs-container svg").first.click(position={"x": 700, "y": 420})  # the canvas: the process
    group = page.locator('[data-group-id="group-jichi"]')
    if not group.locator(".bio-properties-panel-group-entries.open").count():
        group.locator(".bio-properties-panel-group-header").click()
    page.get_by_label("フック（jichi:hook）").fill("転入.受付後")
    press(page, "下書きとして保存する", "save-refused")
    assert ("STD305", "Hook_Tennyu_AfterKisai") in diagnostics(page), diagnostics(page)
    shot(page, "outside-hook-refused")

    # A diagram brought from another tool with a Python scriptFormat: checked on import, refused on save.
    imported = tmp_path / "from_another_tool.bpmn"
    root = Path(live.app.config["PROJECT_ROOT"])
    imported.write_text((root / HOOK).read_text(encoding="utf-8").replace(
        'name="案内の記録">', 'name="案内の記録" scriptFormat="python">'), encoding="utf-8")
    page.locator("#m-import").set_input_files(str(imported))
    page.locator('#modeler[data-state="check-refused"]').wait_for()
    assert ("BPM414", "ScriptTask_Kawasaki_Kiroku") in diagnostics(page), diagnostics(page)
    press(page, "下書きとして保存する", "save-refused")

    engine = make_engine(live.database_url)
    with make_session_factory(engine)() as s:
        saved = list(s.scalars(select(RuleDraft).where(RuleDraft.file == HOOK)))
        assert [d.number for d in saved] == [1]  # only the clean diagram
        assert "世帯員数 &gt;= 3" in saved[0].text and "scriptFormat" not in saved[0].text
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "process.draft_saved")))
        assert [(e.actor, json.loads(e.detail)["number"]) for e in events] == [("bunseki", 1)]
    engine.dispose()
    # The pack's folder is not changed by the studio.
    assert "世帯員数 &gt;= 2" in (root / HOOK).read_text(encoding="utf-8")

    # Reopened, the modeler shows the latest draft.
    page.reload()
    page.locator('#modeler[data-ready="true"]').wait_for()
    open_element(page, "Flow_KA1")
    assert page.get_by_label("条件式（jichi の DSL）").input_value() == "世帯員数 >= 3"


def test_core_processes_open_read_only_and_new_processes_start_from_a_template(page: Any, live: Any, axe: Any,
                                                                              shot: Any) -> None:
    sign_in(page, live, "bunseki", then=f"/studio/{MUNICIPALITY}/processes")
    # Saving a core file is refused by the server, whatever the page offers.
    answer = page.evaluate("""async () => {
        const body = new URLSearchParams({csrf_token: document.querySelector('input[name=csrf_token]').value,
                                          file: 'processes/tennyu/tennyu.bpmn', xml: '<x/>'});
        const r = await fetch('/studio/141305/processes/save', {method: 'POST', body});
        return [r.status, (await r.json()).diagnostics[0].code];
    }""")
    assert answer == [422, "PCK632"]
    page.get_by_role("link", name="processes/tennyu/tennyu.bpmn").click()
    page.locator('#diagram[data-ready="true"]').wait_for()
    assert page.locator(".djs-palette").count() == 0
    assert page.get_by_role("button", name="下書きとして保存する").count() == 0
    assert "読み取り専用" in page.locator("main").inner_text()

    page.goto(live.url(f"/studio/{MUNICIPALITY}/processes"))
    name = page.get_by_label("ファイル名（英小文字・数字・_・-、.bpmn で終わる）")
    name.fill("kodomo_annai.bpmn")
    page.get_by_label("取り付けるフック").select_option(label="転入.記載後（processes/tennyu/hook_kisai.bpmn）")
    page.get_by_role("button", name="作成して開く").click()
    page.get_by_text("フック「転入.記載後」はもう local_rules/141305-kawasaki/processes/tennyu_hook.bpmn で").wait_for()
    assert "PCK633" in page.locator("main").inner_text()

    page.get_by_label("ファイル名（英小文字・数字・_・-、.bpmn で終わる）").fill("kodomo_annai.bpmn")
    page.get_by_label("取り付けるフック").select_option(value="")
    page.get_by_role("button", name="作成して開く").click()
    page.locator('#modeler[data-ready="true"]').wait_for()
    press(page, "検査する", "check-ok")
    assert diagnostics(page) == []
    axe(page, "modeler-new")
    shot(page, "new-process")
    page.get_by_role("link", name="プロセス").click()
    assert "local_rules/141305-kawasaki/processes/kodomo_annai.bpmn（下書きだけ）" in page.locator("main").inner_text()


def test_an_analyst_adds_a_form_field_and_is_stopped_by_a_wrong_decision(page: Any, live: Any, axe: Any,
                                                                         shot: Any) -> None:
    """The jichi lists of the properties panel: a field added to a user task (its type checked against the rule
    files' types), and the decision a business rule task calls (checked against the rule files)."""
    shokan = "local_rules/141305-kawasaki/processes/shokan_barai.bpmn"
    sign_in(page, live, "bunseki", then=f"/studio/{MUNICIPALITY}/processes")
    page.get_by_role("link", name=shokan).click()
    page.locator('#modeler[data-ready="true"]').wait_for()
    page.locator('.djs-element[data-element-id="UserTask_Kawasaki_Shiharai"]').first.click(force=True)
    fields = page.locator('[data-group-id="group-jichiFields"]')
    fields.get_by_title("追加").click()
    item = page.locator('[data-entry-id="jichiFields-1"]')
    if not item.locator(".bio-properties-panel-collapsible-entry-entries.open").count():
        item.locator(".bio-properties-panel-collapsible-entry-header").click()
    item.get_by_label("名前").fill("振込口座を確認した")
    item.get_by_label("型").fill("真偽値")
    item.get_by_label("見出し").fill("振込先の口座を通帳で確かめた")
    item.get_by_label("必須").check()
    press(page, "検査する", "check-refused")
    assert ("BPM451", "UserTask_Kawasaki_Shiharai") in diagnostics(page), diagnostics(page)
    shot(page, "field-type-wrong")
    item.get_by_label("型").fill("真偽")

    page.locator('.djs-element[data-element-id="RuleTask_Kawasaki_Futan"]').first.click(force=True)
    group = page.locator('[data-group-id="group-jichiDecision"]')
    if not group.locator(".bio-properties-panel-list.open").count():
        group.locator(".bio-properties-panel-group-header").click()
    decision = page.locator('[data-entry-id="jichiDecision-0"]')
    if not decision.locator(".bio-properties-panel-collapsible-entry-entries.open").count():
        decision.locator(".bio-properties-panel-collapsible-entry-header").click()
    name = decision.get_by_label("判定（決定・表の名前）")
    assert name.input_value() == "窓口負担額"
    name.fill("窓口負担")
    press(page, "下書きとして保存する", "save-refused")
    assert ("BPM461", "RuleTask_Kawasaki_Futan") in diagnostics(page), diagnostics(page)
    name.fill("窓口負担額")
    press(page, "下書きとして保存する", "saved")
    axe(page, "modeler-lists")
    shot(page, "field-added")

    engine = make_engine(live.database_url)
    with make_session_factory(engine)() as s:
        saved = s.scalars(select(RuleDraft).where(RuleDraft.file == shokan)).one()
    engine.dispose()
    added = re.search(r"<jichi:field [^>]*name=\"振込口座を確認した\"[^>]*/>", saved.text)
    assert added is not None, saved.text
    assert 'type="真偽"' in added.group() and 'required="true"' in added.group()
    assert '<jichi:decision name="窓口負担額"' in saved.text
