"""Cases: start one, complete a task, fire due timers, read one — each step one transaction.

Every step loads the case's SpiffWorkflow state, runs it on the DSL engine, and in one transaction writes
the new state (guarded by the version it read), the projected task rows and the audit events. A failure
anywhere rolls all of it back: a case is never half-written. Two writers of one case never both win:
the loser's UPDATE matches no row (the version moved) and its step is retried from scratch, where it
finds the task it wanted already completed and reports a conflict.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from dsl import DslRuntimeError
from dsl.compiler import coerce
from dsl.context import EvalContext
from dsl.rules.model import RuleSet as LoadedRules
from dsl.types import Type
from engine import audit, clock, faults, rule_versions, store
from engine.bpmn import dump_state, eval_context, load_state, set_eval_context, set_rules, take_decided
from engine.db import Municipality
from engine.models import AuditEvent
from engine.organisation import Acting, chart_on, positions_of
from engine.packs import is_valid_code
from engine.registry import Procedure, Registry
from engine.residents import index_case_names
from engine.restricted import scrub
from engine.rule_versions import active_rule_set
from engine.runtime import Decision, LiveTask, advance, complete_manual, finished, live_tasks, walk
from engine.store import CaseRow, TaskRow
from engine.tenancy import scoped_to
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

# The case state is SpiffWorkflow's serialization without the specs (engine.bpmn.dump_state); a change of
# either side's format bumps this and needs a migration of stored states.
SERIALIZER_VERSION = f"spiff-{SPIFF_SERIALIZER_VERSION}/jichi-state-1"
MAX_ATTEMPTS = 3
# at most this many tasks in one complete_tasks: its transaction holds their cases (and, on SQLite, the database's
# one writer) until it commits
MAX_BATCH = 100


class CaseError(DiagnosticError):
    """A request the engine refuses (ENG5xx): not found, conflict, invalid input, runtime failure."""

    @property
    def code(self) -> str:
        return self.diagnostics[0].code


# Called with the session and the case just before a step commits: what the caller writes in the same
# transaction (web/api.py: the answer kept for an Idempotency-Key, so that a retry replays it exactly once).
Answer = Callable[[Session, "CaseView"], None]


@dataclass
class _Batch:
    """What the items of complete_tasks leave to the batch: their audit events (appended to the chains at the end,
    after every case is written) and their workflows (kept for the next step once the batch has committed)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[tuple[CaseRow, BpmnWorkflow]] = field(default_factory=list)
    writing: bool = False  # the current item has begun to write (its version check passed)
    steps: dict[str, tuple[TaskRow, CaseRow, list[TaskRow]]] = field(default_factory=dict)  # read at the start
    taken: set[str] = field(default_factory=set)  # cases whose step an item has taken

    def take_step(self, task_id: str) -> tuple[TaskRow, CaseRow, list[TaskRow]] | None:
        """The step read for this task at the batch's start, once; None when it was taken already (a retry reads
        again) or an earlier item took its case's (the case has moved since: read again)."""
        step = self.steps.pop(task_id, None)
        if step is None or step[1].id in self.taken:
            return None
        self.taken.add(step[1].id)
        return step


class _Redo(Exception):
    """An item of a batch was refused after it began writing: the batch is rolled back and run without it."""

    def __init__(self, item: int, error: CaseError) -> None:
        super().__init__(item)
        self.item, self.error = item, error


# Another writer committed this case since we read it: retry the step from the start (also raised by a case write
# that engine.store sent late, with the step's audit event).
_VersionMoved = store.VersionMoved


@contextmanager
def _rolled_back_on_error(session: Session) -> Iterator[None]:
    """One step's transaction: on any error nothing of it stays; diagnostics become CaseErrors."""
    try:
        yield
    except DiagnosticError as e:
        session.rollback()
        raise _as_case_error(e) from e
    except BaseException:
        session.rollback()
        raise


def _begin_writing(session: Session) -> None:
    """Open the session's transaction as a writer now (a batch). On SQLite the driver begins a transaction only at
    the first write, so the batch's first reads would see another snapshot than its writes, and taking the single
    writer's lock midway could fail at once instead of waiting: BEGIN IMMEDIATE takes the lock (waiting for it)
    before anything is read. PostgreSQL needs nothing."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _fail(code: str, message: str, hint: str, where: str = "<案件>") -> CaseError:
    return CaseError([error(code, message, Span(where, 1, 1), hint)])


def _taken(row: store.TaskRow) -> CaseError:
    return _fail("ENG524", f"タスク「{row.name}」は {row.assignee} が担当しています",
                 "担当者が完了するか、受付箱に戻す（jichi task release）のを待ってください。")


def _as_case_error(e: DiagnosticError) -> CaseError:
    """Every refusal leaves the service as a CaseError (runtime DSL failures arrive as ENG504)."""
    return e if isinstance(e, CaseError) else CaseError(e.diagnostics)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; everything jichi stores is UTC."""
    return clock.as_utc(value) if value is not None else None


def _iso(value: dt.datetime | None) -> str | None:
    value = utc(value)
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class TaskView:
    id: str
    case_id: str
    municipality: str
    kind: str
    bpmn_id: str
    name: str
    lane: str | None
    assignee: str | None
    state: str
    due_at: dt.datetime | None
    created_at: dt.datetime | None
    completed_at: dt.datetime | None
    completed_by: str | None
    fields: dict[str, str]
    position: str | None = None  # the position (職) it is addressed to
    on_behalf_of: str | None = None  # whom the completer acted for (代理・代決)

    @classmethod
    def of(cls, row: TaskRow, procedure: Procedure | None = None) -> TaskView:
        form = procedure.forms.get(row.bpmn_id) if procedure is not None else None
        return cls(row.id, row.case_id, row.municipality_code, row.kind, row.bpmn_id, row.name, row.lane,
                   row.assignee, row.state, utc(row.due_at), utc(row.created_at), utc(row.completed_at),
                   row.completed_by, {f.name: f.type.name for f in form.fields} if form is not None else {},
                   row.position_code, row.on_behalf_of)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "case_id": self.case_id, "municipality": self.municipality, "kind": self.kind,
            "bpmn_id": self.bpmn_id, "name": self.name, "lane": self.lane, "assignee": self.assignee,
            "state": self.state, "due_at": _iso(self.due_at), "created_at": _iso(self.created_at),
            "completed_at": _iso(self.completed_at), "completed_by": self.completed_by, "fields": self.fields,
            "position": self.position, "on_behalf_of": self.on_behalf_of,
        }


