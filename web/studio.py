"""The analyst's studio (業務分析): the fit & gap of a municipality's packs, and the simulation of a decision — the
rules on disk (the draft) side by side with the version in force, on the same input and reference date.

Open to the roles 業務分析 (analyst) and 管理者 (admin) of the municipality in the URL; any other municipality is a
404. Nothing here changes data: rules are read from the packs and the stored versions, never executed as code.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from dsl.rules.analysis import inputs_read
from dsl.rules.explain import explain
from dsl.rules.testing import run_tests
from dsl.values import json_value
from engine import clock, jobs, process_drafts, rule_drafts, rule_versions
from engine.calendars import pack_for, resolve_calendar
from engine.fitgap import KINDS, report_for
from engine.forms import Form, FormField
from engine.models import ImpactRun, RuleActivation
from engine.models import RuleSet as RuleSetRow
from engine.packs import Pack, discover_packs
from engine.paths import project_root
from engine.rulesets import RuleSets
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from standard_core.wareki import INPUT_EXAMPLES, WarekiError, format_wareki, parse_date_input
from web.access import record_read
from web.api import actor, cases
from web.clerk import rows_changed, wareki_datetime
from web.cli_rules import Evaluation, evaluate_with
from web.db import get_session
from web.formview import posted_values, read_post, widgets

bp = Blueprint("studio", __name__, url_prefix="/studio")

STUDIO_ROLES = frozenset({"analyst", "admin"})
MAX_INPUT = 100_000  # characters of JSON a simulation accepts


@bp.before_request
def _signed_in() -> ResponseReturnValue | None:
    if g.get("user") is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def studio_municipalities() -> list[str]:
    return sorted(code for code, held in g.roles.items() if held & STUDIO_ROLES)


def _allowed(code: str) -> None:
    if code not in studio_municipalities():
        abort(404)  # like a municipality that does not exist: nothing confirms it


def _root() -> Any:
    return current_app.config.get("PROJECT_ROOT") or project_root()


@bp.get("/")
def home() -> ResponseReturnValue:
    registry = cases().registry
    packs = {code: [p for p in registry.packs if p.serves(code)] for code in studio_municipalities()}
    return render_template("studio/home.html", packs=packs)


@bp.get("/<code>/fitgap/<pack_id>")
def fitgap(code: str, pack_id: str) -> ResponseReturnValue:
    """The pack's fit & gap for the municipality, as the printable report of `jichi pack diff --html`."""
    _allowed(code)
    registry = cases().registry
    if not any(p.id == pack_id and p.serves(code) for p in registry.packs):
        abort(404)
    try:
        report = report_for(registry, _root(), pack_id, code)
    except DiagnosticError:
        abort(404)
    return render_template("reports/fitgap.html", report=report.to_json(), kinds=KINDS, back=url_for("studio.home"),
                           icon=url_for("static", filename="favicon.svg"))


CONTROLS = frozenset({"csrf_token", "procedure", "on", "input", "mode", "versions", "_add", "_remove", "_show"})
MAX_VERSIONS = 4  # stored versions one simulation may add beside the others


def stored_versions(code: str) -> list[dict[str, Any]]:
    """The rule versions stored for the municipality (each activation stores one), newest first: what the
    simulation can put side by side whatever the date."""
    rows = get_session().execute(
        select(RuleSetRow.hash, RuleSetRow.pack_id, RuleSetRow.pack_version, RuleSetRow.core_version,
               func.min(RuleActivation.effective_from))
        .join(RuleActivation, RuleActivation.rule_set_hash == RuleSetRow.hash)
        .where(RuleSetRow.municipality_code == code)
        .group_by(RuleSetRow.hash, RuleSetRow.pack_id, RuleSetRow.pack_version, RuleSetRow.core_version)
        .order_by(func.min(RuleActivation.effective_from).desc())).all()
    return [{"hash": h, "label": f"{pack or '標準'} {version or ''}（標準 {core}、{format_wareki(first)} から、{h[:12]}）"}
            for h, pack, version, core, first in rows]


