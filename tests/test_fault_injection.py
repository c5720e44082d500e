"""Database errors injected into 5 % of 1,000 operations (JSON API requests as clients send them, 一括処理
included, and the timer worker's rounds) leave no partial state, and the user gets the clean ENG540 answer (503),
never a traceback.

The injected error is the driver's own OperationalError (what a dropped connection, a failed serialization or a
full disk raise), thrown at a random statement of the operation — the token check, a read, the idempotency
claim, the case's state write, the audit append — or in place of its commit (the commit then did not happen).
After every failure: each case's version equals its state-changing events, every audit chain verifies, and the
open task rows are exactly the live tasks of the stored state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event, func, select

from engine import clock
from engine.models import AuditEvent, CaseInstance, CaseTask
from tests.api_support import api_app, call
from tests.engine_support import assert_one_event_per_state_change, assert_task_rows_follow_states

A = "141305"
OPERATIONS = 1000
SHARE = 0.05
INPUT = {"受付": {"異動日": "2026-06-09"}, "確認": {}, "審査": {}}


class Injector:
    """Raises the driver's OperationalError at the n-th statement or commit after `arm(n)`, once."""

    def __init__(self, engine: Engine) -> None:
        self.countdown: int | None = None
        self.fired = 0
        self.error = engine.dialect.loaded_dbapi.OperationalError
        event.listen(engine, "before_cursor_execute", self._statement)
        original = engine.dialect.do_commit

        def do_commit(connection: Any) -> None:
            self._tick("COMMIT")
            original(connection)

        engine.dialect.do_commit = do_commit  # type: ignore[method-assign]

    def arm(self, n: int) -> None:
        self.countdown = n

    def disarm(self) -> None:
        self.countdown = None

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._tick(statement)

    def _tick(self, what: str) -> None:
        if self.countdown is None:
            return
        self.countdown -= 1
        if self.countdown == 0:
            self.countdown = None
            self.fired += 1
            raise self.error(f"injected fault at: {what.split()[0]}")


@contextlib.contextmanager
def _clerk_api(database_url: str) -> Iterator[tuple[Any, str, Any, Engine, Any]]:
    """The API app with one clerk of A, on a frozen clock: (app, the clerk's token, the case service, the app's
    engine, the clock)."""
    with clock.frozen(dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)) as now:
        clock.install_spiff_clock()
        setup = api_app(database_url, {"clerk": ("c-one", f"{A}:clerk")})
        app, tokens = next(setup)
        try:
            from web.api import cases
            from web.db import get_engine

            with app.app_context():
                service, engine = cases(), get_engine()
            yield app, tokens["clerk"], service, engine, now
        finally:
            setup.close()


