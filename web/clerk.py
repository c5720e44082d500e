"""The clerk's pages: the inbox (受付箱), starting a case, task forms, and the case view.

Every page needs a signed-in user; every query runs in the request's session, already scoped to the user's
municipalities (engine/tenancy.py), so another municipality's task or case is a 404 like one that does not exist.
The pages work without JavaScript (plain forms and links, 303 after a post); with htmx, lists and forms are
swapped in place and a 422 answer swaps its inline errors (see templates/base.html for the htmx configuration).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from dsl.rules.explain import explain
from engine import clock, store
from engine.cases import MAX_BATCH, CaseView
from engine.db import Municipality
from engine.forms import Form
from engine.inbox import CLAIM_FILTERS, DUE_FILTERS, LISTS, InboxFilter, inbox
from engine.models import OrgAbsence
from engine.notices import fill, formatted, lookup, notices_for, offered
from engine.organisation import chart_on, positions_of, record_absence
from engine.residents import MAX_QUERY, search
from engine.restricted import may_see, redact
from engine.timeline import timeline
from standard_core.diagnostics import DiagnosticError, Span, error
from standard_core.wareki import INPUT_EXAMPLES, WarekiError, format_wareki, parse_date_input
from web.access import record_read
from web.api import OPERATING_ROLES, actor, cases
from web.db import get_session
from web.formview import Widget, posted_values, read_post, widgets

bp = Blueprint("clerk", __name__)

LIST_LABELS = {"mine": "自分の担当", "group": "共有の受付箱"}
DUE_LABELS = {"overdue": "期限切れ", "today": "今日まで", "week": "7日以内", "none": "期限なし"}
CLAIM_LABELS = {"claimed": "担当者あり", "unclaimed": "担当者なし"}


@bp.app_template_filter("wareki_datetime")
def wareki_datetime(value: dt.datetime | None) -> str:
    """A moment as clerks read it: 令和7年4月1日 9:30 (Tokyo)."""
    if value is None:
        return ""
    local = clock.as_utc(value).astimezone(clock.TOKYO)
    return f"{format_wareki(local.date())} {local:%H:%M}"


@bp.app_template_filter("shown_value")
def shown_value(value: Any) -> str:
    """A case data value in plain Japanese: dates in 和暦, true/false as はい/いいえ, lists and records flat."""
    if isinstance(value, list):
        return "、".join(shown_value(v) for v in value) or "（なし）"
    if isinstance(value, dict):
        return "、".join(f"{k}: {shown_value(v)}" for k, v in value.items())
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = value.isoformat()
    return formatted(value, None)  # as notices print it: ISO dates in 和暦, はい/いいえ


@bp.app_template_filter("field_id")
def field_id(path: str) -> str:
    return Widget(path, "", "text").id


def htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.before_request
def _signed_in() -> ResponseReturnValue | None:
    if g.get("user") is not None:
        return None
    back = request.full_path if request.method == "GET" else (request.referrer or "/")
    target = url_for("auth.login", next=back.rstrip("?"))
    if htmx():
        return "", 401, {"HX-Redirect": target}
    return redirect(target)


def operating() -> list[str]:
    """The municipalities where the user runs procedures (窓口・決裁)."""
    return sorted(code for code, held in g.roles.items() if held & OPERATING_ROLES)


def _see(municipality: str) -> bool:
    return may_see(g.roles.get(municipality))


def _back(to: str) -> ResponseReturnValue:
    """After a post: htmx follows HX-Redirect; a plain form gets 303 See Other."""
    if htmx():
        return "", 204, {"HX-Redirect": to}
    return redirect(to, 303)


# --- inbox -------------------------------------------------------------------------------------------------

def _inbox_filter(args: MultiDict[str, str]) -> InboxFilter:
    """The filters of the query string; a value that is not one of the choices is ignored (never an error)."""
    chosen = args.get("list", "mine")
    try:
        page = max(1, min(int(args.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    process = args.get("process") or None
    return InboxFilter(list=chosen if chosen in LISTS else "mine",
                       process_id=process if process and len(process) <= 200 else None,
                       due=args.get("due") if args.get("due") in DUE_FILTERS else None,
                       claimed=args.get("claimed") if args.get("claimed") in CLAIM_FILTERS else None,
                       who=(args.get("who") or "")[:MAX_QUERY] or None, page=page)


def _query_string(query: InboxFilter, **changes: Any) -> str:
    values = {"list": query.list, "process": query.process_id, "due": query.due, "claimed": query.claimed,
              "who": query.who,
              "page": query.page if query.page > 1 else None, **changes}
    return urlencode({k: v for k, v in values.items() if v})


@bp.get("/inbox")
def inbox_page() -> ResponseReturnValue:
    query = _inbox_filter(request.args)
    registry = cases().registry
    page = inbox(get_session(), person=actor(), municipalities=operating(), query=query,
                 calendar_of=registry.calendar)
    procedures = dict(p for code in operating() for p in registry.offered(code))
    # one url_for per kind of link, not per row: a page of 50 rows would spend milliseconds building them
    hrefs = {"task": url_for("clerk.task_page", task_id="__ID__"), "case": url_for("clerk.case_page", case_id="__ID__"),
             "claim": url_for("clerk.assign", task_id="__ID__", action="claim"),
             "release": url_for("clerk.assign", task_id="__ID__", action="release"),
             "batch": url_for("clerk.batch")}
    context = {"page": page, "query": query, "procedures": procedures, "lists": LIST_LABELS, "hrefs": hrefs,
               "due_labels": DUE_LABELS, "claim_labels": CLAIM_LABELS, "qs": lambda **c: _query_string(query, **c),
               "me": actor()}
    if htmx() and request.headers.get("HX-Target") == "inbox":
        return render_template("clerk/_inbox.html", **context)
    return render_template("clerk/inbox.html", **context)


@bp.post("/inbox/tasks/<task_id>/<action>")
def assign(task_id: str, action: str) -> ResponseReturnValue:
    if action not in ("claim", "release"):
        abort(404)
    row = store.load_task(get_session(), task_id)
    if row is None:
        abort(404)
    if row.municipality_code not in operating():
        abort(403)
    back = url_for("clerk.inbox_page") + "?" + request.form.get("back", "")[:500].lstrip("?")
    try:
        service = cases()
        if action == "claim":
            service.claim(get_session(), task_id, actor())
        else:
            service.release(get_session(), task_id, actor())
    except DiagnosticError as e:
        return render_template("clerk/_problem.html", diagnostics=e.diagnostics), 409
    if request.form.get("then") == "open" and action == "claim":
        return _back(url_for("clerk.task_page", task_id=task_id))
    return _back(back)


# --- starting a case ---------------------------------------------------------------------------------------

def _units(code: str) -> list[tuple[str, str]]:
    """(code, name) of the units (部・課・係) of the municipality's chart today; none without a chart."""
    try:
        chart = chart_on(get_session(), code, clock.today())
    except DiagnosticError:
        return []
    return [(u.code, f"{u.name}（{u.kind}）") for u in sorted(chart.units.values(), key=lambda u: u.code)]


