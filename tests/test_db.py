"""Schema: alembic upgrades an empty database, and the models agree with the migrations — on SQLite and
PostgreSQL alike (the database fixtures of conftest.py run each test once per backend)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

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


def test_a_cases_state_is_stored_with_lz4_on_postgresql(postgres_url: str) -> None:
    # migration 0023: the state every step rewrites is compressed with lz4 (faster than pglz) where the server
    # has it — Debian's and the PGDG packages do; a server without it keeps pglz
    from tests.engine_support import environment

    with environment(postgres_url) as env:
        with env.session() as s:
            available = s.scalar(text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                      "WHERE name = 'default_toast_compression'"))
            declared = s.scalar(text("SELECT attcompression FROM pg_attribute WHERE attname = 'state' "
                                     "AND attrelid = 'case_instance'::regclass"))
        assert available, "PostgreSQL without lz4: not the server this product is tested on"
        assert declared == "l"
        case_id = env.start("Process_Deadline")
        with env.session() as s:
            s.execute(text("UPDATE case_instance SET state = state || repeat(' ', 4000) WHERE id = :id"),
                      {"id": case_id})  # large enough to be compressed whatever the procedure's size
            s.commit()
            used = s.scalar(text("SELECT pg_column_compression(state) FROM case_instance WHERE id = :id"),
                            {"id": case_id})
        assert used == "lz4"
