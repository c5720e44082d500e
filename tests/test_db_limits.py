"""The app server's limits on PostgreSQL (web.DB_TIMEOUTS, engine.db.make_engine): a request stuck behind a lock held
elsewhere — an operator's open transaction in psql, a hung process — or in a runaway statement fails cleanly after
the limit (ENG540, 503 with Retry-After, rolled back) instead of holding its gunicorn worker until it is killed; the
retry after the lock is gone acts once. Bad limits stop the app at its start."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from engine.models import AuditEvent, CaseTask
from tests.api_support import api_app, call
from web import create_app

A = "141305"


def test_a_request_behind_a_held_lock_fails_cleanly_and_its_retry_acts_once(postgres_url: str) -> None:
    for app, tokens in api_app(postgres_url, {A: ("a-clerk", f"{A}:clerk")}, config={"DB_LOCK_TIMEOUT": 0.3}):
        started = call(app, tokens[A], "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": A})
        assert started.status_code == 201, started.get_json()
        case = started.get_json()
        task = next(t["id"] for t in case["tasks"] if t["state"] == "ready")
        outside = create_engine(postgres_url)  # an operator's session, holding the case's row
        with outside.connect() as held:
            held.execute(text("SET idle_in_transaction_session_timeout = '10s'"))  # without the limit: a failure, no hang
            held.execute(text("SELECT 1 FROM case_instance WHERE id = :id FOR UPDATE"), {"id": case["id"]})
            began = time.monotonic()
            refused = call(app, tokens[A], "POST", f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-09"}},
                           **{"Idempotency-Key": "lock-1"})
            waited = time.monotonic() - began
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
            assert refused.get_json()["error"]["code"] == "ENG540"
            assert "Traceback" not in refused.get_data(as_text=True)
            assert 0.3 <= waited < 5  # the limit, not gunicorn's 30 s
            held.rollback()
        with outside.connect() as look:  # nothing of the refused step was written
            assert look.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.case_id == case["id"], AuditEvent.action == "task.completed")) == 0
            assert look.scalar(select(CaseTask.state).where(CaseTask.id == task)) == "ready"
        retried = call(app, tokens[A], "POST", f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-09"}},
                       **{"Idempotency-Key": "lock-1"})  # the key was freed with the rollback: the retry acts
        assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers, retried.get_json()
        with outside.connect() as look:
            assert look.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.case_id == case["id"], AuditEvent.action == "task.completed")) == 1
        outside.dispose()


def test_a_runaway_statement_is_stopped_at_the_limit(postgres_url: str) -> None:
    from web.db import get_session

    for app, _ in api_app(postgres_url, {}, config={"DB_STATEMENT_TIMEOUT": 0.2}):
        with app.app_context():
            session = get_session()
            shown = {row[0]: row[1] for row in session.execute(text(
                "SELECT name, setting FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout')"))}
            assert shown == {"lock_timeout": "5000", "statement_timeout": "200"}  # the lock limit's default: 5 s
            assert session.scalar(text("SHOW application_name")) == "jichi web"  # pg_stat_activity names it
            session.rollback()  # the pool's reset: the limits stay (they were committed on connecting)
            with pytest.raises(OperationalError, match="statement timeout"):
                session.execute(text("SELECT pg_sleep(2)"))


@pytest.mark.parametrize("value", ["0", "-1", "abc", "7200"])
def test_a_bad_limit_stops_the_app_at_its_start(value: str, monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv("JICHI_DB_LOCK_TIMEOUT", value)
    with pytest.raises(ValueError, match="JICHI_DB_LOCK_TIMEOUT"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
