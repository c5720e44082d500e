"""決裁 routing: the 専決 table (rules) and the organisation on the 決裁日 (chart, assignments, absences)
decide the route, the 代決 and the 後閲. Held-out cases with an illustrative 別表
(tests/fixtures/organisation/senketsu.rules) and an illustrative chart with a 4月1日 異動."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dsl.rules.load import load_rules
from dsl.rules.model import RuleSet
from engine.kessai import Matter, Route, describe, route
from engine.models import AuditEvent
from engine.organisation import chart_on, import_chart, parse_chart, read_chart_file, record_absence
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import ROOT, environment
from tests.test_engine_cli import jichi

FIXTURES = Path(__file__).parent / "fixtures" / "organisation"
MUNI = "141305"
KATEI, TEATE = "kodomo.katei", "kodomo.katei.teate"


def _rules() -> RuleSet:
    sources = [(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8"))
               for p in sorted((ROOT / "standard_core" / "rules").glob("*.rules"))]
    sources.append(("local_rules/141305-example/rules/senketsu.rules",
                    (FIXTURES / "senketsu.rules").read_text(encoding="utf-8")))
    rules, diagnostics = load_rules(sources)
    assert rules is not None, [d.format() for d in diagnostics]
    return rules


RULES = _rules()


def _route(env: Any, kind: str, amount: int, on: str, unit: str = TEATE, unusual: bool = False) -> Route:
    day = dt.date.fromisoformat(on)
    with env.session() as s:
        return route(RULES, chart_on(s, MUNI, day), Matter(kind, amount, unusual, day, unit))


def _steps(r: Route) -> list[tuple[str, str, str, bool]]:
    """(position, mode, acting person, decides) per step."""
    return [(s.acting.position.code, s.acting.mode, s.acting.acting.person if s.acting.acting else "", s.decides)
            for s in r.steps]


ROUTES = [
    # (id, 種別, 金額, 決裁日, 起案の組織, 重要異例, 決裁権者, route as (position, mode, acting, decides))
    ("small-purchase", "物品の購入", 120_000, "2025-06-02", TEATE, False, "課長",
     [("kodomo.katei.teate.kakaricho", "本人", "tanaka", False), ("kodomo.katei.kacho", "本人", "suzuki", True)]),
    ("middle-purchase", "物品の購入", 800_000, "2025-06-02", TEATE, False, "部長",
     [("kodomo.katei.teate.kakaricho", "本人", "tanaka", False), ("kodomo.katei.kacho", "本人", "suzuki", False),
      ("kodomo.bucho", "本人", "yamada", True)]),
    ("on-the-threshold", "物品の購入", 500_000, "2025-06-02", KATEI, False, "部長",
     [("kodomo.katei.kacho", "本人", "suzuki", False), ("kodomo.bucho", "本人", "yamada", True)]),
    ("large-purchase", "物品の購入", 5_000_000, "2025-06-02", KATEI, False, "副市長",
     [("kodomo.katei.kacho", "本人", "suzuki", False), ("kodomo.bucho", "本人", "yamada", False),
      ("fukushicho", "本人", "vice", True)]),
    ("no-row-goes-to-the-mayor", "物品の購入", 20_000_000, "2025-06-02", KATEI, False, "市長",
     [("kodomo.katei.kacho", "本人", "suzuki", False), ("kodomo.bucho", "本人", "yamada", False),
      ("fukushicho", "本人", "vice", False), ("shicho", "本人", "mayor", True)]),
    ("unusual-goes-up-one-level", "物品の購入", 120_000, "2025-06-02", KATEI, True, "部長",
     [("kodomo.katei.kacho", "本人", "suzuki", False), ("kodomo.bucho", "本人", "yamada", True)]),
    ("works-before-the-2025-revision", "工事の請負", 1_500_000, "2025-03-31", KATEI, False, "市長",
     [("kodomo.katei.kacho", "本人", "suzuki", False), ("kodomo.bucho", "本人", "yamada", False),
      ("fukushicho", "本人", "vice", False), ("shicho", "本人", "mayor", True)]),
    ("works-after-the-2025-revision", "工事の請負", 1_500_000, "2025-04-01", KATEI, False, "課長",
     [("kodomo.katei.kacho", "本人", "suzuki", True)]),
    ("below-the-drafting-unit", "軽易な照会への回答", 0, "2025-06-02", KATEI, False, "係長",
     [("kodomo.katei.kacho", "本人", "suzuki", True)]),
    ("after-the-april-transfer", "児童手当の認定", 0, "2026-04-01", KATEI, False, "課長",
     [("kodomo.katei.kacho", "本人", "takahashi", True)]),
    ("before-the-april-transfer", "児童手当の認定", 0, "2026-03-31", KATEI, False, "課長",
     [("kodomo.katei.kacho", "本人", "suzuki", True)]),
]


@pytest.mark.parametrize(("kind", "amount", "on", "unit", "unusual", "decider", "steps"),
                         [r[1:] for r in ROUTES], ids=[r[0] for r in ROUTES])
def test_route(org: Any, kind: str, amount: int, on: str, unit: str, unusual: bool, decider: str,
               steps: list[tuple[str, str, str, bool]]) -> None:
    r = _route(org, kind, amount, on, unit, unusual)
    assert (r.decider_title, _steps(r)) == (decider, steps)
    assert r.post_reviews == [] and r.blocked == []


def test_the_explanation_names_the_table_row(org: Any) -> None:
    r = _route(org, "工事の請負", 1_500_000, "2025-04-01", KATEI)
    (applied,) = r.traces["専決権者"]["applied"]
    assert applied["label"] == "工事少額R7" and "令和7年4月1日から" in applied["cite"]
    assert r.traces["専決権者"]["reference_date"] == "2025-04-01"


def test_absent_decider_daiketsu_records_both_names_and_a_post_review(org: Any) -> None:
    with org.session() as s:
        record_absence(s, municipality=MUNI, person="suzuki", start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 4),
                       reason="出張", substitute=None, actor="鈴木 一郎")
    r = _route(org, "物品の購入", 120_000, "2025-06-03", TEATE)
    decider = r.steps[-1].acting
    assert (decider.mode, decider.acting.person if decider.acting else None) == ("代決", "sato")
    assert decider.on_behalf_of is not None and decider.on_behalf_of.person == "suzuki"
    assert [(s.acting.position.code, h.person) for s, h in r.post_reviews] == [("kodomo.katei.kacho", "suzuki")]
    assert any(line == "後閲: 鈴木 一郎（こども家庭課長）" for line in describe(r))
    # The day after the absence the holder decides again.
    assert _steps(_route(org, "物品の購入", 120_000, "2025-06-05", TEATE))[-1][1:3] == ("本人", "suzuki")


def test_daiketsu_follows_the_deputy_order_past_absent_deputies(org: Any) -> None:
    with org.session() as s:
        for person in ("suzuki", "sato"):
            record_absence(s, municipality=MUNI, person=person, start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 2),
                           reason="休暇", substitute=None, actor="総務")
    r = _route(org, "物品の購入", 120_000, "2025-06-02", KATEI)
    assert _steps(r) == [("kodomo.katei.kacho", "代決", "tanaka", True)]


def test_no_daiketsu_for_an_unusual_matter(org: Any) -> None:
    with org.session() as s:
        record_absence(s, municipality=MUNI, person="yamada", start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 2),
                       reason="出張", substitute=None, actor="総務")
    r = _route(org, "物品の購入", 120_000, "2025-06-02", KATEI, unusual=True)
    assert not r.deputy_allowed and [s.acting.position.code for s in r.blocked] == ["kodomo.bucho"]
    assert r.post_reviews == [] and "代決できません" in r.blocked[0].acting.reason
    # Not unusual: the same absence is covered by the 部次長's 代決.
    assert _steps(_route(org, "物品の購入", 800_000, "2025-06-02", KATEI))[-1][1:3] == ("代決", "ishii")


def test_a_named_substitute_acts_for_the_absent_holder(org: Any) -> None:
    with org.session() as s:
        record_absence(s, municipality=MUNI, person="suzuki", start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 2),
                       reason="休暇", substitute="ishii", actor="鈴木 一郎")
    decider = _route(org, "物品の購入", 120_000, "2025-06-02", KATEI).steps[-1].acting
    assert (decider.mode, decider.acting.person if decider.acting else None) == ("代理", "ishii")


def test_personnel_matters_are_never_decided_by_daiketsu(org: Any) -> None:
    with org.session() as s:
        record_absence(s, municipality=MUNI, person="mayor", start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 2),
                       reason="出張", substitute=None, actor="秘書課")
    r = _route(org, "人事", 0, "2025-06-02", KATEI)
    assert r.decider_title == "市長" and [s.acting.position.code for s in r.blocked] == ["shicho"]


def test_the_april_transfer_and_the_chart_history(org: Any) -> None:
    with org.session() as s:
        before, after = chart_on(s, MUNI, dt.date(2026, 3, 31)), chart_on(s, MUNI, dt.date(2026, 4, 1))
        events = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "organisation.imported"))
        with pytest.raises(DiagnosticError) as caught:
            chart_on(s, MUNI, dt.date(2024, 3, 31))
    kacho = "kodomo.katei.kacho"
    assert before.chart_from == dt.date(2024, 4, 1) and after.chart_from == dt.date(2026, 4, 1)
    assert before.holders[kacho][0].person == "suzuki" and after.holders[kacho][0].person == "takahashi"
    assert events == 2 and caught.value.diagnostics[0].code == "ORG704"


def test_importing_the_same_chart_twice_changes_nothing(org: Any) -> None:
    with org.session() as s:
        counts = import_chart(s, read_chart_file(FIXTURES / "chart_2024.toml"), "人事課")
    assert counts["assignments_added"] == counts["assignments_changed"] == 0


@pytest.mark.parametrize(("old", "new", "line"), [
    ('parent = "kodomo"\n', 'parent = "kodomo.nai"\n', 14),
    ('deputies = ["kodomo.jicho"]', 'deputies = ["kodomo.nai"]', 55),
    ('kind = "課"', 'kind = "室"', 13),
    ("from = 2023-04-01\nto = 2026-03-31", "from = 2023-04-01\nto = 2022-03-31", 112),
], ids=["unknown-parent", "unknown-deputy", "unknown-unit-kind", "ends-before-it-starts"])
def test_a_bad_chart_is_refused_with_the_line(old: str, new: str, line: int) -> None:
    text = (FIXTURES / "chart_2024.toml").read_text(encoding="utf-8")
    assert old in text
    chart, problems = parse_chart("chart.toml", text.replace(old, new, 1))
    assert chart is None and [(d.code, d.span.line) for d in problems] == [("ORG701", line)], \
        [d.format() for d in problems]


def _jichi(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return jichi(url, *args, ok=False)


def test_cli(database_url: str) -> None:
    with environment(database_url):
        pass  # migrated and the demo municipalities registered
    imported = _jichi(database_url, "org", "import", str(FIXTURES / "chart_2024.toml"), "--as", "人事課")
    assert imported.returncode == 0 and "職 9" in imported.stdout, imported.stderr
    absent = _jichi(database_url, "org", "absent", "suzuki", "--municipality", MUNI, "--from", "令和7年6月2日",
                    "--to", "R7.6.3", "--reason", "出張")
    assert absent.returncode == 0, absent.stderr
    shown = _jichi(database_url, "org", "show", "--municipality", MUNI, "--on", "2025-06-02")
    assert "職 こども家庭課長: 鈴木 一郎（出張）   代決者: こども家庭課長補佐、児童手当係長" in shown.stdout
    # The repository's rules have no 別表 for this municipality: the mayor decides, the absent 課長 is 代決'd.
    routed = json.loads(_jichi(database_url, "kessai", "route", "--municipality", MUNI, "--unit", KATEI,
                               "--matter", "物品の購入", "--amount", "120000", "--on", "2025-06-02",
                               "--json").stdout)
    assert routed["decider_title"] == "市長" and routed["steps"][0]["mode"] == "代決"
    assert routed["post_reviews"] == [{"position": "kodomo.katei.kacho", "person": "suzuki", "name": "鈴木 一郎"}]
    bad = _jichi(database_url, "kessai", "route", "--municipality", MUNI, "--unit", "nai", "--matter", "x")
    assert bad.returncode == 1 and "ORG703" in bad.stderr and "Traceback" not in bad.stderr
