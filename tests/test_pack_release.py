"""`jichi pack diff OLD NEW`: version to version for release notes (engine/pack_release.py)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.pack_archive import build, keygen
from web.cli import cli

RULES = """\
# 負担の規則
入力 { 学年: 整数; 診療日: 日付; }
パラメータ 上限: 金額 {
  2023-09-01 から 500円 出典「規則第5条」;
}
決定 負担額: 金額 {
  基準日とする 診療日;
  高学年: 学年 >= 4 のとき 上限 出典「規則第5条」;
  それ以外 0円;
}
テスト 「高学年は500円」 { 入力 学年 = 4, 診療日 = 2025-06-01; 期待 負担額 = 500円; }
"""

CHANGELOG = "# 変更履歴\n\n## 1.0.0\n\n- 最初の版。\n"


def make_release(folder: Path, version: str = "1.0.0", rules: str = RULES, changelog: str = CHANGELOG,
                 municipalities: str = '["141305"]') -> Path:
    (folder / "rules").mkdir(parents=True)
    (folder / "pack.toml").write_text(f'id = "141305-kawasaki"\nversion = "{version}"\n'
                                      f"municipalities = {municipalities}\n", encoding="utf-8")
    (folder / "rules" / "futan.rules").write_text(rules, encoding="utf-8")
    (folder / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    return folder


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["pack", "diff", *args])


def diff_json(old: Path, new: Path) -> dict:
    result = run(str(old), str(new), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_same_release_has_no_changes_and_warns_about_the_version(tmp_path: Path) -> None:
    old = make_release(tmp_path / "old")
    new = make_release(tmp_path / "new", rules=RULES.replace("# 負担の規則\n", "").replace("  それ以外", "    それ以外"))
    report = diff_json(old, new)
    assert report["changes"] == []  # comments and indentation are not changes
    assert report["warnings"] == ["新しい版 1.0.0 が古い版 1.0.0 より大きくありません。"]


def test_a_new_dated_value_is_a_minor_change_with_its_cite(tmp_path: Path) -> None:
    old = make_release(tmp_path / "old")
    rules = RULES.replace("  2023-09-01 から 500円 出典「規則第5条」;",
                          "  2023-09-01 から 2026-08-31 まで 500円 出典「規則第5条」;\n"
                          "  2026-09-01 から 0円 出典「令和8年条例第3号」;")
    new = make_release(tmp_path / "new", "1.1.0", rules,
                       CHANGELOG.replace("## 1.0.0", "## 1.1.0\n\n- 令和8年9月から負担なし（令和8年条例第3号）。\n\n## 1.0.0"))
    report = diff_json(old, new)
    (change,) = report["changes"]
    assert (change["mark"], change["summary"], change["level"]) == ("変更", "パラメータ 上限", "マイナー")
    assert change["details"] == ["期間を変更: 2023-09-01 から → 2023-09-01 から 2026-08-31 まで 出典「規則第5条」",
                                 "値を追加: 2026-09-01 から 0円 出典「令和8年条例第3号」"]
    assert change["where"] == "rules/futan.rules:3"
    assert (report["needed"], report["bumped"], report["warnings"]) == ("マイナー", "マイナー", [])
    assert report["changelog"].startswith("## 1.1.0") and "1.0.0" not in report["changelog"]


def test_removing_days_that_had_a_value_needs_a_major_version(tmp_path: Path) -> None:
    old = make_release(tmp_path / "old")
    new = make_release(tmp_path / "new", "1.0.1",
                       RULES.replace("2023-09-01 から 500円", "2024-04-01 から 500円"))
    report = diff_json(old, new)
    (change,) = report["changes"]
    assert change["level"] == "メジャー"
    assert "値を削除: 2023-09-01 から 500円" in change["details"]
    assert report["warnings"] == ["この変更にはメジャー版の更新が必要です（1.0.0 → 1.0.1 はパッチ版の更新）。"]


def test_cases_tests_definitions_and_municipalities(tmp_path: Path) -> None:
    old = make_release(tmp_path / "old")
    rules = (RULES.replace("  それ以外 0円;", "  非課税 例外 高学年: 学年 >= 7 のとき 0円 出典「ただし書」;\n  それ以外 0円;")
             .replace("テスト 「高学年は500円」", "テスト 「小4は500円」") + "列挙 区分 { 通院, 入院 }\n")
    new = make_release(tmp_path / "new", "2.0.0", rules, municipalities='["141305", "141003"]')
    changes = {(c["mark"], c["summary"]): c for c in diff_json(old, new)["changes"]}
    assert changes[("変更", "決定 負担額")]["details"] == ["場合を追加: 「非課税」 学年 >= 7 → 0円 出典「ただし書」"]
    assert changes[("削除", "テスト 高学年は500円")]["level"] == "パッチ"
    assert changes[("追加", "テスト 小4は500円")]["level"] == "パッチ"
    assert changes[("追加", "列挙 区分")]["level"] == "マイナー"
    assert changes[("追加", "受け持つ団体に加えた: 141003")]["where"] == "pack.toml"
    removed = diff_json(new, make_release(tmp_path / "newer", "3.0.0", RULES))
    assert ("削除", "列挙 区分", "メジャー") in {(c["mark"], c["summary"], c["level"]) for c in removed["changes"]}
    assert ("削除", "受け持つ団体から外した: 141003", "メジャー") in {
        (c["mark"], c["summary"], c["level"]) for c in removed["changes"]}


def test_a_changed_procedure_file(tmp_path: Path) -> None:
    old = make_release(tmp_path / "old")
    (old / "processes").mkdir()
    (old / "processes" / "a.bpmn").write_text("<x/>", encoding="utf-8")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    (new / "processes" / "a.bpmn").write_text("<y/>", encoding="utf-8")
    (new / "pack.toml").write_text((new / "pack.toml").read_text(encoding="utf-8").replace("1.0.0", "1.1.0"),
                                   encoding="utf-8")
    (change,) = diff_json(old, new)["changes"]
    assert (change["mark"], change["where"], change["level"]) == ("変更", "processes/a.bpmn", "マイナー")


def test_an_archive_side_is_checked_against_its_manifest(tmp_path: Path) -> None:
    old = make_release(tmp_path / "141305-kawasaki")
    key = tmp_path / "vendor.key"
    keygen(key)
    archive = build(old, key, tmp_path / "dist")
    new = make_release(tmp_path / "new", "1.0.1", RULES + "テスト 「追加」 { 入力 学年 = 1, 診療日 = 2025-06-01; 期待 負担額 = 0円; }\n")
    text = run(str(archive), str(new))
    assert text.exit_code == 0, text.output
    assert "パック 141305-kawasaki: 1.0.0 → 1.0.1" in text.output and "追加 テスト 追加" in text.output
    tampered = tmp_path / "tampered.jpack"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(tampered, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            target.writestr(entry, data.replace("500円".encode(), "600円".encode()) if entry.filename.endswith(".rules")
                            else data)
    refused = run(str(tampered), str(new))
    assert refused.exit_code == 1 and "PCK642" in refused.output


def test_not_a_pack_is_a_clear_diagnostic(tmp_path: Path) -> None:
    new = make_release(tmp_path / "new")
    result = run(str(tmp_path / "nowhere"), str(new))
    assert result.exit_code == 1 and "PCK650" in result.output and "Traceback" not in result.output
    broken = make_release(tmp_path / "broken", rules="決定 {")
    result = run(str(broken), str(new))
    assert result.exit_code == 1 and "PCK650" in result.output


def test_text_report_names_the_release_and_the_needed_bump(tmp_path: Path) -> None:
    old = make_release(tmp_path / "old")
    new = make_release(tmp_path / "new", "1.0.1", RULES.replace("それ以外 0円;", "それ以外 0円 出典「規則第5条」;"))
    lines = run(str(old), str(new)).output.splitlines()
    assert lines[0] == "パック 141305-kawasaki: 1.0.0 → 1.0.1"
    assert "  必要な版の更新: マイナー（実際: パッチ）" in lines
    assert "警告: この変更にはマイナー版の更新が必要です（1.0.0 → 1.0.1 はパッチ版の更新）。" in lines


@pytest.mark.parametrize("pack_id", ["141305-kawasaki", "272078-takatsuki"])
def test_a_repository_pack_against_itself(pack_id: str) -> None:
    report = json.loads(run(pack_id, pack_id, "--json").output)
    assert report["changes"] == [] and report["pack"] == pack_id


@pytest.mark.parametrize("changelog", [None, "# 変更履歴\n\n## 0.9.0\n\n- 前の版。\n"])
def test_build_refuses_a_release_its_changelog_does_not_describe(tmp_path: Path, changelog: str | None) -> None:
    from standard_core.diagnostics import DiagnosticError

    folder = make_release(tmp_path / "141305-kawasaki")
    if changelog is None:
        (folder / "CHANGELOG.md").unlink()
    else:
        (folder / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    key = tmp_path / "vendor.key"
    keygen(key)
    with pytest.raises(DiagnosticError) as caught:
        build(folder, key, tmp_path / "dist")
    assert [d.code for d in caught.value.diagnostics] == ["PCK645"]
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