@dataclass(frozen=True)
class CaseView:
    id: str
    municipality: str
    process_id: str
    process_name: str
    status: str
    version: int
    spec_hash: str
    started_by: str
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    data: dict[str, Any]
    tasks: list[TaskView]  # the open tasks: ready user tasks and waiting timers
    history: list[TaskView] | None = None  # every task row of the case (get_case only)
    rules_hash: str | None = None  # the rule set the case pinned when it started
    unit: str | None = None  # the unit (課) the case belongs to

    def to_json(self) -> dict[str, Any]:
        shown = {
            "id": self.id, "municipality": self.municipality, "process_id": self.process_id,
            "process_name": self.process_name, "status": self.status, "version": self.version,
            "spec_hash": self.spec_hash, "started_by": self.started_by, "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at), "data": self.data,
            "tasks": [t.to_json() for t in self.tasks], "rules": self.rules_hash, "unit": self.unit,
        }
        if self.history is not None:
            shown["history"] = [t.to_json() for t in self.history]
        return shown


class Cases:
    """The case service over a registry of procedures; every method takes the session to work in."""

    # Deserializing a case costs more than the rest of a step; a process keeps the workflows it wrote last,
    # keyed by case with the version it committed. Any other writer bumps the version, so a stale entry is
    # never used: the version read in the step's transaction decides.
    LIVE_CACHE_SIZE = 2000

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._live: OrderedDict[str, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self._known: set[tuple[str, str]] = set()  # (kind, key) confirmed committed in the database

    # --- start ---------------------------------------------------------------------------------------
    def start_case(self, session: Session, *, process_id: str, municipality: str, data: Mapping[str, Any],
                   actor: str, unit: str | None = None, answer: Answer | None = None) -> CaseView:
        """Start a case of process_id for a municipality with its initial data; one transaction.

        `answer` is called with the session and the new case just before the commit, to write what belongs to
        the same transaction (the API's stored answer to an Idempotency-Key).

        `unit`: the 課 (or 係) the case belongs to in the municipality's organisation chart; its user tasks
        then go to the positions of that unit (the lane's 職, or the one jichi:assign names).
        """
        with _rolled_back_on_error(session):
            self._known_municipality(session, municipality)
            units = chart_on(session, municipality, clock.today()).units if unit is not None else {}
            if unit is not None and unit not in units:
                raise _fail("ORG703", f"組織「{unit}」は団体「{municipality}」の今日の組織図にありません",
                            "jichi org show で組織の code を確かめてください。")
            procedure = self.registry.procedure(process_id, municipality)
            values = _checked_input(data, procedure.inputs, "開始データ")
            # A process that declares them learns its unit (a 決裁 route starts at the unit's level);
            # "" when the case has none, so that a condition on them never fails on a missing value.
            for name, value in (("担当組織", unit or ""), ("担当組織の種別", units[unit].kind if unit else "")):
                if name in procedure.inputs:
                    values.setdefault(name, value)
            if ("spec", procedure.spec_hash) not in self._known:
                self.registry.ensure_stored(session, procedure)
            workflow = BpmnWorkflow(procedure.spec, procedure.subprocess_specs,
                                    script_engine=procedure.script_engine)
            rules_hash = active_rule_set(session, municipality, clock.today())
            self._set_context(session, workflow, municipality, rules_hash)
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(values)
            decisions: list[Decision] = []
            advance(workflow, decisions.append)
            faults.point("after_spiff_step")
            now = clock.now()
            case = CaseRow(str(uuid.uuid4()), municipality, process_id, procedure.spec_hash, "running", "", 1,
                           actor, now, None, rules_hash, unit)
            _apply(case, workflow, now)
            # On PostgreSQL the new case is inserted with its audit event: one statement (engine.store).
            store.insert_case(session, case, serializer_version=SERIALIZER_VERSION, updated_at=now, defer=True,
                              last=answer is None)
            late = store.case_write_pending(session)
            if not late:
                faults.point("after_state_write")
            rows = self._project(session, case, procedure, workflow, [], now, decisions, action="case.started",
                                 actor=actor,
                                 after=values, detail={"process_id": process_id, "spec_hash": procedure.spec_hash,
                                         "rules": case.rules_hash})
            view = self._commit(session, case, procedure, workflow, rows, answer, late=late)
        self._known.update({("spec", procedure.spec_hash), ("municipality", municipality)})
        return view

    # --- complete ------------------------------------------------------------------------------------
    def complete_task(self, session: Session, task_id: str, data: Mapping[str, Any], actor: str,
                      answer: Answer | None = None, permit: Callable[[str], None] | None = None) -> CaseView:
        """Complete a ready user task with form data. Exactly one of several concurrent callers wins.
        `answer` as for start_case; `permit`, if given, is called with the task's municipality before anything
        else is said of the task, and raises to refuse (the web layer's role check)."""
        for _ in range(MAX_ATTEMPTS):
            try:
                with _rolled_back_on_error(session):
                    return self._complete_once(session, task_id, data, actor, answer, permit)
            except _VersionMoved:
                pass  # rolled back: retry from a fresh read
        raise _fail("ENG511", "案件が同時に更新され続けたため、完了できませんでした",
                    "少し待ってから、もう一度実行してください。")

    def complete_tasks(self, session: Session, items: Sequence[tuple[str, Mapping[str, Any]]], actor: str, *,
                       permit: Callable[[str], None] | None = None,
                       answer: Callable[[Session, list[CaseView | CaseError]], None] | None = None,
                       ) -> list[CaseView | CaseError]:
        """Complete several tasks (task id, form data) with one commit: 一括処理, and group commit.

        Each item is a step of its own, exactly as complete_task takes it — its version check, its audit event,
        its refusal leaving nothing of it — but the steps become durable together, with one commit
        (one flush of the log instead of one per step). Returns, in the order given, each item's case or the
        CaseError that refused it. `permit` as for complete_task, per item; `answer`, if given, is called with
        the results in the transaction, just before the commit. A database error (or a crash) loses the whole
        batch, never a part of it: nothing was acknowledged, so the caller runs the batch again and the steps
        already taken are refused as done (ENG511).
        """
        if len(items) > MAX_BATCH:
            raise _fail("ENG512", f"一度に完了できるタスクは {MAX_BATCH} 件までです（{len(items)} 件）", "分けて実行してください。")
        refused: dict[int, CaseError] = {}
        while True:
            try:
                answers, batch = self._batch_once(session, items, actor, permit, answer, refused)
                break
            except _Redo as redo:  # rolled back: the batch again without the item refused while it was writing
                refused[redo.item] = redo.error
        faults.point("after_commit")
        for case, workflow in batch.workflows:
            self._keep(case, workflow)
        return answers

    def _batch_once(self, session: Session, items: Sequence[tuple[str, Mapping[str, Any]]], actor: str,
                    permit: Callable[[str], None] | None,
                    answer: Callable[[Session, list[CaseView | CaseError]], None] | None,
                    refused: dict[int, CaseError]) -> tuple[list[CaseView | CaseError], _Batch]:
        """One pass of complete_tasks, committed; raises _Redo (after rolling back) when an item is refused after it
        began writing. An item is refused almost always before it writes anything (the task, the role, the form,
        the DSL are all checked in memory first), so the steps need no SAVEPOINT each."""
        results: dict[int, CaseView | CaseError] = dict(refused)
        batch = _Batch()
        with _rolled_back_on_error(session):
            _begin_writing(session)
            store.buffer_writes(session)
            # Every item's reads in one statement (on PostgreSQL after its cases are locked); its writes sent
            # together (engine.store).
            batch.steps = store.load_steps(session, [task_id for n, (task_id, _) in enumerate(items)
                                                     if n not in refused])
            # Cases are locked in one order (their ids) by every batch, and the municipalities' chain heads only
            # at the end, after every case — as a single step does (case, then head): two batches, or a batch and
            # single steps, on the same cases wait for each other instead of deadlocking.
            case_of = {task_id: case.id for task_id, (_, case, _) in batch.steps.items()}
            order = sorted((n for n in range(len(items)) if n not in refused),
                           key=lambda n: (case_of.get(items[n][0], ""), n))
            for n in order:
                task_id, data = items[n]
                results[n] = self._batch_item(session, n, task_id, data, actor, permit, batch)
            store.insert_events(session, batch.events)
            answers = [results[n] for n in range(len(items))]
            if answer is not None:
                answer(session, answers)
            faults.point("before_commit")
            session.commit()
        return answers, batch

    def _batch_item(self, session: Session, n: int, task_id: str, data: Mapping[str, Any], actor: str,
                    permit: Callable[[str], None] | None, batch: _Batch) -> CaseView | CaseError:
        for _ in range(MAX_ATTEMPTS):
            batch.writing = False
            try:
                return self._complete_once(session, task_id, data, actor, None, permit, batch)
            except _VersionMoved:
                continue  # its version check wrote nothing: read the case again
            except DiagnosticError as e:
                if batch.writing:
                    raise _Redo(n, _as_case_error(e)) from e
                return _as_case_error(e)
        return _fail("ENG511", "案件が同時に更新され続けたため、完了できませんでした",
                     "少し待ってから、もう一度実行してください。")

    def _complete_once(self, session: Session, task_id: str, data: Mapping[str, Any], actor: str,
                       answer: Answer | None, permit: Callable[[str], None] | None = None,
                       batch: _Batch | None = None) -> CaseView:
        step = batch.take_step(task_id) if batch is not None else None
        if step is None:
            step = store.load_step(session, task_id)
        if step is None:
            raise _fail("ENG514", f"タスク「{task_id}」はありません", "jichi task list でタスクの ID を確かめてください。")
        row, case, open_rows = step
        if permit is not None:
            permit(row.municipality_code)
        if row.kind not in ("user", "review"):
            raise _fail("ENG515", f"タスク「{row.name}」は人が完了するタスクではありません",
                        "タイマーは jichi worker が期限に処理します。")
        if row.state != "ready":
            by = f"（{row.completed_by} が完了済み）" if row.completed_by else ""
            raise _fail("ENG511", f"タスク「{row.name}」はすでに{_state_label(row.state)}です{by}",
                        "受付箱を更新して、いま処理できるタスクを確かめてください。")
        if row.kind == "review":
            return self._review(session, row, data, actor, answer, batch)
        if row.assignee is not None and row.assignee != actor:
            raise _taken(row)
        procedure = self.registry.stored(session, case.spec_hash)
        workflow = self._workflow(session, case, procedure)
        task = _spiff_task(workflow, row.spiff_task_id)
        if task is None or task.state != TaskState.READY:
            raise _fail("ENG511", f"タスク「{row.name}」は処理できる状態ではありません",
                        "受付箱を更新して、いま処理できるタスクを確かめてください。")
        acting = _acting_for(session, row, actor, task.data.get("代決できる") is not False)
        row.on_behalf_of = acting.on_behalf_of.person if acting is not None and acting.on_behalf_of else None
        form = procedure.forms.get(row.bpmn_id)
        if form is None:
            values = _checked_input(data, {}, f"「{row.name}」の入力")
        else:
            values, problems = form.accept(data, task.data, eval_context(workflow))
            if problems:
                raise CaseError(problems)
        before = dict(task.data)
        task.data.update(values)
        decisions: list[Decision] = []
        complete_manual(workflow, task, decisions.append)
        faults.point("after_spiff_step")
        now = clock.now()
        _apply(case, workflow, now)
        if batch is not None:
            batch.writing = True
        row.state, row.completed_by, row.completed_at = "completed", actor, now
        # On PostgreSQL a single step's case write goes with its audit event: one statement (engine.store).
        if not store.update_case(session, case, serializer_version=SERIALIZER_VERSION, updated_at=now, closing=row,
                                 defer=batch is None, last=batch is None and answer is None):
            raise _VersionMoved
        late = store.case_write_pending(session)
        if not late:
            faults.point("after_state_write")
        after = _case_data(workflow)
        old, new = audit.changed(before, after)
        index_case_names(session, case.municipality_code, case.id, values)
        detail: dict[str, Any] = {"bpmn_id": row.bpmn_id, "name": row.name}
        personal: dict[str, Any] = {"input": values}
        still = [r for r in open_rows if r.id != row.id]
        if acting is not None and acting.mode != "本人":
            # Acted by the actor, on behalf of the holder (代理・代決); a 代決 owes the holder a 後閲.
            detail["acting"] = {"mode": acting.mode, "position": row.position_code}
            personal["on_behalf_of"] = row.on_behalf_of
            personal["acting_reason"] = acting.reason  # e.g. 鈴木 一郎は出張。代決者の順で…が代決
            if acting.mode == "代決" and row.on_behalf_of is not None:
                review = replace(row, id=str(uuid.uuid4()), kind="review", name=f"後閲: {row.name}",
                                 assignee=row.on_behalf_of, state="ready", due_at=None, created_at=now,
                                 completed_at=None, completed_by=None, position_code=None, on_behalf_of=None)
                store.insert_tasks(session, [review])
                still.append(review)
                detail["post_review"] = review.id
        rows = self._project(session, case, procedure, workflow, still, now, decisions,
                             action="task.completed", actor=actor, task_id=row.id, before=old, after=new,
                             detail=detail, personal=personal, batch=batch)
        return self._commit(session, case, procedure, workflow, rows, answer, batch, data=after, late=late)

    def _review(self, session: Session, row: TaskRow, data: Mapping[str, Any], actor: str,
                answer: Answer | None, batch: _Batch | None = None) -> CaseView:
        """Complete a 後閲: the absent holder reads what was decided in their name. One audited step."""
        if row.assignee != actor:
            raise _fail("ENG519", f"「{row.name}」は {row.assignee} の後閲です",
                        "代決された決裁の後閲は、代わられた本人がします。")
        if not isinstance(data, Mapping) or set(data) - {"意見"}:
            raise _fail("ENG512", "後閲の入力は「意見」（任意）だけです", '例: {"意見": "了"}')
        case = store.load_case(session, row.case_id)
        assert case is not None  # foreign key
        procedure = self.registry.stored(session, case.spec_hash)
        open_rows = store.open_tasks(session, case.id)
        workflow = self._workflow(session, case, procedure)
        faults.point("after_spiff_step")
        now = clock.now()
        if batch is not None:
            batch.writing = True
        row.state, row.completed_by, row.completed_at = "completed", actor, now
        if not store.update_case(session, case, serializer_version=SERIALIZER_VERSION, updated_at=now, closing=row):
            raise _VersionMoved
        faults.point("after_state_write")
        rows = self._project(session, case, procedure, workflow, [r for r in open_rows if r.id != row.id], now, [],
                             action="review.completed", actor=actor, task_id=row.id,
                             detail={"bpmn_id": row.bpmn_id, "name": row.name}, personal={"input": dict(data)},
                             batch=batch)
        return self._commit(session, case, procedure, workflow, rows, answer, batch)

    # --- start-up ------------------------------------------------------------------------------------
    def warm(self, session: Session) -> list[str]:
        """Load now what a step of each registered municipality decides with — its calendar, its rules on disk
        and its active rule version — instead of on the first step that needs them: compiling a municipality's
        rules takes about half a second, which a clerk's first step in each new app server process would wait.
        Returns the municipalities warmed; one whose rules have errors is left to fail on use, with its
        diagnostics, as it would."""
        codes = list(session.scalars(select(Municipality.code).order_by(Municipality.code)))
        for code in codes:
            self.registry.calendar(code)
            self.registry.rules(code)
            digest = active_rule_set(session, code, clock.today())
            if digest is not None:
                with suppress(DiagnosticError):
                    rule_versions.load(session, digest)
        return codes

    # --- timers --------------------------------------------------------------------------------------
    def fire_due_timers(self, session: Session, *, limit: int = 100, actor: str = "system:worker") -> list[str]:
        """Fire every timer that is due by the clock; one transaction per case. Returns the cases moved."""
        now = clock.now()
        case_ids = list(dict.fromkeys(session.scalars(
            select(store.TASKS.c.case_id).where(store.TASKS.c.kind == "timer", store.TASKS.c.state == "waiting",
                                                store.TASKS.c.due_at <= now)
            .order_by(store.TASKS.c.due_at).limit(limit))))
        session.rollback()
        moved = []
        for case_id in case_ids:
            try:
                with _rolled_back_on_error(session):
                    if self._fire_case(session, case_id, actor):
                        moved.append(case_id)
            except _VersionMoved:
                pass  # a clerk or another worker changed the case; its timers are seen next round
        return moved

    def _fire_case(self, session: Session, case_id: str, actor: str) -> bool:
        case = store.load_case(session, case_id, lock=True)
        if case is None or case.status != "running":
            session.rollback()
            return False
        procedure = self.registry.stored(session, case.spec_hash)
        workflow = self._workflow(session, case, procedure)
        before = _case_data(workflow)
        decisions: list[Decision] = []
        workflow.refresh_timers()
        advance(workflow, decisions.append)
        faults.point("after_spiff_step")
        waiting = {t.spiff_id for t in live_tasks(workflow) if t.kind == "timer"}
        open_rows = store.open_tasks(session, case.id)
        fired = [r for r in open_rows if r.kind == "timer" and r.spiff_task_id not in waiting]
        if not fired:
            session.rollback()
            self._keep(case, workflow)  # refreshing timers that are not due changes nothing worth storing
            return False
        now = clock.now()
        _apply(case, workflow, now)
        if not store.update_case(session, case, serializer_version=SERIALIZER_VERSION, updated_at=now):
            raise _VersionMoved
        faults.point("after_state_write")
        old, new = audit.changed(before, _case_data(workflow))
        for row in fired:
            row.state, row.completed_at, row.completed_by = "completed", now, actor
        store.close_tasks(session, fired)
        self._project(session, case, procedure, workflow, [r for r in open_rows if r not in fired], now, decisions,
                      action="timer.fired", actor=actor, task_id=fired[0].id, before=old, after=new,
                      detail={"timers": [{"task_id": r.id, "bpmn_id": r.bpmn_id, "name": r.name,
                                          "due_at": _iso(r.due_at)} for r in fired]})
        faults.point("after_audit_write")
        self._finish(session, case, workflow)
        return True

    # --- 担当（claim / release） -------------------------------------------------------------------------
    def claim(self, session: Session, task_id: str, actor: str) -> TaskView:
        """Take a ready user task from the shared inbox: it becomes `actor`'s, and nobody else can complete it
        until they release it. Claiming one's own task again changes nothing; a task addressed to a position is
        claimed only by whoever acts for that position today (ENG519). One audited step (task.claimed)."""
        with _rolled_back_on_error(session):
            row = self._claimable(session, task_id)
            if row.assignee == actor:
                return TaskView.of(row, self._procedure_of(session, row))
            if row.assignee is not None:
                raise _taken(row)
            _acting_for(session, row, actor, deputy_allowed=True)
            if not store.claim_task(session, row.id, actor):
                current = store.load_task(session, row.id)
                raise _taken(current) if current is not None and current.assignee else _fail(
                    "ENG511", f"タスク「{row.name}」はすでに処理されています", "受付箱を更新してください。")
            store.insert_events(session, [audit.event(
                municipality=row.municipality_code, actor=actor, action="task.claimed", case_id=row.case_id,
                task_id=row.id, detail={"bpmn_id": row.bpmn_id, "name": row.name})])
            session.commit()
        return TaskView.of(replace(row, assignee=actor), self._procedure_of(session, row))

    def release(self, session: Session, task_id: str, actor: str, *, reason: str | None = None,
                force: bool = False) -> TaskView:
        """Give a claimed task back to the shared inbox. Only its assignee may, unless `force` (an operator
        re-assigning the work of someone absent or gone; the reason is recorded). One audited step
        (task.released)."""
        with _rolled_back_on_error(session):
            row = self._claimable(session, task_id)
            if row.assignee is None:
                return TaskView.of(row, self._procedure_of(session, row))
            if row.assignee != actor and not force:
                raise _taken(row)
            if force and not (reason or "").strip():
                raise _fail("ENG525", "ほかの人の担当を外す理由がありません", "理由（異動・長期休暇など）を書いてください。")
            if not store.release_task(session, row.id, row.assignee):
                raise _fail("ENG511", f"タスク「{row.name}」の担当が同時に変わりました", "受付箱を更新してください。")
            detail: dict[str, Any] = {"bpmn_id": row.bpmn_id, "name": row.name}
            if row.assignee != actor:
                detail["reason"] = (reason or "").strip()
            store.insert_events(session, [audit.event(
                municipality=row.municipality_code, actor=actor, action="task.released", case_id=row.case_id,
                task_id=row.id, detail=detail, personal={"from": row.assignee})])
            session.commit()
        return TaskView.of(replace(row, assignee=None), self._procedure_of(session, row))

    def _claimable(self, session: Session, task_id: str) -> store.TaskRow:
        row = store.load_task(session, task_id)
        if row is None:
            raise _fail("ENG514", f"タスク「{task_id}」はありません", "jichi task list でタスクの ID を確かめてください。")
        if row.kind != "user":
            raise _fail("ENG515", f"タスク「{row.name}」は受付箱から引き受けるタスクではありません",
                        "タイマーは jichi worker が、後閲は代わられた本人が処理します。")
        if row.state != "ready":
            raise _fail("ENG511", f"タスク「{row.name}」はすでに{_state_label(row.state)}です",
                        "受付箱を更新して、いま処理できるタスクを確かめてください。")
        return row

    def _procedure_of(self, session: Session, row: store.TaskRow) -> Procedure | None:
        case = store.load_case(session, row.case_id)
        return self.registry.stored(session, case.spec_hash) if case is not None else None

    # --- 引戻し -------------------------------------------------------------------------------------
    def withdraw(self, session: Session, case_id: str, actor: str, reason: str) -> CaseView:
        """引戻し: the person who completed the case's last user task takes it back while the tasks that step
        opened are still untouched (the next approver has not acted). Those tasks are cancelled and the
        withdrawn task is ready again, with its data. One audited step (task.withdrawn)."""
        with _rolled_back_on_error(session):
            case = store.load_case(session, case_id)
            if case is None or case.status != "running":
                raise _fail("ENG523", f"案件「{case_id}」は進行中ではありません", "jichi case show で案件の状態を確かめてください。")
            procedure = self.registry.stored(session, case.spec_hash)
            # The last completion is the one with the newest audit event (timestamps can tie).
            last_id = session.scalar(
                select(AuditEvent.task_id).where(AuditEvent.case_id == case.id, AuditEvent.action == "task.completed")
                .order_by(AuditEvent.seq.desc()).limit(1))
            last = store.load_task(session, last_id) if last_id is not None else None
            if last is None:
                raise _fail("ENG523", "引き戻せる手順がありません（まだだれもタスクを完了していません）", "")
            if last.completed_by != actor:
                raise _fail("ENG523", f"引き戻せるのは、最後の手順「{last.name}」を完了した {last.completed_by} だけです",
                            "ほかの人の手順は、その人が引き戻すか、次の処理者が差し戻します。")
            open_rows = store.open_tasks(session, case.id)
            workflow = self._workflow(session, case, procedure)
            task = _spiff_task(workflow, last.spiff_task_id)
            waiting = [_spiff_task(workflow, r.spiff_task_id) for r in open_rows if r.kind == "user"]
            # Every task waiting now must have been opened by that completion (nothing acted on since).
            if task is None or not waiting or any(w is None or _previous_manual(w) is not task for w in waiting):
                raise _fail("ENG523", "次の処理者がすでに処理したか、並行する手順があるため、引き戻せません",
                            "次の処理者に差戻しを頼んでください。")
            before = _case_data(workflow)
            sent = copy.deepcopy(task.data)  # what was sent comes back to the drafter
            workflow.reset_from_task_id(task.id)
            task.data.update(sent)
            now = clock.now()
            _apply(case, workflow, now)
            if not store.update_case(session, case, serializer_version=SERIALIZER_VERSION, updated_at=now):
                raise _fail("ENG511", "案件が同時に更新されました", "案件を開き直して、もう一度実行してください。")
            old, new = audit.changed(before, _case_data(workflow))
            rows = self._project(session, case, procedure, workflow, open_rows, now, [], action="task.withdrawn",
                                 actor=actor, task_id=last.id, before=old, after=new,
                                 detail={"bpmn_id": last.bpmn_id, "name": last.name, "reason": reason})
            session.commit()
        self._keep(case, workflow)
        return _view(case, procedure, workflow, rows)

    # --- reading -------------------------------------------------------------------------------------
    def get_case(self, session: Session, case_id: str) -> CaseView:
        """A case with its current data, open tasks and the history of all its task rows."""
        case = store.load_case(session, case_id)
        if case is None:
            raise _fail("ENG516", f"案件「{case_id}」はありません", "案件の ID を確かめてください。")
        if case.status == "erased":
            raise _fail("ENG517", f"案件「{case_id}」のデータは保存年限を過ぎて消去されています",
                        "消去の記録は jichi audit verify の対象の監査ログ（case.erased）にあります。")
        procedure = self.registry.stored(session, case.spec_hash)
        history = store.case_tasks(session, case.id)
        view = _view(case, procedure, _load(case, procedure),
                     [r for r in history if r.state in store.OPEN])
        return replace(view, history=[TaskView.of(r, procedure) for r in history])

    # --- shared --------------------------------------------------------------------------------------
    def _workflow(self, session: Session, case: CaseRow, procedure: Procedure) -> BpmnWorkflow:
        with self._lock:
            # Taken out while in use: a step that fails half-way must not leave its workflow cached.
            entry = self._live.pop(case.id, None)
        workflow = entry[1] if entry is not None and entry[0] == case.version else _load(case, procedure)
        self._set_context(session, workflow, case.municipality_code, case.rules_hash)
        return workflow

    def _set_context(self, session: Session, workflow: BpmnWorkflow, municipality: str,
                     rules_hash: str | None) -> None:
        # 基準日 in a BPMN expression is the day the step is processed (Tokyo); rules that must be decided
        # as of another date (申請日, 診療日) name it themselves.
        set_eval_context(workflow, EvalContext(on=clock.today(), calendar=self.registry.calendar(municipality)))

        # A business rule task decides with the rule set the case pinned; a case that pinned none (no
        # version activated for the municipality) with the rules on disk. Loaded only when one runs.
        def rules() -> LoadedRules | None:
            if rules_hash is not None:
                return rule_versions.load(session, rules_hash)
            return self.registry.rules(municipality)

        set_rules(workflow, rules)

    def _keep(self, case: CaseRow, workflow: BpmnWorkflow) -> None:
        with self._lock:
            self._live[case.id] = (case.version, workflow)
            while len(self._live) > self.LIVE_CACHE_SIZE:
                self._live.popitem(last=False)

    def _commit(self, session: Session, case: CaseRow, procedure: Procedure, workflow: BpmnWorkflow,
                rows: list[TaskRow], answer: Answer | None,
                batch: _Batch | None = None, data: dict[str, Any] | None = None, late: bool = False) -> CaseView:
        """End a step written by the caller: the caller's answer in the same transaction, then the commit — or,
        for an item of complete_tasks (`batch`), leave the commit to the batch. `late`: the case's state was
        written with the audit event (engine.store), so after_state_write is now."""
        if late:
            faults.point("after_state_write")
        faults.point("after_audit_write")
        view = _view(case, procedure, workflow, rows, data)
        if answer is not None:
            answer(session, view)
        if batch is not None:
            batch.workflows.append((case, workflow))
        else:
            self._finish(session, case, workflow)
        return view

    def _finish(self, session: Session, case: CaseRow, workflow: BpmnWorkflow) -> None:
        """Commit a step and keep its workflow for the next one."""
        faults.point("before_commit")
        session.commit()
        faults.point("after_commit")
        self._keep(case, workflow)

    def _known_municipality(self, session: Session, code: str) -> None:
        if not is_valid_code(code):
            raise _fail("ENG512", f"団体コード「{code}」は正しくありません",
                        "6桁の全国地方公共団体コード（検査数字つき、例: 141305）を指定してください。")
        scope = scoped_to(session)
        outside = scope is not None and code not in scope  # said exactly as an unknown one: nothing leaks
        if outside or (("municipality", code) not in self._known and session.get(Municipality, code) is None):
            raise _fail("ENG512", f"団体コード「{code}」の団体は登録されていません",
                        "jichi demo load で登録するか、団体コードを確かめてください。")

    def _project(self, session: Session, case: CaseRow, procedure: Procedure, workflow: BpmnWorkflow,
                 open_rows: list[TaskRow],
                 now: dt.datetime, decisions: list[Decision], *, action: str, actor: str, task_id: str | None = None,
                 before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
                 personal: Mapping[str, Any] | None = None, detail: Mapping[str, Any],
                 batch: _Batch | None = None) -> list[TaskRow]:
        """Bring the case's task rows in line with the workflow and write the step's one audit event.

        One state change, one event: the gateway decisions taken and the tasks opened or cancelled by the
        step are part of its detail. Returns the open rows.
        """
        live = {t.spiff_id: t for t in live_tasks(workflow)}
        still_open, closed, moved = [], [], []
        for row in open_rows:
            if row.kind == "review":
                still_open.append(row)  # a 後閲 is not a step of the workflow: it stays until reviewed
                continue
            current = live.get(row.spiff_task_id)
            if current is None or current.kind != row.kind:
                row.state, row.completed_at = "cancelled", now
                closed.append(row)
                continue
            del live[row.spiff_task_id]
            if current.due_at != utc(row.due_at):
                row.due_at = current.due_at
                moved.append(row)
            still_open.append(row)
        new_rows = [_new_row(case, task, now) for task in live.values()]
        if case.unit_code is not None and any(r.kind == "user" for r in new_rows):
            _address(session, case, procedure, workflow, new_rows)
        store.close_tasks(session, closed)
        store.update_due(session, moved)
        if batch is not None:
            store.insert_tasks(session, new_rows)  # the events are appended at the batch's end
        full = dict(detail)
        decided = take_decided(workflow)
        if decided:
            # What was decided stays in the permanent detail; the values and traces hold personal data.
            full["rule_decisions"] = [{"bpmn_id": d["bpmn_id"], "decision": d["decision"]} for d in decided]
            personal = {**(personal or {}), "decisions": decided}
        if decisions:
            full["decisions"] = [{"gateway": d.bpmn_id, "name": d.name, "chosen": list(d.chosen)} for d in decisions]
        if new_rows:
            full["opened"] = [{"task_id": r.id, "bpmn_id": r.bpmn_id, "name": r.name}
                              | ({"position": r.position_code} if r.position_code else {}) for r in new_rows]
        if closed:
            full["cancelled"] = [{"task_id": r.id, "bpmn_id": r.bpmn_id, "name": r.name} for r in closed]
        full["status"] = case.status
        event = audit.event(municipality=case.municipality_code, actor=actor, action=action, case_id=case.id,
                            task_id=task_id, before=before, after=after, personal=personal, detail=full, at=now)
        if batch is not None:
            batch.events.append(event)  # appended to the chain with the batch's others, before its commit
        else:
            store.insert_events(session, [event], opening=new_rows)
        return still_open + new_rows


def list_tasks(session: Session, *, municipality: str | None = None, case_id: str | None = None,
               states: tuple[str, ...] = ("ready",), lane: str | None = None, assignee: str | None = None,
               person: str | None = None, on: dt.date | None = None, limit: int = 200) -> list[TaskView]:
    """Task rows for an inbox, ordered by due date (no due date last), then creation.

    `person`: only the tasks addressed to positions that person acts for on the day `on` (default today):
    held, or acted for as 代理 or 代決者 of an absent holder (engine.organisation.positions_of).
    """
    t = store.TASKS
    query = select(t).where(t.c.state.in_(states))
    if person is not None:
        mine = positions_of(session, person, on or clock.today(), municipality)
        query = query.where(or_(t.c.assignee == person,
                                *[and_(t.c.municipality_code == code, t.c.position_code == position)
                                  for code, position in mine]))
    if municipality is not None:
        query = query.where(t.c.municipality_code == municipality)
    if case_id is not None:
        query = query.where(t.c.case_id == case_id)
    if lane is not None:
        query = query.where(t.c.lane == lane)
    if assignee is not None:
        query = query.where(t.c.assignee == assignee)
    query = query.order_by(t.c.due_at.is_(None), t.c.due_at, t.c.created_at, t.c.id).limit(limit)
    return [TaskView.of(TaskRow.of(r)) for r in session.execute(query).mappings()]


def _load(case: CaseRow, procedure: Procedure) -> BpmnWorkflow:
    return load_state(case.state, procedure.spec, procedure.subprocess_specs, procedure.script_engine)


def _apply(case: CaseRow, workflow: BpmnWorkflow, now: dt.datetime) -> None:
    """Put the workflow's new state and status on the case row (written by the caller)."""
    done = finished(workflow)
    case.state = dump_state(workflow)
    case.status = "completed" if done else "running"
    case.completed_at = now if done else None


def _view(case: CaseRow, procedure: Procedure, workflow: BpmnWorkflow, open_rows: list[TaskRow],
          data: dict[str, Any] | None = None) -> CaseView:
    """The case after a step; `data`: its _case_data when the step has it already."""
    return CaseView(case.id, case.municipality_code, case.process_id, procedure.name, case.status, case.version,
                    case.spec_hash, case.started_by, utc(case.started_at), utc(case.completed_at),
                    _case_data(workflow) if data is None else data, [TaskView.of(r, procedure) for r in open_rows],
                    rules_hash=case.rules_hash, unit=case.unit_code)


def _new_row(case: CaseRow, task: LiveTask, now: dt.datetime) -> TaskRow:
    return TaskRow(
        id=str(uuid.uuid4()), case_id=case.id, municipality_code=case.municipality_code,
        spiff_task_id=task.spiff_id, kind=task.kind, bpmn_id=task.bpmn_id, name=task.name, lane=task.lane,
        assignee=None, state="ready" if task.kind == "user" else "waiting", due_at=task.due_at, created_at=now,
        completed_at=None, completed_by=None, process_id=case.process_id,
    )


def _spiff_task(workflow: BpmnWorkflow, spiff_id: str) -> Any:
    """The workflow's task with this id, or None (a rewound loop drops the tasks of its earlier passes)."""
    try:
        return workflow.get_task_from_id(uuid.UUID(spiff_id))
    except TaskNotFoundException:
        return None


def _previous_manual(task: Any) -> Any:
    """The nearest completed user task above `task` in its workflow's tree (None at the start)."""
    parent = task.parent
    while parent is not None and not (parent.task_spec.manual and parent.state == TaskState.COMPLETED):
        parent = parent.parent
    return parent


def _acting_for(session: Session, row: TaskRow, actor: str, deputy_allowed: bool) -> Acting | None:
    """For a task addressed to a position: how `actor` acts on it today (None when the task is anyone's).

    Refuses (ENG519) an actor who neither holds the position today nor acts for its absent holder as the
    named substitute (代理) or — when `deputy_allowed` (the case's 代決できる) — the 代決者 in order.
    """
    if row.position_code is None:
        return None
    try:
        chart = chart_on(session, row.municipality_code, clock.today())
    except DiagnosticError:
        return None
    position = chart.positions.get(row.position_code)
    if position is None:
        return None  # the position was abolished by a later chart: the lane decides, as for any task
    acting = chart.acting(position, deputy_allowed=deputy_allowed)
    if acting.holder is not None and acting.holder.person == actor:
        return replace(acting, acting=acting.holder, acting_position=position, mode="本人", reason="")
    if acting.acting is not None and acting.acting.person == actor and acting.on_behalf_of is not None:
        return acting
    who = acting.acting.name if acting.acting is not None else "（だれも処理できません）"
    raise _fail("ENG519", f"「{actor}」は「{row.name}」の宛先の職（{position.name}）の担当ではありません",
                f"今日この職のタスクを処理できるのは {who} です" + (f"（{acting.reason}）" if acting.reason else "")
                + "。jichi org show で組織と不在を確かめてください。")


def _address(session: Session, case: CaseRow, procedure: Procedure, workflow: BpmnWorkflow,
             rows: list[TaskRow]) -> None:
    """Address new user task rows to a position of the case's unit: the lane's 職, or the 職 named by the
    task's jichi:assign item. A title with no such position (or no chart that day) leaves the row to its lane."""
    assert case.unit_code is not None
    try:
        chart = chart_on(session, case.municipality_code, clock.today())
    except DiagnosticError:
        return
    for row in rows:
        if row.kind != "user":
            continue
        title: object = row.lane
        unit: object = case.unit_code
        item = procedure.assign.get(row.bpmn_id)
        if item is not None:
            task = _spiff_task(workflow, row.spiff_task_id)
            data = task.data if task is not None else {}
            title = data.get(item)
            if row.bpmn_id in procedure.assign_unit:
                unit = data.get(procedure.assign_unit[row.bpmn_id])
        position = chart.position_for(unit, title) if isinstance(title, str) and isinstance(unit, str) else None
        row.position_code = position.code if position is not None else None


def _state_label(state: str) -> str:
    return {"completed": "完了済み", "cancelled": "取り消し済み", "waiting": "待機中"}.get(state, state)


def _case_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The case's current data: the workflow's data once complete, else what its open tasks hold."""
    if workflow.is_completed() and workflow.data:
        return dict(workflow.data)
    current: dict[str, Any] = {}
    for task, _ in walk(workflow):
        if task.state & (TaskState.READY | TaskState.WAITING):
            current.update(task.data)
    if current:
        return current
    last = workflow.last_task
    return dict(last.data) if last is not None else {}


def _checked_input(data: Mapping[str, Any], declared: Mapping[str, Type], what: str) -> dict[str, Any]:
    """Form or start data checked against the declared fields: unknown names and wrong types are refused."""
    if not isinstance(data, Mapping):
        raise _fail("ENG512", f"{what}は「項目名: 値」の JSON オブジェクトでなければなりません",
                    '例: {"申請日": "2026-04-01", "部数": 2}')
    problems: list[Diagnostic] = []
    values: dict[str, Any] = {}
    for name, value in data.items():
        t = declared.get(name)
        if t is None:
            known = "、".join(declared) or "（入力項目なし）"
            problems.append(error("ENG512", f"{what}に項目「{name}」はありません", Span("<入力>", 1, 1),
                                  f"入力できる項目: {known}"))
            continue
        try:
            coerce(value, t, Span("<入力>", 1, 1), name)
        except DslRuntimeError as e:
            # the message shows the value; a restricted one (個人番号) is never echoed back
            message = scrub(e.diagnostic.message, {name: value})
            problems.append(error("ENG512", f"{what}: {message}", Span("<入力>", 1, 1), e.diagnostic.hint))
            continue
        values[name] = value
    if problems:
        raise CaseError(problems)
    return values