def _new_case_page(problems: list[Any], status: int = 200) -> ResponseReturnValue:
    offered = {code: cases().registry.offered(code) for code in operating()}
    units = {code: _units(code) for code in offered}
    return render_template("clerk/new_case.html", offered=offered, units=units, problems=problems), status


@bp.get("/cases/new")
def new_case() -> ResponseReturnValue:
    return _new_case_page([])


@bp.post("/cases/new")
def start_case() -> ResponseReturnValue:
    municipality, process_id = request.form.get("municipality", ""), request.form.get("process", "")
    if municipality not in operating():
        abort(404)
    if process_id not in dict(cases().registry.offered(municipality)):
        abort(404)
    unit = request.form.get("unit") or None
    if unit is not None and unit not in dict(_units(municipality)):
        unit = None
    db = get_session()
    try:
        view = cases().start_case(db, process_id=process_id, municipality=municipality, data={}, actor=actor(),
                                  unit=unit)
    except DiagnosticError as e:
        return _new_case_page(e.diagnostics, 422)
    first = next((t for t in view.tasks if t.state == "ready" and t.kind == "user"), None)
    if first is not None and first.position is None:
        with contextlib.suppress(DiagnosticError):  # the one who takes the request fills in its first form
            cases().claim(db, first.id, actor())
        return _back(url_for("clerk.task_page", task_id=first.id))
    return _back(url_for("clerk.case_page", case_id=view.id))


