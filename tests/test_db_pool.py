"""The PostgreSQL connection pool (engine.db.make_engine): a connection that lay idle is pinged before use and
replaced when the server dropped it (a restart, a failover, an idle timeout), while a connection returned a
moment ago is used without that extra round trip. And through the app: a dropped connection never shows a
stack trace, and the request after it works."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from engine import db
from engine.db import make_engine
from web import create_app
from web.db import get_engine


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    """What a server restart does to one pooled connection: its backend goes away."""
    admin = make_engine(url)
    try:
        with admin.connect() as c:
            assert c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() is True
            for _ in range(200):  # until the server has let it go
                if not c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                 {"pid": pid}).scalar_one():
                    break
    finally:
        admin.dispose()


def _dropped(engine: Engine, url: str) -> int:
    """The pooled connection's backend, after the server dropped it."""
    pid = _backend(engine)
    _terminate(url, pid)
    return pid


def _count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    return pings


@pytest.mark.postgres
def test_a_connection_returned_a_moment_ago_is_not_pinged(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _count_pings(engine, monkeypatch)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = _backend(engine)
    assert [_backend(engine) for _ in range(5)] == [first] * 5  # the same pooled connection each time
    assert pings == []
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # now every returned connection counts as idle
    assert _backend(engine) == first
    assert pings == [1]


@pytest.mark.postgres
def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
        engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = _dropped(engine, postgres_url)
    second = _backend(engine)  # no error: the ping found it dead and the pool opened another
    assert second != first


@pytest.mark.postgres
def test_a_connection_dropped_within_the_idle_second_fails_once_then_the_pool_is_renewed(
        engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = _dropped(engine, postgres_url)
    with pytest.raises(DBAPIError) as raised:
        _backend(engine)
    assert raised.value.connection_invalidated
    assert _backend(engine) != first


@pytest.mark.postgres
def test_the_app_answers_a_dropped_connection_cleanly_and_then_works(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    app = create_app({"TESTING": True, "DATABASE_URL": postgres_url})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    with app.app_context():
        engine = get_engine()
    try:
        with engine.connect() as c:
            pid = int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())
        _terminate(postgres_url, pid)
        failed = client.get("/healthz")
        assert failed.status_code == 503 and failed.get_json()["database"] == "error"
        assert b"Traceback" not in failed.data
        assert client.get("/healthz").status_code == 200
        page = client.get("/login")  # a page reading the database (sign-in rate limits) after the renewal
        assert page.status_code == 200
    finally:
        engine.dispose()
