"""国民の祝日 and the other 休日 of 国民の祝日に関する法律 (祝日法), with a stated valid range.

The dates come from the `jpholiday` package (pinned in pyproject.toml): 祝日法2条 (the holidays),
3条2項 (振替休日), 3条3項 (国民の休日), and the one-off holidays of special laws (e.g. 天皇の即位の日及び
即位礼正殿の儀の行われる日を休日とする法律, 平成30年法律第99号).

The range is deliberate. 祝日法 took effect on 1948-07-20 (昭和23年法律第178号). 春分の日 and 秋分の日 are
not fixed by the law: 国立天文台 computes them and announces the next year's dates in 官報 each February
(暦要項). jpholiday *computes* equinoxes for any year with an astronomical formula, but a computed date is a
guess until it is published, and the law could change too. So dates after PUBLISHED_THROUGH_YEAR are
refused (OutOfCalendarRange, a DateError), never guessed. Raise the constant — and pin a new jpholiday if it
changed — each February after 暦要項 appears; tests/test_holidays.py checks every published equinox.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import jpholiday

from standard_core.dates import DateError

HOLIDAY_LAW = "国民の祝日に関する法律（昭和23年法律第178号）"
HOLIDAY_LAW_START = dt.date(1948, 7, 20)  # 祝日法の施行日
# The last year whose 春分の日・秋分の日 国立天文台 has published: 令和9年（2027年）暦要項, 官報 2026年2月.
PUBLISHED_THROUGH_YEAR = 2027
PUBLISHED_SOURCE = "国立天文台 暦要項（令和9年版、2026年2月 官報掲載）"
RANGE_END = dt.date(PUBLISHED_THROUGH_YEAR, 12, 31)

_SOURCE = jpholiday.JPHoliday()  # a private instance: nobody's jpholiday.register() can change it


class OutOfCalendarRange(DateError):
    """A date outside the years whose holidays are known: before 祝日法 or after the published equinoxes."""


def check_in_range(date: dt.date) -> None:
    """Raise OutOfCalendarRange unless holidays are known for `date`: from 祝日法's 施行 (1948-07-20) to the
    end of PUBLISHED_THROUGH_YEAR (国立天文台 暦要項).

    >>> check_in_range(dt.date(2027, 12, 31))
    >>> check_in_range(dt.date(2028, 1, 1))
    Traceback (most recent call last):
    standard_core.holidays.OutOfCalendarRange: 2028年の祝日はまだ確定していません（春分の日・秋分の日は2027年まで公表済み）
    """
    if date < HOLIDAY_LAW_START:
        raise OutOfCalendarRange(
            f"{date.isoformat()}は国民の祝日に関する法律の施行（1948年7月20日）より前で、休日を判定できません",
            "1948年7月20日以降の日付を指定してください。",
            HOLIDAY_LAW,
        )
    if date > RANGE_END:
        raise OutOfCalendarRange(
            f"{date.year}年の祝日はまだ確定していません（春分の日・秋分の日は{PUBLISHED_THROUGH_YEAR}年まで公表済み）",
            "国立天文台は翌年の春分の日・秋分の日を毎年2月の官報（暦要項）で公表します。"
            f"{PUBLISHED_THROUGH_YEAR}年より後の日付は判定できません。"
            "公表後に jichi を更新すると判定できるようになります。",
            PUBLISHED_SOURCE,
        )


def national_holiday_name(date: dt.date) -> str | None:
    """The name of the 祝日法 holiday on `date`, or None (祝日法2条・3条).

    振替休日 and 国民の休日 are named as such.

    >>> national_holiday_name(dt.date(2026, 9, 22)), national_holiday_name(dt.date(2026, 5, 6))
    ('国民の休日', '振替休日')
    >>> national_holiday_name(dt.date(2019, 5, 1)), national_holiday_name(dt.date(2026, 4, 1)) is None
    ('天皇の即位の日', True)
    """
    check_in_range(date)
    return _year_table(date.year).get(date)


def is_national_holiday(date: dt.date) -> bool:
    """True on a 国民の祝日, 振替休日 or 国民の休日 (祝日法3条).

    >>> is_national_holiday(dt.date(2027, 3, 22))
    True
    """
    return national_holiday_name(date) is not None


def national_holidays(year: int) -> list[tuple[dt.date, str]]:
    """Every 祝日法 holiday of `year`, in date order (祝日法2条・3条).

    >>> [d.isoformat() for d, _ in national_holidays(2026) if d.month == 9]
    ['2026-09-21', '2026-09-22', '2026-09-23']
    """
    check_in_range(dt.date(year, 12, 31) if year < HOLIDAY_LAW_START.year + 1 else dt.date(year, 1, 1))
    return sorted(_year_table(year).items())


@cache
def _year_table(year: int) -> dict[dt.date, str]:
    table: dict[dt.date, str] = {}
    for holiday in _SOURCE.year_holidays(year):
        if holiday.date < HOLIDAY_LAW_START:
            continue
        # jpholiday names substitute holidays "憲法記念日 振替休日"; the law calls them 振替休日 (3条2項).
        name = "振替休日" if holiday.name.endswith("振替休日") else holiday.name
        table.setdefault(holiday.date, name)
    return table
