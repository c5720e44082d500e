"""The date and calendar functions of the DSL: thin typed wrappers over standard_core.

The legal meaning of each lives in standard_core (dates, wareki, holidays, municipal_calendar), never
here. Functions marked needs_calendar read the municipality's calendar from the evaluation context.
A standard_core DateError raised while running becomes DSL304 (DSL306 when the date is outside the
calendar's known range); see dsl/compiler.py.
"""

from __future__ import annotations

import datetime as dt

from dsl.signatures import Function, Signature
from dsl.types import BOOL, DATE, FISCAL_YEAR, INT, TEXT, YEAR_MONTH
from standard_core import dates, holidays, wareki
from standard_core.municipal_calendar import MunicipalCalendar


def _fiscal_start(value: dt.date | int) -> dt.date:
    return dt.date(value if isinstance(value, int) else dates.fiscal_year(value), 4, 1)


def _fiscal_end(value: dt.date | int) -> dt.date:
    return dt.date((value if isinstance(value, int) else dates.fiscal_year(value)) + 1, 3, 31)


def _month_first(value: dt.date | dates.YearMonth) -> dt.date:
    return value.first_day() if isinstance(value, dates.YearMonth) else dates.first_of_month(value)


def _month_last(value: dt.date | dates.YearMonth) -> dt.date:
    return value.last_day() if isinstance(value, dates.YearMonth) else dates.end_of_month(value)


def _add_months(date: dt.date, months: int, mode: str) -> dt.date:
    return dates.add_months(date, months, dates.MonthOverflow.named(mode))


def _check_month_mode(index: int, text: str) -> None:
    if index == 2:
        dates.MonthOverflow.named(text)


def _check_date_text(index: int, text: str) -> None:
    wareki.parse_date_input(text)


def _grade_name(birth: dt.date, on: dt.date) -> str:
    return dates.school_grade_name(dates.school_grade(birth, on))


def _closed_reason(calendar: MunicipalCalendar, date: dt.date) -> str:
    return "・".join(calendar.closed_reasons(date))


# Parameter lists, named by their types: (日付), (日付, 日付), (日付, 整数).
D, DD, DI = (DATE,), (DATE, DATE), (DATE, INT)

