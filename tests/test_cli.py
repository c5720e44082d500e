"""`jichi check`: output shape, exit codes and --json, with engine.check.check_paths replaced."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from standard_core.diagnostics import Diagnostic, Span, error, warning
from web.cli import cli

ROOT = Path(__file__).resolve().parent.parent
Calls = list[tuple[list[Path], Path]]


@pytest.fixture(autouse=True)
def _in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    # check_paths reports root-relative files; from the root they print unchanged.
    monkeypatch.chdir(ROOT)


def fake_checker(monkeypatch: pytest.MonkeyPatch, diagnostics: list[Diagnostic]) -> Calls:
    """Install a stand-in engine.check module whose check_paths returns `diagnostics`."""
    calls: Calls = []

    def check_paths(paths: list[Path], root: Path) -> list[Diagnostic]:
        calls.append((paths, root))
        return diagnostics

    module = types.ModuleType("engine.check")
    module.check_paths = check_paths  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.check", module)
    return calls


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["check", *args])


def bpmn_error(file: str) -> Diagnostic:
    return error(
        "BPM401",
        "スクリプトが Python で書かれています。",
        Span(file, 12, 7),
        hint="DSL で書いてください。",
    )


def test_error_exits_1_and_prints_location(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_checker(
        monkeypatch, [bpmn_error("processes/a.bpmn"), warning("BPM402", "注意", Span("b.bpmn", 3, 1))]
    )
    result = run()
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "processes/a.bpmn:12:7: BPM401 スクリプトが Python で書かれています。"
    assert "    ヒント: DSL で書いてください。" in lines
    assert "b.bpmn:3:1: BPM402 [警告] 注意" in lines
    assert lines[-1] == "エラー 1 件、警告 1 件"


def test_warnings_only_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_checker(monkeypatch, [warning("BPM402", "注意", Span("b.bpmn", 3, 1))])
    result = run()
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "エラー 0 件、警告 1 件"


def test_clean_exit_0_and_checks_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_checker(monkeypatch, [])
    result = run()
    assert result.exit_code == 0
    assert result.output == "エラー 0 件、警告 0 件\n"
    ((paths, root),) = calls
    assert paths == []  # the whole repository
    assert (root / "local_rules").is_dir()


def test_given_paths_are_passed_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = fake_checker(monkeypatch, [])
    target = tmp_path / "x.bpmn"
    target.write_text("<definitions/>", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert run("x.bpmn").exit_code == 0
    assert calls[0][0] == [target]


def test_missing_path_is_a_diagnostic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = fake_checker(monkeypatch, [])
    (tmp_path / "here.bpmn").write_text("<definitions/>", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run("nowhere.bpmn", "here.bpmn")
    assert result.exit_code == 1
    assert result.output.startswith("nowhere.bpmn:1:1: CHK701 ")
    assert "Traceback" not in result.output
    assert result.output.splitlines()[-1] == "エラー 1 件、警告 0 件"
    assert [p.name for p in calls[0][0]] == ["here.bpmn"]  # the others are still checked


def test_paths_shown_relative_to_cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_checker(monkeypatch, [bpmn_error(str(tmp_path / "processes" / "a.bpmn"))])
    monkeypatch.chdir(tmp_path)
    assert run().output.startswith("processes/a.bpmn:12:7: BPM401")


def test_root_relative_paths_follow_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    # check_paths names files relative to the repository root; from local_rules/ they read '../processes/…'.
    fake_checker(monkeypatch, [bpmn_error("processes/a.bpmn")])
    monkeypatch.chdir(ROOT / "processes")
    assert run().output.startswith("a.bpmn:12:7: BPM401")


def test_json(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_checker(monkeypatch, [bpmn_error("a.bpmn")])
    result = run("--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data == [
        {
            "code": "BPM401",
            "severity": "error",
            "message": "スクリプトが Python で書かれています。",
            "file": "a.bpmn",
            "line": 12,
            "column": 7,
            "end_line": None,
            "end_column": None,
            "hint": "DSL で書いてください。",
            "reference": "",
        }
    ]


def test_json_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_checker(monkeypatch, [])
    result = run("--json")
    assert (result.exit_code, json.loads(result.output)) == (0, [])


def test_unexpected_failure_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(paths: list[Path], root: Path) -> list[Diagnostic]:
        raise KeyError("internal")

    module = types.ModuleType("engine.check")
    module.check_paths = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.check", module)
    monkeypatch.delenv("JICHI_DEBUG", raising=False)
    result = run()
    assert result.exit_code == 2
    assert "予期しないエラー" in result.output
    assert "Traceback" not in result.output


def test_usage_error_exit_2() -> None:
    result = CliRunner().invoke(cli, ["check", "--no-such-option"])
    assert result.exit_code == 2
