"""BPMN hooks: a pack attaches its own steps at a hook the core declares, and nowhere else.

The conformant pack below (川崎市's 転入.記載後 hook) is one edit away from each non-conformant one; each
fails with its own code at the line of that edit (docs/engine.md「フック」).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine import clock
from engine.check import check_paths
from engine.registry import Registry
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import ROOT, Env, copy_core, environment

HOOK_FILE = ROOT / "local_rules" / "141305-kawasaki" / "processes" / "tennyu_hook.bpmn"
HOOK = HOOK_FILE.read_text(encoding="utf-8")
PACK_TOML = 'id = "141305-kawasaki"\nversion = "1.0.0"\nmunicipalities = ["141305"]\n'
SHOWN = "local_rules/141305-kawasaki/processes/tennyu_hook.bpmn"


def _intake(env: Env, case_id: str, members: int = 2) -> None:
    complete = env.complete
    complete(case_id, "受付", {"氏名": "山田 太郎", "転入日": "2026-03-02", "届出日": "2026-03-10",
                              "前住所": "東京都", "世帯員数": members})
    complete(case_id, "本人確認", {"本人確認済": True})
    complete(case_id, "住民票の記載", {"住民票コード": "12345678901"})


def test_the_pack_hook_runs_only_for_its_municipality(database_url: str) -> None:
    registry = Registry.load(ROOT)
    with clock.frozen(dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.UTC)), environment(database_url, registry) as env:
        with env.session() as s:
            kawasaki = env.cases.start_case(s, process_id="Process_Tennyu", municipality="141305", data={},
                                            actor="窓口").id
            naha = env.cases.start_case(s, process_id="Process_Tennyu", municipality="472018", data={},
                                        actor="窓口").id
            alone = env.cases.start_case(s, process_id="Process_Tennyu", municipality="141305", data={},
                                         actor="窓口").id
        _intake(env, kawasaki)
        _intake(env, naha)
        _intake(env, alone, members=1)
        # The hook's own condition (世帯員数 >= 2, from the core's intake form): one person is not guided.
        assert env.case(alone).status == "completed"
        with env.session() as s:
            assert "医療費助成の案内状況" not in env.cases.get_case(s, alone).data
        # 那覇市 has no implementation: the core's default hook does nothing and the case is done.
        assert env.case(naha).status == "completed"
        assert [t.name for t in env.ready(kawasaki)] == ["小児医療費助成の案内"]
        env.complete(kawasaki, "小児医療費助成の案内", {"医療費助成を案内した": True})
        assert env.case(kawasaki).status == "completed"
        with env.session() as s:
            data = env.cases.get_case(s, kawasaki).data
        assert data["医療費助成の案内状況"] == "案内済" and data["記載済"] is True
        assert env.case(kawasaki).spec_hash != env.case(naha).spec_hash


def test_the_repository_declares_the_tennyu_hook() -> None:
    from engine.hooks import core_hooks

    registry = Registry.load(ROOT)
    core = [m for m in registry.models if m.display.startswith("processes/")]
    hooks = core_hooks(core)
    assert {h.name for h in hooks.values()} >= {"転入.記載後"}
    assert set(registry.hooks_for("141305")) == {"Hook_Tennyu_AfterKisai"}
    assert registry.hooks_for("472018") == {}


def _repository(tmp_path: Path, hook_text: str) -> Path:
    root = tmp_path / "repo"
    copy_core(root)
    pack = root / "local_rules" / "141305-kawasaki"
    (pack / "processes").mkdir(parents=True)
    (pack / "pack.toml").write_text(PACK_TOML, encoding="utf-8")
    (pack / "processes" / "tennyu_hook.bpmn").write_text(hook_text, encoding="utf-8")
    return root


def test_the_conformant_hook_checks_clean(tmp_path: Path) -> None:
    assert [d.format() for d in check_paths([], _repository(tmp_path, HOOK)) if d.is_error] == []


def test_a_pack_with_a_hook_and_a_local_procedure_checks_clean(tmp_path: Path) -> None:
    # The check binds each file with the others; the core's default hook and the pack's implementation
    # define the same process id and must not be bound together (a BPM490 "Duplicate process ID" before).
    root = _repository(tmp_path, HOOK)
    local = ROOT / "local_rules" / "141305-kawasaki" / "processes" / "iryosho_shinsei.bpmn"
    (root / "local_rules" / "141305-kawasaki" / "processes" / local.name).write_bytes(local.read_bytes())
    (root / "local_rules" / "141305-kawasaki" / "rules").mkdir()
    for rules in (ROOT / "local_rules" / "141305-kawasaki" / "rules").glob("*.rules"):
        (root / "local_rules" / "141305-kawasaki" / "rules" / rules.name).write_bytes(rules.read_bytes())
    assert [d.format() for d in check_paths([], root) if d.is_error] == []


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


PROCESS_TAG = '<bpmn:process id="Hook_Tennyu_AfterKisai"'
EDITS = {
    # id: (text replaced in the conformant hook file, replacement, expected code)
    "replace-a-core-procedure": ('id="Hook_Tennyu_AfterKisai" name="転入後の子ども医療費助成の案内（川崎市）" '
                                 'isExecutable="true" jichi:hook="転入.記載後"',
                                 'id="Process_Tennyu" name="転入届（川崎市版）" isExecutable="true"', "STD304"),
    "attach-to-an-undeclared-hook": ('jichi:hook="転入.記載後"', 'jichi:hook="転入.受付後"', "STD305"),
    "hook-id-without-the-marker": (' jichi:hook="転入.記載後"', "", "STD305"),
    "hook-name-under-another-id": ('id="Hook_Tennyu_AfterKisai" name=', 'id="Kawasaki_Annai" name=', "STD305"),
}


@pytest.mark.parametrize(("old", "new", "code"), list(EDITS.values()), ids=list(EDITS))
def test_one_edit_away_is_refused_with_its_own_code(tmp_path: Path, old: str, new: str, code: str) -> None:
    assert HOOK.count(old) == 1
    edited = HOOK.replace(old, new)
    root = _repository(tmp_path, edited)
    errors = [d for d in check_paths([], root) if d.is_error]
    assert [(d.code, d.span.file, d.span.line) for d in errors] == [(code, SHOWN, _line_of(HOOK, PROCESS_TAG))], \
        [d.format() for d in errors]
    assert "転入.記載後" in errors[0].hint  # names the hook it could attach to
    with pytest.raises(DiagnosticError) as refused:
        Registry.load(root)
    assert code in {d.code for d in refused.value.diagnostics}


def test_checking_only_the_pack_file_reports_the_same(tmp_path: Path) -> None:
    root = _repository(tmp_path, HOOK.replace('jichi:hook="転入.記載後"', 'jichi:hook="転入.受付後"'))
    found = check_paths([root / SHOWN], root)
    assert [d.code for d in found if d.is_error] == ["STD305"]


@pytest.mark.parametrize("name", ["rules/helper.py", "processes/__pycache__/x.cpython-311.pyc", "lib/native.so"])
def test_a_pack_carrying_program_files_is_refused(tmp_path: Path, name: str) -> None:
    root = _repository(tmp_path, HOOK)
    target = root / "local_rules" / "141305-kawasaki" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("import os\n", encoding="utf-8")
    errors = [d for d in check_paths([], root) if d.is_error]
    assert [(d.code, d.span.file, d.span.line) for d in errors] == [
        ("STD306", f"local_rules/141305-kawasaki/{name}", 1)], [d.format() for d in errors]
    with pytest.raises(DiagnosticError):
        Registry.load(root)


def test_a_prefecture_hook_serves_its_municipalities_and_a_municipality_hook_wins(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    copy_core(root)
    packs = root / "local_rules"
    for pack_id, toml, annai in [
        ("270008-osaka", 'id = "270008-osaka"\nversion = "1.0.0"\nmunicipalities = ["270008"]\n', "大阪府の案内"),
        ("272078-takatsuki", 'id = "272078-takatsuki"\nversion = "1.0.0"\nbase = "270008-osaka"\n'
                             'municipalities = ["272078"]\n', "高槻市の案内"),
        ("272183-daito", 'id = "272183-daito"\nversion = "1.0.0"\nbase = "270008-osaka"\n'
                         'municipalities = ["272183"]\n', None),
    ]:
        (packs / pack_id / "processes").mkdir(parents=True)
        (packs / pack_id / "pack.toml").write_text(toml, encoding="utf-8")
        if annai is not None:
            (packs / pack_id / "processes" / "hook.bpmn").write_text(
                HOOK.replace("小児医療費助成の案内", annai), encoding="utf-8")
    assert [d.format() for d in check_paths([], root) if d.is_error] == []
    registry = Registry.load(root)

    def task_names(municipality: str) -> set[str]:
        procedure = registry.procedure("Process_Tennyu", municipality)
        return set(procedure.names.values())

    assert "高槻市の案内" in task_names("272078") and "大阪府の案内" not in task_names("272078")
    assert "大阪府の案内" in task_names("272183")  # 大東市 has no hook of its own: its base's
    assert "大阪府の案内" in task_names("272027")  # 岸和田市 has no pack: the prefecture's pack serves it
    assert not {"大阪府の案内", "高槻市の案内"} & task_names("131016")  # 千代田区: the core's default
