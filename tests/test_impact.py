"""Impact analysis (engine/impact.py): the decisions existing cases got, re-evaluated under changed rules from the
inputs their traces recorded; each change with its before, after and what made the difference."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from engine import clock
from engine.calendars import resolve_calendar
from engine.impact import csv_rows, impact, inputs_of
from engine.registry import Registry
from engine.rulesets import RuleSets
from tests.engine_support import copy_core, environment, take_juminhyo, take_shokan

ROOT = Path(__file__).resolve().parent.parent
NANTO = "162108"
DAY = dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC)


def _repository(root: Path) -> Path:
    copy_core(root)
    shutil.copytree(ROOT / "local_rules" / "162108-nanto", root / "local_rules" / "162108-nanto")
    return root


def _juminhyo(env: Any, copies: int) -> str:
    with env.session() as s:
        return take_juminhyo(env.cases, s, NANTO, copies)


def test_a_changed_fee_shows_in_each_case_that_used_it(database_url: str, tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo")
    with clock.frozen(DAY), environment(database_url, Registry.load(root)) as env:
        two, three = _juminhyo(env, 2), _juminhyo(env, 3)
        rules_file = root / "local_rules" / "162108-nanto" / "rules" / next(
            p.name for p in (root / "local_rules" / "162108-nanto" / "rules").glob("*.rules"))
        unchanged, _ = RuleSets(root).for_municipality(NANTO)
        calendar, _ = resolve_calendar(NANTO, root)
        with env.session() as s:
            assert unchanged is not None
            changes, counts = impact(s, NANTO, unchanged, calendar)
        assert changes == [] and counts.decisions >= 2 and counts.skipped == 0
        rules_file.write_text(rules_file.read_text(encoding="utf-8").replace("から 300円", "から 350円"),
                              encoding="utf-8")
        changed, _ = RuleSets(root).for_municipality(NANTO)
        assert changed is not None
        with env.session() as s:
            changes, counts = impact(s, NANTO, changed, calendar)
    fees = {(c.case_id, c.decision): (c.before, c.after) for c in changes}
    assert fees == {(two, "住民票の写しの手数料"): (600, 700), (three, "住民票の写しの手数料"): (900, 1050)}
    assert all("住民票の写しの手数料単価: 300" in c.because and "350" in c.because for c in changes)
    assert counts.changed == 2 and counts.cases == 2
    rows = list(csv_rows(changes))
    assert rows[0] == ["案件", "判定", "基準日", "変更前", "変更後", "違いの元"] and len(rows) == 3


def test_a_changed_co_pay_cap_shows_in_the_refunds_waiting_for_payment(database_url: str, tmp_path: Path) -> None:
    """川崎市's 払い戻し (償還払い): the 窓口負担額 decided at intake from the pack's rule file; a lower cap for
    小4〜中3 changes the cases above the cap only, and names the parameter."""
    root = tmp_path / "repo"
    copy_core(root)
    shutil.copytree(ROOT / "local_rules" / "141305-kawasaki", root / "local_rules" / "141305-kawasaki")
    with clock.frozen(DAY), environment(database_url, Registry.load(root)) as env:
        with env.session() as s:
            above, below, young = (take_shokan(env.cases, s, 1260), take_shokan(env.cases, s, 300),
                                   take_shokan(env.cases, s, 1260, born="2019-06-01"))
            refund = env.cases.get_case(s, above).data
        assert (refund["窓口負担額"], refund["払い戻し額"]) == (500, 760)
        rules = root / "local_rules" / "141305-kawasaki" / "rules" / "kodomo_iryohi.rules"
        rules.write_text(rules.read_text(encoding="utf-8").replace("2026-08-31 まで 500円", "2026-08-31 まで 400円"),
                         encoding="utf-8")
        changed, _ = RuleSets(root).for_municipality("141305")
        calendar, _ = resolve_calendar("141305", root)
        assert changed is not None
        with env.session() as s:
            changes, counts = impact(s, "141305", changed, calendar)
    assert [(c.case_id, c.decision, c.before, c.after) for c in changes] == [(above, "窓口負担額", 500, 400)]
    assert "通院一部負担上限" in changes[0].because
    assert counts.cases == 3 and {below, young}.isdisjoint({c.case_id for c in changes})


def test_inputs_come_from_the_trace_at_any_depth() -> None:
    trace = {"kind": "decision", "name": "a", "uses": [
        {"kind": "input", "name": "x", "value": 1},
        {"kind": "decision", "name": "b", "uses": [{"kind": "input", "name": "y", "value": "2026-04-01"}]}]}
    assert inputs_of(trace) == {"x": 1, "y": "2026-04-01"}


def test_jichi_pack_impact_runs_on_an_empty_database(database_url: str) -> None:
    from tests.test_engine_cli import jichi

    jichi(database_url, "demo", "load")
    out = jichi(database_url, "pack", "impact", "--municipality", NANTO).stdout
    assert "案件 0 件、判定 0 件を評価し直し、変わるもの 0 件" in out
    csv = jichi(database_url, "pack", "impact", "--municipality", NANTO, "--csv").stdout
    assert csv.splitlines() == ["案件,判定,基準日,変更前,変更後,違いの元"]
    bad = jichi(database_url, "pack", "impact", "--municipality", NANTO, "--closed-from", "きのう", ok=False)
    assert bad.returncode == 1 and "INP802" in bad.stderr
