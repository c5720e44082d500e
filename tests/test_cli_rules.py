"""`jichi rules eval` through the real click command: the pinned JSON shape, exit codes and --on."""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from typing import cast

import pytest
from click.testing import CliRunner, Result

from engine import clock
from web.cli import cli
from web.cli_rules import exact_decimal

DIAGNOSTIC_KEYS = ["code", "severity", "message", "file", "line", "column", "end_line", "end_column", "hint", "reference"]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["rules", "eval", *args])


def run_json(expression: str, municipality: str = "472018", *extra: str) -> tuple[dict[str, object], int]:
    result = run("--expr", expression, "--municipality", municipality, "--json", *extra)
    payload = json.loads(result.output)
    assert list(payload) == ["value", "type", "trace", "diagnostics"]
    return payload, result.exit_code


# (expression, municipality, --on or None, value, type) — the kinds of case the held-out checks use
CASES = {
    "age-4-1": ("年齢(2008-04-01, 2026-03-31)", "472018", None, 18, "整数"),
    "age-4-2": ("年齢(2008-04-02, 2026-03-31)", "472018", None, 17, "整数"),
    "age-2-29": ("年齢(2004-02-29, 2005-02-28)", "472018", None, 1, "整数"),
    "age-on-reference-date": ("年齢(2008-04-01, 基準日)", "472018", "令和8年3月31日", 18, "整数"),
    "18-end-4-1": ("年度末到達日(2008-04-01, 18)", "472018", None, "2026-03-31", "日付"),
    "18-end-4-2": ("年度末到達日(2008-04-02, 18)", "472018", None, "2027-03-31", "日付"),
    "grade": ("学年(2019-04-02, 2026-04-01)", "472018", None, 1, "整数"),
    "wareki-reiwa-first-day": ("和暦(2019-05-01)", "472018", None, "令和元年5月1日", "文字列"),
    "wareki-heisei-last-day": ("和暦(2019-04-30)", "472018", None, "平成31年4月30日", "文字列"),
    "wareki-full-width": ("和暦日付(「Ｒ７．４．１」)", "472018", None, "2025-04-01", "日付"),
    "wareki-literal": ("令和元年5月1日", "472018", None, "2019-05-01", "日付"),
    "deadline-year-end": ("期限日(2025-12-20, 14)", "472018", None, "2026-01-05", "日付"),
    "payday-year-end": ("支払日(2025-12-30)", "472018", None, "2025-12-26", "日付"),
    "deadline-golden-week": ("期限日(2026-04-22, 14)", "141305", None, "2026-05-07", "日付"),
    "september-kokumin": ("開庁日か(2026-09-22)", "141305", None, False, "真偽"),
    "ireinohi-naha": ("開庁日か(2026-06-23)", "472018", None, False, "真偽"),
    "ireinohi-kawasaki": ("開庁日か(2026-06-23)", "141305", None, True, "真偽"),
    "heiwa-hiroshima-payday": ("支払日(2026-08-06)", "341002", None, "2026-08-05", "日付"),
    "add-months": ("月加算(2025-01-31, 1, 「末日」)", "141305", None, "2025-02-28", "日付"),
    "rate": ("1 / 3", "141305", None, "1/3", "割合"),
    "percent": ("10% * 3", "141305", None, "0.3", "割合"),
    "money": ("1,500円 * 2", "141305", None, 3000, "金額"),
    "list": ("[次の開庁日(2026-05-02), 前の開庁日(2026-05-06)]", "141305", None, ["2026-05-07", "2026-05-01"],
             "日付の一覧"),
    "unknown-code-core-calendar": ("開庁日か(2026-06-23)", "011002", None, True, "真偽"),
}


@pytest.mark.parametrize(("expression", "code", "on", "value", "type_name"), list(CASES.values()), ids=list(CASES))
def test_values(expression: str, code: str, on: str | None, value: object, type_name: str) -> None:
    extra = ("--on", on) if on else ()
    payload, exit_code = run_json(expression, code, *extra)
    assert payload == {"value": value, "type": type_name, "trace": None, "diagnostics": []}
    assert exit_code == 0


