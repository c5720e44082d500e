"""engine.db.reads_without_transaction (PostgreSQL): a JSON API request reads without a transaction of the
database's until its first write or locking read, which begins one; a task completion's one statement (marked
FINAL_WRITE by engine.store) is a transaction of its own. What is written is written as before: all of it, or
nothing — and a connection goes back to the pool as it came."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, event, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine import clock, faults
from engine.db import (
    FINAL_WRITE,
    Municipality,
    make_engine,
    make_session_factory,
    reads_without_transaction,
    upgrade,
)
from engine.demo import load_demo
from engine.models import AuditEvent, CaseInstance, CaseTask
from tests.api_support import api_app, call
from tests.engine_support import assert_one_event_per_state_change

A = "141305"


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        load_demo(s)
        s.commit()
    try:
        yield engine
    finally:
        engine.dispose()


def _status(session: Session) -> TransactionStatus:
    driver = session.connection().connection.driver_connection
    assert driver is not None
    return TransactionStatus(driver.info.transaction_status)


def _name(engine: Engine) -> str | None:
    with make_session_factory(engine)() as other:  # another connection: what is committed
        return other.scalar(select(Municipality.name).where(Municipality.code == A))


def test_reads_run_outside_a_transaction_and_the_first_write_begins_one(postgres_url: str) -> None:
    with _engine(postgres_url) as engine, make_session_factory(engine)() as s:
        before = _name(engine)
        assert reads_without_transaction(s)
        assert s.scalar(select(Municipality.name).where(Municipality.code == A)) == before
        assert _status(s) is TransactionStatus.IDLE  # the read was a transaction of its own: no BEGIN sent
        s.execute(update(Municipality).where(Municipality.code == A).values(name="書きかけ"))
        assert _status(s) is TransactionStatus.INTRANS  # the write began one
        assert _name(engine) == before
        s.rollback()
        assert _name(engine) == before  # and rolled back with it


def test_a_locking_read_begins_the_transaction(postgres_url: str) -> None:
    with _engine(postgres_url) as engine, make_session_factory(engine)() as s:
        assert reads_without_transaction(s)
        s.execute(select(Municipality.code).where(Municipality.code == A).with_for_update())
        assert _status(s) is TransactionStatus.INTRANS  # its lock lasts until the commit, as it should


def test_orm_writes_of_a_request_stay_one_transaction(postgres_url: str) -> None:
    with _engine(postgres_url) as engine, make_session_factory(engine)() as s:
        assert reads_without_transaction(s)
        s.add(Municipality(code="131016", name="千代田区"))
        s.flush()
        s.execute(update(Municipality).where(Municipality.code == A).values(name="書きかけ"))
        s.rollback()
        assert s.scalar(select(func.count()).select_from(Municipality).where(Municipality.code == "131016")) == 0
        assert _name(engine) != "書きかけ"


def test_a_final_write_is_a_transaction_of_its_own(postgres_url: str) -> None:
    with _engine(postgres_url) as engine, make_session_factory(engine)() as s:
        assert reads_without_transaction(s)
        s.connection().execute(text("UPDATE municipality SET name = '一文' WHERE code = :c"), {"c": A},
                               execution_options={FINAL_WRITE: True})
        assert _status(s) is TransactionStatus.IDLE
        assert _name(engine) == "一文"  # committed by itself, before any commit()
        s.rollback()
        assert _name(engine) == "一文"


def test_the_connection_goes_back_to_the_pool_as_it_came(postgres_url: str) -> None:
    with _engine(postgres_url) as engine:
        sessions = make_session_factory(engine)
        with sessions() as s:
            assert reads_without_transaction(s)
            s.scalar(select(1))
            driver = s.connection().connection.driver_connection
            assert driver is not None and driver.autocommit
        assert not driver.autocommit  # checked in: transactions again for whoever takes it next
        with sessions() as s:
            s.execute(update(Municipality).where(Municipality.code == A).values(name="書きかけ"))
            s.rollback()
        assert _name(engine) != "書きかけ"


def test_not_on_sqlite_nor_inside_an_open_transaction(tmp_path: Path, postgres_url: str) -> None:
    sqlite = f"sqlite:///{tmp_path}/j.sqlite3"
    upgrade(sqlite)
    with _engine(sqlite) as engine, make_session_factory(engine)() as s:
        assert not reads_without_transaction(s)
    with _engine(postgres_url) as engine, make_session_factory(engine)() as s:
        s.execute(update(Municipality).where(Municipality.code == A).values(name="書きかけ"))
        assert not reads_without_transaction(s)  # a transaction is open: it stays one
        s.rollback()
        assert _name(engine) != "書きかけ"


# --- through the API: a task completion is one statement, committed by itself ------------------------------------

@pytest.fixture
def api(postgres_url: str) -> Iterator[tuple[Any, dict[str, str], str]]:
    for app, tokens in api_app(postgres_url, {A: ("clerk_a", f"{A}:clerk")}):
        yield app, tokens, postgres_url


def _ready_task(app: Any, token: str) -> str:
    case = call(app, token, "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": A}).get_json()
    (task,) = [t for t in case["tasks"] if t["state"] == "ready"]
    return str(task["id"])


def _completed(url: str, task_id: str) -> tuple[str | None, int]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            state = s.scalar(select(CaseTask.state).where(CaseTask.id == task_id))
            events = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.task_id == task_id))
            return state, int(events or 0)
    finally:
        engine.dispose()


@pytest.mark.parametrize("keyed", [False, True])
def test_a_completion_is_durable_once_its_one_statement_is_through(
        api: tuple[Any, dict[str, str], str], monkeypatch: pytest.MonkeyPatch, keyed: bool) -> None:
    app, tokens, url = api
    with clock.frozen(clock.now()):
        clock.install_spiff_clock()
        task_id = _ready_task(app, tokens[A])
        stopped = RuntimeError("the process stops before its commit")
        original = faults.point

        def stop_before_commit(name: str) -> None:
            if name == "before_commit":
                raise stopped
            original(name)

        monkeypatch.setattr(faults, "point", stop_before_commit)
        headers = {"Idempotency-Key": "k-1"} if keyed else {}
        response = call(app, tokens[A], "POST", f"/api/tasks/{task_id}/complete", {"data": {"異動日": "2026-06-09"}},
                        **headers)
        assert response.status_code == 500  # the app's clean answer to an unexpected error
    # Without an Idempotency-Key the step's writes were one statement, a transaction of its own: the step is done
    # (and answered as done to a retry). With one, the stored answer goes in the step's transaction: nothing is.
    assert _completed(url, task_id) == (("ready", 0) if keyed else ("completed", 1))
    engine = make_engine(url)
    try:
        assert_one_event_per_state_change(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("keyed", [False, True])
def test_a_start_writes_its_case_with_its_event_by_one_statement_durable_by_itself(
        api: tuple[Any, dict[str, str], str], monkeypatch: pytest.MonkeyPatch, keyed: bool) -> None:
    # A start's case row, its first task and its audit event: one statement (engine.store, insert_case(defer=True)).
    # Without an Idempotency-Key it is a transaction of its own, so the case is there even if the process stops
    # before the commit; with one, the stored answer is written in the same transaction after it: nothing is.
    app, tokens, url = api
    engine = make_engine(url)
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()))

    try:
        with clock.frozen(clock.now()):
            clock.install_spiff_clock()
            call(app, tokens[A], "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": A})
            with app.app_context():
                from web.db import get_engine

                served = get_engine()
            event.listen(served, "before_cursor_execute", seen)
            original = faults.point

            def stop_before_commit(name: str) -> None:
                if name == "before_commit":
                    raise RuntimeError("the process stops before its commit")
                original(name)

            monkeypatch.setattr(faults, "point", stop_before_commit)
            headers = {"Idempotency-Key": "s-1"} if keyed else {}
            response = call(app, tokens[A], "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": A},
                            **headers)
            event.remove(served, "before_cursor_execute", seen)
            assert response.status_code == 500  # the app's clean answer to an unexpected error
        writes = [q for q in sent if "INSERT INTO case_instance" in q]
        assert len(writes) == 1 and writes[0].startswith("WITH new_case AS") and "INSERT INTO audit_event" in writes[0]
        with make_session_factory(engine)() as s:
            cases = s.scalar(select(func.count()).select_from(CaseInstance))
        assert cases == (1 if keyed else 2)
        assert_one_event_per_state_change(engine)
    finally:
        engine.dispose()


def test_a_connection_that_died_while_reading_is_not_handed_out_again(postgres_url: str) -> None:
    with _engine(postgres_url) as engine:
        sessions = make_session_factory(engine)
        killer = make_engine(postgres_url)
        try:
            with sessions() as s:
                assert reads_without_transaction(s)
                pid = s.scalar(text("SELECT pg_backend_pid()"))
                with killer.connect() as other:  # a database restart, for this one connection
                    other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # its next use fails, cleanly, and the pool renews (engine.db._ping_after_idle)
            with sessions() as s, pytest.raises(OperationalError):
                s.scalar(select(1))
            with sessions() as s:  # a fresh connection, in transaction mode
                assert s.scalar(select(1)) == 1
                s.execute(update(Municipality).where(Municipality.code == A).values(name="書きかけ"))
                assert _status(s) is TransactionStatus.INTRANS
                s.rollback()
        finally:
            killer.dispose()