# --- resident search ----------------------------------------------------------------------------------------

@bp.get("/residents")
def residents_page() -> ResponseReturnValue:
    """住民の検索: 氏名・カナの一部で（ひらがな・カタカナ、全角・半角、よくある異体字を区別しない）。"""
    query = request.args.get("q", "")[:MAX_QUERY]
    found = search(get_session(), query, operating()) if query.strip() else []
    if query.strip():
        # one event per municipality searched, naming the residents of it that were shown (none is an access too)
        for code in operating():
            record_read("resident.searched", code, residents=[f.atena_number for f in found if f.municipality == code],
                        query=query)
    context = {"query": query, "found": found, "searched": bool(query.strip())}
    if htmx() and request.headers.get("HX-Target") == "results":
        return render_template("clerk/_residents.html", **context)
    return render_template("clerk/residents.html", **context)


# --- 不在と代理 ---------------------------------------------------------------------------------------------

def _my_municipalities() -> list[str]:
    """Where the signed-in person holds a position in the organisation chart today (and operates)."""
    person = g.user.person_code
    if not person:
        return []
    return sorted({code for code, _ in positions_of(get_session(), person, clock.today())} & set(operating()))


def _absence_page(problems: list[Any], status: int = 200) -> ResponseReturnValue:
    person = g.user.person_code
    db = get_session()
    mine = _my_municipalities()
    people: dict[str, list[tuple[str, str]]] = {}
    for code in mine:
        chart = chart_on(db, code, clock.today())
        found = {h.person: h.name for holders in chart.holders.values() for h in holders if h.person != person}
        people[code] = sorted(found.items(), key=lambda p: p[1])
    absences = list(db.scalars(select(OrgAbsence).where(
        OrgAbsence.person == person, OrgAbsence.municipality_code.in_(mine),
        OrgAbsence.valid_to >= clock.today()).order_by(OrgAbsence.valid_from))) if person else []
    return render_template("clerk/absence.html", municipalities=mine, people=people, absences=absences,
                           problems=problems), status


@bp.get("/absence")
def absence_page() -> ResponseReturnValue:
    """不在（出張・休暇）と代理: a holder of a position records an absence and names who acts for them."""
    return _absence_page([])


@bp.post("/absence")
def record_absence_post() -> ResponseReturnValue:
    municipality = request.form.get("municipality", "")
    if municipality not in _my_municipalities():
        abort(404)
    problems = []
    dates = []
    for name, label in (("from", "最初の日"), ("to", "最後の日")):
        try:
            dates.append(parse_date_input(request.form.get(name, "")))
        except WarekiError as e:
            problems.append(error("INP802", f"{label}を日付として読めません（{e}）", Span("<入力>", 1, 1),
                                  f"例: {INPUT_EXAMPLES}"))
    reason = request.form.get("reason", "").strip()[:200]
    if not reason:
        problems.append(error("INP802", "理由（出張・休暇など）を書いてください", Span("<入力>", 1, 1), "例: 出張"))
    substitute = request.form.get("substitute") or None
    chart = chart_on(get_session(), municipality, clock.today())
    if substitute is not None and not any(h.person == substitute for hs in chart.holders.values() for h in hs):
        abort(404)
    if problems:
        return _absence_page(problems, 422)
    try:
        record_absence(get_session(), municipality=municipality, person=g.user.person_code, start=dates[0],
                       end=dates[1], reason=reason, substitute=substitute, actor=actor())
    except DiagnosticError as e:
        return _absence_page(e.diagnostics, 422)
    return _back(url_for("clerk.absence_page"))


