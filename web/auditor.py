"""The auditor's view (監査, `/audit/`): search the audit log by person, resident, case, time and address, see the
verification status of each municipality's chain, and export an evidence bundle. Open to the role auditor of the
municipalities searched; any other user sees a 404. Every search and export is itself recorded (audit.searched,
audit.exported) before the results are shown. Values are shown inert (control and bidi characters as \\uXXXX).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from engine import clock, residents
from engine.audit_bundle import export_bundle
from engine.audit_checkpoint import AuditError, default_checkpoint_dir, default_key_path
from engine.audit_search import Query, inert, moment, search
from engine.audit_verify import verify
from engine.models import AuditVerification
from engine.residents import Found
from standard_core.diagnostics import Diagnostic, Span, error
from standard_core.wareki import INPUT_EXAMPLES, WarekiError
from web.access import record_read
from web.api import actor
from web.db import get_session

bp = Blueprint("auditor", __name__, url_prefix="/audit")

ACTIONS = ("case.viewed", "task.viewed", "resident.searched", "notice.printed", "case.diagram_downloaded",
           "impact.viewed", "impact.downloaded", "case.started", "task.completed", "task.claimed", "case.erased",
           "reads.erased", "audit.searched", "audit.exported")
FIELDS = ("municipality", "actor", "resident", "case", "since", "until", "address", "action")


@bp.before_request
def _signed_in() -> ResponseReturnValue | None:
    if g.get("user") is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not audited():
        abort(404)
    return None


@bp.app_template_filter("inert")
def inert_filter(value: object) -> str:
    return inert(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def audited() -> list[str]:
    return sorted(code for code, held in g.roles.items() if "auditor" in held)


def _moment(text: str, what: str, end: bool, problems: list[Diagnostic]) -> dt.datetime | None:
    if not text.strip():
        return None
    try:
        return moment(text, end)
    except WarekiError as e:
        problems.append(error("INP802", f"{what}を日付として読めません（{e}）", Span(what, 1, 1), f"例: {INPUT_EXAMPLES}"))
        return None


def _query(form: Any, problems: list[Diagnostic]) -> tuple[Query, dict[str, str]]:
    given = {name: str(form.get(name, "")).strip()[:100] for name in FIELDS}
    mine = audited()
    chosen = [given["municipality"]] if given["municipality"] in mine else mine
    query = Query(chosen, actor=given["actor"] or None, resident=given["resident"] or None,
                  case_id=given["case"] or None, address=given["address"] or None,
                  action=given["action"] if given["action"] in ACTIONS else None,
                  since=_moment(given["since"], "開始日", False, problems),
                  until=_moment(given["until"], "終了日", True, problems))
    return query, given


def _criteria(given: dict[str, str]) -> str:
    return json.dumps({k: v for k, v in given.items() if v}, ensure_ascii=False, sort_keys=True)


@bp.get("/")
def home() -> ResponseReturnValue:
    problems: list[Diagnostic] = []
    query, given = _query(request.args, problems)
    searched = any(given[name] for name in FIELDS if name != "municipality") and not problems
    result = None
    candidates: list[Found] = []
    if searched and given["resident"] and not given["resident"].isdigit():
        # a name, not a 宛名番号: the residents it matches, to choose from (the auditor sees names: a read too)
        candidates = residents.search(get_session(), given["resident"], query.municipalities)
        for code in query.municipalities:
            record_read("resident.searched", code, query=given["resident"],
                        residents=[c.atena_number for c in candidates if c.municipality == code])
        return render_template("auditor/home.html", given=given, municipalities=audited(), actions=ACTIONS,
                               result=None, candidates=candidates, problems=problems, examples=INPUT_EXAMPLES,
                               status=_status())
    if searched:
        result = search(get_session(), query)
        for code in query.municipalities:
            record_read("audit.searched", code, query=_criteria(given), extra={"found": len(result.events)})
    return render_template("auditor/home.html", given=given, municipalities=audited(), actions=ACTIONS,
                           result=result, candidates=[], problems=problems, examples=INPUT_EXAMPLES,
                           status=_status()), 422 if problems else 200


def _status() -> dict[str, AuditVerification]:
    """The latest verification of each of the auditor's municipalities (any app server may have run it)."""
    latest: dict[str, AuditVerification] = {}
    for code in audited():  # one indexed row each: the history grows with every verification, the page does not
        row = get_session().scalars(select(AuditVerification).where(AuditVerification.municipality_code == code)
                                    .order_by(AuditVerification.verified_at.desc()).limit(1)).first()
        if row is not None:
            latest[code] = row
    return latest


@bp.post("/verify")
def verify_chains() -> ResponseReturnValue:
    """Recompute every hash of the auditor's municipalities' chains now; the result is kept for every app server."""
    session = get_session()
    for code in audited():
        report = verify(session.connection(), municipality=code)
        chains = [c for c in report.chains if c.municipality == code]
        first = report.findings[0] if report.findings else None
        session.add(AuditVerification(municipality_code=code, verified_at=clock.now(), verified_by=actor(),
                                      events=chains[0].events if chains else 0, ok=report.ok,
                                      finding=f"{first.code} {first.message}" if first else ""))
    session.commit()
    return redirect(url_for("auditor.home"), 303)


@bp.post("/export")
def export() -> ResponseReturnValue:
    """The evidence bundle of the current search, as a download (jichi audit export)."""
    problems: list[Diagnostic] = []
    query, given = _query(request.form, problems)
    if problems or not any(given[name] for name in FIELDS if name != "municipality"):
        problems = problems or [error("INP806", "条件を一つ以上入れてください", Span("条件", 1, 1), "")]
        return render_template("auditor/home.html", given=given, municipalities=audited(), actions=ACTIONS,
                               result=None, problems=problems, examples=INPUT_EXAMPLES,
                               status=_status()), 422
    config = current_app.config
    folder = Path(tempfile.mkdtemp(prefix="jichi-bundle-"))
    out = folder / f"jichi-evidence-{clock.now().astimezone(clock.TOKYO):%Y%m%d-%H%M%S}.zip"
    scope: dict[str, object] = {k: v for k, v in given.items() if v}
    scope["municipalities"] = list(query.municipalities)
    try:
        done = export_bundle(get_session(), query, out,
                             checkpoint_dir=Path(config.get("AUDIT_CHECKPOINT_DIR") or default_checkpoint_dir()),
                             key_path=Path(config.get("AUDIT_KEY") or default_key_path()), actor=actor(),
                             scope=scope, address=request.remote_addr or "unknown", via="web")
    except AuditError as e:
        get_session().rollback()
        shutil.rmtree(folder, ignore_errors=True)
        return render_template("auditor/home.html", given=given, municipalities=audited(), actions=ACTIONS,
                               result=None, problems=e.diagnostics, examples=INPUT_EXAMPLES,
                               status=_status()), 422
    data = done.path.read_bytes()
    shutil.rmtree(folder, ignore_errors=True)  # the bundle holds personal data: no copy stays on the app server
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=done.path.name)
