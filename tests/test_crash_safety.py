"""Crash safety: an app server or a worker killed with SIGKILL at each named fault point (engine/faults.py) loses
no transition and doubles none.

Each round forks the prepared test process (the app, its registry and its case service already loaded); the
child is armed at one fault point and serves one request through the JSON API (a start or a task completion,
each with an Idempotency-Key, as a client sends them) or fires the earliest due timer as `jichi worker` does,
and is killed there — no cleanup, the database connection simply drops. The parent then checks that the step is
either entirely there or not at all, retries as the client (or the restarted worker) would, and checks that
the step happened exactly once. 100 kills on each backend.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from engine import clock, faults
from engine.models import AuditEvent, CaseInstance, CaseTask, IdempotencyRecord
from tests.api_support import api_app, call
from tests.engine_support import assert_one_event_per_state_change

A = "141305"
START = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)
KILLS = 100
INPUT = {"受付": {"異動日": "2026-06-09"}, "確認": {}}


def _killed_in_child(run: Callable[[], None], point: str, engines: list[Any]) -> bool:
    """Fork; the child arms `point`, runs, and is expected to die there. True when it died by SIGKILL."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            for engine in engines:
                engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            faults.arm(point)
            run()
        except BaseException:
            traceback.print_exc()
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_one_hundred_kills_across_the_fault_points_lose_and_double_nothing(database_url: str) -> None:
    with clock.frozen(START) as now:
        clock.install_spiff_clock()
        setup = api_app(database_url, {"clerk": ("c-one", f"{A}:clerk")})
        app, tokens = next(setup)
        try:
            token = tokens["clerk"]
            from web.api import cases
            from web.db import get_engine, get_session

            with app.app_context():
                service, engine = cases(), get_engine()
                for _ in range(60):  # cases whose boundary timer (1時間経過) falls due while the rounds run
                    service.start_case(get_session(), process_id="Process_Timers", municipality=A,
                                       data={"公開日": "2026-04-03"}, actor="c-one")
                for _ in range(35):  # cases whose 受付 the rounds complete
                    service.start_case(get_session(), process_id="Process_Deadline", municipality=A, data={},
                                       actor="c-one")
            now.advance(hours=2)

            def scalar(statement: Any) -> Any:
                with engine.connect() as connection:
                    return connection.execute(statement).scalar()

            def ready_task() -> tuple[str, str]:
                with engine.connect() as connection:
                    row = connection.execute(select(CaseTask.id, CaseTask.name).where(
                        CaseTask.state == "ready", CaseTask.kind == "user", CaseTask.process_id == "Process_Deadline")
                        .order_by(CaseTask.created_at, CaseTask.id).limit(1)).one()
                return str(row.id), str(row.name)

            def fire_one() -> None:
                with app.app_context():
                    service.fire_due_timers(get_session(), limit=1)

            killed = {point: 0 for point in faults.POINTS}
            starts = 0
            cases_before = scalar(select(func.count()).select_from(CaseInstance))
            for i in range(KILLS):
                point = faults.POINTS[i % len(faults.POINTS)]
                kind = ("start", "complete", "timer")[i % 3]
                committed = point == "after_commit"
                events = scalar(select(func.count()).select_from(AuditEvent))
                if kind == "timer":
                    assert _killed_in_child(fire_one, point, [engine]), (i, point, kind)
                    assert scalar(select(func.count()).select_from(AuditEvent)) == events + committed
                    fire_one()  # the restarted worker: the timer not committed fires now, or the next one does
                elif kind == "start":
                    key = f"start-{i}"

                    def start(key: str = key) -> None:
                        call(app, token, "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": A},
                             **{"Idempotency-Key": key})

                    assert _killed_in_child(start, point, [engine]), (i, point, kind)
                    starts += 1
                    total = cases_before + starts
                    assert scalar(select(func.count()).select_from(CaseInstance)) == total - (not committed)
                    assert scalar(select(func.count()).select_from(AuditEvent)) == events + committed
                    kept = scalar(select(IdempotencyRecord.body).where(IdempotencyRecord.key == key))
                    assert (kept is not None) == committed  # the answer is there exactly when the step is
                    now.advance(minutes=3)  # the client retries after the server's request was given up
                    retry = call(app, token, "POST", "/api/cases",
                                 {"process_id": "Process_Deadline", "municipality": A}, **{"Idempotency-Key": key})
                    assert retry.status_code == 201, retry.get_json()
                    assert (retry.headers.get("Idempotent-Replayed") == "true") == committed
                    if committed:
                        assert retry.get_json() == json.loads(kept)
                    assert scalar(select(func.count()).select_from(CaseInstance)) == total  # one case per key
                else:
                    task_id, name = ready_task()
                    key = f"complete-{i}"

                    def complete(task_id: str = task_id, name: str = name, key: str = key) -> None:
                        call(app, token, "POST", f"/api/tasks/{task_id}/complete", {"data": INPUT[name]},
                             **{"Idempotency-Key": key})

                    assert _killed_in_child(complete, point, [engine]), (i, point, kind)
                    state = scalar(select(CaseTask.state).where(CaseTask.id == task_id))
                    assert state == ("completed" if committed else "ready")
                    assert scalar(select(func.count()).select_from(AuditEvent)) == events + committed
                    now.advance(minutes=3)
                    retry = call(app, token, "POST", f"/api/tasks/{task_id}/complete", {"data": INPUT[name]},
                                 **{"Idempotency-Key": key})
                    assert retry.status_code == 200, retry.get_json()
                    assert (retry.headers.get("Idempotent-Replayed") == "true") == committed
                    assert scalar(select(func.count()).select_from(AuditEvent).where(
                        AuditEvent.task_id == task_id, AuditEvent.action == "task.completed")) == 1
                killed[point] += 1
                assert_one_event_per_state_change(engine)  # versions = events; every chain verifies

            with app.app_context():  # the worker catches up: every timer of the rounds has fired exactly once
                while service.fire_due_timers(get_session()):
                    pass
            timers = [tid for (tid,) in _rows(engine, select(CaseTask.id).where(CaseTask.kind == "timer"))]
            assert len(timers) == 60
            fired = dict(_rows(engine, select(AuditEvent.task_id, func.count()).where(
                AuditEvent.action == "timer.fired").group_by(AuditEvent.task_id)))
            assert {t: fired.get(t, 0) for t in timers} == {t: 1 for t in timers}
            assert killed == {point: KILLS // len(faults.POINTS) for point in faults.POINTS}
            assert_one_event_per_state_change(engine)
        finally:
            setup.close()


def test_timers_due_while_every_worker_was_down_fire_once_after_restart(database_url: str) -> None:
    """50 転入届 wait at 本人確認, whose 14日経過 timer (督促) falls due while no worker runs. Then real `jichi worker`
    processes start: the first is killed with SIGKILL right after the commit of its 8th timer; then three start at
    once on PostgreSQL (SKIP LOCKED), one on SQLite (docs/operations.md): every timer fired exactly once."""
    from engine.registry import Registry
    from tests.engine_support import environment
    from tests.test_engine_cli import JICHI, ROOT

    began = dt.datetime(2026, 4, 6, 0, 30, tzinfo=dt.UTC)
    with clock.frozen(began), environment(database_url, Registry.load(ROOT)) as env:
        for i in range(50):
            with env.session() as s:
                case_id = env.cases.start_case(s, process_id="Process_Tennyu", municipality=A, data={},
                                               actor="窓口").id
            env.complete(case_id, "受付", {"氏名": f"転入 {i}", "転入日": "2026-04-01", "届出日": "2026-04-06",
                                           "前住所": "東京都千代田区", "世帯員数": 1})
        timers = [tid for (tid,) in _rows(env.engine, select(CaseTask.id).where(
            CaseTask.kind == "timer", CaseTask.state == "waiting"))]
        assert len(timers) == 50
        later = {**os.environ, "JICHI_DATABASE_URL": database_url,
                 "JICHI_NOW": (began + dt.timedelta(days=15)).isoformat()}
        first = subprocess.run([JICHI, "worker", "--once"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                               env={**later, "JICHI_FAULT_POINT": "after_commit", "JICHI_FAULT_SKIP": "7"},
                               check=False)
        assert first.returncode == -signal.SIGKILL, first.stderr  # killed right after its 8th commit
        assert _rows(env.engine, select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "timer.fired")) == [(8,)]
        contenders = 3 if database_url.startswith("postgresql") else 1
        workers = [subprocess.Popen([JICHI, "worker", "--once", "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=later) for _ in range(contenders)]
        moved: list[str] = []
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            assert worker.returncode == 0 and "Traceback" not in err, err
            moved += json.loads(out)["moved"]
        assert len(moved) == len(set(moved)) == 42  # the rest, each case moved by exactly one worker
        fired = dict(_rows(env.engine, select(AuditEvent.task_id, func.count()).where(
            AuditEvent.action == "timer.fired").group_by(AuditEvent.task_id)))
        assert {t: fired.get(t, 0) for t in timers} == {t: 1 for t in timers}
        states = {state for (state,) in _rows(env.engine, select(CaseTask.state).where(CaseTask.id.in_(timers)))}
        assert states == {"completed"}


def _rows(engine: Any, statement: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(statement).all())
