"""Properties of the DSL front end that must hold for any input, and behaviours tables can't show."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import DslRuntimeError, check_expression, check_script, parse_expression, parse_script
from dsl.types import BOOL, DATE, INT, MONEY
from standard_core.diagnostics import Diagnostic, DiagnosticError

# Text that looks like rules: the DSL's own alphabet, keywords, Japanese, full-width forms, and
# Python fragments, so the fuzzer reaches deep parser states rather than failing on the first char.
FRAGMENTS = [
    "年齢", "課税", "申請者", ".", "生年月日", "(", ")", "[", "]", ",", "+", "-", "*", "/", "×", "=", "==", "!=",
    "<", "<=", ">", ">=", "≠", "かつ", "または", "not", "in", "if", "then", "else", "もし", "ならば", "でなければ",
    "真", "偽", "true", "1", "0", "15,000円", "500円", "10%", "1.5", "2025-04-01", "令和7年4月1日", "令和元年4月1日",
    "「", "」", '"', "\uff11", "\uff21", "\u3000", " ", "\n", "#", "__class__", "import", ":=", "←", "&&", "!", "$", "\t",
]
texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map(" ".join),
)


def _assert_well_formed(diagnostics: tuple[Diagnostic, ...], text: str) -> None:
    assert diagnostics, "a DiagnosticError must carry at least one diagnostic"
    lines = text.split("\n")
    for d in diagnostics:
        assert d.code.startswith("DSL") and len(d.code) == 6
        assert d.span.line >= 1 and d.span.column >= 1
        assert d.span.line <= len(lines), (d, text)
        assert d.span.column <= len(lines[d.span.line - 1]) + 1, (d, text)
        assert d.message and d.hint
        d.format()  # rendering (with the caret) never fails either


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts)
def test_expression_parser_raises_only_diagnostics(text: str) -> None:
    try:
        parse_expression(text)
    except DiagnosticError as e:
        _assert_well_formed(e.diagnostics, text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts)
def test_script_parser_raises_only_diagnostics(text: str) -> None:
    try:
        parse_script(text)
    except DiagnosticError as e:
        _assert_well_formed(e.diagnostics, text)


SCOPE = {"年齢": INT, "課税": BOOL, "申請日": DATE, "負担額": MONEY}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts)
def test_checker_and_runtime_raise_only_diagnostics(text: str) -> None:
    """Whatever parses is checked; whatever checks runs, or fails with a DSL3xx diagnostic."""
    try:
        compiled = check_expression(text, SCOPE)
    except DiagnosticError as e:
        _assert_well_formed(e.diagnostics, text)
        return
    try:
        compiled.evaluate({"年齢": 7, "課税": False, "申請日": "2025-04-01", "負担額": 300})
    except DslRuntimeError as e:
        assert e.diagnostic.code.startswith("DSL3")


FULL_WIDTH = ["年齢 >= \uff11\uff18", "\uff11", "\uff32\uff17", "令和\uff17年\uff14月\uff11日"]


@pytest.mark.parametrize("text", FULL_WIDTH, ids=["digit", "lone", "latin", "wareki"])
def test_full_width_digits_are_refused_in_rules(text: str) -> None:
    """Decision: rules use ASCII digits only, so a reviewer reads exactly what runs (forms may differ)."""
    with pytest.raises(DiagnosticError) as e:
        parse_expression(text)
    assert e.value.diagnostics[0].code == "DSL103"


def test_end_of_input_position_is_after_last_token() -> None:
    with pytest.raises(DiagnosticError) as e:
        parse_expression("年齢 >=\n\n  ")
    d = e.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("DSL102", 1, 6)


def test_caret_counts_wide_characters_as_two_columns() -> None:
    with pytest.raises(DiagnosticError) as e:
        parse_expression("申請者 $")
    rendered = e.value.diagnostics[0].format().split("\n")
    assert rendered[2] == "    " + " " * 7 + "^"  # 申請者 = 6 columns, then a space


def test_script_is_all_or_nothing() -> None:
    script = check_script("a := 1\nb := 年齢 / (年齢 - 年齢)\n", {"年齢": INT})
    data: dict[str, object] = {"年齢": 3}
    with pytest.raises(DslRuntimeError):
        script.run(data)
    assert data == {"年齢": 3}


def test_missing_and_malformed_inputs_are_runtime_diagnostics() -> None:
    compiled = check_expression("申請日 >= 2025-04-01", {"申請日": DATE})
    with pytest.raises(DslRuntimeError) as missing:
        compiled.evaluate({})
    assert missing.value.diagnostic.code == "DSL301"
    with pytest.raises(DslRuntimeError) as malformed:
        compiled.evaluate({"申請日": "令和7年4月1日"})
    assert malformed.value.diagnostic.code == "DSL302"
    assert compiled.evaluate({"申請日": "2025-04-01"}) is True


def test_field_access_reads_mappings_only() -> None:
    """Field access indexes dictionaries; it can never reach a Python attribute of a value."""
    from dsl.types import TEXT, record

    compiled = check_expression("人.氏名", {"人": record("人", {"氏名": TEXT})})
    with pytest.raises(DslRuntimeError) as e:
        compiled.evaluate({"人": "文字列は記録ではない"})
    assert e.value.diagnostic.code == "DSL302"


def test_every_function_is_documented() -> None:
    from pathlib import Path

    from dsl.functions import FUNCTIONS

    doc = (Path(__file__).parent.parent / "docs" / "dsl.md").read_text(encoding="utf-8")
    missing = [f.name for f in FUNCTIONS if f"| {f.name} " not in doc and f" {f.name} /" not in doc
               and f"/ {f.name} |" not in doc]
    missing += [a for f in FUNCTIONS for a in f.aliases if f"`{a}`" not in doc]
    assert missing == []
