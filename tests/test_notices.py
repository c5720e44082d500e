"""Notices (engine/notices.py): defined as data, filled from the case data with formats, never evaluated;
a pack's notice replaces the core's of the same id for the municipalities it serves; malformed notices and
restricted items are refused by `jichi check` with the line (PCK660, PCK661)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.check import check_paths
from engine.notices import fill, formatted, load_notices, notices_for, offered, read_notice
from engine.packs import discover_packs
from tests.engine_support import copy_core

ROOT = Path(__file__).resolve().parent.parent
DATA = {"認定請求日": "2025-06-02", "支給開始月": "2025-07", "月額": 15000, "認定可": True,
        "独自": {"同時申請": True}, "子": [{"名前": "川崎 たろう", "生年月日": "2023-04-01"}], "個人番号": "123456789018"}


def test_fill_and_formats() -> None:
    text = "{認定請求日|和暦}に請求。開始 {支給開始月|年月}、月額 {月額|金額}、同時申請 {独自.同時申請|はい・いいえ}。{ない}"
    assert fill(text, DATA) == "令和7年6月2日に請求。開始 令和7年7月、月額 15,000円、同時申請 はい。"
    assert formatted("2025-06-02", None) == "令和7年6月2日" and formatted(None, "金額") == ""
    assert fill("{__import__('os').system('x')} {7*7}", DATA) == " "  # names only: nothing is evaluated


def _notice(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "n.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "code", "line"), [
    ('id = "x"\nprocess = "P"\n', "PCK660", 1),  # no title
    ('id = "x"\nprocess = "P"\ntitle = "t"\nscript = "os.system(1)"\n', "PCK660", 4),
    ('id = "x"\nprocess = "P"\ntitle = "t"\n[[items]]\nlabel = "a"\nvalue = "b"\nformat = "eval"\n', "PCK660", 7),
    ('id = "x"\nprocess = "P"\ntitle = "t"\ntext = "番号 {個人番号}"\n', "PCK661", 4),
    ('id = "x"\nprocess = "P"\ntitle = "t"\n[[lists]]\nlabel = "a"\nvalue = "世帯員"\ncolumns = [["番号", "個人番号"]]\n',
     "PCK661", 7),
    ('id = "x"\nprocess = \n', "PCK660", 2),
])
def test_malformed_notices_are_refused_with_the_line(tmp_path: Path, text: str, code: str, line: int) -> None:
    notice, found = read_notice(_notice(tmp_path, text), "n.toml")
    assert notice is None and [(d.code, d.span.line) for d in found] == [(code, line)]


def test_a_packs_notice_replaces_the_core_one_where_it_serves(tmp_path: Path) -> None:
    packs, _ = discover_packs(ROOT / "local_rules")
    loaded, problems = load_notices(ROOT, packs)
    assert problems == []
    kawasaki = notices_for(loaded, "141305", "Process_JidoTeateNintei")
    nanto = notices_for(loaded, "162108", "Process_JidoTeateNintei")
    assert [n.source for n in kawasaki] == ["local_rules/141305-kawasaki/notices/nintei_tsuchi.toml"]
    assert [n.source for n in nanto] == ["processes/jido_teate/notices/nintei_tsuchi.toml"]
    assert offered(nanto[0], {"認定可": True}) and not offered(nanto[0], {"認定可": False})


def test_jichi_check_reports_a_broken_notice_and_an_unknown_procedure(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    copy_core(root)
    shutil.copytree(ROOT / "processes" / "jido_teate" / "notices", root / "processes" / "jido_teate" / "notices",
                    dirs_exist_ok=True)
    pack = root / "local_rules" / "141305-x"
    (pack / "notices").mkdir(parents=True)
    (pack / "pack.toml").write_text('id = "141305-x"\nversion = "1.0.0"\nmunicipalities = ["141305"]\n', encoding="utf-8")
    (pack / "notices" / "a.toml").write_text('id = "a"\nprocess = "Process_Nothing"\ntitle = "t"\n', encoding="utf-8")
    (pack / "notices" / "b.toml").write_text('id = "b"\nprocess = "Process_JidoTeateNintei"\ntitle = "t"\n'
                                             'text = "{個人番号}"\n', encoding="utf-8")
    found = [(d.code, d.span.file) for d in check_paths([], root)]
    assert ("PCK660", "local_rules/141305-x/notices/a.toml") in found
    assert ("PCK661", "local_rules/141305-x/notices/b.toml") in found
