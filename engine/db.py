"""Persistence: SQLAlchemy 2 typed models, engine/session factories and programmatic alembic migrations.

The schema is only ever changed through alembic revisions in engine/migrations/versions/; a test checks
that these models and the migrations agree (autogenerate finds no difference).
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event, func, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from engine.paths import project_root

DATABASE_URL_ENV = "JICHI_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Stable, predictable constraint names so that alembic can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Municipality(Base):
    """A 地方公共団体 known to this deployment, keyed by its 全国地方公共団体コード (6 digits)."""

    __tablename__ = "municipality"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"Municipality(code={self.code!r}, name={self.name!r})"


def default_database_url() -> str:
    """The embedded SQLite database under var/ of the project root."""
    return f"sqlite:///{project_root() / 'var' / 'jichi.sqlite3'}"


def database_url() -> str:
    """JICHI_DATABASE_URL if set, else the embedded SQLite default."""
    return os.environ.get(DATABASE_URL_ENV) or default_database_url()


def display_url(url: str) -> str:
    """The URL with any password masked, safe to print."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, lock_timeout: float | None = None, statement_timeout: float | None = None,
                application_name: str = "jichi") -> Engine:
    """An Engine for url; for a SQLite file, its folder is created and foreign keys are enforced.

    PostgreSQL: its sessions carry application_name (pg_stat_activity, the server's log: "jichi web", "jichi worker",
    "jichi" for the commands), unless the URL names one.

    PostgreSQL: lock_timeout and statement_timeout (seconds) are set on each of its connections — the app server's
    (web.db), so that a request stuck behind a lock held elsewhere (a manual transaction in psql, a hung process)
    or in a runaway query fails cleanly, rolled back, as ENG540, instead of holding its worker until gunicorn kills
    it. None: the server's setting (commands, migrations and the worker, whose long statements are legitimate)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # A writer waits up to 30 s for another process's transaction instead of failing at once.
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    named = "application_name" in parsed.query
    engine = create_engine(url, connect_args={} if named else {"application_name": application_name})
    limits = {name: seconds for name, seconds in (("lock_timeout", lock_timeout),
                                                  ("statement_timeout", statement_timeout)) if seconds is not None}
    if limits:
        _limit_each_connection(engine, limits)
    _ping_after_idle(engine)
    _transaction_from_first_write(engine)
    return engine


def _limit_each_connection(engine: Engine, limits: Mapping[str, float]) -> None:
    """SET the limits (in milliseconds) once per new connection, committed: a SET in a transaction that is rolled
    back — the pool's reset — would be undone."""

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        for name, seconds in limits.items():  # names from make_engine's own list; values numbers
            cursor.execute(f"SET {name} = {max(1, round(seconds * 1000))}")
        cursor.close()
        dbapi_connection.commit()


