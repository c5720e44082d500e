"""Behaviours of the rules layer that the golden tables cannot show: evaluations that must fail with a
diagnostic rather than a Python exception, silent acceptance where a rule file should be refused, and
where diagnostics point. Each test names the rule an analyst would write."""

from __future__ import annotations

import datetime as dt

import pytest

from dsl.errors import DslRuntimeError
from dsl.rules.load import load_rules
from dsl.rules.model import RuleSet
from dsl.rules.runtime import RuleRuntime
from dsl.rules.testing import run_tests
from standard_core.diagnostics import DiagnosticError, has_errors


def _load(*texts: str) -> RuleSet:
    rules, diagnostics = load_rules([(f"{i}.rules", text) for i, text in enumerate(texts)])
    assert rules is not None, [d.format() for d in diagnostics]
    return rules


def _errors(*texts: str) -> list[str]:
    _, diagnostics = load_rules([(f"{i}.rules", text) for i, text in enumerate(texts)])
    return [d.code for d in diagnostics if d.is_error]


def _evaluate(rules: RuleSet, name: str, data: dict[str, object], on: dt.date | None = None) -> object:
    value, _ = RuleRuntime(rules, data, on=on, calendar=None).evaluate(name)
    return value


# --- a rule that loads must evaluate to its declared type, or fail with a DSL3xx diagnostic -------------

def test_versions_of_one_decision_must_have_one_type() -> None:
    """Two versions declared 金額 and 文字列: a rule using the decision would add 1円 to a text."""
    assert _errors("""入力 { 診療日: 日付; }
決定 負担: 金額 { 基準日とする 診療日; 適用期間 2023-01-01 から 2024-12-31 まで; それ以外 0円; }
決定 負担: 文字列 { 基準日とする 診療日; 適用期間 2025-01-01 から; それ以外 「なし」; }
決定 合計: 金額 { それ以外 負担 + 1円; }""") != []


def test_versions_of_one_decision_share_their_reference_date() -> None:
    """The runtime chooses the version with the first version's 基準日とする; a second one is never used."""
    assert _errors("""入力 { 診療日: 日付; 申請日: 日付; }
決定 負担: 金額 { 基準日とする 診療日; 適用期間 2023-01-01 から 2024-12-31 まで; それ以外 500円; }
決定 負担: 金額 { 基準日とする 申請日; 適用期間 2025-01-01 から; それ以外 0円; }""") != []


@pytest.mark.parametrize("declared, output", [("日付", "2025-04-01"), ("文字列", "「加算」"), ("真偽", "真")],
                         ids=["date", "text", "bool"])
def test_collect_sum_needs_a_number_type(declared: str, output: str) -> None:
    """`判定方式 集計 合計` over dates or texts is refused when loading (today: TypeError when evaluated)."""
    text = f"""入力 {{ 学年: 整数; }}
表 加算: {declared} {{
  判定方式 集計 合計;
  列 学年;
  | - | => {output};
}}"""
    rules, diagnostics = load_rules([("加算.rules", text)])
    if rules is None:
        assert has_errors(diagnostics)
        return
    with pytest.raises(DslRuntimeError):
        _evaluate(rules, "加算", {"学年": 1})


def test_collect_without_aggregate_is_a_list_of_the_declared_type() -> None:
    """`判定方式 集計;` (or 規則順) gives every matching output: a table declared 金額 must not yield a list
    where 金額 is expected. Either the loader asks for `金額の一覧`, or a use as 金額 is a type error."""
    text = """入力 { 学年: 整数; }
表 加算: 金額 {
  判定方式 集計;
  列 学年;
  | - | => 100円;
  | >= 4 | => 200円;
}
決定 負担: 金額 { それ以外 加算 + 1円; }"""
    rules, diagnostics = load_rules([("加算.rules", text)])
    if rules is None:
        assert has_errors(diagnostics)
        return
    with pytest.raises(DslRuntimeError):
        _evaluate(rules, "負担", {"学年": 5})


def test_evaluating_an_unknown_name_is_a_diagnostic() -> None:
    rules = _load("パラメータ 上限: 金額 { 2023-09-01 から 500円; }")
    with pytest.raises(DslRuntimeError):
        _evaluate(rules, "窓口負担額", {}, dt.date(2025, 1, 1))


