"""The PostgreSQL test fixtures keep their contract: fresh databases per test, the `postgres` mark, and —
the point of it all — a failure, never a skip, when CI=true and PostgreSQL cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from engine.db import current_revision, make_engine
from tests.conftest import POSTGRES_URL_ENV, PostgresServer

ROOT = Path(__file__).resolve().parent.parent
# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = "postgresql+psycopg://jichi:jichi@127.0.0.1:1/jichi_test"
ONE_POSTGRES_TEST = "tests/test_db.py::test_upgrade_twice_is_a_no_op[postgresql]"


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS", POSTGRES_URL_ENV}}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("env", [
    {"CI": "true", POSTGRES_URL_ENV: UNREACHABLE},
    {"CI": "true"},
], ids=["unreachable", "unset"])
def test_ci_fails_instead_of_skipping(env: dict[str, str]) -> None:
    result = run_pytest(ONE_POSTGRES_TEST, **env)
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "skipped" not in result.stdout
    assert "CI=true では PostgreSQL のテストは必須です" in result.stdout


def test_without_ci_it_skips_with_the_reason() -> None:
    result = run_pytest(ONE_POSTGRES_TEST, **{POSTGRES_URL_ENV: UNREACHABLE})
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "PostgreSQL のテストを実行できません: postgresql+psycopg://jichi:***@127.0.0.1:1/jichi_test" \
        in result.stdout


def test_postgres_mark_selects_exactly_the_postgres_tests() -> None:
    result = run_pytest("--collect-only", "-m", "postgres", "tests/test_db.py", "tests/test_postgres_fixtures.py")
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected and all("[postgresql]" in line or "postgres_url" in line for line in collected), collected
    assert "tests/test_postgres_fixtures.py::test_postgres_url_is_a_fresh_migrated_database" in collected


def test_postgres_url_is_a_fresh_migrated_database(postgres_url: str, postgres_server: PostgresServer) -> None:
    assert make_url(postgres_url).get_backend_name() == "postgresql"
    engine = make_engine(postgres_url)
    try:
        assert current_revision(engine) is not None
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM municipality")).scalar_one() == 0
            connection.execute(text("INSERT INTO municipality (code, name) VALUES ('011002', '札幌市')"))
    finally:
        engine.dispose()
    # The next database cloned from the template does not see this test's row.
    other = postgres_server.create(migrated=True)
    try:
        engine = make_engine(postgres_server.url_of(other))
        try:
            with engine.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM municipality")).scalar_one() == 0
        finally:
            engine.dispose()
    finally:
        postgres_server.drop(other)
    with postgres_server.admin.connect() as connection:
        names = connection.execute(text("SELECT datname FROM pg_database")).scalars().all()
    assert other not in names and make_url(postgres_url).database in names