def input_form(rules: Any, procedure: str) -> Form | None:
    """The standard data a decision reads (its inputs and those of the definitions it uses), as a form of typed
    fields — the same widgets as a clerk's task form (和暦 dates, 列挙 selects, lists with rows)."""
    if rules is None or procedure not in rules.evaluable():
        return None
    declared = {name: i for i, name in enumerate(rules.inputs)}  # the order of the rule files' 入力 blocks
    read = sorted(inputs_read(rules, procedure).items(), key=lambda item: (declared.get(item[0], len(declared)), item[0]))
    fields = tuple(FormField(name, t, name) for name, t in read)
    return Form(process_id="simulation", task_id=procedure, task_name=procedure, fields=fields)


@bp.route("/<code>/simulate", methods=["GET", "POST"])
def simulate(code: str) -> ResponseReturnValue:
    """A decision on an input (a form of its standard data, or JSON) and a reference date, under the rules on disk,
    the saved drafts and the version in force."""
    _allowed(code)
    root = _root()
    draft, problems = RuleSets(root).for_municipality(code)
    calendar, calendar_problems = resolve_calendar(code, root)
    problems = [d for d in [*problems, *calendar_problems] if d.is_error]
    names = sorted(draft.evaluable()) if draft is not None else []
    source = request.form if request.method == "POST" else request.args
    form = {"procedure": source.get("procedure", ""), "on": source.get("on", ""),
            "input": source.get("input", "{}"), "mode": "json" if source.get("mode") == "json" else "form"}
    versions = stored_versions(code)
    known = {v["hash"]: v["label"] for v in versions}
    chosen = [h for h in dict.fromkeys(source.getlist("versions")) if h in known][:MAX_VERSIONS]
    inputs = input_form(draft, form["procedure"])
    posted = {k: v for k, v in request.form.items() if k not in CONTROLS}
    values: dict[str, Any] = posted_values(inputs, posted) if inputs is not None else {}
    errors: dict[str, str] = {}
    results: list[tuple[str, Evaluation, str]] = []
    status = 200
    if inputs is not None and ("_add" in request.form or "_remove" in request.form):
        values = rows_changed(inputs, posted, request.form.get("_add"), request.form.get("_remove"))
    elif request.method == "POST" and "_show" not in request.form and draft is not None and not problems:
        data: object = None
        if form["mode"] == "form" and inputs is not None:
            data, errors = read_post(inputs, posted)
            if errors:
                problems = [error("INP809", "入力の様式に読めない項目があります", Span("入力", 1, 1),
                                  "項目の下の説明に従って直してください。")]
            else:
                form["input"] = json.dumps(data, ensure_ascii=False, indent=2)  # the same input, as JSON
        if not problems:
            evaluations, problems = _simulate(code, draft, calendar, form, data, [(h, known[h]) for h in chosen])
            results = [(label, e, _explained(e)) for label, e in evaluations]
        status = 422 if problems or any(e.diagnostics for _, e, _ in results) else 200
    pack, _, _ = pack_for(code, _disk_packs())
    fields = widgets(inputs, values, errors) if inputs is not None else []
    first_error = next(iter(errors), "")
    return render_template("studio/simulate.html", code=code, names=names, form=form, results=results,
                           problems=problems, pack=pack, examples=INPUT_EXAMPLES, fields=fields,
                           first_error=first_error, versions=versions, chosen=chosen), status