# --- task forms --------------------------------------------------------------------------------------------

def _task_context(task_id: str) -> tuple[Any, CaseView, Form | None]:
    db = get_session()
    row = store.load_task(db, task_id)
    if row is None:
        abort(404)
    try:
        view = cases().get_case(db, row.case_id)
    except DiagnosticError:
        abort(404)
    procedure = cases().registry.stored(db, view.spec_hash)
    # a 後閲 reuses the BPMN id of the step it reviews, but its only input is an optional 意見
    return row, view, procedure.forms.get(row.bpmn_id) if row.kind == "user" else None


def _may_act(row: Any) -> str | None:
    """Why the user cannot complete this task now, or None."""
    if row.state != "ready":
        return "このタスクはすでに処理されています。"
    if row.municipality_code not in operating():
        return "この団体では、閲覧だけができます。"
    if row.assignee is not None and row.assignee != actor():
        return f"このタスクは {row.assignee} が担当しています。"
    return None


def _render_task(row: Any, view: CaseView, form: Form | None, values: dict[str, Any], errors: dict[str, str],
                 problems: list[Any], status: int = 200) -> ResponseReturnValue:
    data = view.data if _see(view.municipality) else redact(view.data)
    context = {"task": row, "case": view, "form": form, "data": data, "errors": errors, "problems": problems,
               "fields": widgets(form, values, errors) if form is not None else [], "blocked": _may_act(row),
               "me": actor()}
    template = "clerk/_task_form.html" if htmx() and request.method == "POST" else "clerk/task.html"
    return render_template(template, **context), status


@bp.get("/tasks/<task_id>")
def task_page(task_id: str) -> ResponseReturnValue:
    row, view, form = _task_context(task_id)
    values = view.data if _see(view.municipality) else redact(view.data)
    record_read("task.viewed", view.municipality, case_id=view.id, task_id=task_id)
    return _render_task(row, view, form, values, {}, [])


@bp.post("/tasks/<task_id>")
def complete(task_id: str) -> ResponseReturnValue:
    row, view, form = _task_context(task_id)
    if _may_act(row) is not None:  # a reading role may not act (403); a task taken or done is a conflict (409)
        status = 403 if row.municipality_code not in operating() else 409
        return _render_task(row, view, form, view.data if _see(view.municipality) else redact(view.data), {}, [],
                            status)
    posted = {k: v for k, v in request.form.items() if k not in ("csrf_token", "_add", "_remove")}
    if form is not None and ("_add" in request.form or "_remove" in request.form):
        values = rows_changed(form, posted, request.form.get("_add"), request.form.get("_remove"))
        return _render_task(row, view, form, values, {}, [])
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if form is not None:
        data, errors = read_post(form, posted)
    elif row.kind == "review" and posted.get("意見"):
        data = {"意見": posted["意見"].strip()}
    if errors:
        return _render_task(row, view, form, posted_values(form, posted) if form else {}, errors, [], 422)
    try:
        after = cases().complete_task(get_session(), task_id, data, actor())
    except DiagnosticError as e:
        values = posted_values(form, posted) if form else {}
        status = 409 if e.diagnostics[0].code in ("ENG511", "ENG524") else 403 if e.diagnostics[0].code == "ENG519" \
            else 422
        return _render_task(row, view, form, values, {}, e.diagnostics, status)
    nxt = next((t for t in after.tasks if t.state == "ready" and t.kind == "user"
                and (t.assignee in (None, actor())) and t.position is None), None)
    target = url_for("clerk.task_page", task_id=nxt.id) if nxt is not None and request.form.get("then") == "next" \
        else url_for("clerk.case_page", case_id=after.id, done=row.name)
    return _back(target)


