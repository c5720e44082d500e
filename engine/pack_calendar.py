"""The `[calendar]` table of pack.toml: the open parameters of a municipality's calendar (interim format).

Until the rules language defines open parameters, a pack sets its calendar here:

    [calendar]
    cite = "沖縄県の休日を定める条例"                        # optional, the default cite below
    year_end = { from = "12-29", to = "01-03" }           # optional, 年末年始 (地方自治法4条の2第2項3号)

    [[calendar.local_holidays]]                            # zero or more
    date = "06-23"                                         # MM-DD, every year
    name = "慰霊の日"
    cite = "沖縄県の休日を定める条例 第1条第1項第4号"      # required: which ordinance makes it a 休日
    since = 1991-01-01                                     # optional (TOML date or "YYYY-MM-DD"), inclusive
    until = 2030-12-31                                     # optional, inclusive

Every problem is a PCK62x diagnostic at the line and column of the offending value (docs/errors.md).
The result is a standard_core CalendarSettings; engine.calendars layers them per municipality.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from difflib import get_close_matches
from typing import TYPE_CHECKING

from standard_core.dates import DateError
from standard_core.diagnostics import Diagnostic
from standard_core.municipal_calendar import CalendarSettings, LocalHoliday, MonthDay, YearEndClosure

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.packs import _Source

    _At = Callable[[], tuple[int, int]]
    _AtKey = Callable[[str], tuple[int, int]]

TABLE = "calendar"
CALENDAR_KEYS = ("cite", "year_end", "local_holidays")
YEAR_END_KEYS = ("from", "to", "cite")
HOLIDAY_KEYS = ("date", "name", "cite", "since", "until")
_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


class _Locator:
    """Finds where a key of the [calendar] table (or of its n-th local holiday) is written."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        # (header, occurrence) → first line number of that table's body
        self.sections: dict[tuple[str, int], int] = {}
        counts: dict[str, int] = {}
        for number, text in enumerate(source.lines, start=1):
            m = _HEADER.match(text)
            if m:
                header = re.sub(r"\s*\.\s*", ".", m.group(2))
                index = counts.get(header, 0)
                counts[header] = index + 1
                self.sections[(header, index)] = number

    def at(self, header: str, key: str | None = None, index: int = 0, inner: str | None = None) -> tuple[int, int]:
        """Line and column of `key` (and of `inner` inside an inline table on that line) in a table."""
        start = self.sections.get((header, index))
        if start is None:
            # Written as an inline value of the parent (`local_holidays = [{…}]`, `year_end = {…}`).
            parent, _, name = header.rpartition(".")
            if parent:
                return self.at(parent, name, 0, key)
            return self.source.key_position(header) or (1, 1)
        if key is None:
            return start, 1
        pattern = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}")\s*=\s*""")
        for number in range(start + 1, len(self.source.lines) + 1):
            text = self.source.lines[number - 1]
            if _HEADER.match(text):
                break
            m = pattern.match(text)
            if m:
                if inner is not None:
                    found = re.search(rf"""(?:{re.escape(inner)}|"{re.escape(inner)}")\s*=\s*""", text[m.end():])
                    if found:
                        return number, m.end() + found.end() + 1
                return number, m.end() + 1
        return start, 1


def parse_calendar(source: _Source, value: object, label: str, out: list[Diagnostic]) -> CalendarSettings | None:
    """Validate the [calendar] table; append diagnostics to `out`. None when absent or invalid."""
    if value is None:
        return None
    where = _Locator(source)
    before = len(out)
    if not isinstance(value, Mapping):
        out.append(_type_error(source, where.at(TABLE), "calendar", "表（[calendar]）"))
        return None
    _unknown_keys(source, value, CALENDAR_KEYS, lambda key: where.at(TABLE, key), "[calendar]", out)
    default_cite = _text(source, value, "cite", lambda: where.at(TABLE, "cite"), out) or ""
    year_end = _year_end(source, value.get("year_end"), where, default_cite, out)
    holidays = _local_holidays(source, value.get("local_holidays"), where, out)
    if any(d.is_error for d in out[before:]):
        return None
    return CalendarSettings(label, year_end, holidays)


