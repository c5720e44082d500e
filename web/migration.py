"""The migration team's page (`/migration/`, docs/migration.md): the last report of `jichi migrate dry-run` or
`import` for each municipality where the user is 管理者 — counts, the characters without a mapping and how many
records use each, duplicated 宛名番号, the rejected records with their reasons — and its CSV. Viewing it is audited
(the report names records and 宛名番号 of residents)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.migration import latest_report, report_csv
from engine.models import MigrationReport
from web.access import record_read
from web.db import get_session

bp = Blueprint("migration", __name__, url_prefix="/migration")

SHOWN = 200  # rejected-record problems listed on the page (all of them in the CSV)


@bp.before_request
def _signed_in() -> ResponseReturnValue | None:
    if g.get("user") is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def migration_municipalities() -> list[str]:
    return sorted(code for code, held in g.roles.items() if "admin" in held)


def _report(code: str) -> MigrationReport:
    if code not in migration_municipalities():
        abort(404)  # like a municipality that does not exist: nothing confirms it
    found = latest_report(get_session(), code)
    if found is None:
        abort(404)
    return found


@bp.get("/")
def home() -> ResponseReturnValue:
    reports = {code: latest_report(get_session(), code) for code in migration_municipalities()}
    if not reports:
        abort(404)
    shown = {code: (row, json.loads(row.report) if row is not None else None) for code, row in reports.items()}
    for code, (row, _) in shown.items():
        if row is not None:
            record_read("migration.report_viewed", code, extra={"report": row.id})
    return render_template("migration/home.html", reports=shown, shown_problems=SHOWN)


@bp.get("/<code>/report.csv")
def report_download(code: str) -> ResponseReturnValue:
    row = _report(code)
    record_read("migration.report_downloaded", code, extra={"report": row.id})
    return Response("\ufeff" + report_csv(row), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=migration-{code}-{row.id}.csv"})