# --- 一括処理 -----------------------------------------------------------------------------------------------

@bp.post("/tasks/batch")
def batch() -> ResponseReturnValue:
    """一括処理: the tasks chosen in the inbox — ready steps of one kind (one procedure, one BPMN task) — completed
    with one form's input (Cases.complete_tasks: each its own audited step, one commit). First post (from the
    inbox): the form; second (`_confirm`): the results, item by item."""
    ids = list(dict.fromkeys(request.form.getlist("task")))
    db = get_session()
    rows = [row for row in (store.load_task(db, i) for i in ids[:MAX_BATCH]) if row is not None]  # scoped
    refusal = _batch_refusal(ids, rows)
    if refusal is not None:
        return render_template("clerk/batch.html", refusal=refusal, rows=[], results=None), 422
    _, view, form = _task_context(rows[0].id)
    context: dict[str, Any] = {"refusal": None, "rows": rows, "step": rows[0].name, "process": view.process_name,
                               "results": None, "errors": {}, "problems": []}
    posted = {k: v for k, v in request.form.items() if k not in ("csrf_token", "task", "_confirm", "_add", "_remove")}
    if form is not None and ("_add" in request.form or "_remove" in request.form):  # 行を追加・削除, as on a task
        values = rows_changed(form, posted, request.form.get("_add"), request.form.get("_remove"))
        return render_template("clerk/batch.html", fields=widgets(form, values), **context)
    if "_confirm" not in request.form:
        return render_template("clerk/batch.html", fields=widgets(form, {}) if form else [], **context)
    data, errors = read_post(form, posted) if form is not None else ({}, {})
    if errors:
        context["errors"] = errors
        return render_template("clerk/batch.html", fields=widgets(form, posted_values(form, posted), errors)
                               if form else [], **context), 422
    results = cases().complete_tasks(db, [(row.id, data) for row in rows], actor())
    context["results"] = list(zip(rows, results, strict=True))
    context["done"] = sum(1 for r in results if isinstance(r, CaseView))
    return render_template("clerk/batch.html", fields=[], **context)


def _batch_refusal(ids: list[str], rows: list[Any]) -> str | None:
    """Why the chosen tasks cannot be processed together, or None."""
    if not ids:
        return "まとめて処理するタスクを受付箱で選んでください。"
    if len(ids) > MAX_BATCH:
        return f"一度にまとめて処理できるのは {MAX_BATCH} 件までです（{len(ids)} 件を選びました）。"
    if len(rows) != len(ids):
        return "選んだタスクの一部が見つかりません。受付箱を開き直して選び直してください。"
    if any(r.kind != "user" for r in rows) or len({(r.process_id, r.bpmn_id) for r in rows}) > 1:
        return "まとめて処理できるのは、同じ手続きの同じ手順のタスクだけです。手順ごとに選び直してください。"
    return None


def rows_changed(form: Form, posted: dict[str, str], add: str | None, remove: str | None) -> dict[str, Any]:
    """The posted values with a row added to the list `add`, or the row `remove` ("児童/1") taken out."""
    values = posted_values(form, posted)
    if add:
        target = _at(values, add)
        if isinstance(target, list) and len(target) < 50:
            target.append(None)
        elif target is None:
            _set(values, add, [None])
    if remove and "/" in remove:
        parent, _, index = remove.rpartition("/")
        target = _at(values, parent)
        if isinstance(target, list) and index.isdigit() and int(index) < len(target):
            del target[int(index)]
    return values


def _holder(values: dict[str, Any], first: str) -> dict[str, Any]:
    local = values.get("独自")
    return local if first.startswith("独自.") and isinstance(local, dict) else values


