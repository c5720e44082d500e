"""和暦 (Japanese era dates): formatting and parsing what clerks type.

Sources: 元号法（昭和54年法律第43号）and the era ordinances — 令和 from 2019-05-01 (元号を改める政令,
平成31年政令第143号), 平成 from 1989-01-08 (元号を改める政令, 昭和64年政令第1号), 昭和 from 1926-12-25,
大正 from 1912-07-30; 明治 month/day equal Gregorian month/day only from 明治6年1月1日 (1873-01-01),
when the solar calendar was adopted (明治5年太政官布告第337号, 改暦ノ布告). Earlier 明治 dates are
lunisolar and are refused rather than converted wrongly.

Decisions (docs/dates.md):
- The first year is written 元年; input accepts 元 or 1.
- An era year past the era's end (平成32年) or a date before its start (令和元年4月1日) is refused with
  a hint naming the date in the right era: typing it is a mistake a clerk should see, not silently fix.
- Input is normalised with Unicode NFKC, so full-width forms (Ｒ７．４．１), the era ligatures ㍻ ㋿, and
  ideographic spaces are read like their ASCII equivalents.
"""

from __future__ import annotations

import calendar as _gregorian
import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass

from standard_core.dates import DateError

ERA_LAW = "元号法、元号を改める政令（平成31年政令第143号・昭和64年政令第1号）"
SOLAR_CALENDAR_START = dt.date(1873, 1, 1)  # 明治6年1月1日: 改暦ノ布告（明治5年太政官布告第337号）


@dataclass(frozen=True, slots=True)
class Era:
    name: str
    initial: str  # the Latin initial clerks type: R, H, S, T, M
    start: dt.date  # first day of 元年 (Gregorian)
    end: dt.date | None  # last day, None for the current era


