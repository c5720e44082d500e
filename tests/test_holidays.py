"""祝日法 holidays from the pinned jpholiday, and the range outside which we refuse to guess."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from standard_core.holidays import (
    HOLIDAY_LAW_START,
    PUBLISHED_THROUGH_YEAR,
    OutOfCalendarRange,
    is_national_holiday,
    national_holiday_name,
    national_holidays,
)

D = dt.date
ROOT = Path(__file__).resolve().parent.parent

# 春分の日 (3月) and 秋分の日 (9月) as published by 国立天文台 (暦要項, 官報), 2000 to the last published year.
# When PUBLISHED_THROUGH_YEAR is raised, add the new year's published days here: the test below insists.
VERNAL = dict(zip(range(2000, 2028), (20, 20, 21, 21, 20, 20, 21, 21, 20, 20, 21, 21, 20, 20, 21, 21, 20, 20,
                                        21, 21, 20, 20, 21, 21, 20, 20, 20, 21), strict=True))
AUTUMNAL = dict(zip(range(2000, 2028), (23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22, 23, 23, 23, 22, 23,
                                          23, 23, 22, 23, 23, 23, 22, 23, 23, 23), strict=True))


def test_the_published_table_reaches_the_declared_range() -> None:
    assert max(VERNAL) == max(AUTUMNAL) == PUBLISHED_THROUGH_YEAR


@pytest.mark.parametrize("year", sorted(VERNAL), ids=str)
def test_equinoxes_agree_with_the_published_days(year: int) -> None:
    assert national_holiday_name(D(year, 3, VERNAL[year])) == "春分の日"
    assert national_holiday_name(D(year, 9, AUTUMNAL[year])) == "秋分の日"


def test_jpholiday_is_pinned() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert "jpholiday==1.0.3" in dependencies


NAMED = {
    "2026-silver-week-kokumin": (D(2026, 9, 22), "国民の休日"),
    "2026-keiro": (D(2026, 9, 21), "敬老の日"),
    "2026-gw-furikae": (D(2026, 5, 6), "振替休日"),
    "2025-kinro-furikae": (D(2025, 11, 24), "振替休日"),
    "2025-tennou-furikae": (D(2025, 2, 24), "振替休日"),
    "2027-shunbun-furikae": (D(2027, 3, 22), "振替休日"),
    "2019-sokui": (D(2019, 5, 1), "天皇の即位の日"),
    "2019-4-30-kokumin": (D(2019, 4, 30), "国民の休日"),
    "2019-5-2-kokumin": (D(2019, 5, 2), "国民の休日"),
    "2019-sokuirei": (D(2019, 10, 22), "即位礼正殿の儀"),
    "1989-taiso": (D(1989, 2, 24), "昭和天皇の大喪の礼"),
    "2020-olympic-sports-day": (D(2020, 7, 24), "スポーツの日"),
    "2021-olympic-yama-furikae": (D(2021, 8, 9), "振替休日"),
    "1948-first-bunka": (D(1948, 11, 3), "文化の日"),
}


@pytest.mark.parametrize(("date", "name"), list(NAMED.values()), ids=list(NAMED))
def test_named_holidays(date: dt.date, name: str) -> None:
    assert national_holiday_name(date) == name


@pytest.mark.parametrize(
    "date",
    [D(2019, 12, 23), D(2026, 12, 23), D(2021, 7, 19), D(2021, 10, 11), D(2026, 4, 30), D(2026, 9, 24)],
    ids=["2019-no-emperor-birthday", "2026-12-23", "2021-moved-umi", "2021-moved-sports", "gw-gap", "after-sw"],
)
def test_ordinary_days(date: dt.date) -> None:
    assert not is_national_holiday(date)


def test_september_2026() -> None:
    assert [d.day for d, _ in national_holidays(2026) if d.month == 9] == [21, 22, 23]


@pytest.mark.parametrize(
    "date",
    [D(PUBLISHED_THROUGH_YEAR + 1, 1, 1), D(PUBLISHED_THROUGH_YEAR + 1, 3, 20), D(2100, 9, 23),
     HOLIDAY_LAW_START - dt.timedelta(days=1), D(1900, 1, 1)],
    ids=["first-unpublished-day", "unpublished-equinox", "far-future", "day-before-the-law", "long-ago"],
)
def test_outside_the_range_is_refused_not_guessed(date: dt.date) -> None:
    with pytest.raises(OutOfCalendarRange) as e:
        is_national_holiday(date)
    assert e.value.message and e.value.hint and e.value.reference


def test_range_edges_are_inside() -> None:
    assert not is_national_holiday(HOLIDAY_LAW_START)
    assert national_holiday_name(D(PUBLISHED_THROUGH_YEAR, 11, 23)) == "勤労感謝の日"
    with pytest.raises(OutOfCalendarRange):
        national_holidays(PUBLISHED_THROUGH_YEAR + 1)
    assert all(d >= HOLIDAY_LAW_START for d, _ in national_holidays(1948))