# (expression, municipality, extra args, codes, type)
ERRORS = {
    "syntax": ("年齢(", "472018", (), ["DSL102"], None),
    "unknown-function": ("開庁日(2026-01-01)", "472018", (), ["DSL203"], None),
    "reiwa-gannen-april": ("和暦日付(「令和元年4月1日」)", "472018", (), ["DSL109"], None),
    "heisei-32": ("令和2年1月1日 = 平成32年1月1日", "472018", (), ["DSL109"], None),
    "out-of-range": ("開庁日か(2028-01-04)", "472018", (), ["DSL306"], "真偽"),
    "bad-check-digit": ("開庁日か(2026-06-23)", "472019", (), ["INP801"], "真偽"),
    "bad-on": ("基準日", "472018", ("--on", "令和元年4月1日"), ["INP802"], "日付"),
    "everything-at-once": ("年齢(", "47201", ("--on", "あした"), ["INP802", "INP801", "DSL102"], None),
}


@pytest.mark.parametrize(("expression", "code", "extra", "codes", "type_name"), list(ERRORS.values()), ids=list(ERRORS))
def test_errors(expression: str, code: str, extra: tuple[str, ...], codes: list[str], type_name: str | None) -> None:
    payload, exit_code = run_json(expression, code, *extra)
    assert exit_code == 1
    assert payload["value"] is None
    assert payload["type"] == type_name
    diagnostics = cast(list[dict[str, object]], payload["diagnostics"])
    assert [d["code"] for d in diagnostics] == codes
    for d in diagnostics:
        assert list(d) == DIAGNOSTIC_KEYS
        assert d["severity"] == "error" and d["message"] and d["hint"]


def test_diagnostic_points_into_the_expression() -> None:
    payload, _ = run_json("月加算(2025-01-31, 1, 「まつ」)")
    (d,) = cast(list[dict[str, object]], payload["diagnostics"])
    assert (d["code"], d["file"], d["line"], d["column"]) == ("DSL214", "--expr", 1, 20)


def test_on_defaults_to_today_in_tokyo() -> None:
    # 2026-03-31 15:30 UTC is already 2026-04-01 in Tokyo.
    with clock.frozen(dt.datetime(2026, 3, 31, 15, 30, tzinfo=dt.UTC)):
        payload, exit_code = run_json("基準日", "141305")
    assert (payload["value"], exit_code) == ("2026-04-01", 0)


@pytest.mark.parametrize("on", ["2026-04-01", "令和8年4月1日", "R8.4.1", "Ｒ８．４．１", "2026/4/1"],
                         ids=["iso", "kanji", "initial", "full-width", "slashes"])
def test_on_accepts_iso_and_wareki(on: str) -> None:
    payload, _ = run_json("基準日", "141305", "--on", on)
    assert payload["value"] == "2026-04-01"


def test_text_output() -> None:
    result = run("--expr", "期限日(2025-12-20, 14)", "--municipality", "472018")
    assert result.exit_code == 0
    assert result.output == "値: 2026-01-05（令和8年1月5日）\n型: 日付\n"


def test_text_output_of_diagnostics_has_no_traceback() -> None:
    result = run("--expr", "開庁日か(2030-01-04)", "--municipality", "472018")
    assert result.exit_code == 1
    assert result.output.startswith("--expr:1:1: DSL306 2030年の祝日はまだ確定していません")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [("--municipality", "472018"), ("--expr", "1")], ids=["no-expr", "no-municipality"])
def test_missing_options_are_usage_errors(args: tuple[str, ...]) -> None:
    assert run(*args).exit_code == 2


@pytest.mark.parametrize(
    ("fraction", "text"),
    [((1, 10), "0.1"), ((-5, 4), "-1.25"), ((1, 3), "1/3"), ((2, 1), "2"), ((0, 1), "0"), ((1, 8), "0.125"),
     ((-2, 3), "-2/3")],
    ids=["tenth", "negative", "third", "integer", "zero", "eighth", "negative-third"],
)
def test_exact_decimal(fraction: tuple[int, int], text: str) -> None:
    assert exact_decimal(Fraction(*fraction)) == text
