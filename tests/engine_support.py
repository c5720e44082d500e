"""Helpers for the durable-engine tests: a case service over the fixture procedures on a test database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.audit import NON_STATE_ACTIONS
from engine.audit_verify import verify
from engine.bpmn import validate_bpmn, validate_set
from engine.cases import Cases, TaskView, list_tasks
from engine.db import make_engine, make_session_factory
from engine.demo import load_demo
from engine.models import AuditEvent, CaseInstance
from engine.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "engine"
KAWASAKI = "141305"


def copy_core(root: Path) -> None:
    """The core of the repository under root: its processes and the rule files they call."""
    shutil.copytree(ROOT / "processes", root / "processes")
    shutil.copytree(ROOT / "standard_core" / "rules", root / "standard_core" / "rules")


def fixture_registry() -> Registry:
    models = []
    for path in sorted(FIXTURES.glob("*.bpmn")):
        model, found = validate_bpmn(path, path.name)
        assert model is not None and found == [], found
        models.append(model)
    assert validate_set(models) == []
    return Registry(models)


@dataclass
class Env:
    engine: Engine
    sessions: sessionmaker[Session]
    cases: Cases

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def start(self, process_id: str, data: dict[str, Any] | None = None, actor: str = "tester") -> str:
        with self.session() as s:
            return self.cases.start_case(s, process_id=process_id, municipality=KAWASAKI, data=data or {},
                                         actor=actor).id

    def ready(self, case_id: str) -> list[TaskView]:
        with self.session() as s:
            return list_tasks(s, case_id=case_id)

    def complete(self, case_id: str, name: str, data: dict[str, Any] | None = None, actor: str = "clerk") -> None:
        tasks = [t for t in self.ready(case_id) if t.name == name]
        assert len(tasks) == 1, [t.name for t in self.ready(case_id)]
        with self.session() as s:
            self.cases.complete_task(s, tasks[0].id, data or {}, actor)

    def case(self, case_id: str) -> CaseInstance:
        with self.session() as s:
            case = s.get(CaseInstance, case_id)
            assert case is not None
            return case

    def audit_count(self, case_id: str, action: str | None = None) -> int:
        with self.session() as s:
            query = select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case_id)
            if action is not None:
                query = query.where(AuditEvent.action == action)
            return int(s.scalar(query) or 0)


@contextmanager
def environment(url: str, registry: Registry | None = None) -> Iterator[Env]:
    clock.install_spiff_clock()
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        load_demo(s)
        s.commit()
    try:
        yield Env(engine, sessions, Cases(registry or fixture_registry()))
        assert_one_event_per_state_change(engine)
    finally:
        engine.dispose()


def assert_one_event_per_state_change(engine: Engine) -> None:
    """Every scenario ends with: each case has exactly one audit event per state change, and the chains verify.

    A case's version starts at 1 and every step that changes it (start, completion, timer, erasure) bumps it by
    one and writes one event, so the count of a case's events must equal its version. Claiming and releasing a
    task and printing a notice (audit.NON_STATE_ACTIONS) are recorded too, but do not change the case.
    """
    # One snapshot on PostgreSQL: a contender process may still be committing while another one checks.
    level = "REPEATABLE READ" if engine.dialect.name == "postgresql" else None
    with engine.connect() as connection:
        if level is not None:
            connection.execution_options(isolation_level=level)
        events = dict(connection.execute(select(AuditEvent.case_id, func.count()).where(
            AuditEvent.case_id.is_not(None), AuditEvent.action.not_in(NON_STATE_ACTIONS))
            .group_by(AuditEvent.case_id)).all())
        versions = dict(connection.execute(select(CaseInstance.id, CaseInstance.version)).all())
        assert {case_id: events.get(case_id, 0) for case_id in versions} == versions, "one event per state change"
        report = verify(connection)
    assert report.findings == [], [f.format() for f in report.findings]


def assert_task_rows_follow_states(engine: Engine, cases: Cases) -> None:
    """Every running case's open task rows (the inboxes) are exactly the live tasks of its stored workflow state:
    no row of a step that was rolled back, none missing for a step that committed."""
    from engine import store
    from engine.bpmn import load_state
    from engine.runtime import live_tasks

    with Session(engine) as s:
        for case_id in s.scalars(select(CaseInstance.id).where(CaseInstance.status == "running")):
            case = store.load_case(s, case_id)
            assert case is not None
            procedure = cases.registry.stored(s, case.spec_hash)
            workflow = load_state(case.state, procedure.spec, procedure.subprocess_specs, procedure.script_engine)
            live = sorted(t.spiff_id for t in live_tasks(workflow))
            rows = sorted(r.spiff_task_id for r in store.open_tasks(s, case_id) if r.kind != "review")
            assert rows == live, f"case {case_id}: open rows {rows} but live tasks {live}"


def take_shokan(cases: Cases, session: Session, paid: int, born: str = "2015-06-01",
                treated: str = "2025-06-02") -> str:
    """A 川崎市 小児医療費の払い戻し application taken through its intake, where the 窓口負担額 is decided (the
    pack's rule file) and the refund computed; the case then waits at 払い戻しの決定."""
    case_id: str = cases.start_case(session, process_id="Process_Kawasaki_ShokanBarai", municipality="141305",
                                    data={}, actor="窓口").id
    task = next(t for t in cases.get_case(session, case_id).tasks if t.name == "払い戻し申請の受付")
    cases.complete_task(session, task.id, {"診療日": treated, "生年月日": born, "区分": "通院",
                                           "所得割非課税世帯": False, "保険診療の自己負担額": paid}, "窓口")
    return case_id


def take_juminhyo(cases: Cases, session: Session, municipality: str, copies: int) -> str:
    """A 住民票の写し request taken through 受付 and 本人確認, where its fee is decided (a business rule task)."""
    case_id: str = cases.start_case(session, process_id="Process_JuminhyoKofu", municipality=municipality, data={},
                                    actor="窓口").id
    for name, data in (("受付", {"受付日": "2026-04-01", "請求者区分": "本人", "郵送請求": False, "請求通数": copies}),
                       ("本人確認", {"本人確認書類": [{"種別": "マイナンバーカード", "有効期限": "2030-01-01"}]})):
        task = next(t for t in cases.get_case(session, case_id).tasks if t.name == name)
        cases.complete_task(session, task.id, data, "窓口")
    return case_id
