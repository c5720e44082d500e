"""Concurrent completion of one task: separate processes, each with its own connection, released together.

Exactly one succeeds; the others get a clean conflict (ENG511); one audit event; nothing half-written.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from engine.cases import CaseError
from engine.db import upgrade
from tests.engine_support import environment

CONTENDERS_POSTGRES = 20
CONTENDERS_SQLITE = 5


def _contender(url: str, task_id: str, name: str, barrier: Barrier, results: mp.Queue) -> None:  # type: ignore[type-arg]
    with environment(url) as env, env.session() as session:
        session.connection()  # open the connection before the race starts
        barrier.wait(timeout=60)
        try:
            env.cases.complete_task(session, task_id, {"起案回数": 1}, name)
            results.put((name, "ok"))
        except CaseError as e:
            results.put((name, e.code))
        except Exception as e:  # reported, so the test shows what went wrong in the child
            results.put((name, f"{type(e).__name__}: {e}"))


def _race(url: str, contenders: int) -> None:
    with environment(url) as env:
        case_id = env.start("Process_Sashimodoshi")
        (task,) = env.ready(case_id)
        version = env.case(case_id).version
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(contenders)
    results = ctx.Queue()
    processes = [ctx.Process(target=_contender, args=(url, task.id, f"clerk{i}", barrier, results))
                 for i in range(contenders)]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    codes = sorted(code for _, code in outcomes)
    assert codes == ["ENG511"] * (contenders - 1) + ["ok"], codes
    winner = next(name for name, code in outcomes if code == "ok")
    with environment(url) as env:
        assert env.case(case_id).version == version + 1
        assert env.audit_count(case_id, "task.completed") == 1
        assert [t.name for t in env.ready(case_id)] == ["審査"]
        with env.session() as s:
            from sqlalchemy import select

            from engine.models import CaseTask

            row = s.scalars(select(CaseTask).where(CaseTask.id == task.id)).one()
        assert row.state == "completed" and row.completed_by == winner


@pytest.mark.postgres
def test_twenty_processes_one_winner_on_postgres(postgres_url: str) -> None:
    _race(postgres_url, CONTENDERS_POSTGRES)


def test_concurrent_completion_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    upgrade(url)
    _race(url, CONTENDERS_SQLITE)


def _starter(url: str, barrier: Barrier, results: mp.Queue) -> None:  # type: ignore[type-arg]
    with environment(url) as env, env.session() as session:
        session.connection()
        barrier.wait(timeout=60)
        try:
            case = env.cases.start_case(session, process_id="Process_Sashimodoshi", municipality="141305",
                                        data={"件名": "同時の開始"}, actor="窓口")
            results.put(case.id)
        except Exception as e:  # what the race must not produce
            results.put(f"error: {type(e).__name__}: {e}")


@pytest.mark.postgres
def test_the_first_cases_of_a_new_procedure_started_at_once_all_start(postgres_url: str) -> None:
    """Several app servers start the first case of a procedure version nobody stored yet: its BPMN is stored
    once and every start succeeds (the second insert of the same version does nothing)."""
    with environment(postgres_url):
        pass  # the demo municipalities, loaded once before the race (no case yet: the BPMN is not stored)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(6), ctx.Queue()
    processes = [ctx.Process(target=_starter, args=(postgres_url, barrier, results)) for _ in range(6)]
    for p in processes:
        p.start()
    answers = [results.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    assert not [a for a in answers if a.startswith("error")], answers
    assert len(set(answers)) == 6
