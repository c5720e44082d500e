"""One pack serving several municipalities: shared rules plus rules/<code>/ files per municipality (PCK618),
`jichi pack test` per municipality and per standard version (--core), and `jichi pack diff --municipality`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import web.cli_packs
import web.cli_rules
from engine.packs import load_pack
from web.cli import cli

REPO = Path(__file__).resolve().parent.parent

SHARED = """\
入力 { 学年: 整数; }
開放 パラメータ 一回の負担: 金額 { }
決定 負担額: 金額 {
  有料の学年: 学年 >= 4 のとき 一回の負担 出典「各市の規則」;
  それ以外 0円;
}
"""

CITY = """\
追加 パラメータ 一回の負担 {{ 2024-04-01 から {amount} 出典「{name}の規則」; }}
テスト 「{name}: 小4は{amount}」 {{ 時点 2025-06-01; 入力 学年 = 4; 期待 負担額 = {expected}; }}
"""


def make_vendor_project(root: Path, *, yokohama_expected: str = "500円") -> Path:
    pack = root / "local_rules" / "141003-vendor"
    (pack / "rules" / "141003").mkdir(parents=True)
    (pack / "rules" / "132233").mkdir()
    (pack / "pack.toml").write_text('id = "141003-vendor"\nversion = "1.0.0"\ncore = ">=0.2.0,<0.3.0"\n'
                                    'municipalities = ["141003", "132233"]\n', encoding="utf-8")
    (pack / "rules" / "shared.rules").write_text(SHARED, encoding="utf-8")
    (pack / "rules" / "141003" / "yokohama.rules").write_text(
        CITY.format(amount="500円", name="横浜市", expected=yokohama_expected), encoding="utf-8")
    (pack / "rules" / "132233" / "musashimurayama.rules").write_text(
        CITY.format(amount="200円", name="武蔵村山市", expected="200円"), encoding="utf-8")
    core = root / "standard_core"
    (core / "rules").mkdir(parents=True)
    (core / "VERSION").write_text("0.2.0\n", encoding="utf-8")
    (root / "processes").mkdir()
    return root


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_vendor_project(tmp_path / "project")
    for module in (web.cli_packs, web.cli_rules):
        monkeypatch.setattr(module, "project_root", lambda: root)
    return root


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_pack_test_runs_each_municipality_with_its_own_values(vendor: Path) -> None:
    result = run("pack", "test", "141003-vendor")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "2 passed, 0 failed"
    headers = [line for line in lines if line.startswith("== ")]
    assert headers == ["== 141003-vendor 1.0.0・団体 141003・標準 0.2.0", "== 141003-vendor 1.0.0・団体 132233・標準 0.2.0"]
    # each municipality's test runs in that municipality's scope only
    assert lines.index(headers[1]) < next(i for i, line in enumerate(lines) if "武蔵村山市: 小4は200円" in line)


def test_a_wrong_value_for_one_municipality_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_vendor_project(tmp_path / "project", yokohama_expected="200円")
    monkeypatch.setattr(web.cli_packs, "project_root", lambda: root)
    result = run("pack", "test")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "1 passed, 1 failed"
    assert "失敗 local_rules/141003-vendor/rules/141003/yokohama.rules:2" in result.output


def test_only_one_municipality(vendor: Path) -> None:
    result = run("pack", "test", "--municipality", "132233")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "1 passed, 0 failed"
    assert "横浜市" not in result.output
    assert run("pack", "test", "--municipality", "141305").exit_code == 2  # no pack serves it


@pytest.mark.parametrize(("code", "expected"), [("141003", 500), ("132233", 200)])
def test_rules_eval_reads_the_municipalitys_own_values(vendor: Path, tmp_path: Path, code: str, expected: int) -> None:
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"学年": 5}), encoding="utf-8")
    result = run("rules", "eval", "--municipality", code, "--on", "2025-06-01", "--procedure", "負担額",
                 "--input", str(data), "--json")
    assert json.loads(result.output)["value"] == expected, result.output


def test_another_standard_version_with_core(vendor: Path, tmp_path: Path) -> None:
    older = tmp_path / "core-0.2.5"
    (older / "rules").mkdir(parents=True)
    (older / "VERSION").write_text("0.2.5\n", encoding="utf-8")
    newer = tmp_path / "core-0.3.0"
    shutil.copytree(older, newer)
    (newer / "VERSION").write_text("0.3.0\n", encoding="utf-8")
    result = run("pack", "test", "141003-vendor", "--core", str(older), "--core", str(newer))
    assert result.exit_code == 0, result.output
    assert "== 141003-vendor 1.0.0・団体 141003・標準 0.2.5" in result.output
    assert '対象外 141003-vendor: 標準 0.3.0 は、パックが対応する版（core = ">=0.2.0,<0.3.0"）に入りません' in result.output
    assert result.output.strip().splitlines()[-1] == "4 passed, 0 failed"  # 2 tests × (0.2.0, 0.2.5)
    assert run("pack", "test", "--core", str(tmp_path / "nothing")).exit_code == 2


def test_fit_gap_marks_and_filters_per_municipality_items(vendor: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.paths

    monkeypatch.setattr(engine.paths, "project_root", lambda: vendor)  # pack diff imports it when it runs
    whole = json.loads(run("pack", "diff", "141003-vendor", "--json").output)
    one = json.loads(run("pack", "diff", "141003-vendor", "--json", "--municipality", "132233").output)
    refused = run("pack", "diff", "141003-vendor", "--municipality", "141305")
    settings = [(i.get("municipality"), i["values"][0]["value"]) for i in whole["items"] if i["kind"] == "parameter"]
    assert sorted(settings) == [("132233", "200円"), ("141003", "500円")]
    assert one["for_municipality"] == "132233"
    assert [(i.get("municipality"), i["values"][0]["value"]) for i in one["items"] if i["kind"] == "parameter"] \
        == [("132233", "200円")]
    assert any(i["kind"] == "definition" and i["name"] == "負担額" for i in one["items"])  # shared items stay
    assert refused.exit_code == 1 and "PCK631" in refused.output


@pytest.mark.parametrize(("folder", "served"), [
    ("141305", False),  # a valid code the pack does not list
    ("141004", False),  # wrong check digit
    ("common", False),  # not a code
    ("132233", True),
])
def test_rules_folders_must_be_served_codes(tmp_path: Path, folder: str, served: bool) -> None:
    root = make_vendor_project(tmp_path / "project")
    pack_dir = root / "local_rules" / "141003-vendor"
    extra = pack_dir / "rules" / folder
    extra.mkdir(exist_ok=True)
    (extra / "x.rules").write_text("", encoding="utf-8")
    pack, diagnostics = load_pack(pack_dir)
    codes = [d.code for d in diagnostics]
    if served:
        assert pack is not None and codes == []
        assert dict(pack.municipal_rules)["132233"][-1].name == "x.rules"
    else:
        assert pack is None and codes == ["PCK618"]
        assert diagnostics[0].span.file.endswith(f"rules/{folder}")


def test_a_prefecture_pack_may_hold_rules_for_a_municipality_of_its_prefecture(tmp_path: Path) -> None:
    pack_dir = tmp_path / "local_rules" / "270008-osaka"
    (pack_dir / "rules" / "272078").mkdir(parents=True)
    (pack_dir / "pack.toml").write_text('id = "270008-osaka"\nversion = "1.0.0"\nmunicipalities = ["270008"]\n',
                                        encoding="utf-8")
    pack, diagnostics = load_pack(pack_dir)
    assert pack is not None and diagnostics == [] and pack.serves("272078") and not pack.serves("141305")


def test_the_repository_vendor_pack_tests_per_municipality() -> None:
    result = run("pack", "test", "141003-tsuin-futan")
    assert result.exit_code == 0, result.output
    assert "== 141003-tsuin-futan 0.1.0・団体 141003・標準" in result.output
    assert "== 141003-tsuin-futan 0.1.0・団体 132233・標準" in result.output
    assert "横浜市: 令和5年8月からは負担なし" in result.output and "武蔵村山市: 令和6年10月1日からは負担なし" in result.output
