"""京都市のパック（local_rules/261009-kyoto、子ども医療費支給制度）: `jichi pack test` と、ファイルの外の事例を
`jichi rules eval --procedure … --json` で評価して、令和5年9月診療分の改正の前後の値を確かめる。

出典: city.kyoto.lg.jp/hagukumi/page/0000067393.html（令和5年9月診療分から3歳から小学生は1か月1医療機関200円）、
/0000307853.html（それまでは1か月1,500円、複数の医療機関で1,500円を超えた額は申請で払い戻す）。
中学生の扱い・1,500円の方式での調剤の扱いは、パックの読み（要確認）。
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner, Result

from web.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PACK = "261009-kyoto"
RULES = ROOT / "local_rules" / PACK / "rules" / "kodomo_iryohi.rules"
KYOTO = "261009"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def in_file_tests() -> int:
    return len(re.findall(r"^テスト 「", RULES.read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_pack_test_runs_every_kyoto_test_and_all_pass() -> None:
    written = in_file_tests()
    assert written >= 20
    result = run("pack", "test", PACK)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    match = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert match is not None, lines[-1]
    passed, failed = int(match[1]), int(match[2])
    assert failed == 0
    assert passed >= written
    # every test written in the Kyoto rules file ran and passed (not only the core's tests)
    kyoto = [line for line in lines if "local_rules/261009-kyoto/rules/kodomo_iryohi.rules" in line]
    assert len(kyoto) == written
    assert all(line.startswith("成功 ") for line in kyoto), kyoto


def visit(date: str, institution: str, kind: str, copay: int) -> dict[str, object]:
    return {"診療日": date, "医療機関": institution, "区分": kind, "保険診療の自己負担額": copay}


def month(birth: str, first_day: str, visits: list[dict[str, object]]) -> dict[str, object]:
    return {"生年月日": birth, "診療月の初日": first_day, "今月の受診": visits}


def evaluate(tmp_path: Path, procedure: str, data: dict[str, object]) -> tuple[dict[str, object], int]:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = run("rules", "eval", "--municipality", KYOTO, "--procedure", procedure, "--input", str(path), "--json")
    payload = json.loads(result.output)
    assert list(payload) == ["value", "type", "trace", "diagnostics"]
    return payload, result.exit_code


def codes(payload: dict[str, object]) -> list[str]:
    diagnostics = cast(list[dict[str, str]], payload["diagnostics"])
    return [d["code"] for d in diagnostics]


# 小4（2013年9月10日生まれ）が同じ月に A 医院へ2回、B 医院へ1回、P 薬局へ1回。
# 令和5年7月診療分（改正前）と11月診療分（改正後）で同じ受診。
SHOGAKUSEI_JULY = month("2013-09-10", "2023-07-01", [
    visit("2023-07-03", "A", "通院", 700),
    visit("2023-07-18", "A", "通院", 900),
    visit("2023-07-10", "B", "通院", 400),
    visit("2023-07-03", "P", "調剤", 300),
])
SHOGAKUSEI_NOVEMBER = month("2013-09-10", "2023-11-01", [
    visit("2023-11-02", "A", "通院", 700),
    visit("2023-11-20", "A", "通院", 900),
    visit("2023-11-09", "B", "通院", 400),
    visit("2023-11-02", "P", "調剤", 300),
])
# 中2（2010年1月15日生まれ）の令和6年2月診療分。要確認: 中学生は従前の月1,500円のまま（パックの読み）。
CHUGAKUSEI_FEBRUARY = month("2010-01-15", "2024-02-01", [
    visit("2024-02-05", "A", "通院", 3000),
    visit("2024-02-13", "B", "通院", 800),
])

HELD_OUT = {
    # 307853: 改正前は1医療機関あたり月1,500円まで（A は1,600円のうち1,500円）、薬局も払う（要確認の読み）
    "before-change-counter": (SHOGAKUSEI_JULY, "医療機関ごとの窓口負担額", [1500, 400, 300]),
    "before-change-month-total": (SHOGAKUSEI_JULY, "月の窓口負担額", 2200),
    # 307853: 月の合計2,200円のうち1,500円を超えた700円は申請で払い戻す
    "before-change-refund": (SHOGAKUSEI_JULY, "払戻額", 700),
    "before-change-net": (SHOGAKUSEI_JULY, "月の自己負担額", 1500),
    "before-change-method": (SHOGAKUSEI_JULY, "負担の方式", "月額上限と払戻し"),
    # 67393: 令和5年9月診療分から1か月1医療機関200円、小学生まで調剤薬局は0円、払戻しなし
    "after-change-counter": (SHOGAKUSEI_NOVEMBER, "医療機関ごとの窓口負担額", [200, 200, 0]),
    "after-change-per-visit": (SHOGAKUSEI_NOVEMBER, "受診ごとの窓口負担額", [200, 0, 200, 0]),
    "after-change-month-total": (SHOGAKUSEI_NOVEMBER, "月の窓口負担額", 400),
    "after-change-refund": (SHOGAKUSEI_NOVEMBER, "払戻額", 0),
    "after-change-method": (SHOGAKUSEI_NOVEMBER, "負担の方式", "医療機関ごとの定額"),
    # 要確認（パックの読み）: 中学生は改正後も月1,500円まで、超えた額を払い戻す
    "junior-high-class": (CHUGAKUSEI_FEBRUARY, "月の区分", "中学生"),
    "junior-high-month-total": (CHUGAKUSEI_FEBRUARY, "月の窓口負担額", 2300),
    "junior-high-refund": (CHUGAKUSEI_FEBRUARY, "払戻額", 800),
    # 67393: 3歳未満は1医療機関あたり月200円まで。A は自己負担が150円なので150円
    "under-three-below-200": (
        month("2023-03-03", "2023-06-01", [visit("2023-06-07", "A", "通院", 150),
                                           visit("2023-06-21", "B", "通院", 900)]),
        "月の窓口負担額", 350,
    ),
    # 67393: 中学校卒業（15歳に達する日以後の最初の3月31日）まで。2009年4月1日生まれは2024年3月31日で終わる
    "graduation-march": (month("2009-04-01", "2024-03-01", []), "助成対象", True),
    "graduation-april": (month("2009-04-01", "2024-04-01", []), "助成対象", False),
    "graduation-april-pays-insured-copay": (
        month("2009-04-01", "2024-04-01", [visit("2024-04-08", "A", "通院", 1800),
                                           visit("2024-04-08", "P", "調剤", 600)]),
        "月の窓口負担額", 2400,
    ),
    "after-graduation-no-refund": (
        month("2009-04-01", "2024-04-01", [visit("2024-04-08", "A", "通院", 1800),
                                           visit("2024-04-22", "B", "通院", 1800)]),
        "払戻額", 0,
    ),
}


@pytest.mark.parametrize(("data", "procedure", "expected"), list(HELD_OUT.values()), ids=list(HELD_OUT))
def test_held_out_cases(tmp_path: Path, data: dict[str, object], procedure: str, expected: object) -> None:
    payload, exit_code = evaluate(tmp_path, procedure, data)
    assert payload["diagnostics"] == []
    assert exit_code == 0
    assert payload["value"] == expected


def test_change_is_keyed_by_the_month_of_treatment(tmp_path: Path) -> None:
    """The same two visits on 2023-08-31 and on 2023-09-01 (小5): before the change 1,600円 with 100円 refunded,
    after it 200円 per institution."""
    august = month("2012-12-24", "2023-08-01", [visit("2023-08-31", "A", "通院", 1100),
                                                visit("2023-08-31", "B", "通院", 500)])
    september = month("2012-12-24", "2023-09-01", [visit("2023-09-01", "A", "通院", 1100),
                                                   visit("2023-09-01", "B", "通院", 500)])
    assert evaluate(tmp_path, "月の窓口負担額", august)[0]["value"] == 1600
    assert evaluate(tmp_path, "払戻額", august)[0]["value"] == 100
    assert evaluate(tmp_path, "月の窓口負担額", september)[0]["value"] == 400
    assert evaluate(tmp_path, "払戻額", september)[0]["value"] == 0


def test_per_institution_breakdown(tmp_path: Path) -> None:
    payload, exit_code = evaluate(tmp_path, "医療機関ごとの内訳", SHOGAKUSEI_NOVEMBER)
    assert exit_code == 0, payload
    assert payload["value"] == [
        {"医療機関": "A", "区分": "通院", "受診日数": 2, "保険診療の自己負担額": 1600, "窓口負担額": 200},
        {"医療機関": "B", "区分": "通院", "受診日数": 1, "保険診療の自己負担額": 400, "窓口負担額": 200},
        {"医療機関": "P", "区分": "調剤", "受診日数": 1, "保険診療の自己負担額": 300, "窓口負担額": 0},
    ]


def test_inpatient_month_is_outside_the_pack(tmp_path: Path) -> None:
    """入院 is not in the sources: the pack says so and gives no amount (空, DSL311) rather than a guess."""
    data = month("2013-09-10", "2023-11-01", [visit("2023-11-02", "A", "通院", 700),
                                              visit("2023-11-06", "C", "入院", 30000)])
    reason, exit_code = evaluate(tmp_path, "計算できない理由", data)
    assert exit_code == 0
    assert isinstance(reason["value"], str) and "入院" in reason["value"]
    total, exit_code = evaluate(tmp_path, "月の窓口負担額", data)
    assert exit_code == 1
    assert total["value"] is None
    assert codes(total) == ["DSL311"]


def test_months_before_the_sources_are_not_evaluated(tmp_path: Path) -> None:
    """The amounts start with 令和5年1月診療分 (what the sources confirm): December 2022 is DSL314, not a guess."""
    data = month("2013-09-10", "2022-12-01", [visit("2022-12-05", "A", "通院", 700)])
    payload, exit_code = evaluate(tmp_path, "月の窓口負担額", data)
    assert exit_code == 1
    assert codes(payload) == ["DSL314"]
