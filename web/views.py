"""Pages. For now: the home page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from engine.db import Municipality
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
    try:
        get_session().execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "error"
    status = 200 if database == "ok" else 503
    return jsonify(
        status="ok" if status == 200 else "error", database=database, version=jichi_version()
    ), status
