"""`check_paths` (the walker behind `jichi check`) and the command itself on dangerous fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.check import check_paths
from engine.packs import check_digit
from tests.engine_support import copy_core
from web.cli import cli

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "bpmn"


def test_repository_checks_clean() -> None:
    found = check_paths([], ROOT)
    assert [d.format() for d in found if d.is_error] == []


@pytest.mark.parametrize(("name", "expected"), [
    ("python_script.bpmn", "python_script.bpmn:10:20: DSL105"),
    ("python_script_format.bpmn", "python_script_format.bpmn:9:1: BPM414"),
    ("dunder_condition.bpmn", "dunder_condition.bpmn:15:33: DSL105"),
    ("dsl_syntax_error.bpmn", "dsl_syntax_error.bpmn:15:52: DSL101"),
], ids=["python-script", "python-script-format", "dunder-condition", "dsl-syntax-error"])
def test_jichi_check_rejects_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # a script that ran would write MARKER here (or in the repository)
    result = CliRunner().invoke(cli, ["check", str(FIXTURES / name)])
    assert result.exit_code == 1
    assert any(line.endswith(f"tests/fixtures/bpmn/{expected}") or f"tests/fixtures/bpmn/{expected} " in line
               for line in result.output.splitlines())
    assert not (tmp_path / "MARKER").exists() and not (ROOT / "MARKER").exists()


def code(first_five: str) -> str:
    return first_five + str(check_digit(first_five))


def make_repo(tmp_path: Path) -> Path:
    """A repository with the core processes and a two-layer pack whose local process calls the core."""
    copy_core(tmp_path)
    for pack_id, base, number in (("270008-osaka", None, "27000"), ("272183-daito", "270008-osaka", "27218")):
        directory = tmp_path / "local_rules" / pack_id / "processes"
        directory.mkdir(parents=True)
        lines = [f'id = "{pack_id}"', 'version = "0.1.0"', f'municipalities = ["{code(number)}"]']
        if base:
            lines.append(f'base = "{base}"')
        (directory.parent / "pack.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    call = (FIXTURES / "call_missing.bpmn").read_text(encoding="utf-8")
    (tmp_path / "local_rules" / "270008-osaka" / "processes" / "osaka.bpmn").write_text(
        call.replace("Process_DoesNotExist", "Process_JuminhyoKisai").replace("Process_1", "Process_Osaka"),
        encoding="utf-8")
    (tmp_path / "local_rules" / "272183-daito" / "processes" / "daito.bpmn").write_text(
        call.replace("Process_DoesNotExist", "Process_Osaka").replace("Process_1", "Process_Daito"),
        encoding="utf-8")
    return tmp_path


def test_packs_call_core_and_base_processes(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    assert check_paths([], root) == []


def test_missing_call_target_in_a_pack(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    daito = root / "local_rules" / "272183-daito" / "processes" / "daito.bpmn"
    daito.write_text(daito.read_text(encoding="utf-8").replace("Process_Osaka", "Process_Kyoto"), encoding="utf-8")
    found = check_paths([], root)
    assert [(d.code, d.span.file, d.span.line) for d in found] == [
        ("BPM429", "local_rules/272183-daito/processes/daito.bpmn", 6)]


def test_explicit_files_and_folders_collect_everything_sorted(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    bad = root / "bad"
    bad.mkdir()
    for name in ("no_end.bpmn", "duplicate_id.bpmn", "unreachable.bpmn"):
        shutil.copy(FIXTURES / name, bad / name)
    found = check_paths([bad, root / "local_rules" / "272183-daito" / "processes" / "daito.bpmn"], root)
    # The three fixtures all define Process_1: the later files also get BPM434.
    assert [(d.span.file, d.code) for d in found] == [
        ("bad/duplicate_id.bpmn", "BPM420"),
        ("bad/no_end.bpmn", "BPM428"),
        ("bad/no_end.bpmn", "BPM434"),  # same line 3: ordered by code
        ("bad/unreachable.bpmn", "BPM434"),  # line 3, the process
        ("bad/unreachable.bpmn", "BPM426"),  # line 7, the task
    ]


def test_pack_manifest_errors_are_reported_relative(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "local_rules" / "270008-osaka" / "pack.toml").write_text("id = \n", encoding="utf-8")
    found = check_paths([], root)
    assert any(d.code == "PCK601" and d.span.file == "local_rules/270008-osaka/pack.toml" for d in found)


def test_a_jichi_prefix_bound_to_another_namespace_names_the_right_one(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    text = (root / "local_rules" / "212181-motosu" / "processes" / "shussan_iwaikin.bpmn").read_text(encoding="utf-8")
    wrong = tmp_path / "wrong.bpmn"
    wrong.write_text(text.replace('xmlns:jichi="urn:jichi:bpmn:1"', 'xmlns:jichi="urn:jichi"'), encoding="utf-8")
    # the fields it declares are not jichi's, so names the rules read are undefined too (BPM460, DSL201)
    errors = [d for d in check_paths([wrong], tmp_path) if d.code == "BPM412"]
    assert len(errors) == 10  # every jichi element (eight fields, two decisions), each at its own line
    assert all("urn:jichi:bpmn:1" in (d.hint or "") for d in errors)
    assert errors[0].message == "jichi:field の接頭辞 jichi の名前空間「urn:jichi」は jichi のものではありません"
