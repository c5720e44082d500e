"""Age, the day an age is reached, 18歳年度末, 学年, 年度 and month arithmetic (standard_core.dates)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standard_core.dates import (
    DateError,
    MonthOverflow,
    YearMonth,
    add_months,
    age_on,
    date_reaching_age,
    end_of_month,
    fiscal_year,
    march_31_after_reaching_age,
    months_between,
    school_entry_date,
    school_grade,
    school_grade_name,
)

D = dt.date

# (birth, on, expected age)
AGES = {
    "4/1-born-turns-6-on-3/31": (D(2019, 4, 1), D(2025, 3, 31), 6),
    "4/1-born-5-on-3/30": (D(2019, 4, 1), D(2025, 3, 30), 5),
    "4/2-born-turns-6-on-4/1": (D(2019, 4, 2), D(2025, 4, 1), 6),
    "4/2-born-5-on-3/31": (D(2019, 4, 2), D(2025, 3, 31), 5),
    "birthday-itself": (D(2000, 6, 15), D(2020, 6, 15), 20),
    "day-before-birthday": (D(2000, 6, 15), D(2020, 6, 14), 20),
    "two-days-before": (D(2000, 6, 15), D(2020, 6, 13), 19),
    "2/29-common-year-2/28": (D(2004, 2, 29), D(2005, 2, 28), 1),
    "2/29-common-year-2/27": (D(2004, 2, 29), D(2005, 2, 27), 0),
    "2/29-leap-year-2/28": (D(2004, 2, 29), D(2008, 2, 28), 4),
    "2/29-leap-year-2/27": (D(2004, 2, 29), D(2008, 2, 27), 3),
    "3/1-born-leap-year-2/29": (D(2003, 3, 1), D(2004, 2, 29), 1),
    "3/1-born-common-year-2/28": (D(2003, 3, 1), D(2005, 2, 28), 2),
    "1/1-born-12/31": (D(2000, 1, 1), D(2017, 12, 31), 18),
    "day-of-birth": (D(2025, 4, 1), D(2025, 4, 1), 0),
}


@pytest.mark.parametrize(("birth", "on", "expected"), list(AGES.values()), ids=list(AGES))
def test_age(birth: dt.date, on: dt.date, expected: int) -> None:
    assert age_on(birth, on) == expected


def test_age_before_birth_is_an_error_in_japanese() -> None:
    with pytest.raises(DateError, match="が生年月日（2020-01-01）より前です") as e:
        age_on(D(2020, 1, 1), D(2019, 12, 31))
    assert e.value.hint


REACHED = {
    "4/1-18": (D(2008, 4, 1), 18, D(2026, 3, 31)),
    "4/2-18": (D(2008, 4, 2), 18, D(2026, 4, 1)),
    "1/1-20": (D(2006, 1, 1), 20, D(2025, 12, 31)),
    "2/29-common": (D(2004, 2, 29), 1, D(2005, 2, 28)),
    "2/29-leap": (D(2004, 2, 29), 20, D(2024, 2, 28)),
    "3/1-leap-target": (D(2003, 3, 1), 21, D(2024, 2, 29)),
}


@pytest.mark.parametrize(("birth", "age", "expected"), list(REACHED.values()), ids=list(REACHED))
def test_date_reaching_age(birth: dt.date, age: int, expected: dt.date) -> None:
    assert date_reaching_age(birth, age) == expected
    assert age_on(birth, expected) == age
    assert age_on(birth, expected - dt.timedelta(days=1)) == age - 1


# 「18歳に達する日以後の最初の3月31日」 (児童手当の支給対象の終わり)
END_OF_18 = {
    "4/1-born-same-march": (D(2008, 4, 1), D(2026, 3, 31)),
    "4/2-born-next-march": (D(2008, 4, 2), D(2027, 3, 31)),
    "3/31-born": (D(2008, 3, 31), D(2026, 3, 31)),
    "1/1-born": (D(2008, 1, 1), D(2026, 3, 31)),
    "12/31-born": (D(2007, 12, 31), D(2026, 3, 31)),
    "2/29-born": (D(2008, 2, 29), D(2026, 3, 31)),
}


@pytest.mark.parametrize(("birth", "expected"), list(END_OF_18.values()), ids=list(END_OF_18))
def test_march_31_after_reaching_18(birth: dt.date, expected: dt.date) -> None:
    assert march_31_after_reaching_age(birth, 18) == expected


def test_age_zero_has_no_reaching_day() -> None:
    with pytest.raises(DateError, match="0歳に達する日"):
        date_reaching_age(D(2020, 1, 1), 0)


# (birth, on, grade) — 小1..小6 = 1..6, 中1..中3 = 7..9, 高1..高3 = 10..12, 就学前 <= 0
GRADES = {
    "4/1-born-enters-at-6": (D(2019, 4, 1), D(2025, 4, 1), 1),
    "4/2-born-waits-a-year": (D(2019, 4, 2), D(2025, 4, 1), 0),
    "4/2-born-enters-next-year": (D(2019, 4, 2), D(2026, 4, 1), 1),
    "last-day-of-year": (D(2019, 4, 1), D(2026, 3, 31), 1),
    "chu1": (D(2012, 4, 2), D(2025, 4, 1), 7),
    "chu3-march": (D(2010, 4, 2), D(2026, 3, 31), 9),
    "ko3": (D(2007, 4, 2), D(2025, 6, 1), 12),
    "after-high-school": (D(2006, 4, 2), D(2025, 6, 1), 13),
    "nencho": (D(2019, 4, 2), D(2025, 6, 1), 0),
    "nenchu": (D(2020, 4, 2), D(2025, 6, 1), -1),
    "birth-year": (D(2025, 5, 1), D(2025, 6, 1), -6),
    "0歳児クラス": (D(2025, 5, 1), D(2026, 6, 1), -5),
}


@pytest.mark.parametrize(("birth", "on", "grade"), list(GRADES.values()), ids=list(GRADES))
def test_school_grade(birth: dt.date, on: dt.date, grade: int) -> None:
    assert school_grade(birth, on) == grade


@pytest.mark.parametrize(
    ("grade", "name"),
    [(-3, "就学前"), (0, "就学前"), (1, "小学1年"), (6, "小学6年"), (7, "中学1年"), (9, "中学3年"),
     (10, "高校1年相当"), (12, "高校3年相当"), (13, "高校卒業後")],
    ids=lambda x: str(x),
)
def test_school_grade_name(grade: int, name: str) -> None:
    assert school_grade_name(grade) == name


def test_school_entry_date_follows_the_4_1_rule() -> None:
    assert school_entry_date(D(2019, 4, 1)) == D(2025, 4, 1)
    assert school_entry_date(D(2019, 4, 2)) == D(2026, 4, 1)


@pytest.mark.parametrize(
    ("date", "year"),
    [(D(2025, 4, 1), 2025), (D(2026, 3, 31), 2025), (D(2026, 1, 1), 2025), (D(2025, 3, 31), 2024)],
    ids=["april-1", "march-31", "january", "previous"],
)
def test_fiscal_year(date: dt.date, year: int) -> None:
    assert fiscal_year(date) == year


# (date, months, mode, expected or None for an error)
MONTHS = {
    "1/31+1-end": (D(2025, 1, 31), 1, MonthOverflow.END_OF_MONTH, D(2025, 2, 28)),
    "1/31+1-end-leap": (D(2024, 1, 31), 1, MonthOverflow.END_OF_MONTH, D(2024, 2, 29)),
    "1/31+1-next-first": (D(2025, 1, 31), 1, MonthOverflow.NEXT_MONTH_FIRST, D(2025, 3, 1)),
    "1/31+1-error": (D(2025, 1, 31), 1, MonthOverflow.ERROR, None),
    "3/31-1-end": (D(2025, 3, 31), -1, MonthOverflow.END_OF_MONTH, D(2025, 2, 28)),
    "5/31+1-next-first": (D(2025, 5, 31), 1, MonthOverflow.NEXT_MONTH_FIRST, D(2025, 7, 1)),
    "12/15+1-year-change": (D(2025, 12, 15), 1, MonthOverflow.ERROR, D(2026, 1, 15)),
    "1/15-1-year-change": (D(2025, 1, 15), -1, MonthOverflow.ERROR, D(2024, 12, 15)),
    "2/29+12-end": (D(2024, 2, 29), 12, MonthOverflow.END_OF_MONTH, D(2025, 2, 28)),
    "2/29+12-next-first": (D(2024, 2, 29), 12, MonthOverflow.NEXT_MONTH_FIRST, D(2025, 3, 1)),
    "zero": (D(2025, 1, 31), 0, MonthOverflow.ERROR, D(2025, 1, 31)),
}


@pytest.mark.parametrize(("date", "months", "mode", "expected"), list(MONTHS.values()), ids=list(MONTHS))
def test_add_months(date: dt.date, months: int, mode: MonthOverflow, expected: dt.date | None) -> None:
    if expected is None:
        with pytest.raises(DateError, match="2025年2月には31日がありません"):
            add_months(date, months, mode)
    else:
        assert add_months(date, months, mode) == expected


@pytest.mark.parametrize(
    ("text", "mode"),
    [("末日", MonthOverflow.END_OF_MONTH), ("end_of_month", MonthOverflow.END_OF_MONTH),
     ("翌月初日", MonthOverflow.NEXT_MONTH_FIRST), ("エラー", MonthOverflow.ERROR), ("error", MonthOverflow.ERROR)],
    ids=["末日", "end_of_month", "翌月初日", "エラー", "error"],
)
def test_month_overflow_names(text: str, mode: MonthOverflow) -> None:
    assert MonthOverflow.named(text) is mode


def test_unknown_month_overflow_is_refused_with_the_choices() -> None:
    with pytest.raises(DateError) as e:
        MonthOverflow.named("切り捨て")
    assert "「末日」" in e.value.hint


def test_year_month_arithmetic() -> None:
    assert YearMonth(2025, 12).plus(1) == YearMonth(2026, 1)
    assert YearMonth(2025, 1).plus(-13) == YearMonth(2023, 12)
    assert months_between(D(2025, 4, 1), D(2026, 3, 31)) == 11
    assert end_of_month(D(2100, 2, 1)) == D(2100, 2, 28)  # 2100 is not a leap year
    with pytest.raises(DateError):
        YearMonth(2025, 13)


# --- properties ------------------------------------------------------------------------------------------
births = st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31))
spans = st.integers(min_value=0, max_value=120 * 366)


@given(births, spans, spans)
def test_age_is_monotonic_in_the_date(birth: dt.date, a: int, b: int) -> None:
    first, second = sorted((a, b))
    assert age_on(birth, birth + dt.timedelta(days=first)) <= age_on(birth, birth + dt.timedelta(days=second))


@given(births, st.integers(min_value=1, max_value=110))
def test_age_increases_exactly_once_a_year(birth: dt.date, years_later: int) -> None:
    # Every calendar year after the birth year has exactly one day on which the age goes up, by one.
    year = birth.year + years_later
    day = D(year, 1, 1)
    steps = []
    while day.year == year:
        steps.append(age_on(birth, day) - age_on(birth, day - dt.timedelta(days=1)))
        day += dt.timedelta(days=1)
    assert sorted(set(steps)) == [0, 1]
    assert steps.count(1) == 1


@given(births, st.integers(min_value=1, max_value=110))
def test_age_is_reached_on_the_reaching_day(birth: dt.date, age: int) -> None:
    day = date_reaching_age(birth, age)
    assert age_on(birth, day) == age
    assert age_on(birth, day - dt.timedelta(days=1)) == age - 1
    end = march_31_after_reaching_age(birth, age)
    assert (end.month, end.day) == (3, 31) and day <= end < day + dt.timedelta(days=366)


@given(st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31)), st.integers(-1200, 1200),
       st.sampled_from([MonthOverflow.END_OF_MONTH, MonthOverflow.NEXT_MONTH_FIRST]))
def test_add_months_lands_in_the_target_month_or_just_after(date: dt.date, months: int, mode: MonthOverflow) -> None:
    result = add_months(date, months, mode)
    target = YearMonth.of(date).plus(months)
    if mode is MonthOverflow.END_OF_MONTH or result.day == date.day:
        assert YearMonth.of(result) == target
    else:
        assert result == target.plus(1).first_day()
