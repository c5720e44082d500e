"""GET /metrics (web/metrics.py): jichi status for Prometheus — off unless JICHI_METRICS_TOKEN is set, only with that
secret as the bearer token, the platform's figures as jichi status reads them, and a database that cannot be read
said as jichi_database_up 0, never a traceback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from engine import audit, clock, jobs, periodic, workers
from tests.engine_support import environment
from web import create_app
from web.db import get_engine

START = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)
SECRET = "m-3f9c1e7a2b5d4c6e8f0a1b2c3d4e5f60"


@contextmanager
def _app(url: str, token: str | None = SECRET) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": url, **({"METRICS_TOKEN": token} if token else {})})
    try:
        yield app
    finally:
        with app.app_context():
            get_engine().dispose()


def _scrape(app: Flask, token: str | None = SECRET) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().get("/metrics", base_url="https://localhost", headers=headers)


def _values(response: Any) -> dict[str, float]:
    """Sample name (with its labels, if any) → value."""
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return found


def test_metrics_are_off_unless_a_secret_is_set_and_need_it(database_url: str) -> None:
    with environment(database_url), _app(database_url, None) as off, _app(database_url) as app:
        assert _scrape(off).status_code == 404
        for token in (None, "wrong", SECRET + "x"):
            refused = _scrape(app, token)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert b"jichi" not in refused.data
        answered = _scrape(app)
        assert answered.status_code == 200 and answered.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert answered.headers["Cache-Control"] == "no-store"
        # this app server's clock against the database server's (none on SQLite: no server)
        seen = _values(answered)
        assert ("jichi_clock_skew_seconds" in seen) == database_url.startswith("postgresql")
        assert abs(seen.get("jichi_clock_skew_seconds", 0)) < 1


def test_metrics_say_what_jichi_status_says(database_url: str) -> None:
    with clock.frozen(START) as now, environment(database_url) as env, _app(database_url) as app:
        first = _values(_scrape(app))
        assert first["jichi_database_up"] == 1 and first["jichi_schema_behind"] == 0 and first["jichi_problems"] == 0
        assert first["jichi_running_cases"] == 0 and first["jichi_overdue_timers"] == 0
        assert first["jichi_long_transactions"] == 0 and "jichi_oldest_long_transaction_seconds" not in first
        assert "jichi_oldest_overdue_timer_due_timestamp_seconds" not in first  # none overdue: no such time
        env.start("Process_Timers", {"公開日": "2026-04-03"})
        env.start("Process_Deadline")
        with env.session() as s:
            jobs.enqueue(s, kind="impact", payload={}, municipality=None, actor="t")
            s.commit()
        now.advance(hours=1, minutes=10)  # the 1-hour timer is 10 minutes overdue, the job waits: no worker runs
        seen = _values(_scrape(app))
        assert seen["jichi_running_cases"] == 2 and seen["jichi_overdue_timers"] == 1 and seen["jichi_queued_jobs"] == 1
        assert seen["jichi_problems"] == 2  # the overdue timer, the job waiting longer than 5 minutes
        assert seen["jichi_oldest_queued_job_timestamp_seconds"] == START.timestamp()
        assert seen["jichi_oldest_overdue_timer_due_timestamp_seconds"] == (START + dt.timedelta(hours=1)).timestamp()
        # every start is an audit event: the counter grows with the platform's work
        assert seen["jichi_audit_events_total"] == first["jichi_audit_events_total"] + 2
        with env.session() as s:
            env.cases.fire_due_timers(s)
            assert periodic.take_turn(s, periodic.CHECKPOINT, dt.timedelta(hours=1), "worker-1")
            workers.beat(s, "worker-1", "0.2.0", START)
        last = _values(_scrape(app))
        assert last["jichi_workers"] == 1
        assert last["jichi_worker_seen_timestamp_seconds{version=0.2.0,worker=worker-1}"] == clock.now().timestamp()
        assert last["jichi_overdue_timers"] == 0
        assert last["jichi_duty_last_run_timestamp_seconds{duty=audit.checkpoint}"] == clock.now().timestamp()
        assert last["jichi_duty_next_run_timestamp_seconds{duty=audit.checkpoint}"] == (
            clock.now() + dt.timedelta(hours=1)).timestamp()
        assert "jichi_last_backup_timestamp_seconds" not in last  # no `jichi db backup` yet
        with env.session() as s:
            audit.admin_event(s, action="db.backed_up", actor="運用担当", detail={"sha256": "0" * 64, "bytes": 1})
            s.commit()  # what `jichi db backup` records (tests/test_ops.py takes a real one)
        assert _values(_scrape(app))["jichi_last_backup_timestamp_seconds"] == clock.now().timestamp()


def test_metrics_of_a_database_that_cannot_be_read_say_so(tmp_path: Any) -> None:
    away = "postgresql+psycopg://jichi:x@127.0.0.1:9/none?connect_timeout=1"
    with _app(away) as app:
        response = _scrape(app)
    assert response.status_code == 200 and "Traceback" not in response.get_data(as_text=True)
    seen = _values(response)
    assert seen["jichi_database_up"] == 0 and "jichi_running_cases" not in seen
    blank = f"sqlite:///{tmp_path / 'blank.sqlite3'}"  # never upgraded: the schema is behind
    with _app(blank) as app:
        seen = _values(_scrape(app))
    assert seen["jichi_database_up"] == 1 and seen["jichi_schema_behind"] == 1 and seen["jichi_problems"] == 1


def test_a_weak_metrics_secret_is_refused_at_start(monkeypatch: Any, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    for weak in ("short", "has a blank in it and is long enough"):
        monkeypatch.setenv("JICHI_METRICS_TOKEN", weak)
        with pytest.raises(ValueError, match="JICHI_METRICS_TOKEN"):
            create_app({"TESTING": True, "DATABASE_URL": url})
    monkeypatch.setenv("JICHI_METRICS_TOKEN", SECRET)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    assert app.config["METRICS_TOKEN"] == SECRET
