"""本巣市 (212181): the pack written from docs/packs.md alone (a held-out exercise), with the minimal local
procedure that docs/packs.md quotes. Its rules test clean and the procedure runs both ways."""

from __future__ import annotations

import datetime as dt
from typing import Any

from click.testing import CliRunner

from engine import clock
from engine.registry import Registry
from tests.engine_support import ROOT, environment
from web.cli import cli

MOTOSU = "212181"
PROCESS = "Process_Motosu_ShussanIwaikin"
NOW = dt.datetime(2025, 7, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
THIRD = {"名前": "三子", "生年月日": "2025-06-10", "養育": True}
FAMILY = [{"名前": "一子", "生年月日": "2010-05-01", "養育": True},
          {"名前": "二子", "生年月日": "2016-08-01", "養育": True}, THIRD]
FORM = {"申請日": "2025-07-01", "出生日": "2025-06-10", "住民となった日": "2020-04-01", "市税の滞納がない": True,
        "養育する子": FAMILY, "出生した子": THIRD}


def test_the_pack_tests_clean() -> None:
    result = CliRunner().invoke(cli, ["pack", "test", "212181-motosu"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].endswith(" passed, 0 failed")
    assert "local_rules/212181-motosu/rules/shussan_iwaikin.rules" in result.output


def _run(database_url: str, form: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    with clock.frozen(NOW), environment(database_url, Registry.load(ROOT)) as env:
        with env.session() as s:
            case_id = env.cases.start_case(s, process_id=PROCESS, municipality=MOTOSU, data={}, actor="窓口").id
        env.complete(case_id, "申請の受付", form)
        ready = [t.name for t in env.ready(case_id)]
        with env.session() as s:
            return ready, dict(env.cases.get_case(s, case_id).data)


def test_a_third_child_is_paid(database_url: str) -> None:
    ready, data = _run(database_url, FORM)
    assert ready == ["支給決定"]
    assert (data["支給できる"], data["却下理由"]) == (True, "")


def test_a_parent_resident_for_less_than_a_year_is_refused_with_the_reason(database_url: str) -> None:
    ready, data = _run(database_url, {**FORM, "住民となった日": "2024-06-11"})
    assert ready == ["却下の通知"]
    assert data["支給できる"] is False
    assert data["却下理由"] == "出生の日に、市内に住所を有して1年を経過していません。"
