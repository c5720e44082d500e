"""Impact analysis over 10,000 cases: how long `engine.impact.impact` takes to re-evaluate the decisions existing
cases got, under a changed rule (南砺市's 住民票 fee 300円 → 350円), against the floor of the same run — the same
decisions evaluated directly from their recorded inputs, without reading the audit log.

One real case is run through the engine to record real decisions; its decision event is then copied (with other
請求通数) into N cases in the audit log, so every case has the decisions a real 本人確認 step makes.

    .venv/bin/python bench/bench_impact.py [--cases 10000] [--url postgresql+psycopg://…]

Target (issue 12): 10,000 cases in under a minute on this machine. bench/HISTORY.md records a run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsl.rules.runtime import RuleRuntime  # noqa: E402
from engine import audit, clock, store  # noqa: E402
from engine.calendars import resolve_calendar  # noqa: E402
from engine.cases import Cases  # noqa: E402
from engine.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.impact import impact, inputs_of  # noqa: E402
from engine.models import AuditEvent, AuditPersonal, CaseInstance  # noqa: E402
from engine.registry import Registry  # noqa: E402
from engine.rulesets import RuleSets  # noqa: E402

NANTO = "162108"


def repository(root: Path) -> Path:
    shutil.copytree(ROOT / "processes", root / "processes")
    shutil.copytree(ROOT / "standard_core" / "rules", root / "standard_core" / "rules")
    shutil.copytree(ROOT / "local_rules" / "162108-nanto", root / "local_rules" / "162108-nanto")
    return root


def seed(url: str, root: Path, cases: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    clock.install_spiff_clock()
    service = Cases(Registry.load(root))
    with sessions() as s:
        load_demo(s)
        s.commit()
        view = service.start_case(s, process_id="Process_JuminhyoKofu", municipality=NANTO, data={}, actor="bench")
        for name, data in (("受付", {"受付日": "2026-04-01", "請求者区分": "本人", "郵送請求": False, "請求通数": 2}),
                           ("本人確認", {"本人確認書類": [{"種別": "マイナンバーカード", "有効期限": "2030-01-01"}]})):
            task = next(t for t in service.get_case(s, view.id).tasks if t.name == name)
            service.complete_task(s, task.id, data, "bench")
        event = s.scalars(select(AuditEvent).where(AuditEvent.case_id == view.id,
                                                   AuditEvent.detail.like('%"rule_decisions"%'))).one()
        personal = json.loads(s.get(AuditPersonal, (event.municipality_code, event.seq)).personal)
        template = s.get(CaseInstance, view.id)
        assert template is not None
        row = {col.name: getattr(template, col.key) for col in CaseInstance.__table__.columns}
        detail = json.loads(event.detail)
        for start in range(0, cases, 1000):
            ids = [str(uuid.uuid4()) for _ in range(min(1000, cases - start))]
            s.execute(insert(CaseInstance.__table__), [{**row, "id": i} for i in ids])
            store.insert_events(s, [audit.event(
                municipality=NANTO, actor="bench", action="task.completed", case_id=i, detail=detail,
                personal={**personal, "decisions": [_copies(d, 1 + n % 5) for d in personal["decisions"]]})
                for n, i in enumerate(ids)])
            s.commit()
        s.execute(text("ANALYZE"))
        s.commit()
    engine.dispose()


def _copies(decision: dict[str, object], copies: int) -> dict[str, object]:
    """The decision as if 請求通数 had been `copies` (its recorded inputs say so; its value is rescaled)."""
    text_ = json.dumps(decision, ensure_ascii=False).replace('"name": "請求通数", "value": 2', f'"name": "請求通数", "value": {copies}')
    return json.loads(text_)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="jichi-bench-impact-"))
    root = repository(folder / "repo")
    url = args.url or f"sqlite:///{folder}/bench.sqlite3"
    if url.startswith("postgresql"):
        sys.path.insert(0, str(ROOT / "bench"))
        from bench_inbox import _fresh_postgres  # the database named in --url is dropped and created again

        _fresh_postgres(url)
    started = time.perf_counter()
    with clock.frozen(dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC)):
        seed(url, root, args.cases)
    print(f"{args.cases:,} cases seeded in {time.perf_counter() - started:.0f} s")
    rules_file = next((root / "local_rules" / "162108-nanto" / "rules").glob("*.rules"))
    rules_file.write_text(rules_file.read_text(encoding="utf-8").replace("から 300円", "から 350円"), encoding="utf-8")
    rules, _ = RuleSets(root).for_municipality(NANTO)
    calendar, _ = resolve_calendar(NANTO, root)
    assert rules is not None
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        started = time.perf_counter()
        changes, counts = impact(s, NANTO, rules, calendar)
        elapsed = time.perf_counter() - started
        # the floor: the same decisions evaluated from the same inputs, without the audit log
        sample = s.scalars(select(AuditPersonal.personal).where(AuditPersonal.personal.like('%"decisions"%'))
                           .limit(1)).one()
    engine.dispose()
    decisions = json.loads(sample)["decisions"]
    inputs: dict[str, object] = {}
    for d in decisions:
        inputs.update({k: v for k, v in inputs_of(d["trace"]).items() if k not in inputs})
    started = time.perf_counter()
    for _ in range(counts.cases):
        for d in decisions:
            RuleRuntime(rules, inputs, on=dt.date(2026, 4, 1), calendar=calendar).evaluate(d["decision"])
    floor = time.perf_counter() - started
    print(f"impact: {counts.cases:,} cases, {counts.decisions:,} decisions, {counts.changed:,} changed, "
          f"{counts.skipped} skipped in {elapsed:.1f} s ({counts.cases / elapsed:,.0f} cases/s)")
    print(f"floor (the same evaluations without the audit log): {floor:.1f} s; impact / floor = {elapsed / floor:.2f}×")
    print(f"changes listed: {len(changes):,}")


if __name__ == "__main__":
    main()
