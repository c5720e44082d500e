"""The [calendar] table of pack.toml (PCK62x) and which calendar a municipality code resolves to."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.calendars import calendar_for, prefecture_code, resolve_calendar
from engine.packs import discover_packs, is_valid_code, load_pack
from standard_core.diagnostics import Severity

ROOT = Path(__file__).resolve().parent.parent
D = dt.date

HEAD = 'id = "470007-okinawa"\nversion = "0.1.0"\nmunicipalities = ["470007"]\n'
GOOD = HEAD + """
[calendar]
cite = "沖縄県の休日を定める条例"
year_end = { from = "12-29", to = "01-03" }

[[calendar.local_holidays]]
date = "06-23"
name = "慰霊の日"
cite = "沖縄県の休日を定める条例"
since = 1991-01-01
"""

# name → (pack.toml text, expected [(code, line, column)])
CASES: dict[str, tuple[str, list[tuple[str, int, int]]]] = {
    "good": (GOOD, []),
    "good-no-calendar": (HEAD, []),
    "good-year-end-table": (HEAD + '[calendar.year_end]\nfrom = "12-28"\nto = "01-04"\n', []),
    "good-inline-holidays": (HEAD + '[calendar]\nlocal_holidays = [{ date = "08-06", name = "平和記念日", cite = "条例" }]\n', []),
    "good-string-dates": (GOOD.replace("since = 1991-01-01", 'since = "1991-01-01"\nuntil = "2030-12-31"'), []),
    "calendar-not-a-table": (HEAD + 'calendar = "沖縄"\n', [("PCK620", 4, 12)]),
    "year-end-not-a-table": (HEAD + '[calendar]\nyear_end = "12-29"\n', [("PCK620", 5, 12)]),
    "year-end-bad-day": (GOOD.replace('from = "12-29"', 'from = "12-32"'), [("PCK621", 7, 21)]),
    "year-end-number": (GOOD.replace('to = "01-03"', "to = 103"), [("PCK620", 7, 35)]),
    "holiday-not-mm-dd": (GOOD.replace('date = "06-23"', 'date = "6/23"'), [("PCK621", 10, 8)]),
    "holiday-feb-29": (GOOD.replace('date = "06-23"', 'date = "02-29"'), [("PCK621", 10, 8)]),
    "holiday-missing-cite": (GOOD.replace('cite = "沖縄県の休日を定める条例"\nsince', "since"), [("PCK622", 9, 1)]),
    "holiday-missing-name": (GOOD.replace('name = "慰霊の日"\n', ""), [("PCK622", 9, 1)]),
    "holiday-bad-since": (GOOD.replace("since = 1991-01-01", 'since = "1991-13-01"'), [("PCK623", 13, 9)]),
    "holiday-until-before-since": (GOOD.replace("since = 1991-01-01", "since = 1991-01-01\nuntil = 1990-01-01"),
                                   [("PCK623", 14, 9)]),
    "holiday-duplicate": (GOOD + '\n[[calendar.local_holidays]]\ndate = "06-23"\nname = "慰霊の日"\ncite = "x"\n',
                          [("PCK624", 16, 8)]),
    "holidays-not-a-list": (HEAD + '[calendar]\nlocal_holidays = "06-23"\n', [("PCK620", 5, 18)]),
    "empty-name": (GOOD.replace('name = "慰霊の日"', 'name = ""'), [("PCK620", 11, 8)]),
    "unknown-key-warning": (GOOD.replace('cite = "沖縄県の休日を定める条例"\nyear_end', 'cites = "x"\nyear_end'),
                            [("PCK614", 6, 9)]),
    "unknown-holiday-key": (GOOD.replace("since = 1991-01-01", 'sinse = "1991-01-01"'), [("PCK614", 13, 9)]),
}


def write_pack(parent: Path, folder: str, text: str) -> Path:
    directory = parent / folder
    directory.mkdir(parents=True)
    (directory / "pack.toml").write_text(text, encoding="utf-8")
    return directory


@pytest.mark.parametrize(("text", "expected"), list(CASES.values()), ids=list(CASES))
def test_calendar_table(tmp_path: Path, text: str, expected: list[tuple[str, int, int]]) -> None:
    pack, diagnostics = load_pack(write_pack(tmp_path, "470007-okinawa", text))
    assert sorted((d.code, d.span.line, d.span.column) for d in diagnostics) == sorted(expected)
    assert (pack is None) == any(d.severity is Severity.ERROR for d in diagnostics)
    assert all(d.hint and d.source_line is not None for d in diagnostics)


def test_good_calendar_values(tmp_path: Path) -> None:
    pack, _ = load_pack(write_pack(tmp_path, "470007-okinawa", GOOD))
    assert pack is not None and pack.calendar is not None
    (holiday,) = pack.calendar.local_holidays
    assert (holiday.name, str(holiday.day), holiday.since, holiday.until) == ("慰霊の日", "6月23日", D(1991, 1, 1), None)
    assert pack.calendar.year_end is not None and pack.calendar.year_end.cite == "沖縄県の休日を定める条例"


# --- resolution ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "prefecture"),
    [("472018", "470007"), ("341002", "340006"), ("141305", "140007"), ("470007", "470007")],
    ids=["naha", "hiroshima", "kawasaki", "okinawa-itself"],
)
def test_prefecture_code(code: str, prefecture: str) -> None:
    assert prefecture_code(code) == prefecture
    assert is_valid_code(prefecture)


@pytest.mark.parametrize("code", ["470007", "472018", "341002"], ids=["okinawa", "naha", "hiroshima"])
def test_sample_pack_codes_have_valid_check_digits(code: str) -> None:
    assert is_valid_code(code)


# (code, name, open on 2026-06-23 (慰霊の日), open on 2026-08-06 (平和記念日))
REPOSITORY = {
    "naha-own-pack-on-okinawa": ("472018", "那覇市", False, True),
    "okinawa-prefecture": ("470007", "沖縄県（県内共通）", False, True),
    "okinawa-city-no-pack-uses-prefecture": ("472115", "472115: 沖縄県（県内共通）の暦", False, True),
    "hiroshima": ("341002", "広島市", True, False),
    "kawasaki-pack-without-calendar": ("141305", "川崎市", True, True),
    "unknown-valid-code-core": ("011002", "011002: 標準の暦", True, True),
}


@pytest.mark.parametrize(("code", "name", "june_23", "august_6"), list(REPOSITORY.values()), ids=list(REPOSITORY))
def test_repository_calendars(code: str, name: str, june_23: bool, august_6: bool) -> None:
    calendar, diagnostics = resolve_calendar(code, ROOT)
    assert diagnostics == []
    assert calendar is not None
    assert calendar.name == name
    assert calendar.is_open(D(2026, 6, 23)) is june_23
    assert calendar.is_open(D(2026, 8, 6)) is august_6


@pytest.mark.parametrize(
    "code", ["472019", "47201", "４７２０１８", "abcdef"], ids=["check-digit", "five-digits", "full-width", "letters"]
)
def test_invalid_code_is_a_diagnostic(code: str) -> None:
    calendar, diagnostics = resolve_calendar(code, ROOT)
    assert calendar is None
    assert [d.code for d in diagnostics] == ["INP801"]


def test_child_overrides_base(tmp_path: Path) -> None:
    rules = tmp_path / "local_rules"
    write_pack(rules, "470007-okinawa", GOOD)
    write_pack(rules, "472018-naha", 'id = "472018-naha"\nversion = "0.1.0"\nmunicipalities = ["472018"]\n'
               'base = "470007-okinawa"\n[calendar]\nyear_end = { from = "12-28", to = "01-04" }\n'
               '[[calendar.local_holidays]]\ndate = "05-15"\nname = "市の日"\ncite = "那覇市の休日を定める条例"\n')
    calendar, diagnostics = resolve_calendar("472018", tmp_path)
    assert diagnostics == [] and calendar is not None
    assert str(calendar.year_end) == "12月28日〜1月4日"
    assert [h.name for h in calendar.local_holidays] == ["市の日", "慰霊の日"]
    assert calendar.layers == ("470007-okinawa", "472018-naha")


def test_broken_pack_stops_resolution(tmp_path: Path) -> None:
    write_pack(tmp_path / "local_rules", "470007-okinawa", GOOD.replace('date = "06-23"', 'date = "6-23"'))
    calendar, diagnostics = resolve_calendar("472018", tmp_path)
    assert calendar is None
    assert [d.code for d in diagnostics] == ["INP803", "PCK621"]
    assert diagnostics[1].span.file == "local_rules/470007-okinawa/pack.toml"


def test_two_packs_claiming_one_code_is_ambiguous(tmp_path: Path) -> None:
    rules = tmp_path / "local_rules"
    for pack_id in ("472018-naha", "472018-naha2"):
        write_pack(rules, pack_id, f'id = "{pack_id}"\nversion = "0.1.0"\nmunicipalities = ["472018"]\n')
    packs, diagnostics = discover_packs(rules)
    assert diagnostics == []
    calendar, found = calendar_for("472018", packs)
    assert calendar is None
    assert [d.code for d in found] == ["INP804"]