def _at(values: dict[str, Any], path: str) -> Any:
    parts = path.split("/")
    node: Any = _holder(values, parts[0]).get(parts[0].removeprefix("独自.") if parts[0].startswith("独自.")
                                               else parts[0])
    for part in parts[1:]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _set(values: dict[str, Any], path: str, value: Any) -> None:
    if "/" not in path:
        holder = _holder(values, path)
        holder[path.removeprefix("独自.") if holder is not values else path] = value


# --- the case ----------------------------------------------------------------------------------------------

@bp.get("/cases/<case_id>")
def case_page(case_id: str) -> ResponseReturnValue:
    db = get_session()
    try:
        view = cases().get_case(db, case_id)
    except DiagnosticError as e:
        if e.diagnostics[0].code == "ENG517":
            return render_template("clerk/_problem.html", diagnostics=e.diagnostics), 410
        abort(404)
    seeing = _see(view.municipality)
    data = view.data if seeing else redact(view.data)
    procedure = cases().registry.stored(db, view.spec_hash)
    entries = timeline(db, view.municipality, view.id)
    decisions = [(entry, d, explain(d.trace if seeing else redact(d.trace)) if d.trace is not None else None)
                 for entry in entries for d in entry.decisions]
    printable = [n for n in notices_for(cases().registry.notices, view.municipality, view.process_id)
                 if offered(n, view.data)]
    current = sorted({t.bpmn_id for t in view.tasks if t.state in ("ready", "waiting")})
    done = sorted({t.bpmn_id for t in view.history or [] if t.state == "completed"})
    record_read("case.viewed", view.municipality, case_id=view.id, extra={"restricted_shown": seeing})
    return render_template("clerk/case.html", case=view, data=data, done=request.args.get("done", "")[:200],
                           me=actor(), entries=entries, decisions=decisions, names=procedure.names,
                           current=current, completed=done, notices=printable)


@bp.get("/cases/<case_id>/notices/<notice_id>")
def notice_page(case_id: str, notice_id: str) -> ResponseReturnValue:
    """A notice (帳票) filled in from the case's data, as a printable A4 page. Printing is recorded in the audit
    log (notice.printed): who printed which notice of which case, when."""
    db = get_session()
    try:
        view = cases().get_case(db, case_id)
    except DiagnosticError:
        abort(404)
    notice = next((n for n in notices_for(cases().registry.notices, view.municipality, view.process_id)
                   if n.id == notice_id and offered(n, view.data)), None)
    if notice is None:
        abort(404)
    data = view.data if _see(view.municipality) else redact(view.data)
    rows = [(item.label, formatted(lookup(data, item.value), item.format)) for item in notice.items]
    tables = []
    for table in notice.lists:
        records = lookup(data, table.value)
        tables.append((table.label, [heading for heading, _, _ in table.columns],
                       [[formatted(lookup(r, field) if isinstance(r, dict) else None, fmt)
                         for _, field, fmt in table.columns] for r in (records if isinstance(records, list) else [])]))
    municipality = db.get(Municipality, view.municipality)
    record_read("notice.printed", view.municipality, case_id=view.id,
                extra={"notice": notice.id, "title": notice.title, "source": notice.source})
    return render_template("clerk/notice.html", notice=notice, case=view, rows=rows, tables=tables,
                           paragraphs=[p for p in fill(notice.text, data).split("\n") if p.strip()],
                           issuer=municipality.name if municipality else view.municipality,
                           issued=format_wareki(clock.today()))


@bp.get("/cases/<case_id>/diagram.bpmn")
def case_diagram(case_id: str) -> ResponseReturnValue:
    """The BPMN file of the case's procedure as the case pinned it (for the viewer on the case page)."""
    db = get_session()
    try:
        view = cases().get_case(db, case_id)
    except DiagnosticError:
        abort(404)
    procedure = cases().registry.stored(db, view.spec_hash)
    text = next((t for t in procedure.files.values() if f'id="{view.process_id}"' in t), None)
    if text is None:
        abort(404)
    record_read("case.diagram_downloaded", view.municipality, case_id=view.id)
    return text, 200, {"Content-Type": "application/xml; charset=utf-8"}
