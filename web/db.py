"""One SQLAlchemy session per request (flaskr's db.py, with SQLAlchemy 2 instead of sqlite3)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.db import make_engine, make_session_factory

_EXTENSION = "jichi.db"


def init_app(app: Flask) -> None:
    """Create the engine for app.config['DATABASE_URL'] and close the request's session on teardown."""
    engine = make_engine(app.config["DATABASE_URL"], lock_timeout=app.config.get("DB_LOCK_TIMEOUT"),
                         statement_timeout=app.config.get("DB_STATEMENT_TIMEOUT"), application_name="jichi web")
    app.extensions[_EXTENSION] = (engine, make_session_factory(engine))
    app.teardown_appcontext(close_session)


def get_engine() -> Engine:
    engine: Engine = current_app.extensions[_EXTENSION][0]
    return engine


def get_session() -> Session:
    """The session of the current request, opened on first use."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions[_EXTENSION][1]
        g.db_session = factory()
    session: Session = g.db_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
