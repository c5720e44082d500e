"""`jichi pack test`, `jichi rules eval --procedure … --explain` and `jichi check` on rule files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import web.cli_packs
import web.cli_rules
from web.cli import cli

GOOD_PACK = """\
入力 { 学年: 整数; 非課税: 真偽; }
パラメータ 上限: 金額 { 2023-09-01 から 500円 出典「規則第5条」; }
決定 負担額: 金額 {
  高学年: 学年 >= 4 のとき 上限 出典「規則第5条」;
  例外 高学年: 非課税 のとき 0円 出典「規則第5条ただし書」;
  それ以外 0円;
}
テスト 「高学年は500円」 { 時点 2025-06-01; 入力 学年 = 4, 非課税 = 偽; 期待 負担額 = 500円; }
テスト 「非課税は0円」 { 時点 2025-06-01; 入力 学年 = 4, 非課税 = 真; 期待 負担額 = 0円; }
"""


def make_project(tmp_path: Path, rules: str, *, failing: bool = False) -> Path:
    pack = tmp_path / "local_rules" / "141305-kawasaki"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.toml").write_text('id = "141305-kawasaki"\nversion = "0.1.0"\nmunicipalities = ["141305"]\n',
                                    encoding="utf-8")
    text = rules + ('テスト 「わざと失敗」 { 時点 2025-06-01; 入力 学年 = 1, 非課税 = 偽; 期待 負担額 = 1円; }\n'
                    if failing else "")
    (pack / "rules" / "futan.rules").write_text(text, encoding="utf-8")
    (tmp_path / "processes").mkdir()
    return tmp_path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_project(tmp_path, GOOD_PACK)
    for module in (web.cli_packs, web.cli_rules):
        monkeypatch.setattr(module, "project_root", lambda: root)
    return root


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_pack_test_on_the_repository_passes() -> None:
    result = run("pack", "test")
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    passed, failed = (int(part.split()[0]) for part in last.split(", "))
    assert failed == 0 and passed >= 16


def test_pack_test_counts_and_reports_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, GOOD_PACK, failing=True)
    monkeypatch.setattr(web.cli_packs, "project_root", lambda: root)
    result = run("pack", "test")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1] == "2 passed, 1 failed"
    assert any("失敗" in line and "わざと失敗" in line for line in lines)
    assert any("負担額 の実際の値: 0" in line for line in lines)


def test_pack_test_unknown_pack_is_a_usage_error(project: Path) -> None:
    assert run("pack", "test", "999999-nowhere").exit_code == 2


def test_rules_eval_procedure_with_explanation(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"学年": 5, "非課税": True}), encoding="utf-8")
    result = run("rules", "eval", "--municipality", "141305", "--on", "2025-06-01", "--procedure", "負担額",
                 "--input", str(data), "--explain", "--json")
    payload = json.loads(result.output)
    assert list(payload) == ["value", "type", "trace", "diagnostics"]
    assert (payload["value"], payload["type"], payload["diagnostics"], result.exit_code) == (0, "金額", [], 0)
    trace = payload["trace"]
    assert trace["kind"] == "decision" and trace["name"] == "負担額"
    assert trace["applied"] == [{"label": None, "exception_to": "高学年", "otherwise": False,
                                 "cite": "規則第5条ただし書", "file": "local_rules/141305-kawasaki/rules/futan.rules",
                                 "line": 5}]
    assert {"kind": "input", "name": "非課税", "value": True, "type": "真偽"} in trace["uses"]
    text = run("rules", "eval", "--municipality", "141305", "--on", "2025-06-01", "--procedure", "負担額",
               "--input", str(data), "--explain").output
    assert "適用: 「高学年」の例外" in text and "出典: 規則第5条ただし書" in text


def test_rules_eval_expression_reads_decisions_and_parameters(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"学年": 5, "非課税": False}), encoding="utf-8")
    result = run("rules", "eval", "--municipality", "141305", "--on", "2025-06-01", "--expr", "負担額 * 2",
                 "--input", str(data), "--json", "--explain")
    payload = json.loads(result.output)
    assert (payload["value"], payload["type"]) == (1000, "金額")
    (decision,) = [u for u in payload["trace"]["uses"] if u["kind"] == "decision"]
    assert [u["name"] for u in decision["uses"] if u["kind"] == "parameter"] == ["上限"]


@pytest.mark.parametrize(("args", "code"), [
    (("--procedure", "負担"), "INP805"),
    (("--procedure", "負担額", "--input", "{bad"), "INP806"),
    (("--procedure", "負担額", "--input", '{"年齢": 3}'), "INP807"),
    (("--procedure", "負担額", "--input", '{"学年": 5}'), "DSL301"),
    (("--expr", "負担額 +"), "DSL102"),
], ids=["unknown-decision", "bad-json", "undeclared-input", "missing-input", "syntax"])
def test_rules_eval_refusals_are_diagnostics(project: Path, tmp_path: Path, args: tuple[str, ...], code: str) -> None:
    args = tuple(args)
    if "--input" in args:
        path = tmp_path / "in.json"
        path.write_text(args[args.index("--input") + 1], encoding="utf-8")
        args = (*args[: args.index("--input") + 1], str(path), *args[args.index("--input") + 2:])
    result = run("rules", "eval", "--municipality", "141305", "--on", "2025-06-01", *args, "--json")
    payload = json.loads(result.output)
    assert result.exit_code == 1 and payload["value"] is None
    assert [d["code"] for d in payload["diagnostics"]][:1] == [code]


def test_check_reports_rule_file_errors_with_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import web.cli

    root = make_project(tmp_path, GOOD_PACK.replace("上限 出典", "上限 + 1 出典"))
    monkeypatch.setattr(web.cli, "project_root", lambda: root)
    result = run("check")
    assert result.exit_code == 1
    assert "local_rules/141305-kawasaki/rules/futan.rules:4:" in result.output and "DSL206" in result.output