def _year_end(
    source: _Source, value: object, where: _Locator, default_cite: str, out: list[Diagnostic]
) -> YearEndClosure | None:
    header = f"{TABLE}.year_end"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        out.append(_type_error(source, where.at(TABLE, "year_end"), "year_end", '表（{ from = "12-29", to = "01-03" }）'))
        return None
    _unknown_keys(source, value, YEAR_END_KEYS, lambda key: where.at(header, key), "year_end", out)
    start = _month_day(source, value, "from", lambda: where.at(header, "from"), out)
    end = _month_day(source, value, "to", lambda: where.at(header, "to"), out)
    cite = _text(source, value, "cite", lambda: where.at(header, "cite"), out) or default_cite
    if start is None or end is None:
        return None
    return YearEndClosure(start, end, cite)


def _local_holidays(source: _Source, value: object, where: _Locator, out: list[Diagnostic]) -> tuple[LocalHoliday, ...]:
    header = f"{TABLE}.local_holidays"
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        out.append(_type_error(source, where.at(TABLE, "local_holidays"), "local_holidays",
                               "表の配列（[[calendar.local_holidays]]）"))
        return ()
    holidays: list[LocalHoliday] = []
    seen: dict[MonthDay, int] = {}
    for index, entry in enumerate(value):
        def at(key: str | None, index: int = index) -> tuple[int, int]:
            return where.at(header, key, index)

        _unknown_keys(source, entry, HOLIDAY_KEYS, at, "[[calendar.local_holidays]]", out)
        for key in ("date", "name", "cite"):
            if key not in entry:
                out.append(source.at(
                    at(None), "PCK622", f"団体の休日（{index + 1}件目）に必須の項目「{key}」がありません。",
                    '`date = "06-23"`、`name = "慰霊の日"`、`cite = "○○市の休日を定める条例"` を書いてください。'
                    "cite には、その日を休日とする条例の名前と条項を書きます。",
                ))
        day = _month_day(source, entry, "date", lambda: at("date"), out)
        name = _text(source, entry, "name", lambda: at("name"), out)
        cite = _text(source, entry, "cite", lambda: at("cite"), out)
        since = _date(source, entry, "since", lambda: at("since"), out)
        until = _date(source, entry, "until", lambda: at("until"), out)
        if since is not None and until is not None and since > until:
            out.append(source.at(
                at("until"), "PCK623", f"until（{until.isoformat()}）が since（{since.isoformat()}）より前です。",
                "since は条例の施行日、until は廃止の前日です。順序を確かめてください。",
            ))
            continue
        if day is None or name is None or cite is None:
            continue
        if day in seen:
            out.append(source.at(
                at("date"), "PCK624", f"団体の休日 {day} が二回書かれています（{seen[day] + 1}件目と{index + 1}件目）。",
                "同じ日の休日は一つにまとめてください。",
            ))
            continue
        seen[day] = index
        holidays.append(LocalHoliday(day, name, cite, since, until))
    return tuple(holidays)


def _month_day(source: _Source, table: Mapping[str, object], key: str, at: _At, out: list[Diagnostic]) -> MonthDay | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        out.append(_type_error(source, at(), key, '"MM-DD" の形の文字列（例: "06-23"）'))
        return None
    try:
        return MonthDay.parse(value)
    except DateError as e:
        out.append(source.at(at(), "PCK621", f"{key} の「{value}」は月日として正しくありません: {e.message}。", e.hint))
        return None


def _date(source: _Source, table: Mapping[str, object], key: str, at: _At, out: list[Diagnostic]) -> dt.date | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    out.append(source.at(
        at(), "PCK623", f"{key} の値 {value!r} は日付（YYYY-MM-DD）ではありません。",
        f"`{key} = 1991-06-23` のように書いてください（引用符はあってもなくても構いません）。",
    ))
    return None


def _text(
    source: _Source, table: Mapping[str, object], key: str, at: _At, out: list[Diagnostic]
) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    out.append(_type_error(source, at(), key, "空でない文字列"))
    return None


def _unknown_keys(
    source: _Source, table: Mapping[str, object], known: tuple[str, ...], at: _AtKey, where: str, out: list[Diagnostic]
) -> None:
    for key in table:
        if key in known:
            continue
        close = get_close_matches(key, known, n=1)
        hint = f"「{close[0]}」の書き間違いではありませんか。" if close else f"{where} に書ける項目は {', '.join(known)} です。"
        out.append(source.at(at(key), "PCK614", f"{where} の未知の項目「{key}」は無視されます。", hint, is_warning=True))


def _type_error(source: _Source, position: tuple[int, int], key: str, wanted: str) -> Diagnostic:
    return source.at(
        position, "PCK620", f"「{key}」は{wanted}でなければなりません。",
        "書き方は README の「パック」の [calendar] の例を見てください。",
    )