# A pooled PostgreSQL connection that lay idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Hand out only live connections, without a round trip on every checkout.

    SQLAlchemy's pool_pre_ping would ping on each checkout: about 5 % of an API completion's time. A connection
    returned to the pool less than PING_AFTER_IDLE_SECONDS ago was alive then, so only one idle for longer (the
    first requests after a quiet night, a database restart or failover) is pinged; a dead one is replaced before
    use. A database restarted in the very second a connection was last used fails the request using it, cleanly
    (503), and SQLAlchemy then renews the whole pool: the next request gets a new connection."""

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        returned = record.info.get("returned_at")  # absent: a new connection
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            raise DisconnectionError("idle connection is gone") from e  # the pool replaces it and retries


# Reads without a transaction until the first write (PostgreSQL; reads_without_transaction).
_AUTOCOMMIT_READS = "jichi.autocommit_reads"  # the pooled connection's info: its reads run without a transaction
FINAL_WRITE = "jichi_final_write"  # execution option: the one statement that is all of a transaction's writes
_LOCKING = re.compile(r"\bFOR\s+(UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b|pg_advisory|set_config|nextval|setval",
                      re.IGNORECASE)


def reads_without_transaction(session: Session) -> bool:
    """PostgreSQL: run the session's statements without a transaction of the database's until the first that
    writes or locks, which begins one (psycopg sends BEGIN before it) — a round trip less per request, and one
    more when a request's only write is one statement marked FINAL_WRITE (engine.store's step write): it is a
    transaction of its own, committed with its answer (no COMMIT to send).

    Reads see what they would see in a transaction: at READ COMMITTED (jichi's) every statement takes its own
    snapshot either way. Everything written is written in a transaction, as before, except the final write, which
    is one statement and so atomic by itself. Only while the connection is in no transaction yet; the connection
    is returned to the pool as it was. False (nothing changed) on SQLite or when a transaction is open."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    # Imported here: the driver is loaded on PostgreSQL only (about 50 ms at every command's start otherwise).
    from psycopg.pq import TransactionStatus

    driver = connection.connection.driver_connection
    if connection.info.get(_AUTOCOMMIT_READS):
        return True
    if driver is None or driver.autocommit or driver.info.transaction_status != TransactionStatus.IDLE:
        return False
    driver.autocommit = True
    connection.info[_AUTOCOMMIT_READS] = True
    return True


@functools.lru_cache(maxsize=2048)  # the statements are SQLAlchemy's cached compilations: the same few strings
def _reads_only(statement: str) -> bool:
    return statement.lstrip()[:6].upper() == "SELECT" and not _LOCKING.search(statement)


def _transaction_from_first_write(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _begin(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not conn.info.get(_AUTOCOMMIT_READS):
            return
        if _reads_only(statement) or (context is not None and context.execution_options.get(FINAL_WRITE)):
            return
        del conn.info[_AUTOCOMMIT_READS]
        conn.connection.driver_connection.autocommit = False  # psycopg begins the transaction with this statement

    @event.listens_for(engine, "checkin")
    def _restore(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        if record.info.pop(_AUTOCOMMIT_READS, None) and dbapi_connection is not None:
            try:
                dbapi_connection.autocommit = False  # psycopg's; idle (in autocommit since the flag was set)
            except engine.dialect.loaded_dbapi.Error as e:  # a broken connection: never handed out again
                record.invalidate(e)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]  # DBAPI connections are untyped
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL: readers never block the writer (an inbox page while a clerk completes a task), and a commit
    # is one append to the log; synchronous stays FULL so a committed transition survives a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


# SQLSTATEs of PostgreSQL for a table or column the statement names and the database lacks (42P01
# undefined_table, 42703 undefined_column); SQLite says it in words.
_SCHEMA_STATES = frozenset({"42P01", "42703"})


# ENG543's words, wherever it is said (commands, the worker's rounds, jichi status).
SCHEMA_BEHIND = "データベースのスキーマがこの版の jichi より古いか、ありません"
SCHEMA_BEHIND_HINT = "jichi db upgrade でスキーマを作成・更新してください"


def schema_behind(error: BaseException) -> bool:
    """Whether a database error says the schema lacks a table or column this jichi uses: the database was never
    upgraded (`jichi db upgrade`), or to an older release. Not a passing failure: retrying will not help."""
    orig = getattr(error, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) in _SCHEMA_STATES:
        return True
    return str(orig).startswith(("no such table", "no such column"))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so a page can render what it just saved."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """An alembic Config built in code: no alembic.ini is needed at run time."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would treat a '%' in a URL-encoded password as a reference.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration this release ships (what `jichi db upgrade` brings a database to)."""
    return _revisions()[0]


@functools.cache
def _revisions() -> tuple[str, frozenset[str]]:
    """(head, every revision) of the migrations this release ships; read once per process."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None, "the migrations directory has no head"
    return str(head), frozenset(r.revision for r in script.walk_revisions())


def stored_revision(session: Session) -> str | None:
    """The revision the database's schema is at, in one query (alembic's MigrationContext first asks whether its
    table exists: more round trips, for /healthz on every probe). Raises when there is no schema at all."""
    revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(revision) if revision is not None else None


def schema_state(revision: str | None) -> str:
    """How a database at `revision` stands to this release: "ok" at its head; "behind" never migrated or at an
    older revision (`jichi db upgrade` brings it up); "newer" at a revision this release does not know — a newer
    release upgraded it, as in a rolling update while this app server still runs the old one."""
    head, known = _revisions()
    if revision == head:
        return "ok"
    return "behind" if revision is None or revision in known else "newer"


def upgrade(url: str, revision: str = "head") -> str | None:
    """Create or upgrade the schema to `revision`; returns the revision the database is at afterwards."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return current_revision(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The alembic revision of the database, or None if it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# The engine's tables live in engine/models.py; importing it here registers them on Base.metadata
# wherever the schema is needed (alembic's env.py, tests), without a cycle: Base is defined above.
from engine import models as _models  # noqa: E402, F401
