"""Properties of rule files that must hold for any input: the parser and the loader only ever report
diagnostics, each positioned inside its file; decisions whose cases are disjoint never conflict; the
in-file test runner reports, never raises."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dsl.errors import DslRuntimeError
from dsl.rules.build import parse_rules
from dsl.rules.load import load_rules
from dsl.rules.runtime import RuleRuntime
from dsl.rules.testing import run_tests
from standard_core.diagnostics import Diagnostic, DiagnosticError

GRAMMAR = Path(__file__).parent.parent / "dsl" / "grammar.lark"
# Every quoted keyword of the grammar (rule-file keywords included), so the fuzzer reaches deep states.
KEYWORDS = sorted(set(re.findall(r'"([^"\s]+)"', GRAMMAR.read_text(encoding="utf-8"))))
FRAGMENTS = [
    *KEYWORDS, "パラメータ", "決定", "開放", "追加", "表", "数え方", "テスト", "入力", "型", "列挙",
    "窓口負担額", "学年", "診療日", "世帯課税", "非課税", "家族", "生年月日", "高学年", "金額", "整数", "日付",
    "真偽", "児童の一覧", "{", "}", "(", ")", "[", "]", "|", ";", ":", ",", "=>", "⇒", "..", "-", ">=", "<", "=",
    "500円", "0円", "15,000円", "4", "10%", "1.5", "2023-09-01", "2026-09-01", "2023-02-30", "令和8年9月1日",
    "「規則第5条」", "「", "」", '"', "\uff14", "\u3000", " ", "\n", "\t", "#", "__class__", "&&", "$",
]
fragments = st.sampled_from(FRAGMENTS)
texts = st.one_of(
    st.text(max_size=80),
    st.lists(fragments, max_size=40).map("".join),
    st.lists(fragments, max_size=40).map(" ".join),
)
SETTINGS = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def _assert_positioned(diagnostics: tuple[Diagnostic, ...] | list[Diagnostic], files: dict[str, str]) -> None:
    for d in diagnostics:
        assert re.fullmatch(r"DSL[0-9]{3}", d.code), d
        assert d.span.file in files, d
        lines = files[d.span.file].split("\n")
        assert 1 <= d.span.line <= len(lines), (d, files[d.span.file])
        # The column may be just after the last character: the end of the input.
        assert 1 <= d.span.column <= len(lines[d.span.line - 1]) + 1, (d, files[d.span.file])
        assert d.message and d.hint, d
        d.format()


@SETTINGS
@given(texts)
def test_rule_parser_raises_only_positioned_diagnostics(text: str) -> None:
    try:
        parse_rules(text, "規則.rules")
    except DiagnosticError as e:
        assert e.diagnostics
        _assert_positioned(e.diagnostics, {"規則.rules": text})


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=3))
def test_loader_returns_only_positioned_diagnostics(sources: list[str]) -> None:
    files = {f"layer{i}.rules": text for i, text in enumerate(sources)}
    rules, diagnostics = load_rules(list(files.items()))
    assert rules is not None or any(d.is_error for d in diagnostics)
    _assert_positioned(diagnostics, files)


# Rule files built from the grammar's constructs with random parts: they load more often than token
# soups, so the loader's later passes (types, versions, exceptions, cycles, tables) see random input too.
_NAMES = st.sampled_from(["学年", "世帯課税", "診療日", "負担", "上限", "区分", "甲", "乙", "未宣言"])
_VALUES = st.sampled_from(["500円", "0円", "4", "真", "非課税", "2026-09-01", "学年", "上限", "負担", "甲",
                           "最小(上限, 500円)", "学年 + 1", "「文字」"])
_CONDITIONS = st.sampled_from(["学年 >= 4", "学年 < 4", "世帯課税 = 非課税", "真", "学年 in [1, 2]", "甲 > 1",
                               "診療日 >= 2026-09-01", "学年"])
_TYPES = st.sampled_from(["金額", "整数", "真偽", "課税区分", "日付", "金額額"])


@st.composite
def _case(draw: st.DrawFn) -> str:
    label = draw(st.sampled_from(["", "高学年: ", "低学年: ", "例外: ", "非課税 例外 高学年: ", "例外 低学年: ",
                                  "例外 未定義: "]))
    if draw(st.booleans()):
        return f"  それ以外 {draw(_VALUES)};"
    return f"  {label}{draw(_CONDITIONS)} のとき {draw(_VALUES)};"


@st.composite
def _item(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["decision", "open", "extension", "table", "parameter", "test"]))
    name, t = draw(_NAMES), draw(_TYPES)
    if kind in ("decision", "open"):
        settings_ = draw(st.lists(st.sampled_from(["  基準日とする 診療日;", "  基準日とする 学年;",
                                                   "  適用期間 2023-09-01 から;", "  出典「規則」;"]), max_size=2))
        cases = draw(st.lists(_case(), max_size=4))
        prefix = "開放 " if kind == "open" else ""
        return "\n".join([f"{prefix}決定 {name}: {t} {{", *settings_, *cases, "}"])
    if kind == "extension":
        return "\n".join([f"追加 決定 {name} {{", *draw(st.lists(_case(), max_size=2)), "}"])
    if kind == "table":
        policy = draw(st.sampled_from(["一意", "いずれか", "最初", "集計 合計", "集計 件数", "規則順", "優先 [0円]"]))
        cells = st.sampled_from(["-", "[0 .. 4)", "(3 .. 6]", ">= 4", "1, 2", "学年"])
        rows = [f"  | {draw(cells)} | => {draw(_VALUES)};" for _ in range(draw(st.integers(0, 3)))]
        return "\n".join([f"表 {name}: {t} {{", f"  判定方式 {policy};", "  列 学年;", *rows, "}"])
    if kind == "parameter":
        starts = draw(st.lists(st.sampled_from(["2023-09-01 から", "2023-09-01 から 2026-08-31 まで",
                                                "2026-09-01 から"]), max_size=3))
        return "\n".join([f"パラメータ {name}: {t} {{", *[f"  {s} {draw(_VALUES)};" for s in starts], "}"])
    expects = draw(st.lists(st.sampled_from([f"期待 {name} = {draw(_VALUES)};", f"期待 {name} は 衝突;",
                                             f"期待 {name} は 空;", "期待 学年 >= 4;"]), max_size=2))
    givens = draw(st.lists(st.sampled_from(["入力 学年 = 5;", "入力 世帯課税 = 非課税;", "入力 診療日 = 2026-09-01;",
                                            "入力 学年 = 「5」;"]), max_size=3))
    at = draw(st.sampled_from(["", "時点 2025-06-01;"]))
    return "\n".join(["テスト 「生成」 {", at, *givens, *expects, "}"])


PRELUDE = "列挙 課税区分 { 課税, 非課税 }\n入力 { 学年: 整数; 世帯課税: 課税区分; 診療日: 日付; }\n"
rule_files = st.lists(_item(), max_size=5).map(lambda items: PRELUDE + "\n".join(items))


@SETTINGS
@given(st.lists(rule_files, min_size=1, max_size=2))
def test_generated_rule_files_load_with_positioned_diagnostics(sources: list[str]) -> None:
    files = {f"layer{i}.rules": text for i, text in enumerate(sources)}
    rules, diagnostics = load_rules(list(files.items()))
    _assert_positioned(diagnostics, files)
    assert (rules is None) == any(d.is_error for d in diagnostics)


# --- default logic: disjoint cases never conflict ----------------------------------------------------

@st.composite
def _disjoint_decision(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, int]], int | None]:
    """A decision over 学年 whose cases are disjoint half-open intervals [low, high) with random values."""
    cuts = sorted(draw(st.sets(st.integers(-5, 20), min_size=2, max_size=8)))
    intervals = []
    for low, high in itertools.pairwise(cuts):
        if draw(st.booleans()):  # leave some gaps
            intervals.append((low, high, draw(st.integers(0, 3)) * 100))
    otherwise = draw(st.one_of(st.none(), st.integers(0, 3).map(lambda n: n * 100)))
    lines = ["入力 { 学年: 整数; }", "決定 負担: 金額 {"]
    for i, (low, high, value) in enumerate(intervals):
        shape = draw(st.sampled_from(["{l} <= 学年 かつ 学年 < {h}", "学年 >= {l} かつ 学年 < {h}",
                                      "学年 >= {l} かつ not (学年 >= {h})"]))
        condition = shape.format(l=low, h=high)
        lines.append(f"  場合{i}: {condition} のとき {value}円;")
    if otherwise is not None:
        lines.append(f"  それ以外 {otherwise}円;")
    lines.append("}")
    return "\n".join(lines), intervals, otherwise


@SETTINGS
@given(_disjoint_decision(), st.integers(-10, 25))
def test_disjoint_cases_never_conflict(decision: tuple[str, list[tuple[int, int, int]], int | None],
                                       grade: int) -> None:
    text, intervals, otherwise = decision
    rules, diagnostics = load_rules([("負担.rules", text)])
    assert rules is not None, [d.format() for d in diagnostics]
    assert [d.code for d in diagnostics] == []  # disjoint cases: no DSL231 overlap warning either
    expected = next((value for low, high, value in intervals if low <= grade < high), otherwise)
    try:
        value, trace = RuleRuntime(rules, {"学年": grade}, on=None, calendar=None).evaluate("負担")
    except DslRuntimeError as e:
        assert e.diagnostic.code == "DSL311" and expected is None, e.diagnostic.format()
        return
    assert value == expected
    assert len(trace["applied"]) == 1


# --- the in-file test runner --------------------------------------------------------------------------

KAWASAKI = """パラメータ 上限: 金額 {
  2023-09-01 から 2026-08-31 まで 500円 出典「川崎市小児医療費助成条例施行規則」;
  2026-09-01 から 0円 出典「川崎市 2026年9月からの拡充」;
}
列挙 課税区分 { 課税, 非課税 }
型 児童 { 生年月日: 日付; 生計費負担: 真偽; }
入力 { 診療日: 日付; 学年: 整数; 世帯課税: 課税区分; 保険診療負担額: 金額; 家族: 児童の一覧; }
数え方 多子: 児童 { 数える 生計費負担; 並び順 生年月日; }
開放 決定 窓口負担額: 金額 {
  基準日とする 診療日;
  高学年: 学年 >= 4 のとき 最小(上限, 保険診療負担額);
  低学年: 学年 < 4 のとき 0円;
  非課税 例外 高学年: 世帯課税 = 非課税 のとき 0円;
  多子: 学年 >= 4 かつ 件数(多子, 家族) >= 3 のとき 0円;
}
表 区分: 金額 {
  判定方式 一意;
  列 学年;
  | [0 .. 4) | => 0円;
  | [4 .. 10) | => 上限;
}
"""
_GIVENS = st.sampled_from([
    "診療日 = 2025-06-01", "診療日 = 2026-09-01", "診療日 = 2023-08-31", "学年 = 2", "学年 = 4", "学年 = 12",
    "学年 = -1", "世帯課税 = 課税", "世帯課税 = 非課税", "保険診療負担額 = 0円", "保険診療負担額 = 1,200円",
    "家族 = []", "家族 = [{生年月日: 2015-04-02, 生計費負担: 真}]",
    "家族 = [{生年月日: 2015-04-02, 生計費負担: 真}, {生年月日: 2016-04-02, 生計費負担: 真}, "
    "{生年月日: 2017-04-02, 生計費負担: 真}]",
])
_EXPECTS = st.sampled_from([
    "窓口負担額 = 500円", "窓口負担額 = 0円", "窓口負担額 は 衝突", "窓口負担額 は 空", "窓口負担額 は エラー",
    "区分 = 500円", "区分 は 空", "区分 は 衝突", "上限 = 0円", "件数(多子, 家族) = 1", "学年 >= 4",
    "件数(家族 のうち 生計費負担) = 3", "(家族 ごとの 生計費負担) = [真]",
])


@st.composite
def _tests(draw: st.DrawFn) -> str:
    blocks = []
    for i in range(draw(st.integers(1, 4))):
        at = draw(st.sampled_from(["", "  時点 2025-06-01;", "  時点 2026-10-01;"]))
        givens = draw(st.lists(_GIVENS, max_size=6, unique_by=lambda g: g.split(" = ")[0]))
        given_line = f"  入力 {', '.join(givens)};" if givens else ""
        expects = [f"  期待 {e};" for e in draw(st.lists(_EXPECTS, min_size=1, max_size=3))]
        blocks.append("\n".join([f"テスト 「生成{i}」 {{", at, given_line, *expects, "}"]))
    return "\n".join(blocks)


@SETTINGS
@given(_tests())
def test_test_runner_never_raises(tests: str) -> None:
    rules, _diagnostics = load_rules([("kawasaki.rules", KAWASAKI + tests)])
    assume(rules is not None)
    assert rules is not None
    results = run_tests(rules)
    assert len(results) == len(rules.tests)
    for result in results:
        assert result.passed == (not result.failures)
        assert all(isinstance(f, str) and f for f in result.failures)
