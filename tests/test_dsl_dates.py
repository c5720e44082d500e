"""Date and calendar functions in the DSL, the built-in 基準日 and the evaluation context."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dsl import DslRuntimeError, EvalContext, check_expression, check_script
from dsl.date_functions import DATE_FUNCTIONS
from dsl.functions import BUILTINS
from dsl.types import DATE
from standard_core.diagnostics import DiagnosticError
from standard_core.municipal_calendar import CalendarSettings, LocalHoliday, MonthDay, MunicipalCalendar

D = dt.date
OKINAWA = MunicipalCalendar.layered(
    "沖縄県", [CalendarSettings("470007-okinawa", local_holidays=(LocalHoliday(MonthDay(6, 23), "慰霊の日", "条例"),))]
)
CONTEXT = EvalContext(on=D(2026, 3, 31), calendar=OKINAWA)


def evaluate(text: str, context: EvalContext | None = CONTEXT) -> object:
    return check_expression(text, {}).evaluate({}, context)


VALUES = {
    "age-4-1": ("年齢(2008-04-01, 2026-03-31)", 18),
    "age-4-2": ("年齢(2008-04-02, 2026-03-31)", 17),
    "age-alias": ("満年齢(2004-02-29, 2005-02-28)", 1),
    "age-reference-date": ("年齢(2008-04-01, 基準日)", 18),
    "reached": ("到達日(2008-04-02, 18)", D(2026, 4, 1)),
    "end-of-18-4-1": ("年度末到達日(2008-04-01, 18)", D(2026, 3, 31)),
    "end-of-18-4-2": ("年度末到達日(2008-04-02, 18)", D(2027, 3, 31)),
    "grade": ("学年(2019-04-01, 2025-04-01)", 1),
    "grade-name": ("学年名(2012-04-02, 2025-04-01)", "中学1年"),
    "school-entry": ("小学校入学日(2019-04-02)", D(2026, 4, 1)),
    "fiscal-year": ("年度(2026-03-31)", 2025),
    "fiscal-year-start": ("年度初日(2026-03-31)", D(2025, 4, 1)),
    "fiscal-year-end": ("年度末日(令和7年4月1日)", D(2026, 3, 31)),
    "add-months-end": ("月加算(2025-01-31, 1, 「末日」)", D(2025, 2, 28)),
    "add-months-next": ("月加算(2025-01-31, 1, 「翌月初日」)", D(2025, 3, 1)),
    "add-months-ascii": ("add_months(2025-01-31, 1, 「end_of_month」)", D(2025, 2, 28)),
    "month-bounds": ("[月初日(2024-02-15), 月末日(2024-02-15)]", (D(2024, 2, 1), D(2024, 2, 29))),
    "months-between": ("年月差(2025-04-30, 2026-03-01)", 11),
    "wareki": ("和暦(2019-05-01)", "令和元年5月1日"),
    "wareki-showa-64": ("和暦(1989-01-07)", "昭和64年1月7日"),
    "parse-full-width": ("和暦日付(「Ｒ７．４．１」)", D(2025, 4, 1)),
    "parse-h31": ("parse_date(「H31.4.30」)", D(2019, 4, 30)),
    "holiday": ("祝日か(2026-09-22)", True),
    "open": ("開庁日か(2026-06-22)", True),
    "closed-local": ("開庁日か(2026-06-23)", False),
    "closed-reason": ("休日名(2026-06-23)", "慰霊の日"),
    "open-reason-empty": ("休日名(2026-06-22)", ""),
    "next-open": ("次の開庁日(2025-12-27)", D(2026, 1, 5)),
    "previous-open": ("前の開庁日(2026-01-04)", D(2025, 12, 26)),
    "add-open-days": ("開庁日後(2026-09-18, 1)", D(2026, 9, 24)),
    "open-days-between": ("開庁日数(2026-09-18, 2026-09-24)", 1),
    "deadline": ("期限日(2025-12-20, 14)", D(2026, 1, 5)),
    "deadline-local": ("期限日(2026-06-09, 14)", D(2026, 6, 24)),
    "payday": ("支払日(2026-06-23)", D(2026, 6, 22)),
    "reference-date": ("基準日", D(2026, 3, 31)),
    "reference-date-alias": ("reference_date = 2026-03-31", True),
}


@pytest.mark.parametrize(("text", "expected"), list(VALUES.values()), ids=list(VALUES))
def test_values(text: str, expected: object) -> None:
    assert evaluate(text) == expected


def runtime_code(text: str, context: EvalContext | None) -> str:
    with pytest.raises(DslRuntimeError) as e:
        evaluate(text, context)
    assert e.value.diagnostic.hint
    return e.value.diagnostic.code


@pytest.mark.parametrize(
    ("text", "context", "code"),
    [
        ("開庁日か(2026-06-23)", None, "DSL305"),
        ("期限日(2025-12-20, 14)", EvalContext(on=D(2026, 1, 1)), "DSL305"),
        ("基準日", None, "DSL305"),
        ("基準日", EvalContext(calendar=OKINAWA), "DSL305"),
        ("開庁日か(2028-01-04)", CONTEXT, "DSL306"),
        ("祝日か(1948-07-19)", CONTEXT, "DSL306"),
        ("期限日(2027-12-25, 14)", CONTEXT, "DSL306"),
        ("月加算(2025-01-31, 1, 「エラー」)", CONTEXT, "DSL304"),
        ("年齢(2026-04-01, 2026-03-31)", CONTEXT, "DSL304"),
        ("到達日(2000-01-01, 0)", CONTEXT, "DSL304"),
        ("期限日(2026-04-01, 0)", CONTEXT, "DSL304"),
    ],
    ids=["no-calendar", "context-without-calendar", "no-reference-date", "context-without-date", "2028",
         "before-the-law", "deadline-runs-off", "month-overflow-error", "age-before-birth", "age-0", "deadline-0"],
)
def test_runtime_diagnostics(text: str, context: EvalContext | None, code: str) -> None:
    assert runtime_code(text, context) == code


@pytest.mark.parametrize(
    ("text", "code", "column"),
    [
        ("和暦日付(「令和元年4月1日」)", "DSL109", 6),
        ("和暦日付(「平成32年1月1日」)", "DSL109", 6),
        ("和暦日付(「あした」)", "DSL109", 6),
        ("月加算(2025-01-31, 1, 「まつ」)", "DSL214", 20),
        ("月加算(2025-01-31, 1)", "DSL204", 1),
        ("開庁日か(「2026-01-01」)", "DSL205", 1),
        ("基準日x", "DSL201", 1),
    ],
    ids=["reiwa-before-start", "heisei-32", "unreadable", "bad-mode", "mode-missing", "text-not-date", "typo"],
)
def test_load_time_diagnostics(text: str, code: str, column: int) -> None:
    with pytest.raises(DiagnosticError) as e:
        check_expression(text, {})
    (d,) = e.value.diagnostics
    assert (d.code, d.span.column) == (code, column)
    assert d.hint


def test_wareki_literal_hint_names_the_right_era() -> None:
    with pytest.raises(DiagnosticError) as e:
        check_expression("和暦日付(「平成32年1月1日」)", {})
    assert "令和2年1月1日" in e.value.diagnostics[0].hint


def test_a_mode_in_a_variable_is_checked_when_it_runs() -> None:
    expression = check_expression("月加算(2025-01-31, 1, 方法)", {"方法": check_expression("「」", {}).type})
    assert expression.evaluate({"方法": "末日"}) == D(2025, 2, 28)
    with pytest.raises(DslRuntimeError) as e:
        expression.evaluate({"方法": "まつ"})
    assert e.value.diagnostic.code == "DSL304"


def test_declared_reference_date_wins_over_the_builtin() -> None:
    expression = check_expression("年齢(2008-04-01, 基準日)", {"基準日": DATE})
    assert expression.evaluate({"基準日": "2020-04-01"}, CONTEXT) == 12


def test_existing_callers_without_context_still_work() -> None:
    assert check_expression("年齢(2008-04-01, 申請日)", {"申請日": DATE}).evaluate({"申請日": "2026-03-31"}) == 18


def test_scripts_take_the_context() -> None:
    script = check_script("期限 := 期限日(転入日, 14)\n基準 := 基準日", {"転入日": DATE})
    data: dict[str, object] = {"転入日": "2025-12-20"}
    script.run(data, CONTEXT)
    assert data == {"転入日": "2025-12-20", "期限": "2026-01-05", "基準": "2026-03-31"}
    untouched: dict[str, object] = {"転入日": "2025-12-20"}
    with pytest.raises(DslRuntimeError):
        script.run(untouched)
    assert untouched == {"転入日": "2025-12-20"}


def test_every_builtin_name_is_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "dsl.md").read_text(encoding="utf-8")
    for builtin in BUILTINS:
        assert f"| {builtin.name} |" in doc
        assert all(f"`{alias}`" in doc for alias in builtin.aliases)


def test_every_date_function_is_in_dates_md() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "dates.md").read_text(encoding="utf-8")
    assert [f.name for f in DATE_FUNCTIONS if f"`{f.name}(" not in doc] == []