def test_dated_versions_without_any_reference_date_do_not_pick_the_first() -> None:
    """No 基準日とする and no evaluation date: choosing the first version silently is a silent first match."""
    rules = _load("""入力 { 学年: 整数; }
決定 負担: 金額 { 適用期間 2023-09-01 から 2026-08-31 まで; それ以外 500円; }
決定 負担: 金額 { 適用期間 2026-09-01 から; それ以外 0円; }""")
    with pytest.raises(DslRuntimeError) as e:
        _evaluate(rules, "負担", {"学年": 5}, on=None)
    assert e.value.diagnostic.code == "DSL305"


# --- what a pack may do ------------------------------------------------------------------------------

def test_extension_period_is_not_silently_ignored() -> None:
    """A pack writes `追加 決定 … { 適用期間 2026-04-01 から; … }`: today the period is dropped and the
    exception applies on every date. It must either be honoured or refused."""
    core = """入力 { 診療日: 日付; 生活保護: 真偽; }
開放 決定 窓口負担額: 金額 { 基準日とする 診療日; 基本: 真 のとき 500円; }"""
    pack = """追加 決定 窓口負担額 {
  適用期間 2026-04-01 から;
  保護 例外 基本: 生活保護 のとき 0円;
}"""
    rules, diagnostics = load_rules([("core.rules", core), ("pack.rules", pack)])
    if rules is None:
        assert has_errors(diagnostics)
        return
    assert _evaluate(rules, "窓口負担額", {"診療日": "2025-06-01", "生活保護": True}) == 500


def test_pack_cannot_add_a_version_to_a_closed_core_decision() -> None:
    """`追加 決定` of a closed decision is DSL225; writing a whole new dated version of it is the same thing."""
    core = """入力 { 診療日: 日付; }
決定 窓口負担額: 金額 { 基準日とする 診療日; 適用期間 2023-09-01 から 2026-08-31 まで; それ以外 500円; }"""
    pack = """決定 窓口負担額: 金額 { 基準日とする 診療日; 適用期間 2026-09-01 から; それ以外 100円; }"""
    assert _errors(core, pack) != []


# --- where diagnostics point ------------------------------------------------------------------------

def test_runtime_conflict_points_into_the_rule_file() -> None:
    """DSL310 is reported as `file:line:col`; the decision's name is not a file."""
    rules = _load("""入力 { 学年: 整数; ひとり親: 真偽; }
決定 窓口負担額: 金額 {
  高学年: 学年 >= 4 のとき 500円;
  ひとり親家庭: ひとり親 のとき 0円;
}""")
    with pytest.raises(DslRuntimeError) as e:
        _evaluate(rules, "窓口負担額", {"学年": 5, "ひとり親": True})
    assert e.value.diagnostic.code == "DSL310"
    assert e.value.diagnostic.span.file == "0.rules"


def test_syntax_hint_names_the_missing_japanese_keyword() -> None:
    """Lark drops terminals whose names are not upper case (Japanese keywords) from `expected`, so the hint
    says 「式の続き」 instead of naming 「のとき」."""
    with pytest.raises(DiagnosticError) as e:
        load_rules_or_raise("入力 { 学年: 整数; }\n決定 負担: 金額 {\n  学年 >= 4 ならば 500円;\n}")
    assert "のとき" in e.value.diagnostics[0].hint


def test_syntax_hint_at_the_start_of_a_file_names_the_items() -> None:
    with pytest.raises(DiagnosticError) as e:
        load_rules_or_raise("規則 負担: 金額 { それ以外 0円; }")
    assert "決定" in e.value.diagnostics[0].hint


def load_rules_or_raise(text: str) -> RuleSet:
    rules, diagnostics = load_rules([("規則.rules", text)])
    if rules is None:
        raise DiagnosticError(diagnostics)
    return rules


# --- the in-file test runner ------------------------------------------------------------------------

def test_test_runner_reports_instead_of_raising() -> None:
    """A test over a rule that cannot evaluate fails with a message; run_tests itself never raises."""
    rules, _ = load_rules([("加算.rules", """入力 { 学年: 整数; }
表 加算: 日付 {
  判定方式 集計 合計;
  列 学年;
  | - | => 2025-04-01;
}
テスト 「日付の合計」 { 入力 学年 = 1; 期待 加算 = 2025-04-01; }""")])
    if rules is None:  # refused when loading: nothing to run
        return
    (result,) = run_tests(rules)
    assert not result.passed
