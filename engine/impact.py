"""Impact analysis before activating a rule version: the decisions existing cases already got, evaluated again under
the new rules, and every one that would change — case, decision, value before and after, and what made the
difference (a parameter's value, another rule applying).

The inputs come from the decision's own trace in the audit log (every input a decision read is recorded there with
its value, and its reference date), so nothing is guessed and no workflow is loaded: each re-evaluation is one rule
evaluation. Cases whose personal data was erased have no trace left and are counted as skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from dsl import DslRuntimeError
from dsl.rules.model import RuleSet
from dsl.rules.runtime import RuleRuntime, json_trace
from dsl.values import json_value
from engine.jobs import Lease, LeaseLost
from engine.models import AuditEvent, AuditPersonal, CaseInstance
from standard_core.municipal_calendar import MunicipalCalendar

BATCH = 500


@dataclass(frozen=True)
class Change:
    case_id: str
    decision: str
    on: str | None  # the reference date the decision was made for
    before: Any
    after: Any
    because: str  # what made the difference, in Japanese


@dataclass
class Progress:
    total: int = 0  # cases to look at
    cases: int = 0
    decisions: int = 0
    changed: int = 0
    skipped: int = 0  # decisions without a trace (erased) or that the new rules cannot evaluate


def inputs_of(trace: dict[str, Any]) -> dict[str, Any]:
    """Every input a decision read, with the value it had, from its trace (at any depth)."""
    found: dict[str, Any] = {}

    def walk(node: dict[str, Any]) -> None:
        if node.get("kind") == "input" and "name" in node:
            found.setdefault(node["name"], node.get("value"))
        for use in node.get("uses", []):
            if isinstance(use, dict):
                walk(use)

    walk(trace)
    return found


def _facts(trace: dict[str, Any], found: dict[str, str] | None = None) -> dict[str, str]:
    """What a trace rests on, by name: parameter values (with their period) and the rule or row that applied."""
    found = {} if found is None else found
    kind = trace.get("kind")
    if kind == "parameter":
        found[f"パラメータ {trace.get('name')}"] = f"{trace.get('value')}（{trace.get('valid', '')}）"
    elif kind in ("decision", "table"):
        applied = [a.get("label") or ("それ以外" if a.get("otherwise") else "") for a in trace.get("applied", [])]
        rows = [str(m.get("line")) for m in trace.get("matched", [])]
        if applied or rows:
            found[f"{'決定' if kind == 'decision' else '表'} {trace.get('name')}"] = \
                "、".join(f"「{a}」" for a in applied if a) or f"{'・'.join(rows)} 行目"
    for use in trace.get("uses", []):
        if isinstance(use, dict):
            _facts(use, found)
    return found


def difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What changed between two traces of the same decision, in a line a person reads."""
    before, after = _facts(old), _facts(new)
    changes = [f"{k}: {before.get(k, '（なし）')} → {after.get(k, '（なし）')}"
               for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return "／".join(changes) or "（規則の構成の違い）"


def _decided(session: Session, municipality: str,
             case_ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(case id, decided entry {bpmn_id, decision, value, trace}, the inputs) of the cases, from the audit log.

    The inputs are those of every decision of the same step: decisions evaluated together share their memo, so an
    input read through a sub-decision may be recorded only in the trace of the decision that evaluated it first."""
    rows = session.execute(
        select(AuditEvent.case_id, AuditPersonal.personal)
        .join(AuditPersonal, and_(AuditPersonal.municipality_code == AuditEvent.municipality_code,
                                  AuditPersonal.seq == AuditEvent.seq))
        .where(AuditEvent.municipality_code == municipality, AuditEvent.case_id.in_(list(case_ids)),
               AuditEvent.detail.like('%"rule_decisions"%'))
        .order_by(AuditEvent.seq))
    for case_id, personal in rows:
        entries = [e for e in json.loads(personal or "{}").get("decisions", [])
                   if isinstance(e, dict) and isinstance(e.get("trace"), dict)]
        inputs: dict[str, Any] = {}
        for entry in entries:
            inputs.update({k: v for k, v in inputs_of(entry["trace"]).items() if k not in inputs})
        for entry in entries:
            yield str(case_id), entry, inputs


def impact(session: Session, municipality: str, rules: RuleSet, calendar: MunicipalCalendar | None, *,
           closed_from: dt.date | None = None, closed_to: dt.date | None = None,
           progress: Callable[[Progress], None] | None = None) -> tuple[list[Change], Progress]:
    """Re-evaluate the decisions of the municipality's open cases, and of the cases completed in the window
    [closed_from, closed_to] (none without a window), under `rules`. Returns the changes and the counts."""
    c = CaseInstance
    window = []
    if closed_from is not None or closed_to is not None:
        start = dt.datetime.combine(closed_from or dt.date.min, dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine((closed_to or dt.date.max - dt.timedelta(days=1)) + dt.timedelta(days=1), dt.time(),
                                  tzinfo=dt.UTC)
        window = [and_(c.status == "completed", c.completed_at >= start, c.completed_at < end)]
    ids = list(session.scalars(select(c.id).where(c.municipality_code == municipality,
                                                  or_(c.status == "running", *window)).order_by(c.started_at, c.id)))
    changes: list[Change] = []
    counts = Progress(total=len(ids))
    if progress is not None:
        progress(counts)
    for offset in range(0, len(ids), BATCH):
        batch = ids[offset:offset + BATCH]
        for case_id, entry, inputs in _decided(session, municipality, batch):
            counts.decisions += 1
            name, old = entry.get("decision"), entry["trace"]
            on_text = old.get("reference_date")
            try:
                on = dt.date.fromisoformat(on_text) if isinstance(on_text, str) else None
                value, trace = RuleRuntime(rules, inputs, on=on, calendar=calendar).evaluate(str(name))
            except (DslRuntimeError, ValueError):
                counts.skipped += 1
                continue
            after = json_value(value)
            if after != entry.get("value"):
                counts.changed += 1
                changes.append(Change(case_id, str(name), on_text, entry.get("value"), after,
                                      difference(old, json_trace(trace))))
        counts.cases = min(len(ids), offset + BATCH)
        if progress is not None:
            progress(counts)
    return changes, counts


CSV_HEADER = ("案件", "判定", "基準日", "変更前", "変更後", "違いの元")


def csv_rows(changes: Sequence[Change]) -> Iterator[list[str]]:
    yield list(CSV_HEADER)
    for ch in changes:
        yield [ch.case_id, ch.decision, ch.on or "", json.dumps(ch.before, ensure_ascii=False),
               json.dumps(ch.after, ensure_ascii=False), ch.because]


def csv_text(changes: Sequence[Change]) -> str:
    """The changes as CSV text (UTF-8 with a BOM, so that spreadsheet software reads the Japanese right)."""
    import csv
    import io

    out = io.StringIO()
    out.write("\ufeff")
    csv.writer(out).writerows(csv_rows(changes))
    return out.getvalue()


def run_stored(sessions: Callable[[], Session], run_id: int, municipality: str, rules: RuleSet,
               calendar: MunicipalCalendar | None, closed_from: dt.date | None, closed_to: dt.date | None,
               lease: Lease | None = None) -> None:
    """Run an impact analysis for a stored ImpactRun row, writing its progress after each batch and its CSV at the
    end (status done, or failed with nothing half-written). Under a job's lease (engine/jobs.py) every write
    renews the lease in its transaction and the result is written with the job's end: a worker that lost its
    lease writes nothing (LeaseLost), and the worker that took the job over starts the analysis again."""
    from engine import clock
    from engine.models import ImpactRun

    with sessions() as session:
        def report(p: Progress) -> None:
            with sessions() as s:
                if lease is not None:
                    lease.renew(s)
                row = s.get(ImpactRun, run_id)
                if row is not None:
                    row.status = "running"
                    row.cases_total, row.cases_done, row.decisions = p.total, p.cases, p.decisions
                    row.changed, row.skipped = p.changed, p.skipped
                s.commit()

        try:
            changes, counts = impact(session, municipality, rules, calendar, closed_from=closed_from,
                                     closed_to=closed_to, progress=report)
        except LeaseLost:
            session.rollback()
            raise
        except Exception as e:  # reported on the page as failed; the analysis changes nothing, so nothing to undo
            session.rollback()
            row = session.get(ImpactRun, run_id)
            if row is not None:
                row.status, row.finished_at = "failed", clock.now()
            if lease is not None:
                lease.finish(session, error=f"{type(e).__name__}: {e}"[:1000])
            session.commit()
            raise
        row = session.get(ImpactRun, run_id)
        if row is not None:
            row.status, row.finished_at, row.result_csv = "done", clock.now(), csv_text(changes)
            row.cases_total, row.cases_done, row.decisions = counts.total, counts.total, counts.decisions
            row.changed, row.skipped = counts.changed, counts.skipped
        if lease is not None:
            lease.finish(session)
        session.commit()


def run_job(sessions: Callable[[], Session], root: Path, lease: Lease) -> None:
    """The "impact" job queued by the studio: {"run_id", "rules": "disk" | "drafts", "closed_from", "closed_to"}.
    The rules are read when the job runs (the pack's files, or the drafts saved by then)."""
    from engine import rule_drafts
    from engine.calendars import resolve_calendar
    from engine.rulesets import RuleSets

    code = lease.municipality or ""
    payload = lease.payload
    if payload.get("rules") == "drafts":
        with sessions() as session:
            rules, _ = rule_drafts.with_drafts(session, root, code)
    else:
        rules, _ = RuleSets(root).for_municipality(code)
    calendar, _ = resolve_calendar(code, root)
    if rules is None:
        raise ValueError("規則を読み込めません（パックを jichi check で確かめてください）")
    window = [dt.date.fromisoformat(payload[k]) if payload.get(k) else None for k in ("closed_from", "closed_to")]
    run_stored(sessions, int(payload["run_id"]), code, rules, calendar, window[0], window[1], lease=lease)