def _simulate(code: str, draft: Any, calendar: Any, form: dict[str, str], data: object = None,
              versions: list[tuple[str, str]] | None = None) -> tuple[list[tuple[str, Evaluation]], list[Diagnostic]]:
    """The evaluations of the chosen decision; `data` is the form's input when it came from the form, else the
    JSON of the page is read."""
    problems: list[Diagnostic] = []
    if form["procedure"] not in draft.evaluable():
        problems.append(error("INP805", "決定・表を一覧から選んでください", Span("決定", 1, 1), ""))
    try:
        on = parse_date_input(form["on"]) if form["on"].strip() else clock.today()
    except WarekiError as e:
        problems.append(error("INP802", f"基準日を日付として読めません（{e}）", Span("基準日", 1, 1), f"例: {INPUT_EXAMPLES}"))
        on = clock.today()
    if data is None and form["mode"] == "json":
        if len(form["input"]) > MAX_INPUT:
            problems.append(error("INP806", "入力が長すぎます", Span("入力", 1, 1), f"{MAX_INPUT} 文字までにしてください。"))
        else:
            try:
                data = json.loads(form["input"] or "{}")
            except json.JSONDecodeError as e:
                problems.append(error("INP806", f"入力が JSON として読めません: {e.msg}", Span("入力", e.lineno, e.colno),
                                      '例: {"学年": 4, "診療日": "2025-06-01"}'))
    if problems:
        return [], problems
    evaluations = [(f"ディスクの規則（下書き）・基準日 {format_wareki(on)}", evaluate_with(draft, calendar, data, on,
                                                                             form["procedure"]))]
    saved, used = rule_drafts.with_drafts(get_session(), _root(), code)
    if saved is not None and form["procedure"] in saved.evaluable():
        numbers = "、".join(f"{Path(d.file).name} 下書き {d.number}" for d in used)
        evaluations.append((f"保存した下書き（{numbers}）", evaluate_with(saved, calendar, data, on, form["procedure"])))
    digest = rule_versions.active_rule_set(get_session(), code, on)
    if digest is not None:
        active = rule_versions.load(get_session(), digest)
        if form["procedure"] in active.evaluable():
            evaluations.append((f"有効な版（{digest[:12]}）", evaluate_with(active, calendar, data, on, form["procedure"])))
    for chosen, label in versions or []:
        stored = rule_versions.load(get_session(), chosen)
        if form["procedure"] in stored.evaluable():
            evaluations.append((f"版 {label}", evaluate_with(stored, calendar, data, on, form["procedure"])))
        else:
            evaluations.append((f"版 {label}", Evaluation(diagnostics=[error(
                "INP805", f"この版には「{form['procedure']}」がありません", Span("版", 1, 1), "")])))
    return evaluations, []


# --- tests and activation ----------------------------------------------------------------------------------

def _tests(code: str) -> tuple[list[Any], list[Diagnostic]]:
    """The rule files' own tests (テスト 「…」 { … }) for the municipality, as `jichi pack test` runs them."""
    root = _root()
    rules, problems = RuleSets(root).for_municipality(code)
    calendar, calendar_problems = resolve_calendar(code, root)
    errors = [d for d in [*problems, *calendar_problems] if d.is_error]
    if rules is None or errors:
        return [], errors or problems
    return run_tests(rules, calendar), []


def _disk_packs() -> list[Pack]:
    """The packs as they are on disk now (activation snapshots the rule files from disk, so the version shown and
    activated is the folder's, e.g. just raised by `jichi pack drafts --apply`, not the one loaded at start-up)."""
    packs, _ = discover_packs(Path(_root()) / "local_rules")
    return packs


def _activation_page(code: str, problems: list[Diagnostic], status: int = 200,
                     results: list[Any] | None = None) -> ResponseReturnValue:
    packs = _disk_packs()
    pack, _, _ = pack_for(code, packs)
    chain = [p for p in packs if pack is not None and p.id in pack.layers]
    history = get_session().execute(
        select(RuleActivation, RuleSetRow.pack_id, RuleSetRow.pack_version)
        .join(RuleSetRow, RuleSetRow.hash == RuleActivation.rule_set_hash)
        .where(RuleActivation.municipality_code == code)
        .order_by(RuleActivation.effective_from.desc(), RuleActivation.id.desc())).all()
    may_activate = "admin" in g.roles.get(code, set())
    return render_template("studio/activate.html", code=code, chain=chain, history=history, problems=problems,
                           results=results, may_activate=may_activate, examples=INPUT_EXAMPLES), status


@bp.get("/<code>/activate")
def activation(code: str) -> ResponseReturnValue:
    """The versions in force for the municipality (history), the packs on disk, their tests, and activation."""
    _allowed(code)
    results = None
    if request.args.get("tests") == "run":
        results, problems = _tests(code)
        if problems:
            return _activation_page(code, problems, 422)
    return _activation_page(code, [], results=results)


