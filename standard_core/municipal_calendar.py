"""A municipality's calendar of open and closed days (地方自治法4条の2), and the deadlines built on it.

Closed days (地方公共団体の休日, 地方自治法4条の2第2項) are: 日曜日・土曜日 (1号), the 祝日法 holidays
(2号, standard_core.holidays), the 年末年始 days the municipality's 休日条例 names (3号; the core default is
12月29日〜1月3日), and local days of special significance (4条の2第2項・第3項; e.g. 沖縄県 6月23日
慰霊の日, 広島市 8月6日 平和記念日). The last two are open parameters: packs set them
(local_rules/<pack>/pack.toml, [calendar]), engine.calendars resolves them per municipality code.

Conventions (docs/dates.md):
- next_open_day / previous_open_day include the given day when it is open.
- open_days_between(a, b) counts the open days you step on walking from a to b: a never counts, b counts if
  open; negative when b is before a. add_open_days(a, n) lands on the n-th such day, so
  open_days_between(a, add_open_days(a, n)) == n for every n.
- deadline(day, n): 民法140条 (the first day is not counted) + 地方自治法4条の2第4項 (a deadline on a closed
  day moves to the next open day). payday(day): the previous open day, as 支給条例 usually provide.
- Every date touched must lie in the range of standard_core.holidays, else OutOfCalendarRange.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from standard_core.dates import DateError
from standard_core.holidays import check_in_range, national_holiday_name

LOCAL_AUTONOMY_ACT = "地方自治法4条の2"
DEADLINE_SOURCE = "民法140条（初日不算入）、地方自治法4条の2第4項（休日の翌日をもって期限とみなす）"
_ONE_DAY = dt.timedelta(days=1)
_WEEKDAY_NAMES = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")


@dataclass(frozen=True, order=True, slots=True)
class MonthDay:
    """A day of the year without a year ("06-23"); 2月29日 is refused (it is not a yearly day)."""

    month: int
    day: int

    def __post_init__(self) -> None:
        if (self.month, self.day) == (2, 29):
            raise DateError("2月29日は毎年ある日ではないため、毎年の休日にできません", "ほかの日付を指定してください。")
        try:
            dt.date(2001, self.month, self.day)
        except (ValueError, TypeError) as e:
            raise DateError(f"{self.month}月{self.day}日はありません", "「MM-DD」の形で書いてください（例: \"06-23\"）。") from e

    @classmethod
    def parse(cls, text: str) -> MonthDay:
        """ "MM-DD" → MonthDay, as pack.toml writes the days of a 休日条例 (地方自治法4条の2第2項).

        >>> MonthDay.parse("06-23")
        MonthDay(month=6, day=23)
        """
        parts = text.split("-")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) == 2 for p in parts):
            raise DateError(f"「{text}」は月日（MM-DD）ではありません", "「MM-DD」の形で書いてください（例: \"06-23\"）。")
        return cls(int(parts[0]), int(parts[1]))

    def of(self, date: dt.date) -> bool:
        """True when `date` falls on this day of the year (the yearly 休日 of a 条例).

        >>> MonthDay(6, 23).of(dt.date(2026, 6, 23))
        True
        """
        return (date.month, date.day) == (self.month, self.day)

    def __str__(self) -> str:
        return f"{self.month}月{self.day}日"


@dataclass(frozen=True, slots=True)
class YearEndClosure:
    """The 年末年始 closure (地方自治法4条の2第2項3号). `start` after `end` means it spans the new year."""

    start: MonthDay
    end: MonthDay
    cite: str = ""

    def contains(self, date: dt.date) -> bool:
        """True inside the closure, both ends included (地方自治法4条の2第2項3号).

        >>> CORE_YEAR_END.contains(dt.date(2026, 1, 3)), CORE_YEAR_END.contains(dt.date(2026, 1, 4))
        (True, False)
        """
        day, start, end = (date.month, date.day), (self.start.month, self.start.day), (self.end.month, self.end.day)
        if start <= end:
            return start <= day <= end
        return day >= start or day <= end

    def __str__(self) -> str:
        return f"{self.start}〜{self.end}"


@dataclass(frozen=True, slots=True)
class LocalHoliday:
    """A local closed day set by 条例 (地方自治法4条の2第2項・第3項), e.g. 6月23日 慰霊の日.

    `since`/`until` bound the years it applies (inclusive; None: unbounded), so an old case is still
    decided by the calendar of its own date.
    """

    day: MonthDay
    name: str
    cite: str
    since: dt.date | None = None
    until: dt.date | None = None

    def applies(self, date: dt.date) -> bool:
        """True when this 条例 holiday closes the offices on `date` (since/until inclusive).

        >>> LocalHoliday(MonthDay(8, 6), "平和記念日", "広島市の休日を定める条例", since=dt.date(2000, 1, 1)).applies(
        ...     dt.date(1999, 8, 6))
        False
        """
        return (
            self.day.of(date)
            and (self.since is None or date >= self.since)
            and (self.until is None or date <= self.until)
        )


CORE_YEAR_END = YearEndClosure(
    MonthDay(12, 29), MonthDay(1, 3), "地方自治法4条の2第2項3号（標準的な休日条例の12月29日から翌年の1月3日まで）"
)


@dataclass(frozen=True, slots=True)
class CalendarSettings:
    """The open parameters one layer (a pack) sets; None / () leaves the layer below unchanged.

    A local holiday replaces a lower layer's holiday on the same day (to rename it or bound it with
    since/until); otherwise holidays accumulate from the prefecture to the municipality.
    """

    source: str
    year_end: YearEndClosure | None = None
    local_holidays: tuple[LocalHoliday, ...] = ()


@dataclass(frozen=True, slots=True)
class MunicipalCalendar:
    """The closed days of one municipality and the operations rules need (地方自治法4条の2)."""

    name: str = "標準"
    year_end: YearEndClosure = CORE_YEAR_END
    local_holidays: tuple[LocalHoliday, ...] = ()
    layers: tuple[str, ...] = field(default=())  # which packs set the parameters, outermost first

    @classmethod
    def layered(cls, name: str, settings: Sequence[CalendarSettings]) -> MunicipalCalendar:
        """Apply `settings` (each a 休日条例, 地方自治法4条の2) from the base (prefecture) to the municipality;
        each overrides the one before.

        >>> okinawa = CalendarSettings("沖縄県", local_holidays=(LocalHoliday(MonthDay(6, 23), "慰霊の日", "条例"),))
        >>> naha = CalendarSettings("那覇市", year_end=YearEndClosure(MonthDay(12, 28), MonthDay(1, 4)))
        >>> cal = MunicipalCalendar.layered("那覇市", [okinawa, naha])
        >>> str(cal.year_end), [h.name for h in cal.local_holidays]
        ('12月28日〜1月4日', ['慰霊の日'])
        """
        year_end = CORE_YEAR_END
        holidays: dict[MonthDay, LocalHoliday] = {}
        for layer in settings:
            if layer.year_end is not None:
                year_end = layer.year_end
            for holiday in layer.local_holidays:
                holidays[holiday.day] = holiday
        return cls(name, year_end, tuple(holidays[d] for d in sorted(holidays)), tuple(s.source for s in settings))

    # --- closed days ------------------------------------------------------------------------------------
    def closed_reasons(self, date: dt.date) -> tuple[str, ...]:
        """Why `date` is closed (empty when open), most specific first (地方自治法4条の2第2項).

        >>> MunicipalCalendar().closed_reasons(dt.date(2026, 1, 3))
        ('土曜日', '年末年始（12月29日〜1月3日）')
        >>> MunicipalCalendar().closed_reasons(dt.date(2026, 1, 5))
        ()
        """
        check_in_range(date)
        reasons: list[str] = []
        holiday = national_holiday_name(date)
        if holiday is not None:
            reasons.append(holiday)
        reasons.extend(h.name for h in self.local_holidays if h.applies(date))
        if date.weekday() >= 5:
            reasons.insert(0, _WEEKDAY_NAMES[date.weekday()])
        if self.year_end.contains(date):
            reasons.append(f"年末年始（{self.year_end}）")
        return tuple(reasons)

    def is_open(self, date: dt.date) -> bool:
        """True when the offices are open on `date` (not a 休日 of 地方自治法4条の2第2項).

        >>> MunicipalCalendar().is_open(dt.date(2026, 9, 22)), MunicipalCalendar().is_open(dt.date(2026, 9, 24))
        (False, True)
        """
        return not self.closed_reasons(date)

    def next_open_day(self, date: dt.date) -> dt.date:
        """`date` if open, else the first open day after it (地方自治法4条の2第4項).

        >>> MunicipalCalendar().next_open_day(dt.date(2025, 12, 27))
        datetime.date(2026, 1, 5)
        """
        while not self.is_open(date):
            date += _ONE_DAY
        return date

    def previous_open_day(self, date: dt.date) -> dt.date:
        """`date` if open, else the last open day before it (地方自治法4条の2第2項の休日を除く).

        >>> MunicipalCalendar().previous_open_day(dt.date(2026, 5, 6))
        datetime.date(2026, 5, 1)
        """
        while not self.is_open(date):
            date -= _ONE_DAY
        return date

    def add_open_days(self, date: dt.date, days: int) -> dt.date:
        """The `days`-th open day after `date` (before it when negative); `date` itself is never counted,
        like the first day under 民法140条; closed days (地方自治法4条の2第2項) are skipped.

        >>> MunicipalCalendar().add_open_days(dt.date(2025, 12, 26), 1)
        datetime.date(2026, 1, 5)
        >>> MunicipalCalendar().add_open_days(dt.date(2026, 1, 5), -1)
        datetime.date(2025, 12, 26)
        >>> MunicipalCalendar().add_open_days(dt.date(2026, 1, 1), 0)
        datetime.date(2026, 1, 1)
        """
        check_in_range(date)
        step = _ONE_DAY if days >= 0 else -_ONE_DAY
        remaining = abs(days)
        while remaining:
            date += step
            if self.is_open(date):
                remaining -= 1
        return date

    def open_days_between(self, start: dt.date, end: dt.date) -> int:
        """Open days from `start` (not counted, 民法140条) to `end` (counted when open); negative if `end` <
        `start`. Closed days are those of 地方自治法4条の2第2項.

        >>> MunicipalCalendar().open_days_between(dt.date(2025, 12, 26), dt.date(2026, 1, 5))
        1
        >>> MunicipalCalendar().open_days_between(dt.date(2026, 1, 5), dt.date(2025, 12, 26))
        -1
        """
        check_in_range(start)
        check_in_range(end)
        step, sign = (_ONE_DAY, 1) if end >= start else (-_ONE_DAY, -1)
        count, date = 0, start
        while date != end:
            date += step
            if self.is_open(date):
                count += 1
        return sign * count

    # --- deadlines and paydays ------------------------------------------------------------------------
    def deadline(self, first_day: dt.date, days: int) -> dt.date:
        """The last day of a period of `days` days from the event on `first_day` (民法140条・141条),
        moved to the next open day when closed (地方自治法4条の2第4項, 民法142条).

        The first day is not counted (民法140条本文), so the period ends on first_day + days.
        転入 on 12月20日 with 14日以内 (住民基本台帳法22条): 14th day 1月3日 → closed → the first open day.

        >>> MunicipalCalendar().deadline(dt.date(2025, 12, 20), 14)
        datetime.date(2026, 1, 5)
        >>> MunicipalCalendar().deadline(dt.date(2026, 4, 1), 14)
        datetime.date(2026, 4, 15)
        """
        if days < 1:
            raise DateError(
                f"期間の日数は1日以上です（{days}日が指定されました）",
                "期限日(初日, 日数) の日数には 1 以上を書いてください。",
                DEADLINE_SOURCE,
            )
        try:
            last = first_day + dt.timedelta(days=days)
        except OverflowError as e:
            raise DateError("期限日が扱える範囲を超えました", "日数を確かめてください。") from e
        check_in_range(first_day)
        return self.next_open_day(last)

    def payday(self, date: dt.date) -> dt.date:
        """A payment day: `date` if open, else the previous open day (支給日が休日のときは繰り上げる例,
        e.g. 児童手当の支払期月の条例・規則).

        >>> MunicipalCalendar().payday(dt.date(2026, 1, 10))
        datetime.date(2026, 1, 9)
        """
        return self.previous_open_day(date)
