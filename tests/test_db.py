"""Schema: alembic upgrades an empty database, and the models agree with the migrations — on SQLite and
PostgreSQL alike (the database fixtures of conftest.py run each test once per backend)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from engine.db import (
    Base,
    Municipality,
    alembic_config,
    current_revision,
    make_engine,
    make_session_factory,
    upgrade,
)
from engine.demo import DEMO_MUNICIPALITIES, load_demo


def head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_upgrade_from_empty_creates_tables(blank_database_url: str) -> None:
    url = blank_database_url
    assert upgrade(url) == head(url)
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version", *Base.metadata.tables}
        assert current_revision(engine) == head(url)
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(blank_database_url: str) -> None:
    assert upgrade(blank_database_url) == upgrade(blank_database_url) == head(blank_database_url)


def test_sqlite_file_folder_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/jichi.sqlite3"
    assert upgrade(url) == head(url)


def test_models_match_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_demo_load_idempotent_and_timestamped(database_url: str) -> None:
    engine = make_engine(database_url)
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

