"""The JSON API (`/api/…`, described at `/api/openapi.json`): start and read cases, list, claim, release and
complete tasks, evaluate decisions with their explanation.

Authentication is a per-user token (`Authorization: Bearer …`, `jichi user token`) or the browser's signed-in
session (then non-GET requests need the `X-CSRF-Token` header, web/security.py). Every query runs in the
request's session, already scoped to the user's municipalities (engine/tenancy.py), so another municipality's
case or task is a 404 exactly like an id that does not exist. Every error has one shape:

    {"error": {"status": 404, "code": "ENG516", "message": "…", "hint": "…", "where": {"file", "line", "column"}},
     "diagnostics": [ … every diagnostic, same fields … ]}

Starting a case and completing a task may carry an `Idempotency-Key` header: the first request acts, and every
retry with the same key and the same body gets the stored answer (with `Idempotent-Replayed: true`) instead of
acting again; the same key with another body is 422, and a retry while the first is still running is 409. The
answer is written in the step's own transaction, so a server killed at any moment neither loses nor doubles it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock, store
from engine.cases import MAX_BATCH, Answer, Cases, list_tasks
from engine.models import IdempotencyRecord
from engine.paths import project_root
from engine.registry import Registry
from engine.restricted import may_see, redact
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from web.access import record_read
from web.db import get_session
from web.errors import MESSAGES

bp = Blueprint("api", __name__, url_prefix="/api")

_CASES_KEY = "jichi.cases"
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,200}")  # visible ASCII (web/openapi.py says the same)
# roles that run procedures (start cases, complete tasks); the others (業務分析, 監査, 管理者) read only
OPERATING_ROLES = frozenset({"clerk", "approver"})
# diagnostic code → HTTP status (anything else a client sent wrong is 422)
STATUS = {"HTTP403": 403, "ENG510": 404, "ENG514": 404, "ENG516": 404, "ENG511": 409, "ENG515": 409, "ENG519": 403,
          "ENG524": 409, "ENG517": 410, "ENG513": 500}


def cases() -> Cases:
    """One case service per app (it caches workflows); the registry is loaded once, on first use."""
    service: Cases | None = current_app.extensions.get(_CASES_KEY)
    if service is None:
        clock.install_spiff_clock()
        service = Cases(Registry.load(current_app.config.get("PROJECT_ROOT") or project_root()))
        current_app.extensions[_CASES_KEY] = service
    return service


def _diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    return {"code": d.code, "message": d.message, "hint": d.hint or "",
            "where": {"file": d.span.file, "line": d.span.line, "column": d.span.column}}


def problem(e: DiagnosticError, status: int | None = None) -> tuple[dict[str, Any], int]:
    first = e.diagnostics[0]
    code = status or STATUS.get(first.code, 422)
    return {"error": {"status": code, **_diagnostic_json(first)},
            "diagnostics": [_diagnostic_json(d) for d in e.diagnostics]}, code


def shown(view: Any) -> dict[str, Any]:
    """A case as this user may see it: restricted items (個人番号) masked unless their role there needs them."""
    body: dict[str, Any] = view.to_json()
    if not may_see(g.roles.get(body["municipality"])):
        body["data"] = redact(body["data"])
    return body


def _may_operate(municipality: str) -> None:
    """404 for a municipality the user has no role in (whether it exists or not: nothing confirms it), 403 for
    one where their roles only read."""
    held = g.roles.get(municipality)
    if held is None:
        abort(404)
    if not held & OPERATING_ROLES:
        abort(403)


def actor() -> str:
    """Who acts, as the engine and the audit log know them: the person of the organisation model when the
    account is linked to one (`jichi user add --person`), so that tasks addressed to a position (職) reach the
    person holding it that day; the login name otherwise."""
    person: str | None = g.user.person_code
    return person or str(g.user.login)


def _user_required() -> None:
    if g.get("user") is None:
        abort(401)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise DiagnosticError([error("INP806", "本文は JSON のオブジェクトにしてください", Span("<本文>", 1, 1),
                                     '例: {"data": {"申請日": "2026-04-01"}}')])
    return data


@bp.before_request
def _authenticated() -> None:
    if request.endpoint != "api.openapi":
        _user_required()


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    from web.openapi import document

    return document()


@bp.post("/cases")
def start_case() -> ResponseReturnValue:
    try:
        body = _body()
        data = body.get("data", {})
        if not isinstance(body.get("process_id"), str) or not isinstance(body.get("municipality"), str) \
                or not isinstance(data, dict):
            raise DiagnosticError([error("INP806", "process_id と municipality（文字列）、data（オブジェクト）が必要です",
                                         Span("<本文>", 1, 1), '例: {"process_id": "Process_JuminhyoKofu", '
                                         '"municipality": "141305", "data": {}}')])
        unit = body.get("unit") if isinstance(body.get("unit"), str) else None
        _may_operate(body["municipality"])
    except DiagnosticError as e:
        return problem(e)

    def act(answer: Answer | None) -> tuple[dict[str, Any], int]:
        try:
            view = cases().start_case(get_session(), process_id=body["process_id"],
                                      municipality=body["municipality"], data=data, actor=actor(), unit=unit,
                                      answer=_kept(answer, 201))
        except DiagnosticError as e:
            return problem(e)
        return shown(view), 201

    return _idempotent(act)


@bp.get("/cases/<case_id>")
def read_case(case_id: str) -> ResponseReturnValue:
    try:
        view = cases().get_case(get_session(), case_id)
    except DiagnosticError as e:
        return problem(e)
    record_read("case.viewed", view.municipality, case_id=view.id)
    return shown(view)


@bp.get("/tasks")
def tasks() -> ResponseReturnValue:
    """The inbox: `mine=true` keeps the tasks this user has claimed and those addressed to the positions they
    act for today; `assignee` and `lane` filter further."""
    states = tuple(request.args.getlist("state")) or ("ready",)
    if not set(states) <= {"ready", "waiting", "completed", "cancelled"}:
        return problem(DiagnosticError([error("INP806", "state は ready・waiting・completed・cancelled です",
                                              Span("state", 1, 1), "例: ?state=ready")]))
    mine = request.args.get("mine", "false")
    if mine not in ("true", "false"):
        return problem(DiagnosticError([error("INP806", "mine は true か false です", Span("mine", 1, 1),
                                              "例: ?mine=true")]))
    found = list_tasks(get_session(), municipality=request.args.get("municipality"),
                       case_id=request.args.get("case_id"), states=states, lane=request.args.get("lane"),
                       assignee=request.args.get("assignee"), person=actor() if mine == "true" else None,
                       limit=500)
    return {"tasks": [t.to_json() for t in found]}


@bp.post("/tasks/<task_id>/claim")
def claim_task(task_id: str) -> ResponseReturnValue:
    """Take a task from the shared inbox (claiming one's own again answers the same)."""
    return _assign(task_id, claim=True)


@bp.post("/tasks/<task_id>/release")
def release_task(task_id: str) -> ResponseReturnValue:
    """Give one's claimed task back to the shared inbox."""
    return _assign(task_id, claim=False)


def _assign(task_id: str, *, claim: bool) -> ResponseReturnValue:
    row = store.load_task(get_session(), task_id)  # scoped: another municipality's task is not found
    if row is not None:
        _may_operate(row.municipality_code)
    try:
        service = cases()
        task = (service.claim(get_session(), task_id, actor()) if claim
                else service.release(get_session(), task_id, actor()))
    except DiagnosticError as e:
        return problem(e)
    return task.to_json(), 200


@bp.post("/tasks/complete")
def complete_tasks() -> ResponseReturnValue:
    """一括処理: several tasks completed with one commit, each its own audited step; each item's answer or refusal
    in order (`{"results": [{"id", "status": 200, "case"} | {"id", "status", "error", "diagnostics"}]}`)."""
    try:
        items = _batch(_body())
    except DiagnosticError as e:
        return problem(e)
    return _idempotent(lambda keep: _complete_batch(items, keep))


def _batch(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    tasks = body.get("tasks")
    example = '例: {"tasks": [{"id": "…", "data": {"承認": true}}, …]}'
    if not isinstance(tasks, list) or not tasks:
        raise DiagnosticError([error("INP806", "tasks は完了するタスクの配列にしてください", Span("<本文>", 1, 1),
                                     example)])
    if len(tasks) > MAX_BATCH:
        raise DiagnosticError([error("INP806", f"一度に完了できるタスクは {MAX_BATCH} 件までです（{len(tasks)} 件）",
                                     Span("<本文>", 1, 1), "分けて送ってください。")])
    items = []
    for n, item in enumerate(tasks, 1):
        task_id = item.get("id") if isinstance(item, dict) else None
        data = item.get("data", {}) if isinstance(item, dict) else None
        if not isinstance(task_id, str) or not 0 < len(task_id) <= 100 or not isinstance(data, dict):
            raise DiagnosticError([error("INP806", f"tasks の {n} 件目は {{\"id\": タスク ID, \"data\": {{…}}}} にしてください",
                                         Span("<本文>", 1, 1), example)])
        items.append((task_id, data))
    return items


def _permit_item(municipality: str) -> None:
    """_may_operate for one item of a batch: a refusal of that item (403 in its result), not of the request. The
    session is scoped to the user's municipalities, so a task it finds is of one where the user holds a role."""
    if not g.roles.get(municipality, frozenset()) & OPERATING_ROLES:
        raise DiagnosticError([error("HTTP403", "この団体でのあなたの役割では、タスクを完了できません", Span("<タスク>", 1, 1),
                                     "タスクを完了できるのは、その団体で clerk・approver の役割を持つ人です。")])


def _complete_batch(items: list[tuple[str, dict[str, Any]]], keep: Keep | None) -> tuple[dict[str, Any], int]:
    def body(results: list[Any]) -> dict[str, Any]:
        shown_results: list[dict[str, Any]] = []
        for (task_id, _), result in zip(items, results, strict=True):
            if isinstance(result, DiagnosticError):
                refusal, status = problem(result)
                shown_results.append({"id": task_id, "status": status, **refusal})
            else:
                shown_results.append({"id": task_id, "status": 200, "case": shown(result)})
        done = sum(r["status"] == 200 for r in shown_results)
        return {"completed": done, "refused": len(shown_results) - done, "results": shown_results}

    answer = None if keep is None else (lambda session, results: keep(session, body(results), 200))
    try:
        results = cases().complete_tasks(get_session(), items, actor(), permit=_permit_item, answer=answer)
    except DiagnosticError as e:
        return problem(e)
    return body(results), 200


@bp.post("/tasks/<task_id>/complete")
def complete_task(task_id: str) -> ResponseReturnValue:
    if request.headers.get("Idempotency-Key") is None:
        return _complete(task_id, None)  # the engine asks _may_operate once it has read the task
    row = store.load_task(get_session(), task_id)  # scoped: another municipality's task is not found
    if row is not None:
        _may_operate(row.municipality_code)  # found, so the user has a role there
    if row is None:
        return _complete(task_id, None)  # a task that is not there (404): nothing that could act twice
    return _idempotent(lambda answer: _complete(task_id, answer))


# What an API step writes in the engine's transaction: its answer, given the status and the body.
Keep = Callable[[Session, dict[str, Any], int], None]


def _kept(keep: Keep | None, status: int) -> Answer | None:
    """The engine's hook (engine.cases.Answer) that stores the answer shown to this user with the step."""
    if keep is None:
        return None
    return lambda session, view: keep(session, shown(view), status)


def _idempotent(act: Callable[[Keep | None], tuple[dict[str, Any], int]]) -> ResponseReturnValue:
    """Run `act` at most once per Idempotency-Key of this user (none: just run it).

    The key is claimed in its own transaction first, so a concurrent duplicate finds it (409 while running).
    A successful step stores its answer in the step's own transaction (`act` passes the Keep it is given to the
    engine): if the process dies before that commit, nothing happened and a later retry acts; if it dies after,
    the retry replays the answer — no lost and no doubled transition either way. A refusal (4xx) is stored
    after the engine rolled back; a server error releases the key so a retry may act — unless the step's commit
    went through all the same (_release)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return act(None)
    if IDEMPOTENCY_KEY.fullmatch(key) is None:
        return problem(DiagnosticError([error("INP806", "Idempotency-Key は1〜200文字の半角の英数字・記号にしてください",
                                              Span("Idempotency-Key", 1, 1), "例: 乱数の UUID")]))
    digest = hashlib.sha256(b"\0".join([request.method.encode(), request.path.encode(), request.get_data()])).hexdigest()
    db = get_session()
    record = IdempotencyRecord(user_id=g.user.id, key=key, request_hash=digest, created_at=clock.now())
    db.add(record)
    try:
        db.commit()  # claimed: a concurrent duplicate now finds this row
    except IntegrityError:
        db.rollback()
        return _replay(key, digest, act)
    return _act_and_keep(act, record.id)


def _act_and_keep(act: Callable[[Keep | None], tuple[dict[str, Any], int]], record_id: int) -> ResponseReturnValue:
    db = get_session()

    def keep(session: Session, body: dict[str, Any], status: int) -> None:
        session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
                        .values(status=status, body=json.dumps(body, ensure_ascii=False)))

    try:
        body, status = act(keep)
    except Exception:
        committed = _release(record_id)
        if committed is None:
            raise
        current_app.logger.warning("Idempotency record %s: the step committed although the database reported an error "
                                   "(its answer to COMMIT was lost); answering with the committed answer",
                                   record_id, exc_info=True)
        return committed
    if status >= 500:
        return _release(record_id) or (body, status)
    stored = db.get(IdempotencyRecord, record_id, populate_existing=True)
    if stored is not None and stored.body is None:  # a refusal: the engine rolled its step back
        keep(db, body, status)
        db.commit()
    return body, status


def _release(record_id: int) -> tuple[dict[str, Any], int] | None:
    """After a server error: free the key, so that a retry acts — unless the step committed after all, its answer
    with it (a commit whose answer was lost: the connection broke during COMMIT, and the database had committed).
    Then that answer is returned, the truth to give this request and every retry: acting again would double the
    step (a second case). Only a key without an answer is deleted; on PostgreSQL the delete waits for a step still
    committing on a broken connection, and deletes nothing if that commit went through."""
    db = get_session()
    db.rollback()
    freed = db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                       IdempotencyRecord.body.is_(None))).rowcount
    db.commit()
    if freed:
        return None
    stored = db.get(IdempotencyRecord, record_id, populate_existing=True)
    if stored is None or stored.body is None or stored.status is None:
        return None
    return json.loads(stored.body), stored.status


def _replay(key: str, digest: str, act: Callable[[Keep | None], tuple[dict[str, Any], int]]) -> ResponseReturnValue:
    db = get_session()
    record = db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.user_id == g.user.id,
                                                        IdempotencyRecord.key == key))
    if record is None:  # the first request failed with a server error and released the key: send it again
        abort(409)
    if record.request_hash != digest:
        abort(422)
    if record.status is None or record.body is None:
        if clock.now() - clock.as_utc(record.created_at) < dt.timedelta(seconds=current_app.config["IDEMPOTENCY_STALE_SECONDS"]):
            title, advice = MESSAGES[409]
            return ({"error": {"status": 409, "code": "HTTP409", "message": title, "hint": advice, "where": None}},
                    409, {"Retry-After": "1"})
        # the first request died before its step committed (its answer is written with the step): act now
        return _act_and_keep(act, record.id)
    return json.loads(record.body), record.status, {"Idempotent-Replayed": "true"}


def _complete(task_id: str, keep: Keep | None) -> tuple[dict[str, Any], int]:
    try:
        body = _body()
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise DiagnosticError([error("INP806", "data は「項目名: 値」のオブジェクトにしてください", Span("<本文>", 1, 1),
                                         '例: {"data": {"本人確認済": true}}')])
        view = cases().complete_task(get_session(), task_id, data, actor(), answer=_kept(keep, 200),
                                     permit=_may_operate)
    except DiagnosticError as e:
        return problem(e)
    return shown(view), 200


@bp.post("/decisions/evaluate")
def evaluate_decision() -> ResponseReturnValue:
    """A rule decision with its explanation (`jichi rules eval --procedure … --explain --json`), for a municipality
    the user has a role in."""
    from dsl.rules.runtime import json_trace
    from dsl.values import json_value
    from web.cli_rules import evaluate

    try:
        body = _body()
    except DiagnosticError as e:
        return problem(e)
    municipality, procedure = body.get("municipality"), body.get("procedure")
    if not isinstance(municipality, str) or municipality not in g.roles:
        abort(404)  # another municipality's rules are not shown to this user
    if not isinstance(procedure, str):
        return problem(DiagnosticError([error("INP806", "procedure（決定・表の名前）が必要です", Span("<本文>", 1, 1),
                                              '例: {"municipality": "141305", "procedure": "窓口負担額", "input": {}}')]))
    on = body.get("on") if isinstance(body.get("on"), str) else None
    result = evaluate(None, municipality, on, procedure=procedure, data=body.get("input", {}))
    if result.diagnostics:
        return problem(DiagnosticError(result.diagnostics))
    trace = json_trace(result.trace) if result.trace is not None else None
    if not may_see(g.roles.get(municipality)):
        trace = redact(trace)
    return {"value": json_value(result.value), "type": str(result.type) if result.type else None,
            "trace": trace, "diagnostics": []}