DATE_FUNCTIONS: tuple[Function, ...] = (
    # --- age and school (年齢計算ニ関スル法律, 民法143条, 学校教育法17条) ---------------------------------
    Function("年齢", ("満年齢", "age"), (Signature(DD, INT),), dates.age_on,
             "基準日における満年齢（年齢計算ニ関スル法律・民法143条: 誕生日の前日に加齢）。"),
    Function("到達日", ("date_reaching_age",), (Signature(DI, DATE),), dates.date_reaching_age,
             "n歳に達する日（誕生日の前日。2月29日生まれは2月28日）。"),
    Function("年度末到達日", ("march_31_after_reaching_age",), (Signature(DI, DATE),),
             dates.march_31_after_reaching_age, "n歳に達する日以後の最初の3月31日。"),
    Function("小学校入学日", ("school_entry_date",), (Signature(D, DATE),), dates.school_entry_date,
             "満6歳に達した日の翌日以後の最初の4月1日（学校教育法17条1項）。"),
    Function("学年", ("school_grade",), (Signature(DD, INT),), dates.school_grade,
             "日付における学年（小1〜小6 = 1〜6、中1〜中3 = 7〜9、高1〜高3相当 = 10〜12、就学前は 0 以下）。"),
    Function("学年名", ("school_grade_name",), (Signature(DD, TEXT),), _grade_name,
             "学年の名前（「小学1年」「中学3年」「高校1年相当」「就学前」「高校卒業後」）。"),
    # --- 年度 and months (地方自治法208条, 民法143条) ----------------------------------------------------
    Function("年度", ("fiscal_year",), (Signature(D, FISCAL_YEAR),), dates.fiscal_year,
             "日付の属する年度（4月始まり）。2026-03-31 → 2025年度。"),
    Function("年度初日", ("fiscal_year_start",), (Signature(D, DATE), Signature((FISCAL_YEAR,), DATE)),
             _fiscal_start, "日付（または年度）の年度の4月1日。"),
    Function("年度末日", ("fiscal_year_end",), (Signature(D, DATE), Signature((FISCAL_YEAR,), DATE)),
             _fiscal_end, "日付（または年度）の年度の3月31日。"),
    Function("年月", ("year_month",), (Signature(D, YEAR_MONTH),), dates.YearMonth.of, "日付の属する年月。"),
    Function("月加算", ("add_months",), (Signature((DATE, INT, TEXT), DATE),), _add_months,
             "n か月後の日付。応当日がないときの扱いを「末日」「翌月初日」「エラー」から必ず選びます。",
             check_literal=_check_month_mode, literal_code="DSL214"),
    Function("月初日", ("first_of_month",), (Signature(D, DATE), Signature((YEAR_MONTH,), DATE)), _month_first,
             "その月（日付の月、または年月）の1日。"),
    Function("月末日", ("end_of_month",), (Signature(D, DATE), Signature((YEAR_MONTH,), DATE)), _month_last,
             "その月（日付の月、または年月）の末日。"),
    Function("年月差", ("months_between",), (Signature(DD, INT),), dates.months_between,
             "開始日の年月から終了日の年月までの月数（日は見ません）。"),
    # --- 和暦 (元号法) ------------------------------------------------------------------------------------
    Function("和暦", ("wareki",), (Signature(D, TEXT),), wareki.format_wareki,
             "日付を和暦の文字列にします（令和7年4月1日、元年表記）。"),
    Function("和暦日付", ("parse_date",), (Signature((TEXT,), DATE),), wareki.parse_date_input,
             "窓口で入力された日付の文字列（令和7年4月1日、R7.4.1、Ｒ７．４．１、2025/4/1 など）を日付にします。"
             "文字列を直接書いたときは読み込み時に検査されます。",
             check_literal=_check_date_text),
    # --- holidays and open days (祝日法, 地方自治法4条の2, 民法140条) ------------------------------------
    Function("祝日か", ("is_national_holiday",), (Signature(D, BOOL),), holidays.is_national_holiday,
             "国民の祝日・振替休日・国民の休日か（団体の休日は含みません）。"),
    Function("開庁日か", ("is_open_day",), (Signature(D, BOOL),), MunicipalCalendar.is_open,
             "団体の開庁日か（土日・祝日・年末年始・団体の休日でない日）。", needs_calendar=True),
    Function("休日名", ("closed_reason",), (Signature(D, TEXT),), _closed_reason,
             "閉庁の理由（「日曜日・憲法記念日」など）。開庁日なら空の文字列。", needs_calendar=True),
    Function("次の開庁日", ("next_open_day",), (Signature(D, DATE),), MunicipalCalendar.next_open_day,
             "その日が開庁日ならその日、閉庁日なら次の開庁日。", needs_calendar=True),
    Function("前の開庁日", ("previous_open_day",), (Signature(D, DATE),), MunicipalCalendar.previous_open_day,
             "その日が開庁日ならその日、閉庁日なら前の開庁日。", needs_calendar=True),
    Function("開庁日後", ("add_open_days",), (Signature(DI, DATE),), MunicipalCalendar.add_open_days,
             "その日を数えずに n 番目の開庁日（負なら前へ）。", needs_calendar=True),
    Function("開庁日数", ("open_days_between",), (Signature(DD, INT),), MunicipalCalendar.open_days_between,
             "開始日を数えず終了日まで（終了日を含む）の開庁日の数。", needs_calendar=True),
    Function("期限日", ("deadline",), (Signature(DI, DATE),), MunicipalCalendar.deadline,
             "初日不算入で n 日目、閉庁日なら次の開庁日（民法140条、地方自治法4条の2第4項）。", needs_calendar=True),
    Function("支払日", ("payday",), (Signature(D, DATE),), MunicipalCalendar.payday,
             "その日が閉庁日なら前の開庁日に繰り上げた支払日。", needs_calendar=True),
)
