"""Golden good/bad tables for the DSL parser and type checker (tests/golden/dsl/*.golden)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from fractions import Fraction

import pytest

from dsl import DslRuntimeError, check_expression, check_script, nodes, parse_expression
from dsl.types import BOOL, DATE, INT, MONEY, RATE, TEXT, list_of, record
from standard_core.diagnostics import DiagnosticError
from tests import golden_files

# The declared inputs every golden type/eval case is checked against (documented in the files).
SCOPE = {
    "年齢": INT, "児童数": INT, "課税": BOOL, "申請日": DATE, "診療日": DATE, "負担額": MONEY,
    "上限額": MONEY, "割引率": RATE, "続柄": TEXT, "医療機関": TEXT, "通院回数": INT,
    "申請者": record("申請者", {"氏名": TEXT, "生年月日": DATE, "課税": BOOL}),
    "児童": record("児童", {"生年月日": DATE, "学年": INT}),
    "支払額一覧": list_of(MONEY),
    "受診一覧": list_of(record("受診", {"区分": TEXT, "自己負担額": MONEY, "日": DATE})),
}
DATA = {
    "年齢": 9, "児童数": 3, "課税": True, "申請日": "2025-04-01", "診療日": dt.date(2026, 9, 1), "負担額": 1234,
    "上限額": 500, "割引率": "1/3", "続柄": "子", "医療機関": "市立病院", "通院回数": 2,
    "申請者": {"氏名": "山田 太郎", "生年月日": "1990-02-28", "課税": False},
    "児童": {"生年月日": "2016-04-02", "学年": 4},
    "支払額一覧": [500, 300, 0],
    "受診一覧": [{"区分": "通院", "自己負担額": 500, "日": "2025-04-03"},
               {"区分": "入院", "自己負担額": 0, "日": "2025-04-10"},
               {"区分": "通院", "自己負担額": 300, "日": "2025-04-21"}],
}


def dump(value: object) -> str:
    """A compact, stable rendering of an AST: (Kind field...) without spans."""
    if isinstance(value, nodes.Node):
        fields = [f for f in dataclasses.fields(value) if f.name != "span"]
        inner = " ".join(dump(getattr(value, f.name)) for f in fields)
        return f"({type(value).__name__} {inner})"
    if isinstance(value, tuple):
        return "[" + " ".join(dump(v) for v in value) + "]"
    if isinstance(value, (str, dt.date, Fraction)):
        return repr(str(value)) if isinstance(value, str) else str(value)
    return repr(value)


def diagnostics(e: DiagnosticError) -> str:
    return "\n".join(d.format() for d in e.diagnostics)


PARSE_PATH, PARSE_CASES, PARSE_IDS = golden_files.params("dsl/parse.golden")


@pytest.mark.parametrize("case", PARSE_CASES, ids=PARSE_IDS)
def test_parse(case: golden_files.Case) -> None:
    """Parser table: good inputs print their AST, bad inputs their diagnostics."""
    try:
        actual = dump(parse_expression(case.input))
    except DiagnosticError as e:
        actual = diagnostics(e)
    golden_files.check(PARSE_PATH, case, actual)


TYPE_PATH, TYPE_CASES, TYPE_IDS = golden_files.params("dsl/types.golden")


@pytest.mark.parametrize("case", TYPE_CASES, ids=TYPE_IDS)
def test_types(case: golden_files.Case) -> None:
    """Type-checker table: good inputs print type and value on DATA, bad inputs their diagnostics."""
    try:
        compiled = check_expression(case.input, SCOPE)
        actual = f"{compiled.type} = {compiled.evaluate(DATA)!s}"
    except DiagnosticError as e:
        actual = diagnostics(e)
    except DslRuntimeError as e:
        actual = "実行時: " + e.diagnostic.format()
    golden_files.check(TYPE_PATH, case, actual)


SCRIPT_PATH, SCRIPT_CASES, SCRIPT_IDS = golden_files.params("dsl/scripts.golden")


@pytest.mark.parametrize("case", SCRIPT_CASES, ids=SCRIPT_IDS)
def test_scripts(case: golden_files.Case) -> None:
    """Script table: good scripts print what they assign, bad ones their diagnostics."""
    try:
        compiled = check_script(case.input, SCOPE)
        data = dict(DATA)
        compiled.run(data)
        lines = []
        for stmt in compiled.node.statements:
            value: object = data
            for part in stmt.target:
                assert isinstance(value, dict)
                value = value[part]
            lines.append(f"{'.'.join(stmt.target)} = {value}")
        actual = "\n".join(lines) + "\n型: " + "、".join(f"{n}={t}" for n, t in compiled.assigned.items())
    except DiagnosticError as e:
        actual = diagnostics(e)
    golden_files.check(SCRIPT_PATH, case, actual)


def test_expected_type_is_enforced() -> None:
    with pytest.raises(DiagnosticError) as e:
        check_expression("年齢 + 1", SCOPE, expected=BOOL)
    assert [d.code for d in e.value.diagnostics] == ["DSL209"]


def test_rounding_must_be_named_where_money_is_expected() -> None:
    with pytest.raises(DiagnosticError) as e:
        check_expression("負担額 * 割引率", SCOPE, expected=MONEY)
    assert [d.code for d in e.value.diagnostics] == ["DSL210"]
    assert check_expression("切り捨て(負担額 * 割引率)", SCOPE, expected=MONEY).evaluate(DATA) == 411
