"""Held-out 子ども医療費 cases through `jichi rules eval`, across each municipality's dated changes:
大東市 (大阪府 base as is), 高槻市 (2025-04 exception), 川崎市 (2023-09 and 2026-09 with the age extension).
Sources: shared domain notes (city.daito.lg.jp/soshiki/62/56317.html, city.takatsuki.osaka.jp/site/waiwai/3006.html,
city.kawasaki.jp/450/page/0000128564.html)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from web.cli import cli


def _visit(day: str, where: str, kind: str, amount: int, dept: str = "医科") -> dict[str, Any]:
    return {"診療日": day, "医療機関": where, "診療科": dept, "区分": kind, "保険診療の自己負担額": amount}


def evaluate(tmp_path: Path, code: str, procedure: str, data: dict[str, Any]) -> Any:
    source = tmp_path / "input.json"
    source.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "eval", "--municipality", code, "--procedure", procedure,
                                      "--input", str(source), "--json"])
    payload = json.loads(result.output)
    assert payload["diagnostics"] == [], payload["diagnostics"]
    return payload["value"]


# a month with three days at one clinic (医科), two at its dentist (歯科), and a pharmacy
MONTH = [_visit("03", "A医院", "通院", 1200), _visit("10", "A医院", "通院", 1200), _visit("17", "A医院", "通院", 1200),
         _visit("05", "A医院", "通院", 700, "歯科"), _visit("12", "A医院", "通院", 700, "歯科"),
         _visit("03", "B薬局", "調剤", 900)]


def _month(ym: str) -> list[dict[str, Any]]:
    return [{**v, "診療日": f"{ym}-{v['診療日']}"} for v in MONTH]


@pytest.mark.parametrize(("code", "ym", "total"), [
    ("272183", "2025-03", 2000),  # 大東市: 500円 × 2 days (医科) + 500円 × 2 days (歯科), pharmacy 0
    ("272183", "2025-04", 2000),  # 大東市 keeps the base after 2025-04
    ("272078", "2025-03", 2000),  # 高槻市: the base until 2025-03
    ("272078", "2025-04", 0),     # 高槻市: abolished from 2025-04 診療分
])
def test_osaka_month_from_the_visits(tmp_path: Path, code: str, ym: str, total: int) -> None:
    data = {"生年月日": "2012-05-01", "診療月の初日": f"{ym}-01", "今月の受診": _month(ym)}
    assert evaluate(tmp_path, code, "月の窓口負担合計", data) == total


def test_osaka_monthly_cap_refund(tmp_path: Path) -> None:
    visits = [_visit(f"2025-03-0{d}", f"医院{d}", "通院", 1000) for d in range(1, 7)]  # six clinics, 500円 each
    data = {"生年月日": "2012-05-01", "診療月の初日": "2025-03-01", "今月の受診": visits}
    assert evaluate(tmp_path, "272183", "月の窓口負担合計", data) == 3000
    assert evaluate(tmp_path, "272183", "月の払戻額", data) == 500


@pytest.mark.parametrize(("day", "born", "income_exempt", "expected"), [
    ("2025-06-02", "2015-06-01", False, 500),   # 小4 課税: 500円 per visit
    ("2025-06-02", "2015-06-01", True, 0),      # 非課税世帯
    ("2025-06-02", "2017-06-01", False, 0),     # 小2: no co-pay
    ("2026-08-31", "2012-06-01", False, 500),   # 中3 the day before the 2026-09 change
    ("2026-09-01", "2012-06-01", False, 0),     # co-pay abolished
    ("2026-08-31", "2010-06-01", False, 1260),  # 高1 before the age extension: not covered
    ("2026-09-01", "2010-06-01", False, 0),     # 高1 from 2026-09: covered, no co-pay
])
def test_kawasaki_per_visit(tmp_path: Path, day: str, born: str, income_exempt: bool, expected: int) -> None:
    data = {"診療日": day, "生年月日": born, "区分": "通院", "所得割非課税世帯": income_exempt, "保険診療の自己負担額": 1260}
    assert evaluate(tmp_path, "141305", "窓口負担額", data) == expected
