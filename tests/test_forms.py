"""Form variation points: a pack varies a core form (forms/*.toml) within what the core allows.

The conformant variation in tests/fixtures/conformance/form.toml relabels, reorders, adds a local field and
a stricter check. Each non-conformant variation below is one edit away from it and fails with its own code
at the line of that edit. At run time the varied form is what a task accepts, and a case keeps the form it
started with.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine import clock
from engine.cases import CaseError
from engine.check import check_paths
from engine.registry import Registry
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import ROOT, copy_core, environment
from web.cli import cli

FIXTURE = (Path(__file__).parent / "fixtures" / "conformance" / "form.toml").read_text(encoding="utf-8")
FORM_FILE = "local_rules/162108-nanto/forms/uketsuke.toml"
NANTO = "162108"
KAWASAKI = "141305"
NOON_TOKYO = dt.datetime(2025, 4, 10, 3, 0, tzinfo=dt.UTC)


def repository(tmp_path: Path, form: str) -> Path:
    root = tmp_path / "repo"
    copy_core(root)
    shutil.copytree(ROOT / "local_rules" / "162108-nanto", root / "local_rules" / "162108-nanto")
    (root / FORM_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / FORM_FILE).write_text(form, encoding="utf-8")
    return root


def test_the_conformant_variation_is_clean_and_shapes_the_form(tmp_path: Path) -> None:
    root = repository(tmp_path, FIXTURE)
    assert check_paths([], root) == []
    form = Registry.load(root).procedure("Process_JuminhyoKofu", NANTO).forms["UserTask_Uketsuke"]
    assert [f.name for f in form.fields] == ["請求者区分", "受付日", "郵送請求", "請求通数", "独自.来庁者の続柄"]
    received = next(f for f in form.fields if f.name == "受付日")
    assert (received.label, received.help, received.required) == ("受付日", "窓口で受け付けた日", True)
    local = form.fields[-1]
    assert (local.local, local.label, local.required, local.type.name) == (True, "来庁者の続柄", False, "文字列")
    assert [c.message for c in form.checks][-1] == "一度に請求できるのは10通までです（南砺市の取扱い）"
    assert form.variations == (FORM_FILE,)
    # Another municipality gets the core form.
    core = Registry.load(root).procedure("Process_JuminhyoKofu", KAWASAKI).forms["UserTask_Uketsuke"]
    assert [f.name for f in core.fields] == ["受付日", "請求者区分", "郵送請求", "請求通数"] and core.variations == ()


EDITS = {
    # id: (text replaced in the conformant variation, replacement, expected code, line of the edit)
    "drop-a-core-field": ("required = true", "omit = true", "STD307", 8),
    "loosen-a-core-field": ("required = true", "required = false", "STD308", 8),
    "loosen-a-core-check": ('test = "請求通数 <= 10"', 'disable = "請求通数 >= 1"', "STD308", 15),
    "redefine-a-core-field": ('help = "窓口で受け付けた日"', 'type = "文字列"', "STD309", 7),
    "local-field-outside-the-namespace": ('[fields."独自.来庁者の続柄"]', '[fields."来庁者の続柄"]', "STD310", 10),
    "vary-a-task-the-core-does-not-declare": ('task = "UserTask_Uketsuke"', 'task = "UserTask_Nai"', "STD311", 3),
    "vary-a-process-that-is-not-core": ('process = "Process_JuminhyoKofu"', 'process = "Process_Nanto"', "STD311",
                                        2),
    "order-names-an-unknown-field": ('order = ["請求者区分", "受付日"]', 'order = ["請求者", "受付日"]', "STD311", 4),
    "python-in-a-check": ('test = "請求通数 <= 10"', "test = \"__import__('os').system('id')\"", "STD312", 15),
    "not-toml": ('message = "一度に', 'message = 一度に', "STD312", 16),
}


@pytest.mark.parametrize(("old", "new", "code", "line"), list(EDITS.values()), ids=list(EDITS))
def test_one_edit_away_is_refused_with_its_own_code(tmp_path: Path, old: str, new: str, code: str,
                                                    line: int) -> None:
    assert old in FIXTURE
    root = repository(tmp_path, FIXTURE.replace(old, new, 1))
    found = check_paths([], root)
    assert [(d.code, d.span.file, d.span.line) for d in found][:1] == [(code, FORM_FILE, line)], \
        [d.format() for d in found]
    assert found[0].hint
    with pytest.raises(DiagnosticError):
        Registry.load(root)  # the app refuses to start on a non-conformant pack, too


def test_the_hint_names_what_a_variation_may_do(tmp_path: Path) -> None:
    found = check_paths([], repository(tmp_path, FIXTURE.replace("required = true", "omit = true", 1)))
    assert "見出し（label）" in found[0].hint and "順序（order）" in found[0].hint


def test_jichi_check_on_the_form_file_alone(tmp_path: Path) -> None:
    root = repository(tmp_path, FIXTURE.replace('task = "UserTask_Uketsuke"', 'task = "UserTask_Nai"', 1))
    found = check_paths([root / FORM_FILE], root)
    assert [(d.code, d.span.line) for d in found] == [("STD311", 3)]


# ---- run time ---------------------------------------------------------------------------------------

CLAIM: dict[str, Any] = {"認定請求日": "2025-04-10", "請求者が公務員": False, "特例の事由": "特例なし",
                         "児童": [{"名前": "一子", "生年月日": "2020-01-01", "監護": True, "生計費負担": False}]}


def _uketsuke(env: Any, municipality: str) -> str:
    with env.session() as s:
        case_id: str = env.cases.start_case(s, process_id="Process_JidoTeateNintei", municipality=municipality,
                                            data={}, actor="窓口").id
    return case_id


def _refusals(env: Any, case_id: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(CaseError) as caught:
        env.complete(case_id, "認定請求の受付", data)
    return [(d.code, d.message) for d in caught.value.diagnostics]


def test_a_task_accepts_the_varied_form_only(database_url: str) -> None:
    # 川崎市 adds a required local field and a stricter check (local_rules/141305-kawasaki/forms/).
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(ROOT)) as env:
        case_id = _uketsuke(env, KAWASAKI)
        version = env.case(case_id).version
        assert _refusals(env, case_id, CLAIM) == [("ENG518", "「小児医療費助成の申請も同時に受け付けた」は必須の項目です")]
        not_in_care = {**CLAIM, "児童": [{**CLAIM["児童"][0], "監護": False}], "独自": {"小児医療費助成も申請": True}}
        assert _refusals(env, case_id, not_in_care) == [
            ("ENG518", "小児医療費助成は、監護している子がいるときだけ同時に申請できます")]
        assert _refusals(env, case_id, {**CLAIM, "独自": {"助成": True}})[0][0] == "ENG512"
        assert env.case(case_id).version == version  # nothing stored by a refused post
        env.complete(case_id, "認定請求の受付", {**CLAIM, "独自": {"小児医療費助成も申請": True}})
        with env.session() as s:
            data = env.cases.get_case(s, case_id).data
        assert data["独自"] == {"小児医療費助成も申請": True} and data["認定可"] is True


def test_core_checks_hold_everywhere(database_url: str) -> None:
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(ROOT)) as env:
        case_id = _uketsuke(env, "472018")  # 那覇市: no variation, the core form
        assert _refusals(env, case_id, {**CLAIM, "認定請求日": "2025-04-11", "児童": []}) == [
            ("ENG518", "認定請求日が未来の日付です"), ("ENG518", "養育する子を1人以上入れてください")]
        assert _refusals(env, case_id, {"認定請求日": "2025-04-10"})[0] == (
            "ENG518", "「請求者が公務員である」は必須の項目です")
        assert _refusals(env, case_id, {**CLAIM, "独自": {"小児医療費助成も申請": True}})[0][0] == "ENG512"
        # Checks may name the rule files' enumeration values (特例の事由 = 出生).
        assert _refusals(env, case_id, {**CLAIM, "特例の事由": "出生"}) == [
            ("ENG518", "15日特例の事由が出生のときは、認定請求日以前の出生日を入れてください")]
        assert _refusals(env, case_id, {**CLAIM, "特例の事由": "転入", "転出予定日": "2025-04-20"}) == [
            ("ENG518", "15日特例の事由が転入のときは、認定請求日以前の前住所地の転出予定日を入れてください")]


def test_a_running_case_keeps_its_form(database_url: str, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    copy_core(root)
    shutil.copytree(ROOT / "local_rules" / "141305-kawasaki", root / "local_rules" / "141305-kawasaki")
    with clock.frozen(NOON_TOKYO), environment(database_url, Registry.load(root)) as env:
        running = _uketsuke(env, KAWASAKI)
        (root / "local_rules" / "141305-kawasaki" / "forms" / "jido_teate_uketsuke.toml").unlink()
        env.cases.registry = Registry.load(root)
        env.cases._live.clear()
        new = _uketsuke(env, KAWASAKI)
        env.complete(new, "認定請求の受付", CLAIM)  # the new case has the core form
        assert _refusals(env, running, CLAIM)[0][0] == "ENG518"  # the running one still requires 独自


def test_jichi_form_show() -> None:
    result = CliRunner().invoke(cli, ["form", "show", "Process_JidoTeateNintei", "UserTask_Uketsuke",
                                      "--municipality", KAWASAKI])
    assert result.exit_code == 0, result.output
    assert "小児医療費助成の申請も同時に受け付けた（独自.小児医療費助成も申請: 真偽、必須）  団体独自" in result.output
    assert "jido_teate_uketsuke.toml:20" in result.output
    missing = CliRunner().invoke(cli, ["form", "show", "Process_JidoTeateNintei", "UserTask_Nai",
                                       "--municipality", KAWASAKI])
    assert missing.exit_code == 1 and "ENG514" in missing.output


def test_each_layers_variation_resolves_types_in_its_own_packs_rules(tmp_path: Path) -> None:
    # A prefecture's and a municipality's variation of one form; the municipality's local field has a type
    # its own rule file defines (the prefecture's rules do not know it).
    root = tmp_path / "repo"
    copy_core(root)
    layers = {"270008-osaka": ('municipalities = ["270008"]\n', None),
              "272078-takatsuki": ('base = "270008-osaka"\nmunicipalities = ["272078"]\n', "列挙 来庁者 { 本人, 代理人 }\n")}
    for pack, (toml, rules) in layers.items():
        directory = root / "local_rules" / pack
        (directory / "forms").mkdir(parents=True)
        (directory / "pack.toml").write_text(f'id = "{pack}"\nversion = "1.0.0"\n{toml}', encoding="utf-8")
        field = '[fields."独自.来庁者"]\ntype = "来庁者"\n' if rules else '[fields."受付日"]\nhelp = "府の説明"\n'
        (directory / "forms" / "uketsuke.toml").write_text(
            f'process = "Process_JuminhyoKofu"\ntask = "UserTask_Uketsuke"\n\n{field}', encoding="utf-8")
        if rules:
            (directory / "rules").mkdir()
            (directory / "rules" / "raichosha.rules").write_text(rules, encoding="utf-8")
    assert check_paths([], root) == []
    form = Registry.load(root).procedure("Process_JuminhyoKofu", "272078").forms["UserTask_Uketsuke"]
    assert form.variations == ("local_rules/270008-osaka/forms/uketsuke.toml",
                               "local_rules/272078-takatsuki/forms/uketsuke.toml")
    local = next(f for f in form.fields if f.local)
    assert (local.name, local.type.name) == ("独自.来庁者", "来庁者")
