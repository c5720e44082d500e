"""`jichi rules batch`: the decision re-evaluated for many recipients on a reference date, compared with an
earlier one; broken lines are errors of their own line and the rest goes on; workers give the same rows."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from web.cli import cli


def _recipient(rid: str, *births: str) -> str:
    return json.dumps({"id": rid, "input": {
        "児童": [{"名前": f"子{i}", "生年月日": b, "監護": True, "生計費負担": False} for i, b in enumerate(births)],
        "認定請求日": "2024-10-01", "請求者が公務員": False, "特例の事由": "なし", "出生日": "2024-10-01",
        "転出予定日": "2024-10-01"}}, ensure_ascii=False)


def _batch(tmp_path: Path, lines: list[str], *extra: str) -> tuple[int, list[dict[str, object]], str]:
    source = tmp_path / "recipients.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["rules", "batch", "--municipality", "141305", "--procedure", "児童手当の月額合計",
                                      "--input", str(source), "--out", str(out), *extra])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return result.exit_code, rows, result.output


def test_the_recipients_whose_amount_changes_are_listed_with_both_values(tmp_path: Path) -> None:
    lines = [
        _recipient("R1", "2023-05-01"),  # turns 3 on 2026-05-01: 15,000円 → 10,000円
        _recipient("R2", "2015-06-01", "2018-06-01", "2020-06-01"),  # the third child: 30,000円 either way
        "{ 壊れた行",
        json.dumps({"id": "R4", "input": {"知らない入力": 1}}, ensure_ascii=False),
        "",
        _recipient("R5", "2000-01-01"),  # past 22歳年度末: nothing
    ]
    code, rows, output = _batch(tmp_path, lines, "--on", "2026-06-01", "--before", "令和8年4月1日")
    assert code == 1  # two lines could not be evaluated
    assert [r.get("id") for r in rows] == ["R1", "R2", None, "R4", "R5"] and [r["line"] for r in rows] == [1, 2, 3, 4, 6]
    assert (rows[0]["before"], rows[0]["value"], rows[0]["changed"]) == (15000, 10000, True)
    assert (rows[1]["value"], rows[1]["changed"]) == (50000, False)
    assert "JSON" in str(rows[2]["error"]) and "知らない入力" in str(rows[3]["error"])
    assert rows[4]["value"] == 0
    assert "受給者 5 件: 評価 3 件、変わる 1 件、誤り 2 件" in output and "15000→10000: 1 件" in output


def test_workers_give_the_same_rows_in_the_same_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [_recipient(f"R{i}", f"{2005 + i % 20}-0{1 + i % 9}-15", f"{2012 + i % 14}-1{i % 3}-01")
             for i in range(4500)]  # more than two chunks
    code, one, _ = _batch(tmp_path, lines, "--on", "2026-06-01", "--before", "2026-04-01")
    assert code == 0

    # Workers are spawned, never forked: a fork inherits the locks the caller's other threads hold (the web
    # server's, the job runner's) and its child may wait on one forever.
    def no_fork() -> int:
        raise AssertionError("a batch worker was forked")

    monkeypatch.setattr(os, "fork", no_fork)
    code, two, output = _batch(tmp_path, lines, "--on", "2026-06-01", "--before", "2026-04-01", "--workers", "2")
    assert code == 0, output
    assert two == one and len(one) == 4500 and any(r["changed"] for r in one)


def test_bad_arguments_are_diagnostics(tmp_path: Path) -> None:
    code, rows, output = _batch(tmp_path, [_recipient("R1", "2020-01-01")], "--on", "令和99年13月1日",
                                "--procedure", "ない決定")
    assert code == 1 and rows == [] and "INP802" in output
    result = CliRunner().invoke(cli, ["rules", "batch", "--municipality", "141305", "--procedure", "ない決定",
                                      "--input", str(tmp_path / "none.jsonl"), "--on", "2026-04-01"])
    assert result.exit_code == 1 and "INP805" in result.output and "INP806" in result.output


def test_a_worker_whose_rules_fail_to_compile_fails_its_chunk_instead_of_starting_again() -> None:
    from engine import batch

    batch._start_child([("壊れた.rules", "決定 {")], None, "児童手当の月額合計", dt.date(2026, 6, 1), None)
    try:
        with pytest.raises(RuntimeError, match="could not be compiled"):
            batch._chunk_rows([(1, "{}")])
    finally:
        batch._CONTEXT = None


def test_a_value_that_does_not_read_is_that_recipients_error_as_where_it_is_read(tmp_path: Path) -> None:
    """The batch converts each recipient's input once (dates parsed, …) for its two evaluations; a value that does
    not convert is left as given, so the error is the one the evaluation of the input as given reports."""
    from dsl import DslRuntimeError
    from dsl.rules.runtime import RuleRuntime
    from engine.calendars import resolve_calendar
    from engine.paths import project_root
    from engine.rulesets import RuleSets

    bad_date = json.loads(_recipient("R1", "2020-01-01"))
    bad_date["input"]["児童"][0]["生年月日"] = "昨日"
    missing = json.loads(_recipient("R2", "2020-01-01", "2021-01-01"))
    del missing["input"]["児童"][1]["生年月日"]
    not_a_list = json.loads(_recipient("R3", "2020-01-01"))
    not_a_list["input"]["児童"] = "二人"
    broken = [bad_date, missing, not_a_list]
    code, rows, _ = _batch(tmp_path, [json.dumps(r, ensure_ascii=False) for r in broken]
                           + [_recipient("R4", "2023-05-01")], "--on", "2026-06-01")
    assert code == 1
    rules, _ = RuleSets(project_root()).for_municipality("141305")
    calendar, _ = resolve_calendar("141305", project_root())
    assert rules is not None
    for row, recipient in zip(rows, broken, strict=False):
        with pytest.raises(DslRuntimeError) as raised:
            RuleRuntime(rules, recipient["input"], on=dt.date(2026, 6, 1), calendar=calendar,
                        explain=False).evaluate("児童手当の月額合計")
        expected = raised.value.diagnostic
        assert row["error"] == f"{expected.code} {expected.message}" and expected.code in ("DSL301", "DSL302")
    assert rows[3]["value"] == 10000  # the others go on
