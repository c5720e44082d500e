"""Dates with a legal meaning: age, the day an age is reached, 年度, 学年 and month arithmetic.

Ordinary date libraries get these wrong because Japanese law counts an age as reached at the end of the
day *before* the birthday (年齢計算ニ関スル法律, 民法143条), and because a month added to 1月31日 has no
corresponding day. Every function here names its legal source; the examples run as tests
(tests/test_standard_core_doctests.py). Holidays and open days live in standard_core.holidays and
standard_core.municipal_calendar, 和暦 in standard_core.wareki.
"""

from __future__ import annotations

import calendar as _gregorian
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from standard_core.diagnostics import Diagnostic, Span, error

AGE_LAW = "年齢計算ニ関スル法律（明治35年法律第50号）、民法143条"
SCHOOL_LAW = "学校教育法17条1項、学校教育法施行規則59条"


class DateError(ValueError):
    """A date computation or input that has no answer; `message` and `hint` are Japanese.

    The core raises it; each layer turns it into a Diagnostic with its own code and span.
    """

    def __init__(self, message: str, hint: str = "", reference: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.reference = reference

    def diagnostic(self, code: str, span: Span) -> Diagnostic:
        """The error as a diagnostic at `span`.

        >>> DateError("日付が読めません", "例: 2025-04-01").diagnostic("DSL304", Span("<式>", 1, 1)).hint
        '例: 2025-04-01'
        """
        return error(code, self.message, span, self.hint, self.reference)


# --- age -------------------------------------------------------------------------------------------------
def age_on(birth_date: dt.date, on: dt.date) -> int:
    """満年齢 on the date `on` (年齢計算ニ関スル法律, 民法143条).

    Counting starts on the day of birth (年齢計算ニ関スル法律1項), and age n is reached at the end of the
    day before the n-th birthday, so on that day the person is already n. For a 2月29日 birth the
    day before the birthday in a common year is 2月28日 (民法143条2項: no corresponding day → end of
    that month).

    >>> age_on(dt.date(2000, 4, 1), dt.date(2006, 3, 31))
    6
    >>> age_on(dt.date(2000, 4, 2), dt.date(2006, 3, 31))
    5
    >>> age_on(dt.date(2004, 2, 29), dt.date(2005, 2, 28))
    1
    >>> age_on(dt.date(2004, 2, 29), dt.date(2005, 2, 27))
    0
    """
    if on < birth_date:
        raise DateError(
            f"基準日（{on.isoformat()}）が生年月日（{birth_date.isoformat()}）より前です",
            "生年月日と基準日を取り違えていないか確かめてください（年齢(生年月日, 基準日) の順）。",
            AGE_LAW,
        )
    # Being n on `on` means the day after `on` is at or past the n-th birthday.
    nxt = on + dt.timedelta(days=1)
    years = nxt.year - birth_date.year
    if (nxt.month, nxt.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def date_reaching_age(birth_date: dt.date, age: int) -> dt.date:
    """The day on which age `age` is reached: 「n歳に達する日」 (年齢計算ニ関スル法律, 民法143条).

    That is the day before the n-th birthday. Born 4月1日 → 3月31日; born 2月29日 → 2月28日 in every
    year (in a common year 民法143条2項 ends the period on the last day of February; in a leap year the
    day before 2月29日 is 2月28日 too).

    >>> date_reaching_age(dt.date(2008, 4, 1), 18)
    datetime.date(2026, 3, 31)
    >>> date_reaching_age(dt.date(2008, 4, 2), 18)
    datetime.date(2026, 4, 1)
    >>> date_reaching_age(dt.date(2004, 2, 29), 1), date_reaching_age(dt.date(2004, 2, 29), 4)
    (datetime.date(2005, 2, 28), datetime.date(2008, 2, 28))
    """
    if age < 1:
        raise DateError(
            f"{age}歳に達する日はありません（1歳以上を指定します）",
            "到達日(生年月日, n) の n には 1 以上の年齢を書いてください。",
            AGE_LAW,
        )
    year = birth_date.year + age
    if year > dt.MAXYEAR:
        raise DateError(f"{age}歳に達する日は扱える範囲（{dt.MAXYEAR}年）を超えます", "年齢を確かめてください。")
    if birth_date.month == 2 and birth_date.day == 29 and not _gregorian.isleap(year):
        return dt.date(year, 2, 28)
    return dt.date(year, birth_date.month, birth_date.day) - dt.timedelta(days=1)


def first_march_31_on_or_after(date: dt.date) -> dt.date:
    """The first 3月31日 on or after `date`: the end of the 年度 containing it (地方自治法208条1項).

    >>> first_march_31_on_or_after(dt.date(2026, 3, 31)), first_march_31_on_or_after(dt.date(2026, 4, 1))
    (datetime.date(2026, 3, 31), datetime.date(2027, 3, 31))
    """
    return dt.date(fiscal_year(date) + 1, 3, 31)


def march_31_after_reaching_age(birth_date: dt.date, age: int) -> dt.date:
    """「n歳に達する日以後の最初の3月31日」 (児童手当法4条1項等で使う年度末の到達日).

    Take date_reaching_age, then the first 3月31日 on or after it. Born 4月1日 reaches 18 on 3月31日,
    which is itself the answer; born 4月2日 reaches 18 on 4月1日, so the answer is the next 3月31日.

    >>> march_31_after_reaching_age(dt.date(2008, 4, 1), 18)
    datetime.date(2026, 3, 31)
    >>> march_31_after_reaching_age(dt.date(2008, 4, 2), 18)
    datetime.date(2027, 3, 31)
    """
    return first_march_31_on_or_after(date_reaching_age(birth_date, age))


# --- 年度 and 学年 ----------------------------------------------------------------------------------------
def fiscal_year(date: dt.date) -> int:
    """年度 (4月1日〜翌年3月31日; 地方自治法208条1項) as the Gregorian year it starts in.

    >>> fiscal_year(dt.date(2026, 3, 31)), fiscal_year(dt.date(2026, 4, 1))
    (2025, 2026)
    """
    return date.year if date.month >= 4 else date.year - 1


def fiscal_year_start(date: dt.date) -> dt.date:
    """4月1日 of the 年度 containing `date` (地方自治法208条1項).

    >>> fiscal_year_start(dt.date(2026, 2, 10))
    datetime.date(2025, 4, 1)
    """
    return dt.date(fiscal_year(date), 4, 1)


def fiscal_year_end(date: dt.date) -> dt.date:
    """3月31日 of the 年度 containing `date` (地方自治法208条1項).

    >>> fiscal_year_end(dt.date(2025, 4, 1))
    datetime.date(2026, 3, 31)
    """
    return first_march_31_on_or_after(date)


def school_entry_date(birth_date: dt.date) -> dt.date:
    """The day a child enters 小学校 (学校教育法17条1項, 学校教育法施行規則59条).

    「満6歳に達した日の翌日以後における最初の学年の初め」, the school year starting on 4月1日. Born 4月1日
    reaches 6 on 3月31日, so enters the next day; born 4月2日 enters a year later (早生まれ).

    >>> school_entry_date(dt.date(2019, 4, 1)), school_entry_date(dt.date(2019, 4, 2))
    (datetime.date(2025, 4, 1), datetime.date(2026, 4, 1))
    """
    reached = date_reaching_age(birth_date, 6)
    return dt.date(fiscal_year(reached) + 1, 4, 1)


def school_grade(birth_date: dt.date, on: dt.date) -> int:
    """学年 on `on` by age, as an integer (学校教育法17条, 学校教育法施行規則59条).

    Numbering (fixed, documented in docs/dates.md): 小学1〜6年 = 1〜6, 中学1〜3年 = 7〜9,
    高校1〜3年相当 = 10〜12, and 13, 14, … for each later year. 0 is the 年度 before 小学校
    (年長・5歳児クラス相当), -1 the one before it, and so on. It is the grade a child of that age
    belongs to (学齢), not a record of actual attendance.

    >>> school_grade(dt.date(2019, 4, 1), dt.date(2025, 4, 1))
    1
    >>> school_grade(dt.date(2019, 4, 2), dt.date(2025, 4, 1))
    0
    >>> school_grade(dt.date(2010, 4, 2), dt.date(2026, 3, 31))
    9
    """
    return fiscal_year(on) - fiscal_year(school_entry_date(birth_date)) + 1


def school_grade_name(grade: int) -> str:
    """The Japanese name of a grade number from school_grade (学校教育法: 小学校6年・中学校3年; 高校は相当).

    >>> [school_grade_name(g) for g in (0, 1, 7, 12, 13)]
    ['就学前', '小学1年', '中学1年', '高校3年相当', '高校卒業後']
    """
    if grade <= 0:
        return "就学前"
    if grade <= 6:
        return f"小学{grade}年"
    if grade <= 9:
        return f"中学{grade - 6}年"
    if grade <= 12:
        return f"高校{grade - 9}年相当"
    return "高校卒業後"


# --- months ---------------------------------------------------------------------------------------------
class MonthOverflow(StrEnum):
    """What to do when a month is added to a day the target month does not have (1月31日 + 1か月).

    There is no default: every caller names one.

    - 末日 (END_OF_MONTH): the last day of the target month — 民法143条2項 (「最後の月に応当する日が
      ないときは、その月の末日に満了する」). 1月31日 + 1か月 = 2月28日（閏年は29日）.
    - 翌月初日 (NEXT_MONTH_FIRST): the first day of the month after — 3月1日.
    - エラー (ERROR): no answer; the caller must decide (DSL304).
    """

    END_OF_MONTH = "末日"
    NEXT_MONTH_FIRST = "翌月初日"
    ERROR = "エラー"

    @classmethod
    def named(cls, text: str) -> MonthOverflow:
        """The mode (民法143条2項 or a stricter choice) written in Japanese or as its ASCII alias.

        >>> MonthOverflow.named("末日"), MonthOverflow.named("next_month_first")
        (<MonthOverflow.END_OF_MONTH: '末日'>, <MonthOverflow.NEXT_MONTH_FIRST: '翌月初日'>)
        """
        for mode in cls:
            if text in (mode.value, mode.alias):
                return mode
        choices = "、".join(f"「{m.value}」" for m in cls)
        raise DateError(
            f"「{text}」は月の足し算の端数の扱いではありません",
            f"{choices}のどれかを書いてください（英語名: end_of_month、next_month_first、error）。",
            "民法143条2項",
        )

    @property
    def alias(self) -> str:
        """The ASCII name: end_of_month, next_month_first, error."""
        return self.name.lower()


def add_months(date: dt.date, months: int, overflow: MonthOverflow) -> dt.date:
    """`date` plus `months` calendar months (negative: earlier), with a named day-overflow rule (民法143条).

    >>> add_months(dt.date(2025, 1, 31), 1, MonthOverflow.END_OF_MONTH)
    datetime.date(2025, 2, 28)
    >>> add_months(dt.date(2024, 1, 31), 1, MonthOverflow.END_OF_MONTH)
    datetime.date(2024, 2, 29)
    >>> add_months(dt.date(2025, 1, 31), 1, MonthOverflow.NEXT_MONTH_FIRST)
    datetime.date(2025, 3, 1)
    >>> add_months(dt.date(2025, 3, 31), -1, MonthOverflow.END_OF_MONTH)
    datetime.date(2025, 2, 28)
    >>> add_months(dt.date(2025, 1, 15), 13, MonthOverflow.ERROR)
    datetime.date(2026, 2, 15)
    """
    target = YearMonth.of(date).plus(months)
    last = target.last_day().day
    if date.day <= last:
        return dt.date(target.year, target.month, date.day)
    if overflow is MonthOverflow.END_OF_MONTH:
        return target.last_day()
    if overflow is MonthOverflow.NEXT_MONTH_FIRST:
        return target.plus(1).first_day()
    raise DateError(
        f"{target.year}年{target.month}月には{date.day}日がありません（{date.isoformat()} の {months} か月後）",
        "月加算(日付, n, 「末日」) か 月加算(日付, n, 「翌月初日」) で、応当日がないときの扱いを決めてください。",
        "民法143条2項",
    )


@dataclass(frozen=True, order=True, slots=True)
class YearMonth:
    """A calendar month (年月), e.g. the month an allowance starts (「請求した日の属する月の翌月から」).

    >>> YearMonth(2025, 12).plus(1), str(YearMonth(2026, 1))
    (YearMonth(year=2026, month=1), '2026-01')
    >>> YearMonth(2025, 4).months_until(YearMonth(2026, 3))
    11
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not dt.MINYEAR <= self.year <= dt.MAXYEAR:
            raise DateError(f"{self.year}年{self.month}月はありません", "月は 1〜12 です。")

    @classmethod
    def of(cls, date: dt.date) -> YearMonth:
        """The month containing `date` (民法143条: periods in months follow the calendar).

        >>> YearMonth.of(dt.date(2025, 4, 30))
        YearMonth(year=2025, month=4)
        """
        return cls(date.year, date.month)

    def plus(self, months: int) -> YearMonth:
        """`months` calendar months later (earlier when negative; 民法143条1項「暦に従って計算する」).

        >>> YearMonth(2025, 1).plus(-1)
        YearMonth(year=2024, month=12)
        """
        index = self.year * 12 + (self.month - 1) + months
        year, month0 = divmod(index, 12)
        if not dt.MINYEAR <= year <= dt.MAXYEAR:
            raise DateError("日付が扱える範囲（1〜9999年）を超えました", "足す月数を確かめてください。")
        return YearMonth(year, month0 + 1)

    def months_until(self, other: YearMonth) -> int:
        """Calendar months from this month to `other` (民法143条1項).

        >>> YearMonth(2026, 3).months_until(YearMonth(2025, 4))
        -11
        """
        return (other.year - self.year) * 12 + (other.month - self.month)

    def first_day(self) -> dt.date:
        """The 1st of the month (民法143条2項「月…の始」).

        >>> YearMonth(2025, 2).first_day()
        datetime.date(2025, 2, 1)
        """
        return dt.date(self.year, self.month, 1)

    def last_day(self) -> dt.date:
        """The last day of the month (民法143条2項「その月の末日」).

        >>> YearMonth(2024, 2).last_day()
        datetime.date(2024, 2, 29)
        """
        return dt.date(self.year, self.month, _gregorian.monthrange(self.year, self.month)[1])

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_between(start: dt.date, end: dt.date) -> int:
    """Calendar months from the month of `start` to the month of `end`; the days are ignored.

    Used for 月割り (e.g. 児童手当法8条2項「その月の翌月から…その月で終わる」): 2025年4月 → 2026年3月 is 11,
    so the months counted inclusively are 11 + 1.

    >>> months_between(dt.date(2025, 4, 30), dt.date(2026, 3, 1))
    11
    >>> months_between(dt.date(2025, 4, 1), dt.date(2025, 3, 31))
    -1
    """
    return YearMonth.of(start).months_until(YearMonth.of(end))


def first_of_month(date: dt.date) -> dt.date:
    """The first day of the month of `date` (「その月の初日」, 民法143条2項の「月の始」).

    >>> first_of_month(dt.date(2025, 2, 14))
    datetime.date(2025, 2, 1)
    """
    return YearMonth.of(date).first_day()


def end_of_month(date: dt.date) -> dt.date:
    """The last day of the month of `date` (「その月の末日」, 民法143条2項).

    >>> end_of_month(dt.date(2024, 2, 1)), end_of_month(dt.date(2025, 2, 1))
    (datetime.date(2024, 2, 29), datetime.date(2025, 2, 28))
    """
    return YearMonth.of(date).last_day()
