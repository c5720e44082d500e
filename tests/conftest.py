"""Shared pytest setup.

No test may reach SpiffWorkflow's default script environment: it is plain eval/exec, and jichi replaces it
with the DSL engine. The autouse fixture turns any call into a test failure.

Databases (DESIGN.md: one code path, tested on SQLite and PostgreSQL):

    database_url        a fresh, migrated database per test, once on SQLite and once on PostgreSQL
                        (test ids `[sqlite]` / `[postgresql]`); yields its SQLAlchemy URL (str)
    blank_database_url  the same, but empty (never migrated): for tests of the migrations themselves
    postgres_url        a fresh, migrated PostgreSQL database only, for PostgreSQL-only tests

PostgreSQL comes from JICHI_TEST_POSTGRES_URL (a role allowed to CREATE DATABASE), which `make test` and
`.ci/run` set by starting the OS's server with tests/services/postgres.sh. Each session migrates one
template database once; each test gets `CREATE DATABASE … TEMPLATE` of it (tens of milliseconds), dropped
afterwards. Every test that touches PostgreSQL carries the `postgres` mark (`pytest -m postgres`).
When PostgreSQL is not reachable such tests are skipped with the reason — except under CI=true, where
they fail: CI must never pass without having run them.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from engine.db import upgrade

POSTGRES_URL_ENV = "JICHI_TEST_POSTGRES_URL"
# Per-session database names start with this prefix and the pid, so parallel runs on one server never collide
# and databases left behind by a killed run can be recognised and dropped by the next one.
DATABASE_PREFIX = "jichi_t"


def _forbidden(*args: object, **kwargs: object) -> object:
    raise AssertionError("SpiffWorkflow's eval/exec environment was reached")


@pytest.fixture(autouse=True)
def _no_python_script_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TaskDataEnvironment, "evaluate", _forbidden)
    monkeypatch.setattr(TaskDataEnvironment, "execute", _forbidden)


def in_ci() -> bool:
    """True when running under CI (CI=true), where PostgreSQL tests are mandatory."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
    # The browser tests run last: Playwright leaves threads in this process (its event loop's executor and
    # child watcher), and the tests that fork this process (crash safety) should fork one without threads.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


_postgres_outcomes: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" in report.keywords and (report.when == "call" or not report.passed):
        _postgres_outcomes[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line saying how many PostgreSQL tests really ran, so a log shows they were not all skipped."""
    if _postgres_outcomes:
        terminalreporter.write_line(
            f"PostgreSQL のテスト: 成功 {_postgres_outcomes['passed']}、失敗 {_postgres_outcomes['failed']}、"
            f"スキップ {_postgres_outcomes['skipped']}")


class PostgresServer:
    """The test server: creates and drops per-test databases, cloned from one migrated template."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin: Engine = create_engine(self.url, isolation_level="AUTOCOMMIT",
                                           connect_args={"connect_timeout": 5})
        self.session_id = f"{DATABASE_PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.session_id}_template"
        self.count = 0

    def url_of(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def execute(self, sql: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(sql))

    def drop_abandoned(self) -> None:
        """Drop databases of earlier sessions whose process no longer exists (a killed run)."""
        with self.admin.connect() as connection:
            names = connection.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                       {"p": f"{DATABASE_PREFIX}\\_%"}).scalars().all()
        for name in names:
            pid = name.split("_")[2]
            if pid.isdigit() and not _alive(int(pid)):
                self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create(self, *, migrated: bool) -> str:
        self.count += 1
        name = f"{self.session_id}_{self.count}"
        template = self.template if migrated else "template0"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop(self, name: str) -> None:
        # FORCE: a test that forgot to dispose its engine must not leave the database behind.
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.drop(self.template)
        self.admin.dispose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _unavailable(reason: str) -> NoReturn:
    message = f"PostgreSQL のテストを実行できません: {reason}"
    if in_ci():
        pytest.fail(f"{message}（CI=true では PostgreSQL のテストは必須です。.ci/run が起動します）", pytrace=False)
    pytest.skip(f"{message}（make test は tests/services/postgres.sh で起動を試みます）")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL test server of JICHI_TEST_POSTGRES_URL with a migrated template; skips or fails."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        _unavailable(f"{POSTGRES_URL_ENV} が設定されていません")
    try:
        server = PostgresServer(url)
        server.drop_abandoned()
        server.execute(f'CREATE DATABASE "{server.template}"')
    except (SQLAlchemyError, ValueError) as e:
        _unavailable(f"{make_url(url).render_as_string(hide_password=True)} に接続できません（{e}）")
    try:
        upgrade(server.url_of(server.template))
        yield server
    finally:
        server.close()


def _database(request: pytest.FixtureRequest, tmp_path: Path, backend: str, *, migrated: bool) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / ('jichi.sqlite3' if migrated else 'blank.sqlite3')}"
        if migrated:
            upgrade(url)
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create(migrated=migrated)
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database migrated to head, on each backend in turn; yields its URL."""
    yield from _database(request, tmp_path, request.param, migrated=True)


@pytest.fixture(params=BACKENDS)
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty (unmigrated) database on each backend in turn; yields its URL."""
    yield from _database(request, tmp_path, request.param, migrated=False)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite database migrated to head (what only SQLite does); yields its URL."""
    yield from _database(request, tmp_path, "sqlite", migrated=True)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head; yields its URL. Skipped (failed under CI) without one."""
    yield from _database(request, tmp_path, "postgresql", migrated=True)


@pytest.fixture
def org(database_url: str) -> Iterator[Any]:
    """An engine environment with the illustrative organisation charts of tests/fixtures/organisation
    imported (2024-04-01, and the 2026-04-01 異動)."""
    from engine.organisation import import_chart, read_chart_file
    from tests.engine_support import environment

    charts = Path(__file__).parent / "fixtures" / "organisation"
    with environment(database_url) as env:
        with env.session() as s:
            import_chart(s, read_chart_file(charts / "chart_2024.toml"), "人事課")
            import_chart(s, read_chart_file(charts / "ido_2026.toml"), "人事課")
        yield env
