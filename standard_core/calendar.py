"""Japanese calendar facts the whole project shares: eras (元号) and the legal age rule.

Sources: 元号法 and the era proclamations (令和 from 2019-05-01, 平成 from 1989-01-08, 昭和 from
1926-12-25, 大正 from 1912-07-30, 明治 from 1868-01-25 in the Gregorian reckoning used by
住民基本台帳 systems); 年齢計算ニ関スル法律 and 民法143条 for age.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Era:
    name: str
    initial: str  # the Latin initial clerks type: R, H, S, T, M
    start: dt.date  # first day of 元年
    end: dt.date | None  # last day, None for the current era


ERAS: tuple[Era, ...] = (
    Era("明治", "M", dt.date(1868, 1, 25), dt.date(1912, 7, 29)),
    Era("大正", "T", dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    Era("昭和", "S", dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era("平成", "H", dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    Era("令和", "R", dt.date(2019, 5, 1), None),
)
ERAS_BY_NAME = {e.name: e for e in ERAS}


class WarekiError(ValueError):
    """A 和暦 date that does not exist; the message is Japanese and says why."""


def wareki_to_date(era_name: str, year: int, month: int, day: int) -> dt.date:
    """Convert an era date to a Gregorian date, refusing dates outside the era.

    `year` 1 is 元年. 令和元年4月1日 is refused (令和 starts on 5月1日); so is 平成32年
    (平成 ended in its 31st year): an era year past the era's end is not silently extended.
    """
    era = ERAS_BY_NAME.get(era_name)
    if era is None:
        raise WarekiError(f"元号「{era_name}」は扱えません")
    if year < 1:
        raise WarekiError(f"{era_name}{year}年はありません（元年が1年です）")
    try:
        date = dt.date(era.start.year + year - 1, month, day)
    except ValueError as e:
        raise WarekiError(f"{era_name}{_year_label(year)}{month}月{day}日は存在しない日付です") from e
    if date < era.start:
        raise WarekiError(
            f"{era_name}{_year_label(year)}{month}月{day}日は{era_name}の始まり"
            f"（{format_wareki(era.start)}）より前です"
        )
    if era.end is not None and date > era.end:
        raise WarekiError(
            f"{era_name}{_year_label(year)}{month}月{day}日は{era_name}の終わり"
            f"（{format_wareki(era.end)}）より後です"
        )
    return date


def era_of(date: dt.date) -> Era:
    for era in reversed(ERAS):
        if date >= era.start:
            return era
    raise WarekiError(f"{date.isoformat()}は明治より前の日付です")


def format_wareki(date: dt.date) -> str:
    """令和7年4月1日 style; the first year of an era is written 元年."""
    era = era_of(date)
    year = date.year - era.start.year + 1
    return f"{era.name}{_year_label(year)}{date.month}月{date.day}日"


def _year_label(year: int) -> str:
    return "元年" if year == 1 else f"{year}年"


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Age in full years on date `on` (年齢計算ニ関スル法律, 民法143条).

    Age n is reached at the end of the day before the n-th birthday, so on that day the
    person is already n. For a 2月29日 birth the day before the birthday in a common year is
    2月28日.
    """
    if on < birth_date:
        raise ValueError("基準日が生年月日より前です")
    # Being n on `on` means the day after `on` is at or past the n-th birthday.
    nxt = on + dt.timedelta(days=1)
    years = nxt.year - birth_date.year
    if (nxt.month, nxt.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def fiscal_year(date: dt.date) -> int:
    """年度 (April–March) as the Gregorian year it starts in: 2026-03-31 → 2025."""
    return date.year if date.month >= 4 else date.year - 1
