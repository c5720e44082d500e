"""The core rules (standard_core/rules/*.rules) as a clerk or a held-out checker runs them:
`jichi rules eval --municipality … --on … --procedure … --input family.json --json` for 児童手当 families and
本人確認 document sets (inputs and outputs: docs/core-rules.md), and `jichi pack test` for their in-file tests.

Loading every rule file takes a few hundred milliseconds, so the evaluations share one loaded RuleSets
(the CLI otherwise loads them per call); test_the_cli_loads_the_core_rules_itself runs the unpatched path.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import web.cli_rules
from dsl.errors import DslRuntimeError
from dsl.rules.runtime import RuleRuntime
from engine.paths import project_root
from engine.rulesets import RuleSets
from tests.test_juminhyo import CASES as JUMINHYO_CASES
from tests.test_juminhyo import IDS as JUMINHYO_IDS
from tests.test_juminhyo import REASON_DOCUMENTS, REASON_EXPIRED, RECEPTION
from web.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CORE_RULES = sorted((ROOT / "standard_core" / "rules").glob("*.rules"))
# 川崎市: its pack sets no calendar, so it has the standard one (土日・祝日・12月29日〜1月3日).
KAWASAKI = "141305"
Evaluate = Callable[..., dict[str, Any]]


def child(name: str, born: str, care: bool = True, costs: bool | None = None) -> dict[str, Any]:
    """A child as a held-out family JSON writes it: 生計費負担 only where it matters (19〜22歳年代)."""
    record: dict[str, Any] = {"名前": name, "生年月日": born, "監護": care}
    if costs is not None:
        record["生計費負担"] = costs
    return record


@pytest.fixture(scope="module")
def rule_sets() -> RuleSets:
    return RuleSets(project_root())


@pytest.fixture
def evaluate(rule_sets: RuleSets, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Evaluate:
    monkeypatch.setattr(web.cli_rules, "RuleSets", lambda root: rule_sets)
    return _evaluator(tmp_path)


def _evaluator(tmp_path: Path) -> Evaluate:
    def run(procedure: str, data: dict[str, Any], on: str | None = None, municipality: str = KAWASAKI) -> dict[str, Any]:
        path = tmp_path / "input.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        args = ["rules", "eval", "--municipality", municipality, "--procedure", procedure, "--input", str(path), "--json"]
        result = CliRunner().invoke(cli, args + (["--on", on] if on else []))
        payload: dict[str, Any] = json.loads(result.output)
        assert result.exit_code == (1 if payload["diagnostics"] else 0), result.output
        return payload

    return run


def value_of(payload: dict[str, Any]) -> Any:
    assert payload["diagnostics"] == [], payload["diagnostics"]
    return payload["value"]


# ---- 児童手当: monthly amounts, birth order, paid or not (the month of --on) ---------------------------

FAMILIES = [
    # (id, --on, children, {decision: expected value})
    ("third-birthday-month", "2025-06-30", [child("一子", "2022-06-15")],
     {"児童手当の月額": [15000], "児童手当の区分": ["3歳未満"]}),
    ("month-after-third-birthday", "2025-07-01", [child("一子", "2022-06-15")],
     {"児童手当の月額": [10000], "児童手当の区分": ["3歳以上"]}),
    ("born-on-the-1st-keeps-the-birthday-month", "2025-06-01", [child("一子", "2022-06-01")],
     {"児童手当の月額": [15000]}),
    ("born-on-the-1st-month-after", "2025-07-01", [child("一子", "2022-06-01")], {"児童手当の月額": [10000]}),
    ("born-on-the-31st-month-after", "2025-06-01", [child("一子", "2022-05-31")], {"児童手当の月額": [10000]}),
    # 4/1 births reach 18 on 3/31: their 18歳年度末 is that day; 4/2 births a year later.
    ("18-april-1st-ends-april-2nd-paid", "2026-04-01",
     [child("一郎", "2008-04-01", care=False, costs=True), child("二郎", "2008-04-02")],
     {"児童手当の第何子": [1, 2], "児童手当の支給対象": [False, True], "児童手当の月額": [0, 10000],
      "児童手当の区分": ["多子の数にだけ入る", "3歳以上"]}),
    ("18-april-1st-last-paid-month", "2026-03-31", [child("一郎", "2008-04-01")],
     {"児童手当の支給対象": [True], "児童手当の月額合計": 10000}),
    # 22歳年度末 (born 2004-03-15: 2026-03-31) counts only with 生計費負担; it pushes the youngest to 第3子.
    ("university-age-with-costs", "2025-12-10",
     [child("一郎", "2004-03-15", care=False, costs=True), child("二郎", "2010-07-07"), child("三子", "2023-11-30")],
     {"児童手当の第何子": [1, 2, 3], "児童手当の月額": [0, 10000, 30000], "児童手当の月額合計": 40000,
      "児童手当の多子の数": 3, "児童手当の支給対象の児童数": 2}),
    ("university-age-without-costs", "2025-12-10",
     [child("一郎", "2004-03-15", care=False, costs=False), child("二郎", "2010-07-07"), child("三子", "2023-11-30")],
     {"児童手当の第何子": [0, 1, 2], "児童手当の月額": [0, 10000, 15000], "児童手当の月額合計": 25000,
      "児童手当の多子の数": 2}),
    ("past-22-year-end", "2026-04-01",
     [child("一郎", "2004-03-15", care=False, costs=True), child("二郎", "2010-07-07"), child("三子", "2023-11-30")],
     {"児童手当の第何子": [0, 1, 2], "児童手当の月額合計": 25000}),
    ("two-counted-unpaid-push-to-third", "2025-10-01",
     [child("三郎", "2015-06-01"), child("一郎", "2004-06-01", care=False, costs=True),
      child("二郎", "2006-06-01", care=False, costs=True)],
     {"児童手当の第何子": [3, 1, 2], "児童手当の月額": [30000, 0, 0], "児童手当の月額合計": 30000}),
    ("not-in-care-not-counted", "2025-10-01", [child("一郎", "2012-06-01", care=False), child("二郎", "2015-06-01")],
     {"児童手当の第何子": [0, 1], "児童手当の月額": [0, 10000]}),
    ("birth-month-unpaid", "2025-06-20", [child("一子", "2025-06-10")],
     {"児童手当の月額合計": 0, "児童手当の区分": ["出生の月（翌月から支給）"]}),
    ("empty-family", "2025-06-20", [], {"児童手当の月額合計": 0, "児童手当の月額": []}),
]
TYPES = {"児童手当の月額": "金額の一覧", "児童手当の第何子": "整数の一覧", "児童手当の支給対象": "真偽の一覧",
         "児童手当の区分": "文字列の一覧", "児童手当の月額合計": "金額", "児童手当の多子の数": "整数",
         "児童手当の支給対象の児童数": "整数"}


@pytest.mark.parametrize(("on", "children", "expected"), [f[1:] for f in FAMILIES], ids=[f[0] for f in FAMILIES])
def test_jido_teate_family(evaluate: Evaluate, on: str, children: list[dict[str, Any]],
                           expected: dict[str, Any]) -> None:
    for procedure, value in expected.items():
        payload = evaluate(procedure, {"児童": children}, on)
        assert (value_of(payload), payload["type"]) == (value, TYPES[procedure]), procedure


def test_jido_teate_breakdown_per_child(evaluate: Evaluate) -> None:
    payload = evaluate("児童手当の内訳", {"児童": [child("一郎", "2004-03-15", care=False, costs=True),
                                                 child("二郎", "2023-11-30")]}, "令和7年12月10日")
    assert payload["type"] == "児童手当の内訳行の一覧"
    assert value_of(payload) == [
        {"名前": "一郎", "生年月日": "2004-03-15", "第何子": 1, "支給対象": False, "区分": "多子の数にだけ入る", "月額": 0},
        {"名前": "二郎", "生年月日": "2023-11-30", "第何子": 2, "支給対象": True, "区分": "3歳未満", "月額": 15000},
    ]


@pytest.mark.parametrize(("on", "children", "code", "names"), [
    ("2025-10-01", [child("一郎", "2005-06-01", care=False)], "DSL301", "生計費負担"),
    ("2024-09-30", [child("一子", "2020-06-10")], "DSL313", "2024-10-01 から"),
], ids=["university-age-needs-costs", "before-the-2024-reform"])
def test_jido_teate_refusals_are_diagnostics(evaluate: Evaluate, on: str, children: list[dict[str, Any]],
                                            code: str, names: str) -> None:
    payload = evaluate("児童手当の月額合計", {"児童": children}, on)
    assert payload["value"] is None
    assert [d["code"] for d in payload["diagnostics"]] == [code] and names in payload["diagnostics"][0]["message"]


# ---- 児童手当: the claim (eligibility, first paid month with the 15日特例) ----------------------------

@pytest.mark.parametrize(("claim", "accepted", "reason"), [
    ({"請求者が公務員": True, "児童": [child("一子", "2020-06-10")]}, False, "勤務先"),
    ({"請求者が公務員": False, "児童": [child("一子", "2020-06-10")]}, True, ""),
    ({"請求者が公務員": False, "児童": [child("一郎", "2005-06-10", care=False, costs=True)]}, False, "支給の対象となる児童"),
    ({"請求者が公務員": False, "児童": [child("一子", "2020-06-10", care=False)]}, False, "支給の対象となる児童"),
], ids=["civil-servant-refused", "accepted", "only-university-age", "not-in-care"])
def test_jido_teate_eligibility(evaluate: Evaluate, claim: dict[str, Any], accepted: bool, reason: str) -> None:
    data = {"認定請求日": "2025-06-10", **claim}
    payload = evaluate("児童手当の認定", data)
    assert (value_of(payload), payload["type"]) == (accepted, "真偽")
    text = value_of(evaluate("児童手当の却下理由", data))
    assert (reason in text) if reason else text == ""


@pytest.mark.parametrize(("claim", "first_month", "first_payment_month"), [
    ({"認定請求日": "2025-06-30", "特例の事由": "特例なし"}, "2025-07", "2025-08"),
    ({"認定請求日": "2025-06-15", "特例の事由": "出生", "出生日": "2025-05-31"}, "2025-06", "2025-08"),
    ({"認定請求日": "2025-06-16", "特例の事由": "出生", "出生日": "2025-05-31"}, "2025-07", "2025-08"),
    ({"認定請求日": "2025-04-04", "特例の事由": "転入", "転出予定日": "2025-03-20"}, "2025-04", "2025-06"),
    ({"認定請求日": "2025-04-05", "特例の事由": "転入", "転出予定日": "2025-03-20"}, "2025-05", "2025-06"),
    ({"認定請求日": "2026-01-15", "特例の事由": "出生", "出生日": "2025-12-31"}, "2026-01", "2026-02"),
], ids=["next-month", "birth-day-15", "birth-day-16", "move-day-15", "move-day-16", "birth-across-the-year"])
def test_jido_teate_first_paid_month(evaluate: Evaluate, claim: dict[str, Any], first_month: str,
                                     first_payment_month: str) -> None:
    payload = evaluate("児童手当の支給開始月", claim)
    assert (value_of(payload), payload["type"]) == (first_month, "年月")
    assert value_of(evaluate("児童手当の最初の支払月", claim)) == first_payment_month


# ---- 児童手当: payment months and paydays (the municipality's calendar) ------------------------------

@pytest.mark.parametrize(("on", "payday"), [
    ("2025-04-20", "2025-06-10"),
    ("2025-06-15", "2025-08-08"),  # 2025-08-10 is a Sunday: the previous open day, Friday the 8th
    ("2026-09-01", "2026-10-09"),  # 2026-10-10 is a Saturday
    ("2025-12-01", "2026-02-10"),
], ids=["april-paid-in-june", "sunday-moves-back", "saturday-moves-back", "december-paid-in-february"])
def test_jido_teate_payday(evaluate: Evaluate, on: str, payday: str) -> None:
    payload = evaluate("児童手当の支払日", {}, on)
    assert (value_of(payload), payload["type"]) == (payday, "日付")


def test_jido_teate_paydays_of_a_fiscal_year(evaluate: Evaluate) -> None:
    payload = evaluate("児童手当の年間支払日", {}, "2026-03-31")
    assert payload["type"] == "日付の一覧"
    assert value_of(payload) == ["2025-04-10", "2025-06-10", "2025-08-08", "2025-10-10", "2025-12-10", "2026-02-10"]


def test_jido_teate_payday_beyond_the_published_calendar_is_not_guessed(evaluate: Evaluate) -> None:
    payload = evaluate("児童手当の支払日", {}, "2027-12-01")  # paid in 2028-02: no published 祝日 yet
    assert [d["code"] for d in payload["diagnostics"]] == ["DSL306"]


def test_core_rule_tests_run_on_the_standard_calendar(rule_sets: RuleSets) -> None:
    # `jichi pack test` runs the core's in-file tests on the standard calendar (web/cli_packs.py), so the
    # payday tests in jido_teate.rules pass; without any calendar the same decision is DSL305, never a guess.
    from dsl.rules.testing import run_tests
    from standard_core.municipal_calendar import MunicipalCalendar

    rules, _ = rule_sets.load(CORE_RULES)
    assert rules is not None
    results = [r for r in run_tests(rules, MunicipalCalendar(name="標準の暦")) if "支払日" in r.title]
    assert len(results) >= 2 and all(r.passed for r in results), results
    runtime = RuleRuntime(rules, {}, on=dt.date(2025, 6, 15), calendar=None)
    with pytest.raises(DslRuntimeError) as caught:
        runtime.evaluate("児童手当の支払日")
    assert caught.value.diagnostic.code == "DSL305"


@pytest.fixture
def project_with_payday_13(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the core rules and a 川崎市 pack that sets its own payday (the open parameter)."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "standard_core" / "rules", root / "standard_core" / "rules")
    pack = root / "local_rules" / "141305-kawasaki"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.toml").write_text('id = "141305-kawasaki"\nversion = "0.1.0"\nmunicipalities = ["141305"]\n',
                                    encoding="utf-8")
    (pack / "rules" / "shiharai.rules").write_text(
        "追加 パラメータ 児童手当の支払日の日 {\n"
        "  2025-04-01 から 13 出典「市の児童手当事務取扱規則（例）」;\n"
        "}\n", encoding="utf-8")
    (root / "processes").mkdir()
    monkeypatch.setattr(web.cli_rules, "project_root", lambda: root)
    return root


def test_a_pack_sets_its_payday_through_the_open_parameter(project_with_payday_13: Path, tmp_path: Path) -> None:
    evaluate = _evaluator(tmp_path)
    # 8月・9月分は10月13日（2025年はスポーツの日）→ 前の開庁日 10月10日（金）。
    assert value_of(evaluate("児童手当の支払日", {}, "2025-09-01")) == "2025-10-10"
    assert value_of(evaluate("児童手当の支払日の日", {}, "2025-09-01")) == 13
    # Before the pack's period, and in another municipality, the core default.
    assert value_of(evaluate("児童手当の支払日", {}, "2025-01-01")) == "2025-02-10"
    assert value_of(evaluate("児童手当の支払日の日", {}, "2025-09-01", municipality="272078")) == 10


def test_the_cli_loads_the_core_rules_itself(tmp_path: Path) -> None:
    payload = _evaluator(tmp_path)("児童手当の月額合計", {"児童": [child("一子", "2022-06-15")]}, "2025-06-30")
    assert (value_of(payload), payload["type"]) == (15000, "金額")


# ---- 本人確認: the table of tests/test_juminhyo.py (the BPMN calls this rule), through the CLI ----------

@pytest.mark.parametrize(("reception", "form", "review", "reason"), JUMINHYO_CASES, ids=JUMINHYO_IDS)
def test_honnin_kakunin_agrees_with_the_bpmn(evaluate: Evaluate, reception: dict[str, Any], form: dict[str, Any],
                                            review: dict[str, Any] | None, reason: str | None) -> None:
    data = {"受付日": RECEPTION["受付日"], "本人確認書類": form["本人確認書類"]}
    identified = evaluate("本人確認の結果", data)
    refusal = value_of(evaluate("本人確認の却下理由", data))
    assert identified["type"] == "真偽"
    if reason in (REASON_DOCUMENTS, REASON_EXPIRED):
        assert value_of(identified) is False and refusal.startswith(reason)
    else:  # accepted, or refused by the BPMN for a reason other than 本人確認
        assert value_of(identified) is True and refusal == ""


@pytest.mark.parametrize(("documents", "classes", "identified"), [
    ([{"種別": "身体障害者手帳"}], ["一号"], True),
    ([{"種別": "年金証書"}, {"種別": "年金手帳"}], ["甲", "甲"], True),
    ([{"種別": "診察券", "有効期限": "2025-04-01"}, {"種別": "キャッシュカード", "有効期限": "2030-01-31"}],
     ["乙", "乙"], False),
    ([{"種別": "在留カード", "有効期限": "2025-03-31"}, {"種別": "特別永住者証明書", "有効期限": "2031-01-01"}],
     ["期限切れ", "一号"], True),
    ([{"種別": "学生証", "有効期限": "2026-03-31"}, {"種別": "学生証", "有効期限": "2026-03-31"},
      {"種別": "健康保険資格確認書", "有効期限": "2026-03-31"}], ["乙", "乙", "甲"], True),
], ids=["no-expiry-list1", "two-a-without-expiry", "b-plus-b", "expired-and-valid-list1", "three-documents"])
def test_honnin_kakunin_document_sets(evaluate: Evaluate, documents: list[dict[str, Any]], classes: list[str],
                                      identified: bool) -> None:
    data = {"受付日": "2025-04-01", "本人確認書類": documents}
    payload = evaluate("本人確認書類の区分", data)
    assert (value_of(payload), payload["type"]) == (classes, "文字列の一覧")
    assert value_of(evaluate("本人確認の結果", data)) is identified


# ---- the in-file tests ---------------------------------------------------------------------------------

def test_pack_test_runs_every_core_rule_test() -> None:
    result = CliRunner().invoke(cli, ["pack", "test"])
    ours = [line for line in result.output.splitlines() if "standard_core/rules/" in line and "「" in line]
    written = sum(len(re.findall(r"^テスト 「", path.read_text(encoding="utf-8"), re.M)) for path in CORE_RULES)
    assert written >= 50 and len(ours) == written
    assert all(line.startswith("成功 ") for line in ours), result.output