@bp.post("/<code>/activate")
def activate(code: str) -> ResponseReturnValue:
    """Activate the pack's version on disk from a date (管理者 only). Its tests must pass first; audited
    (pack.activated) like `jichi pack activate`."""
    _allowed(code)
    if "admin" not in g.roles.get(code, set()):
        abort(403)
    pack_id = request.form.get("pack", "")
    pack = next((p for p in _disk_packs() if p.id == pack_id and p.serves(code)), None)
    if pack is None:
        abort(404)
    problems: list[Diagnostic] = []
    try:
        effective_from = parse_date_input(request.form.get("from", ""))
    except WarekiError as e:
        return _activation_page(code, [error("INP802", f"有効にする日を日付として読めません（{e}）", Span("有効にする日", 1, 1),
                                             f"例: {INPUT_EXAMPLES}")], 422)
    results, problems = _tests(code)
    failed = [r for r in results if not r.passed]
    if problems or failed:
        problems = problems or [error("PCK651", f"規則のテストが {len(failed)} 件失敗しているため、有効にしません",
                                      Span(failed[0].file, failed[0].line, 1), "失敗したテストを直してから有効にしてください。")]
        return _activation_page(code, problems, 422, results)
    try:
        rule_versions.activate(get_session(), _root(), pack_id=pack.id, version=pack.version, municipality=code,
                               effective_from=effective_from, actor=actor())
    except DiagnosticError as e:
        get_session().rollback()
        return _activation_page(code, e.diagnostics, 422)
    return redirect(url_for("studio.activation", code=code), 303)


# --- the rule editor ---------------------------------------------------------------------------------------

def _file_of(code: str, given: str) -> tuple[str, str]:
    """(pack id, file) when `given` is a rule file of the municipality's own pack; 404 otherwise (no path is ever
    opened from what the browser sends)."""
    pack_id, files = rule_drafts.editable(_root(), code)
    if pack_id is None or given not in files:
        abort(404)
    return pack_id, given


