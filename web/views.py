"""Pages. For now: the home page and the health check."""

from __future__ import annotations

from contextlib import suppress

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from engine.db import Municipality, schema_behind, schema_state, stored_revision
from web import jichi_version
from web.db import get_session

bp = Blueprint("views", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    municipalities: list[Municipality] = []
    database_ready = True
    try:
        municipalities = list(get_session().scalars(select(Municipality).order_by(Municipality.code)))
    except SQLAlchemyError:
        # A database that was never migrated: say what to run instead of failing the page.
        database_ready = False
    return render_template("index.html", municipalities=municipalities, database_ready=database_ready)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """For load balancers and monitoring: one round trip reads the schema's revision. 503 when the database cannot
    be reached or its schema is behind this release (an app server started before `jichi db upgrade` stays out
    of rotation until then); "newer" — a newer release upgraded it — is served (migrations add, docs/operations.md)."""
    session = get_session()
    schema: str | None = None
    try:
        schema = schema_state(stored_revision(session))
        database = "ok"
    except DBAPIError as e:
        database, schema = ("ok", "behind") if schema_behind(e) else ("error", None)
        with suppress(SQLAlchemyError):  # the failed statement's transaction; a lost connection is renewed
            session.rollback()
    except SQLAlchemyError:
        database = "error"
    status = 200 if database == "ok" and schema != "behind" else 503
    return jsonify(status="ok" if status == 200 else "error", database=database, schema=schema,
                   version=jichi_version()), status