def test_five_percent_database_errors_over_a_thousand_operations_leave_no_partial_state(database_url: str) -> None:
    rng = random.Random(14)
    with _clerk_api(database_url) as (app, token, service, engine, now):
        from web.db import get_session

        injector = Injector(engine)

        def ready_tasks() -> list[tuple[str, str]]:
            with engine.connect() as connection:
                return [(str(i), str(n)) for i, n in connection.execute(select(CaseTask.id, CaseTask.name).where(
                    CaseTask.state == "ready", CaseTask.kind == "user").order_by(CaseTask.id))]

        def operation(i: int) -> Any:
            """One client request (or a worker round); returns the response (None for the worker)."""
            kind = rng.choice(("start", "start", "complete", "complete", "complete", "batch", "claim", "read",
                               "inbox", "timers"))
            ready = ready_tasks()
            if kind in ("complete", "batch", "claim", "read") and not ready:
                kind = "start"
            if kind == "start":
                process, data = rng.choice((("Process_Deadline", {}),
                                            ("Process_Timers", {"公開日": "2026-04-03"})))
                headers = {"Idempotency-Key": f"op-{i}"} if rng.random() < 0.5 else {}
                return call(app, token, "POST", "/api/cases",
                            {"process_id": process, "municipality": A, "data": data}, **headers)
            task_id, name = rng.choice(ready) if ready else ("", "")
            if kind == "batch":  # 一括処理 of up to five tasks: all of it or none of it
                chosen = rng.sample(ready, min(len(ready), rng.randint(2, 5)))
                return call(app, token, "POST", "/api/tasks/complete",
                            {"tasks": [{"id": t, "data": INPUT.get(n, {})} for t, n in chosen]},
                            **{"Idempotency-Key": f"op-{i}"})
            if kind == "complete":
                return call(app, token, "POST", f"/api/tasks/{task_id}/complete", {"data": INPUT.get(name, {})},
                            **{"Idempotency-Key": f"op-{i}"})
            if kind == "claim":
                return call(app, token, "POST", f"/api/tasks/{task_id}/claim")
            if kind == "read":
                with engine.connect() as connection:
                    case_id = connection.execute(select(CaseTask.case_id).where(CaseTask.id == task_id)).scalar()
                return call(app, token, "GET", f"/api/cases/{case_id}")
            if kind == "inbox":
                return call(app, token, "GET", "/api/tasks?mine=false")
            now.advance(minutes=20)  # the worker's round: boundary timers (1 hour) fall due as time passes
            with app.app_context():
                service.fire_due_timers(get_session())
            return None

        failures = 0
        answered: dict[int, int] = {}
        for i in range(OPERATIONS):
            inject = rng.random() < SHARE
            if inject:
                injector.arm(rng.randint(1, 14))
            fired_before = injector.fired
            try:
                response = operation(i)
            except Exception as e:  # only the worker's round raises: the worker loop reports and goes on
                assert injector.fired > fired_before and "injected fault" in str(e), e
                response = None
            injector.disarm()
            if response is not None:
                answered[response.status_code] = answered.get(response.status_code, 0) + 1
                assert "Traceback" not in response.get_data(as_text=True)
            if injector.fired > fired_before:
                failures += 1
                if response is not None:
                    assert response.status_code == 503, response.get_data(as_text=True)
                    assert response.get_json()["error"]["code"] == "ENG540"
                    assert response.headers["Retry-After"] == "5"
                assert_one_event_per_state_change(engine)
                assert_task_rows_follow_states(engine, service)
            else:
                assert response is None or response.status_code < 500, response.get_data(as_text=True)
        assert_one_event_per_state_change(engine)
        assert_task_rows_follow_states(engine, service)
        # about 5 % of the operations really failed (a countdown past an operation's last statement fires no
        # error), and the rest did real work
        assert 25 <= failures <= 75, failures
        assert answered.get(201, 0) > 100 and answered.get(200, 0) > 300, answered