def _marked(text: str, diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    """Each diagnostic with its source line split around the column it points at (the page marks it)."""
    lines = text.splitlines()
    shown = []
    for d in diagnostics:
        line = lines[d.span.line - 1] if 0 < d.span.line <= len(lines) else ""
        at = max(0, min(len(line), d.span.column - 1))
        if d.span.end_line == d.span.line and d.span.end_column is not None and d.span.end_column > d.span.column:
            end = min(len(line), d.span.end_column - 1)
        else:  # no end: mark the word it points at
            rest = line[at:].split()
            end = min(len(line), at + (len(rest[0]) if rest else 1))
        shown.append({"d": d, "before": line[:at], "mark": line[at:end], "after": line[end:]})
    return shown


@bp.get("/<code>/rules")
def rules_list(code: str) -> ResponseReturnValue:
    _allowed(code)
    pack_id, files = rule_drafts.editable(_root(), code)
    return render_template("studio/rules.html", code=code, pack_id=pack_id, files=files)


@bp.get("/<code>/rules/edit")
def rules_edit(code: str) -> ResponseReturnValue:
    _allowed(code)
    pack_id, file = _file_of(code, request.args.get("file", ""))
    saved = rule_drafts.drafts(get_session(), pack_id, file)
    text = saved[0].text if saved else (Path(_root()) / file).read_text(encoding="utf-8")
    checked = rule_drafts.check(Path(_root()), code, file, text)
    return render_template("studio/edit.html", code=code, pack_id=pack_id, file=file, text=text, drafts=saved,
                           checked=checked, marked=_marked(text, checked.diagnostics), results=None, saved=None)


@bp.post("/<code>/rules/<action>")
def rules_action(code: str, action: str) -> ResponseReturnValue:
    """check (live diagnostics), test (the files' own tests) or save (a new draft when it checks clean)."""
    _allowed(code)
    if action not in ("check", "test", "save"):
        abort(404)
    _, file = _file_of(code, request.form.get("file", ""))
    text = request.form.get("text", "").replace("\r\n", "\n")
    root = Path(_root())
    checked = rule_drafts.check(root, code, file, text)
    context: dict[str, Any] = {"code": code, "file": file, "checked": checked,
                               "marked": _marked(text, checked.diagnostics), "results": None, "saved": None}
    status = 200
    if action == "test":
        calendar, _ = resolve_calendar(code, root)
        context["results"] = rule_drafts.tests(checked, calendar)
    elif action == "save":
        try:
            context["saved"] = rule_drafts.save(get_session(), root, code, file, text, actor())
        except DiagnosticError:
            get_session().rollback()
            status = 422  # refused: the diagnostics say why
    return render_template("studio/_check.html", **context), status


# --- BPMN modeler ------------------------------------------------------------------------------------------

@bp.get("/<code>/processes")
def processes_list(code: str) -> ResponseReturnValue:
    _allowed(code)
    return _processes_page(code, [])


def _processes_page(code: str, problems: list[Diagnostic], status: int = 200) -> ResponseReturnValue:
    root = Path(_root())
    pack = process_drafts.own_pack(root, code)
    return render_template("studio/processes.html", code=code, pack=pack, problems=problems,
                           files=process_drafts.files(get_session(), root, pack),
                           hooks=process_drafts.hooks(root)), status


def _process_file(code: str, file: str) -> tuple[Pack | None, process_drafts.ProcessFile]:
    """The municipality's pack and the file asked for, when it is one of those listed; 404 otherwise (no path is
    opened from what the browser sends)."""
    pack = process_drafts.own_pack(Path(_root()), code)
    known = {f.file: f for f in process_drafts.files(get_session(), Path(_root()), pack)}
    if file not in known:
        abort(404)
    return pack, known[file]


@bp.get("/<code>/processes/edit")
def process_edit(code: str) -> ResponseReturnValue:
    """The modeler for a process of the municipality's pack; a core process opens in the read-only viewer."""
    _allowed(code)
    pack, shown = _process_file(code, request.args.get("file", ""))
    saved = process_drafts.drafts(get_session(), pack.id, shown.file) if pack is not None and shown.editable else []
    g.csp_style_attributes = shown.editable  # the modeler (see web/security.py); the core's viewer needs none
    return render_template("studio/process_edit.html", code=code, shown=shown, drafts=saved)


@bp.get("/<code>/processes/source")
def process_source(code: str) -> ResponseReturnValue:
    """The diagram to open: the latest draft, else the file in the pack (or the core). Plain text: never rendered
    by the browser as a document."""
    _allowed(code)
    pack, shown = _process_file(code, request.args.get("file", ""))
    text, _ = process_drafts.source(get_session(), Path(_root()), pack, shown)
    if text is None:
        abort(404)
    return Response(text, mimetype="text/plain")


@bp.post("/<code>/processes/new")
def process_new(code: str) -> ResponseReturnValue:
    """A new process of the pack from a template (a hook implementation or a procedure of its own), opened."""
    _allowed(code)
    name = request.form.get("name", "").strip()
    try:
        draft = process_drafts.new(get_session(), Path(_root()), code, name, request.form.get("hook", ""), actor())
    except DiagnosticError as e:
        get_session().rollback()
        return _processes_page(code, e.diagnostics, 422)
    return redirect(url_for("studio.process_edit", code=code, file=draft.file))


@bp.post("/<code>/processes/<action>")
def process_action(code: str, action: str) -> ResponseReturnValue:
    """check (diagnostics placed on the diagram's elements) or save (a new draft when it checks clean)."""
    _allowed(code)
    if action not in ("check", "save"):
        abort(404)
    root = Path(_root())
    file = request.form.get("file", "")
    text = request.form.get("xml", "")
    try:
        process_drafts.editable(root, code, file)
    except DiagnosticError as e:
        return jsonify(saved=None, diagnostics=[{**d.to_json(), "element": None} for d in e.diagnostics]), 422
    placed = process_drafts.check(root, code, file, text)
    body = [{**p.diagnostic.to_json(), "element": p.element} for p in placed]
    if action == "check":
        return jsonify(saved=None, diagnostics=body)
    try:
        draft = process_drafts.save(get_session(), root, code, file, text, actor())
    except DiagnosticError:
        get_session().rollback()
        return jsonify(saved=None, diagnostics=body), 422  # refused: the diagnostics say why
    return jsonify(saved={"number": draft.number, "sha256": draft.sha256, "by": draft.created_by,
                          "at": wareki_datetime(draft.created_at)}, diagnostics=body)


# --- impact analysis ---------------------------------------------------------------------------------------

@bp.get("/<code>/impact")
def impact_page(code: str) -> ResponseReturnValue:
    _allowed(code)
    runs = list(get_session().scalars(select(ImpactRun).where(ImpactRun.municipality_code == code)
                                      .order_by(ImpactRun.id.desc()).limit(20)))
    return render_template("studio/impact.html", code=code, runs=runs, problems=[], examples=INPUT_EXAMPLES)


@bp.post("/<code>/impact")
def impact_start(code: str) -> ResponseReturnValue:
    """Start an impact analysis of the rules on disk (or, when chosen, the saved drafts) in the background; the
    page then follows its progress."""
    _allowed(code)
    root = Path(_root())
    problems: list[Diagnostic] = []
    window: list[Any] = []
    for name, label in (("closed_from", "完了の期間の始め"), ("closed_to", "完了の期間の終わり")):
        given = request.form.get(name, "").strip()
        try:
            window.append(parse_date_input(given) if given else None)
        except WarekiError as e:
            problems.append(error("INP802", f"{label}を日付として読めません（{e}）", Span(label, 1, 1), f"例: {INPUT_EXAMPLES}"))
    if request.form.get("rules") == "drafts":
        rules, _ = rule_drafts.with_drafts(get_session(), root, code)
        if rules is None:
            problems.append(error("PCK630", "保存した下書きがありません", Span("規則", 1, 1), "規則ファイルの編集で保存してください。"))
    else:
        rules, found = RuleSets(root).for_municipality(code)
        problems.extend(d for d in found if d.is_error)
    _, found = resolve_calendar(code, root)  # checked now; the worker reads it again when it runs
    problems.extend(d for d in found if d.is_error)
    if problems or rules is None:
        runs = list(get_session().scalars(select(ImpactRun).where(ImpactRun.municipality_code == code)
                                          .order_by(ImpactRun.id.desc()).limit(20)))
        return render_template("studio/impact.html", code=code, runs=runs, problems=problems,
                               examples=INPUT_EXAMPLES), 422
    db = get_session()
    run = ImpactRun(municipality_code=code, status="queued", cases_total=0, cases_done=0, decisions=0, changed=0,
                    skipped=0, started_at=clock.now(), started_by=actor())
    db.add(run)
    db.flush()
    # run by whichever `jichi worker` claims it (engine/jobs.py), so no app server has to stay up for it
    jobs.enqueue(db, kind="impact", municipality=code, actor=actor(), payload={
        "run_id": run.id, "rules": "drafts" if request.form.get("rules") == "drafts" else "disk",
        "closed_from": window[0].isoformat() if window[0] else None,
        "closed_to": window[1].isoformat() if window[1] else None})
    db.commit()
    return redirect(url_for("studio.impact_run", code=code, run_id=run.id), 303)


def _run_of(code: str, run_id: int) -> ImpactRun:
    _allowed(code)
    run = get_session().get(ImpactRun, run_id)
    if run is None or run.municipality_code != code:
        abort(404)
    return run


@bp.get("/<code>/impact/<int:run_id>")
def impact_run(code: str, run_id: int) -> ResponseReturnValue:
    run = _run_of(code, run_id)
    rows = list(csv.reader(io.StringIO(run.result_csv.lstrip("\ufeff"))))[1:201] if run.result_csv else []
    if rows:  # the changes name cases and their values: a read, once the table is shown
        record_read("impact.viewed", code, extra={"run": run.id, "shown": len(rows)})
    template = "studio/_impact_run.html" if request.headers.get("HX-Request") == "true" else "studio/impact_run.html"
    return render_template(template, code=code, run=run, rows=rows)


@bp.get("/<code>/impact/<int:run_id>.csv")
def impact_csv(code: str, run_id: int) -> ResponseReturnValue:
    run = _run_of(code, run_id)
    if run.result_csv is None:
        abort(404)
    record_read("impact.downloaded", code, extra={"run": run.id, "changed": run.changed})
    return run.result_csv, 200, {"Content-Type": "text/csv; charset=utf-8",
                                 "Content-Disposition": f'attachment; filename="impact-{code}-{run.id}.csv"'}


def _explained(evaluation: Evaluation) -> str:
    if evaluation.trace is None:
        return ""
    return explain(evaluation.trace, str(evaluation.type) if evaluation.type else None)


def shown(evaluation: Evaluation) -> str:
    """The value as the page shows it (the JSON form: dates as ISO text, money as an integer of yen)."""
    return json.dumps(json_value(evaluation.value), ensure_ascii=False)


bp.add_app_template_filter(shown, "evaluation_value")
