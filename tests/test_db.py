"""Schema: alembic upgrades an empty database, and the models agree with the migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from engine.db import Base, Municipality, current_revision, make_engine, make_session_factory, upgrade
from engine.demo import DEMO_MUNICIPALITIES, load_demo


def test_upgrade_from_empty_creates_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'jichi.sqlite3'}"
    assert upgrade(url) == "0001"
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version", "municipality"}
        assert current_revision(engine) == "0001"
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jichi.sqlite3'}"
    assert upgrade(url) == upgrade(url) == "0001"


def test_models_match_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jichi.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_demo_load_idempotent_and_timestamped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jichi.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as session:
            assert load_demo(session) == len(DEMO_MUNICIPALITIES)
            session.commit()
        with sessions() as session:
            assert load_demo(session) == 0
            session.commit()
            rows = session.scalars(select(Municipality).order_by(Municipality.code)).all()
        assert [(m.code, m.name) for m in rows] == sorted(DEMO_MUNICIPALITIES)
        assert all(m.created_at is not None for m in rows)  # server-side default
    finally:
        engine.dispose()