def test_the_worker_rides_out_a_database_outage_and_stops_cleanly_on_sigterm(tmp_path: Any) -> None:
    """A worker whose database is away reports ENG540 each round and keeps trying (no traceback, no exit);
    SIGTERM ends it after the round. With --once the outage is the diagnostic and exit 1."""
    import os
    import signal
    import subprocess
    import time

    from tests.test_engine_cli import JICHI, ROOT

    away = {**os.environ, "JICHI_DATABASE_URL": "postgresql+psycopg://jichi:x@127.0.0.1:9/none?connect_timeout=1"}
    worker = subprocess.Popen([JICHI, "worker", "--interval", "0.2"], cwd=ROOT, env=away, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(5)  # the registry loads, then a few rounds meet the outage
    assert worker.poll() is None, worker.communicate()  # still running through the outage
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert err.count("ENG540") >= 2 and "Traceback" not in err + out, err
    assert "worker を終了しました。" in out
    once = subprocess.run([JICHI, "worker", "--once"], cwd=ROOT, env=away, capture_output=True, text=True,
                          timeout=60, check=False)
    assert once.returncode == 1 and "ENG540" in once.stderr and "Traceback" not in once.stderr, once.stderr


class LostAcknowledgement:
    """The commit of a step (the transaction that wrote an audit event) is done, and then the driver raises: the
    database committed, but its answer never reached jichi — a connection lost during COMMIT, as jichi sees it.
    With `done=False`, the driver raises in place of that commit (it never happened), for contrast."""

    def __init__(self, engine: Engine) -> None:
        self.armed: bool | None = None  # None: off; True: commit, then raise; False: raise instead
        self.writing = False
        self.error = engine.dialect.loaded_dbapi.OperationalError
        event.listen(engine, "before_cursor_execute", self._statement)
        commit, rollback = engine.dialect.do_commit, engine.dialect.do_rollback

        def do_commit(connection: Any) -> None:
            armed, writing = self.armed, self.writing
            self.writing = False
            if armed is None or not writing:
                commit(connection)
                return
            self.armed = None
            if armed:
                commit(connection)
            raise self.error("injected fault: no answer to COMMIT")

        def do_rollback(connection: Any) -> None:
            self.writing = False
            rollback(connection)

        engine.dialect.do_commit = do_commit  # type: ignore[method-assign]
        engine.dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "audit_event" in statement and ("INSERT" in statement.upper()):
            self.writing = True


def test_a_commit_whose_answer_was_lost_neither_doubles_nor_loses_a_step(database_url: str) -> None:
    """In-doubt commits: the database committed the step but jichi got an error. With an Idempotency-Key the
    stored answer was committed with the step, so it is the answer — to this request and to every retry — and a
    retry never acts again (never a second case). Without a key the client gets ENG540 and the retry finds the
    task done (ENG511). A commit that really failed frees the key: the retry acts, once."""
    with _clerk_api(database_url) as (app, token, service, engine, _):
        lost = LostAcknowledgement(engine)
        start = {"process_id": "Process_Deadline", "municipality": A, "data": {}}

        def count(statement: Any) -> int:
            with engine.connect() as connection:
                return int(connection.execute(statement).scalar_one())

        def completions(task_id: str) -> int:
            return count(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.task_id == task_id, AuditEvent.action == "task.completed"))

        def ready(case: dict[str, Any]) -> str:
            return next(t["id"] for t in case["tasks"] if t["state"] == "ready")

        # A start whose commit's answer was lost: its stored answer is the answer, and a retry replays it.
        lost.armed = True
        first = call(app, token, "POST", "/api/cases", start, **{"Idempotency-Key": "start-1"})
        assert first.status_code == 201, first.get_data(as_text=True)
        assert lost.armed is None  # the fault did fire
        again = call(app, token, "POST", "/api/cases", start, **{"Idempotency-Key": "start-1"})
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.get_json()["id"] == first.get_json()["id"]
        assert count(select(func.count()).select_from(CaseInstance)) == 1

        # A completion, and a batch, likewise.
        task = ready(first.get_json())
        lost.armed = True
        done = call(app, token, "POST", f"/api/tasks/{task}/complete", {"data": INPUT["受付"]},
                    **{"Idempotency-Key": "complete-1"})
        assert done.status_code == 200 and lost.armed is None, done.get_data(as_text=True)
        replayed = call(app, token, "POST", f"/api/tasks/{task}/complete", {"data": INPUT["受付"]},
                        **{"Idempotency-Key": "complete-1"})
        assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.get_json() == done.get_json() and completions(task) == 1
        cases_started = [call(app, token, "POST", "/api/cases", start).get_json() for _ in range(2)]
        batch = {"tasks": [{"id": ready(c), "data": INPUT["受付"]} for c in cases_started]}
        lost.armed = True
        answered = call(app, token, "POST", "/api/tasks/complete", batch, **{"Idempotency-Key": "batch-1"})
        assert answered.status_code == 200 and lost.armed is None, answered.get_data(as_text=True)
        assert [r["status"] for r in answered.get_json()["results"]] == [200, 200]
        replayed = call(app, token, "POST", "/api/tasks/complete", batch, **{"Idempotency-Key": "batch-1"})
        assert replayed.get_json() == answered.get_json()
        assert [completions(t["id"]) for t in batch["tasks"]] == [1, 1]

        # Without a key nothing says whether the step committed: ENG540; the retry finds it done.
        task = ready(done.get_json())
        lost.armed = True
        unsure = call(app, token, "POST", f"/api/tasks/{task}/complete", {"data": {}})
        assert unsure.status_code == 503 and unsure.get_json()["error"]["code"] == "ENG540"
        assert "Traceback" not in unsure.get_data(as_text=True)
        retried = call(app, token, "POST", f"/api/tasks/{task}/complete", {"data": {}})
        assert retried.get_json()["error"]["code"] == "ENG511" and completions(task) == 1

        # A commit that did not happen, with a key: ENG540, the key is free again, and the retry acts once.
        task = ready(call(app, token, "POST", "/api/cases", start).get_json())
        lost.armed = False
        failed = call(app, token, "POST", f"/api/tasks/{task}/complete", {"data": INPUT["受付"]},
                      **{"Idempotency-Key": "complete-2"})
        assert failed.status_code == 503 and failed.get_json()["error"]["code"] == "ENG540"
        assert completions(task) == 0
        acted = call(app, token, "POST", f"/api/tasks/{task}/complete", {"data": INPUT["受付"]},
                     **{"Idempotency-Key": "complete-2"})
        assert acted.status_code == 200 and "Idempotent-Replayed" not in acted.headers
        assert completions(task) == 1
        assert_one_event_per_state_change(engine)
        assert_task_rows_follow_states(engine, service)
