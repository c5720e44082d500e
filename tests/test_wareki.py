"""和暦: formatting at era boundaries and parsing what clerks type (standard_core.wareki)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standard_core.wareki import (
    WarekiError,
    format_wareki,
    format_wareki_short,
    parse_date_input,
    parse_wareki,
)

D = dt.date

FORMATTED = {
    "reiwa-first-day": (D(2019, 5, 1), "令和元年5月1日"),
    "heisei-last-day": (D(2019, 4, 30), "平成31年4月30日"),
    "heisei-first-day": (D(1989, 1, 8), "平成元年1月8日"),
    "showa-last-day": (D(1989, 1, 7), "昭和64年1月7日"),
    "showa-first-day": (D(1926, 12, 25), "昭和元年12月25日"),
    "taisho-last-day": (D(1926, 12, 24), "大正15年12月24日"),
    "taisho-first-day": (D(1912, 7, 30), "大正元年7月30日"),
    "meiji-last-day": (D(1912, 7, 29), "明治45年7月29日"),
    "meiji-solar-first-day": (D(1873, 1, 1), "明治6年1月1日"),
    "reiwa-2": (D(2020, 1, 1), "令和2年1月1日"),
    "reiwa-7": (D(2025, 4, 1), "令和7年4月1日"),
}


@pytest.mark.parametrize(("date", "text"), list(FORMATTED.values()), ids=list(FORMATTED))
def test_format(date: dt.date, text: str) -> None:
    assert format_wareki(date) == text
    assert parse_wareki(text) == date


def test_short_format() -> None:
    assert format_wareki_short(D(2025, 4, 1)) == "R7.4.1"
    assert format_wareki_short(D(1989, 1, 7)) == "S64.1.7"


def test_dates_before_the_solar_calendar_are_refused() -> None:
    with pytest.raises(WarekiError, match="太陽暦"):
        format_wareki(D(1872, 12, 31))


PARSED = {
    "kanji": ("令和7年4月1日", D(2025, 4, 1)),
    "initial-dots": ("R7.4.1", D(2025, 4, 1)),
    "lowercase": ("r7.4.1", D(2025, 4, 1)),
    "full-width": ("Ｒ７．４．１", D(2025, 4, 1)),
    "full-width-kanji-digits": ("令和７年４月１日", D(2025, 4, 1)),
    "heisei-last": ("H31.4.30", D(2019, 4, 30)),
    "gannen": ("令和元年5月1日", D(2019, 5, 1)),
    "gannen-as-1-slash": ("R1/5/1", D(2019, 5, 1)),
    "zero-padded": ("令和7年04月01日", D(2025, 4, 1)),
    "zero-padded-year": ("R07.04.01", D(2025, 4, 1)),
    "hyphen": ("H31-4-30", D(2019, 4, 30)),
    "one-kanji-era": ("令7.4.1", D(2025, 4, 1)),
    "initial-with-kanji-units": ("R7年4月1日", D(2025, 4, 1)),
    "spaces": (" 令和 7年 4月 1日 ", D(2025, 4, 1)),
    "ideographic-space": ("令和7年\u30004月1日", D(2025, 4, 1)),
    "era-ligature-heisei": ("㍻31年4月30日", D(2019, 4, 30)),
    "era-ligature-reiwa": ("㋿元年5月1日", D(2019, 5, 1)),
    "showa-64": ("S64.1.7", D(1989, 1, 7)),
    "heisei-gannen-start": ("平成元年1月8日", D(1989, 1, 8)),
    "taisho": ("T15.12.24", D(1926, 12, 24)),
    "meiji": ("M45.7.29", D(1912, 7, 29)),
}


@pytest.mark.parametrize(("text", "date"), list(PARSED.values()), ids=list(PARSED))
def test_parse(text: str, date: dt.date) -> None:
    assert parse_wareki(text) == date
    assert parse_date_input(text) == date


# (text, message fragment, hint fragment or "")
REFUSED = {
    "reiwa-before-start": ("令和元年4月1日", "令和の始まり（令和元年5月1日）より前", "平成31年4月1日（2019-04-01）"),
    "heisei-32": ("平成32年1月1日", "平成の終わり（平成31年4月30日）より後", "令和2年1月1日"),
    "heisei-31-may": ("H31.5.1", "平成の終わり", "令和元年5月1日"),
    "showa-64-jan-8": ("昭和64年1月8日", "昭和の終わり", "平成元年1月8日"),
    "heisei-gannen-jan-7": ("平成元年1月7日", "平成の始まり", "昭和64年1月7日"),
    "february-30": ("令和7年2月30日", "存在しない日付", ""),
    "month-13": ("R7.13.1", "存在しない日付", ""),
    "year-zero": ("R0.4.1", "令和0年はありません", "元年"),
    "meiji-lunisolar": ("明治5年12月2日", "太陽暦", "旧暦"),
    "mixed-separators": ("R7.4/1", "日付として読めません", "R7.4.1"),
    "no-era": ("7.4.1", "日付として読めません", ""),
    "unknown-era": ("X7.4.1", "日付として読めません", ""),
    "garbage": ("あした", "日付として読めません", ""),
    "empty": ("", "日付として読めません", ""),
    "four-digit-year": ("R1000.1.1", "日付として読めません", ""),
}


@pytest.mark.parametrize(("text", "message", "hint"), list(REFUSED.values()), ids=list(REFUSED))
def test_refused(text: str, message: str, hint: str) -> None:
    with pytest.raises(WarekiError) as e:
        parse_wareki(text)
    assert message in e.value.message
    assert hint in e.value.hint
    assert e.value.hint  # every refusal says how to fix it


WESTERN = {
    "iso": ("2025-04-01", D(2025, 4, 1)),
    "slashes": ("2025/4/1", D(2025, 4, 1)),
    "dots": ("2025.4.1", D(2025, 4, 1)),
    "kanji": ("2025年4月1日", D(2025, 4, 1)),
    "full-width": ("２０２５／０４／０１", D(2025, 4, 1)),
}


@pytest.mark.parametrize(("text", "date"), list(WESTERN.values()), ids=list(WESTERN))
def test_parse_western(text: str, date: dt.date) -> None:
    assert parse_date_input(text) == date


def test_impossible_western_date() -> None:
    with pytest.raises(WarekiError, match="存在しない日付"):
        parse_date_input("2025-02-29")


@given(st.dates(min_value=D(1873, 1, 1), max_value=D(2200, 12, 31)))
def test_format_then_parse_round_trips(date: dt.date) -> None:
    assert parse_wareki(format_wareki(date)) == date
    assert parse_wareki(format_wareki_short(date)) == date


@given(st.text(max_size=20))
def test_parsing_never_raises_anything_but_a_wareki_error(text: str) -> None:
    try:
        parse_date_input(text)
    except WarekiError as e:
        assert e.message and e.hint
