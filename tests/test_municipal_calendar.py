"""Open days, deadlines and paydays of a municipality's calendar (standard_core.municipal_calendar)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standard_core.dates import DateError
from standard_core.holidays import PUBLISHED_THROUGH_YEAR, OutOfCalendarRange
from standard_core.municipal_calendar import (
    CalendarSettings,
    LocalHoliday,
    MonthDay,
    MunicipalCalendar,
    YearEndClosure,
)

D = dt.date
CORE = MunicipalCalendar()
OKINAWA = MunicipalCalendar.layered(
    "沖縄県", [CalendarSettings("470007-okinawa", local_holidays=(LocalHoliday(MonthDay(6, 23), "慰霊の日", "条例"),))]
)
HIROSHIMA = MunicipalCalendar.layered(
    "広島市", [CalendarSettings("341002-hiroshima", local_holidays=(LocalHoliday(MonthDay(8, 6), "平和記念日", "条例"),))]
)
LONG_YEAR_END = MunicipalCalendar.layered(
    "長い年末年始", [CalendarSettings("x", year_end=YearEndClosure(MonthDay(12, 28), MonthDay(1, 4)))]
)
CALENDARS = {"core": CORE, "okinawa": OKINAWA, "hiroshima": HIROSHIMA, "long-year-end": LONG_YEAR_END}

# (calendar, first day (the event), days, deadline)
DEADLINES = {
    "tennyu-12-20-to-1-5": (CORE, D(2025, 12, 20), 14, D(2026, 1, 5)),
    "lands-on-12-29": (CORE, D(2025, 12, 15), 14, D(2026, 1, 5)),
    "lands-on-sunday-12-28": (CORE, D(2025, 12, 14), 14, D(2026, 1, 5)),
    "lands-on-friday-12-26": (CORE, D(2025, 12, 12), 14, D(2025, 12, 26)),
    "year-end-2026": (CORE, D(2026, 12, 20), 14, D(2027, 1, 4)),
    "long-year-end-2026": (LONG_YEAR_END, D(2026, 12, 20), 14, D(2027, 1, 5)),
    "golden-week-2026": (CORE, D(2026, 4, 22), 14, D(2026, 5, 7)),
    "golden-week-2025": (CORE, D(2025, 4, 22), 14, D(2025, 5, 7)),
    "silver-week-2026": (CORE, D(2026, 9, 7), 14, D(2026, 9, 24)),
    "one-day": (CORE, D(2026, 4, 1), 1, D(2026, 4, 2)),
    "ireinohi-okinawa": (OKINAWA, D(2026, 6, 9), 14, D(2026, 6, 24)),
    "ireinohi-elsewhere": (CORE, D(2026, 6, 9), 14, D(2026, 6, 23)),
    "heiwa-kinenbi-hiroshima": (HIROSHIMA, D(2026, 7, 23), 14, D(2026, 8, 7)),
    "heiwa-kinenbi-elsewhere": (CORE, D(2026, 7, 23), 14, D(2026, 8, 6)),
}


@pytest.mark.parametrize(("calendar", "first_day", "days", "expected"), list(DEADLINES.values()), ids=list(DEADLINES))
def test_deadline(calendar: MunicipalCalendar, first_day: dt.date, days: int, expected: dt.date) -> None:
    assert calendar.deadline(first_day, days) == expected


PAYDAYS = {
    "jan-10-saturday": (CORE, D(2026, 1, 10), D(2026, 1, 9)),
    "year-end": (CORE, D(2025, 12, 30), D(2025, 12, 26)),
    "new-year-sunday": (CORE, D(2026, 1, 4), D(2025, 12, 26)),
    "open-day-unchanged": (CORE, D(2026, 2, 10), D(2026, 2, 10)),
    "golden-week": (CORE, D(2026, 5, 5), D(2026, 5, 1)),
    "silver-week": (CORE, D(2026, 9, 23), D(2026, 9, 18)),
    "ireinohi-okinawa": (OKINAWA, D(2026, 6, 23), D(2026, 6, 22)),
    "heiwa-kinenbi-hiroshima": (HIROSHIMA, D(2025, 8, 6), D(2025, 8, 5)),
}


@pytest.mark.parametrize(("calendar", "date", "expected"), list(PAYDAYS.values()), ids=list(PAYDAYS))
def test_payday(calendar: MunicipalCalendar, date: dt.date, expected: dt.date) -> None:
    assert calendar.payday(date) == expected


OPEN = {
    "friday": (CORE, D(2026, 4, 3), True),
    "saturday": (CORE, D(2026, 4, 4), False),
    "kokumin-no-kyujitsu": (CORE, D(2026, 9, 22), False),
    "furikae": (CORE, D(2026, 5, 6), False),
    "dec-28-weekday-2026": (CORE, D(2026, 12, 28), True),
    "dec-28-long-year-end": (LONG_YEAR_END, D(2026, 12, 28), False),
    "dec-29": (CORE, D(2026, 12, 29), False),
    "jan-3": (CORE, D(2027, 1, 3), False),
    "jan-4": (CORE, D(2027, 1, 4), True),
    "ireinohi-okinawa": (OKINAWA, D(2026, 6, 23), False),
    "ireinohi-hiroshima": (HIROSHIMA, D(2026, 6, 23), True),
    "heiwa-hiroshima": (HIROSHIMA, D(2026, 8, 6), False),
    "heiwa-okinawa": (OKINAWA, D(2026, 8, 6), True),
}


@pytest.mark.parametrize(("calendar", "date", "expected"), list(OPEN.values()), ids=list(OPEN))
def test_is_open(calendar: MunicipalCalendar, date: dt.date, expected: bool) -> None:
    assert calendar.is_open(date) is expected


def test_closed_reasons_name_everything() -> None:
    assert CORE.closed_reasons(D(2026, 5, 3)) == ("日曜日", "憲法記念日")
    assert CORE.closed_reasons(D(2027, 1, 1)) == ("元日", "年末年始（12月29日〜1月3日）")
    assert OKINAWA.closed_reasons(D(2024, 6, 23)) == ("日曜日", "慰霊の日")


def test_next_and_previous_include_the_day_itself() -> None:
    assert CORE.next_open_day(D(2026, 4, 3)) == D(2026, 4, 3)
    assert CORE.next_open_day(D(2026, 5, 2)) == D(2026, 5, 7)
    assert CORE.next_open_day(D(2026, 9, 19)) == D(2026, 9, 24)
    assert CORE.previous_open_day(D(2026, 4, 3)) == D(2026, 4, 3)
    assert CORE.previous_open_day(D(2027, 1, 3)) == D(2026, 12, 28)


def test_open_day_counting() -> None:
    assert CORE.add_open_days(D(2026, 9, 18), 1) == D(2026, 9, 24)
    assert CORE.open_days_between(D(2026, 9, 18), D(2026, 9, 24)) == 1
    assert CORE.add_open_days(D(2026, 4, 24), 5) == D(2026, 5, 7)  # 4/27, 4/28, 4/30, 5/1, 5/7
    assert CORE.open_days_between(D(2026, 4, 1), D(2026, 4, 30)) == 20
    assert CORE.open_days_between(D(2026, 4, 30), D(2026, 4, 1)) == -20


def test_local_holiday_since_and_until() -> None:
    bounded = MunicipalCalendar.layered("x", [CalendarSettings("x", local_holidays=(
        LocalHoliday(MonthDay(6, 23), "慰霊の日", "条例", since=D(2025, 1, 1), until=D(2026, 12, 31)),))])
    assert bounded.is_open(D(2021, 6, 23))  # Wednesday, before since
    assert not bounded.is_open(D(2025, 6, 23))  # Monday, inside
    assert not bounded.is_open(D(2026, 6, 23))  # Tuesday, inside
    assert bounded.is_open(D(2027, 6, 23))  # Wednesday, after until


def test_layers_override_and_accumulate() -> None:
    prefecture = CalendarSettings("pref", local_holidays=(LocalHoliday(MonthDay(6, 23), "慰霊の日", "県条例"),))
    city = CalendarSettings("city", year_end=YearEndClosure(MonthDay(12, 28), MonthDay(1, 4)), local_holidays=(
        LocalHoliday(MonthDay(6, 23), "慰霊の日（市）", "市条例"), LocalHoliday(MonthDay(5, 15), "市の日", "市条例")))
    calendar = MunicipalCalendar.layered("市", [prefecture, city])
    assert [(str(h.day), h.name) for h in calendar.local_holidays] == [("5月15日", "市の日"), ("6月23日", "慰霊の日（市）")]
    assert str(calendar.year_end) == "12月28日〜1月4日"
    assert calendar.layers == ("pref", "city")


@pytest.mark.parametrize(
    "call",
    [lambda: CORE.next_open_day(D(PUBLISHED_THROUGH_YEAR, 12, 29)),
     lambda: CORE.is_open(D(PUBLISHED_THROUGH_YEAR + 1, 1, 4)),
     lambda: CORE.add_open_days(D(PUBLISHED_THROUGH_YEAR, 12, 20), 10),
     lambda: CORE.add_open_days(D(1948, 7, 21), -5),
     lambda: CORE.deadline(D(PUBLISHED_THROUGH_YEAR, 12, 25), 14)],
    ids=["next-runs-off-the-end", "unpublished-year", "add-runs-off", "backwards-off-the-start", "deadline"],
)
def test_running_out_of_the_range_is_an_error(call: object) -> None:
    with pytest.raises(OutOfCalendarRange):
        call()  # type: ignore[operator]


def test_deadline_needs_at_least_one_day() -> None:
    with pytest.raises(DateError, match="1日以上"):
        CORE.deadline(D(2026, 4, 1), 0)


# --- properties ------------------------------------------------------------------------------------------
calendars = st.sampled_from(list(CALENDARS.values()))
inner_dates = st.dates(min_value=D(1949, 1, 1), max_value=D(PUBLISHED_THROUGH_YEAR, 9, 30))


@given(calendars, inner_dates)
def test_next_open_day_is_open_and_closest(calendar: MunicipalCalendar, date: dt.date) -> None:
    result = calendar.next_open_day(date)
    assert result >= date and calendar.is_open(result)
    assert all(not calendar.is_open(date + dt.timedelta(days=i)) for i in range((result - date).days))


@given(calendars, inner_dates)
def test_previous_open_day_is_open_and_closest(calendar: MunicipalCalendar, date: dt.date) -> None:
    result = calendar.previous_open_day(date)
    assert result <= date and calendar.is_open(result)
    assert all(not calendar.is_open(date - dt.timedelta(days=i)) for i in range((date - result).days))


@given(calendars, inner_dates, st.integers(min_value=-40, max_value=40))
def test_add_open_days_agrees_with_counting(calendar: MunicipalCalendar, date: dt.date, days: int) -> None:
    result = calendar.add_open_days(date, days)
    assert calendar.open_days_between(date, result) == days
    if days:
        assert calendar.is_open(result)
        assert (result > date) == (days > 0)


@given(calendars, inner_dates, st.integers(min_value=1, max_value=60))
def test_deadline_is_the_first_open_day_on_or_after_the_last_day(
    calendar: MunicipalCalendar, date: dt.date, days: int
) -> None:
    result = calendar.deadline(date, days)
    assert result == calendar.next_open_day(date + dt.timedelta(days=days))