ERAS: tuple[Era, ...] = (
    Era("明治", "M", dt.date(1868, 1, 25), dt.date(1912, 7, 29)),
    Era("大正", "T", dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    Era("昭和", "S", dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era("平成", "H", dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    Era("令和", "R", dt.date(2019, 5, 1), None),
)
ERAS_BY_NAME = {e.name: e for e in ERAS}
# What clerks type for an era: the name, its first character (令7.4.1) or the Latin initial (R7.4.1, r7.4.1).
_ERA_SPELLINGS = {
    **{e.name: e for e in ERAS},
    **{e.name[0]: e for e in ERAS},
    **{e.initial: e for e in ERAS},
    **{e.initial.lower(): e for e in ERAS},
}


class WarekiError(DateError):
    """A 和暦 date that does not exist or cannot be read; the message is Japanese and says why."""


def wareki_to_date(era_name: str, year: int, month: int, day: int) -> dt.date:
    """The Gregorian date of an era date; `year` 1 is 元年 (元号法).

    >>> wareki_to_date("令和", 1, 5, 1), wareki_to_date("平成", 31, 4, 30)
    (datetime.date(2019, 5, 1), datetime.date(2019, 4, 30))
    >>> wareki_to_date("令和", 1, 4, 1)
    Traceback (most recent call last):
    standard_core.wareki.WarekiError: 令和元年4月1日は令和の始まり（令和元年5月1日）より前です
    >>> wareki_to_date("平成", 32, 1, 1)
    Traceback (most recent call last):
    standard_core.wareki.WarekiError: 平成32年1月1日は平成の終わり（平成31年4月30日）より後です
    """
    era = _era_named(era_name)
    written = f"{era.name}{_year_label(year)}{month}月{day}日"
    if year < 1:
        raise WarekiError(f"{era.name}{year}年はありません（元年が1年です）", "元年は「元」か「1」と書きます。", ERA_LAW)
    try:
        date = dt.date(era.start.year + year - 1, month, day)
    except ValueError as e:
        raise WarekiError(f"{written}は存在しない日付です", _month_hint(era.start.year + year - 1, month), ERA_LAW) from e
    if date < SOLAR_CALENDAR_START:
        raise WarekiError(
            f"{written}は太陽暦の採用（明治6年1月1日）より前で、月日が西暦と一致しません",
            "明治5年以前の日付は旧暦です。西暦に換算した日付を入力してください。",
            "改暦ノ布告（明治5年太政官布告第337号）",
        )
    if date < era.start:
        raise WarekiError(
            f"{written}は{era.name}の始まり（{format_wareki(era.start)}）より前です",
            _did_you_mean(date),
            ERA_LAW,
        )
    if era.end is not None and date > era.end:
        raise WarekiError(
            f"{written}は{era.name}の終わり（{format_wareki(era.end)}）より後です",
            _did_you_mean(date),
            ERA_LAW,
        )
    return date


@dataclass(frozen=True, slots=True)
class WarekiDate:
    era: Era
    year: int  # 1 = 元年
    month: int
    day: int


def to_wareki(date: dt.date) -> WarekiDate:
    """The era date of a Gregorian date (元号法; the new era starts on the day of 改元).

    >>> w = to_wareki(dt.date(1989, 1, 7)); (w.era.name, w.year)
    ('昭和', 64)
    >>> w = to_wareki(dt.date(1989, 1, 8)); (w.era.name, w.year)
    ('平成', 1)
    """
    if date < SOLAR_CALENDAR_START:
        raise WarekiError(
            f"{date.isoformat()}は太陽暦の採用（明治6年1月1日）より前のため、和暦の月日に換算できません",
            "明治6年（1873年）以降の日付を指定してください。",
            "改暦ノ布告（明治5年太政官布告第337号）",
        )
    era = next(e for e in reversed(ERAS) if date >= e.start)
    return WarekiDate(era, date.year - era.start.year + 1, date.month, date.day)


@functools.lru_cache(maxsize=4096)  # pages show the same few dates on many rows
def format_wareki(date: dt.date) -> str:
    """令和7年4月1日 style; the first year of an era is written 元年 (元号法).

    >>> format_wareki(dt.date(2019, 4, 30)), format_wareki(dt.date(2019, 5, 1))
    ('平成31年4月30日', '令和元年5月1日')
    >>> format_wareki(dt.date(1989, 1, 7)), format_wareki(dt.date(1989, 1, 8))
    ('昭和64年1月7日', '平成元年1月8日')
    >>> format_wareki(dt.date(1926, 12, 25)), format_wareki(dt.date(1912, 7, 29))
    ('昭和元年12月25日', '明治45年7月29日')
    """
    w = to_wareki(date)
    return f"{w.era.name}{_year_label(w.year)}{w.month}月{w.day}日"


def format_wareki_short(date: dt.date) -> str:
    """The short form clerks type: R7.4.1 (元年 is 1; 元号法).

    >>> format_wareki_short(dt.date(2019, 5, 1))
    'R1.5.1'
    """
    w = to_wareki(date)
    return f"{w.era.initial}{w.year}.{w.month}.{w.day}"


def _year_label(year: int) -> str:
    return "元年" if year == 1 else f"{year}年"


def _era_named(name: str) -> Era:
    era = _ERA_SPELLINGS.get(name)
    if era is None:
        raise WarekiError(
            f"元号「{name}」は扱えません",
            "明治・大正・昭和・平成・令和（M・T・S・H・R）のどれかを書いてください。",
            ERA_LAW,
        )
    return era


def _month_hint(year: int, month: int) -> str:
    if not 1 <= month <= 12 or not dt.MINYEAR <= year <= dt.MAXYEAR:
        return "月は1〜12、日はその月の末日までで書いてください。"
    return f"{year}年{month}月は{_gregorian.monthrange(year, month)[1]}日までです。月と日を確かめてください。"


def _did_you_mean(date: dt.date) -> str:
    try:
        right = format_wareki(date)
    except WarekiError:
        return "元号と年を確かめてください。"
    return f"{right}（{date.isoformat()}）のことではありませんか。元号と年を確かめてください。"


# --- parsing clerk input -------------------------------------------------------------------------------
_ERA = r"(明治|大正|昭和|平成|令和|明|大|昭|平|令|[MTSHRmtshr])"
_YEAR = r"(元|[0-9]{1,3})"
_PATTERNS = (
    # 令和7年4月1日, R7年4月1日, 令和元年5月1日, 令和7年04月01日
    re.compile(rf"{_ERA}{_YEAR}年([0-9]{{1,2}})月([0-9]{{1,2}})日"),
    # R7.4.1, r7/4/1, H31-4-30, 令7.4.1 (one separator used throughout)
    re.compile(rf"{_ERA}{_YEAR}([./\-])([0-9]{{1,2}})\3([0-9]{{1,2}})"),
)
_WESTERN = (
    re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日"),
    re.compile(r"([0-9]{4})([./\-])([0-9]{1,2})\2([0-9]{1,2})"),
)
INPUT_EXAMPLES = "令和7年4月1日、R7.4.1、Ｒ７．４．１、H31/4/30、2025-04-01"


def normalize_input(text: str) -> str:
    """NFKC (full width → ASCII, ㍻ → 平成) and no whitespace at all, before reading a 和暦 (元号法) date.

    >>> normalize_input(" Ｒ７．４．１　")
    'R7.4.1'
    """
    return "".join(unicodedata.normalize("NFKC", text).split())


def parse_wareki(text: str) -> dt.date:
    """A 和暦 date as clerks type it (元号法).

    >>> [parse_wareki(t).isoformat() for t in ("令和7年4月1日", "R7.4.1", "r7.4.1", "Ｒ７．４．１")]
    ['2025-04-01', '2025-04-01', '2025-04-01', '2025-04-01']
    >>> [parse_wareki(t).isoformat() for t in ("H31.4.30", "令和元年5月1日", "R1/5/1", "令和7年04月01日")]
    ['2019-04-30', '2019-05-01', '2019-05-01', '2025-04-01']
    >>> parse_wareki("令和元年4月1日")
    Traceback (most recent call last):
    standard_core.wareki.WarekiError: 令和元年4月1日は令和の始まり（令和元年5月1日）より前です
    """
    normalized = normalize_input(text)
    for pattern in _PATTERNS:
        m = pattern.fullmatch(normalized)
        if m:
            era, year = m.group(1), m.group(2)
            month, day = (m.group(3), m.group(4)) if pattern is _PATTERNS[0] else (m.group(4), m.group(5))
            return wareki_to_date(_era_named(era).name, 1 if year == "元" else int(year), int(month), int(day))
    raise _unreadable(text)


def parse_date_input(text: str) -> dt.date:
    """A date as clerks type it: 和暦 (parse_wareki, 元号法) or 西暦 (2025-04-01, 2025/4/1, 2025年4月1日).

    >>> parse_date_input("２０２５／４／１"), parse_date_input("平成31年4月30日")
    (datetime.date(2025, 4, 1), datetime.date(2019, 4, 30))
    >>> parse_date_input("2025-02-29")
    Traceback (most recent call last):
    standard_core.wareki.WarekiError: 2025年2月29日は存在しない日付です
    """
    normalized = normalize_input(text)
    for pattern in _WESTERN:
        m = pattern.fullmatch(normalized)
        if m:
            year, month, day = (int(g) for g in m.groups() if g not in "./-")
            try:
                return dt.date(year, month, day)
            except ValueError as e:
                raise WarekiError(f"{year}年{month}月{day}日は存在しない日付です", _month_hint(year, month)) from e
    return parse_wareki(text)


def _unreadable(text: str) -> WarekiError:
    shown = text if len(text) <= 30 else text[:30] + "…"
    return WarekiError(f"「{shown}」は日付として読めません", f"例: {INPUT_EXAMPLES}")
