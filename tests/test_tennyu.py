"""転入届: the due date is 14 days from moving in, first day not counted, moved to the next open day."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import clock
from engine.registry import Registry
from tests.engine_support import ROOT, environment


@pytest.mark.parametrize(("moved", "filed", "municipality", "due", "in_time"), [
    ("2026-03-02", "2026-03-16", "141305", "2026-03-16", True),   # an ordinary Monday
    ("2026-03-02", "2026-03-17", "141305", "2026-03-16", False),
    ("2025-12-20", "2026-01-05", "141305", "2026-01-05", True),   # 14th day 1月3日 (年末年始) → 1月5日
    ("2026-06-09", "2026-06-24", "472018", "2026-06-24", True),   # 那覇市: 6月23日 慰霊の日 is closed
    ("2026-06-09", "2026-06-24", "141305", "2026-06-23", False),  # 川崎市: 6月23日 is open
], ids=["plain", "late", "year-end", "naha-ireinohi", "kawasaki-same-dates"])
def test_due_date_follows_the_municipality_calendar(database_url: str, moved: str, filed: str, municipality: str,
                                                     due: str, in_time: bool) -> None:
    registry = Registry.load(ROOT)
    with clock.frozen(dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)), environment(database_url, registry) as env:
        with env.session() as s:
            case_id = env.cases.start_case(s, process_id="Process_Tennyu", municipality=municipality, data={},
                                           actor="窓口").id
        env.complete(case_id, "受付", {"氏名": "山田 太郎", "転入日": moved, "届出日": filed, "前住所": "東京都",
                                       "世帯員数": 1})
        with env.session() as s:
            data = env.cases.get_case(s, case_id).data
        assert (data["届出期限"], data["期限内"]) == (due, in_time)
