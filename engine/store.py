"""The engine's reads and writes of one step, in SQLAlchemy Core on the session's connection.

A step of a case is a handful of statements in one transaction: read the task and the case, read its
open task rows, then update the case guarded by its version, close and open task rows, and append the
audit events to their municipality's hash chain. On PostgreSQL a clerk's task completion reads with one
statement and writes with one (update_case(defer=True) and insert_events: _APPEND_ONE_SQL); a batch of steps
(engine.cases.complete_tasks) reads them all with one statement (load_steps) and, on SQLite, sends their writes by one
executemany of each kind (buffer_writes). Core keeps this hot path lean (the ORM's unit of work costs more than the step itself);
the ORM models in models.py still define the schema and serve every other query.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    LargeBinary,
    String,
    Table,
    bindparam,
    column,
    event,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.audit_chain import (
    GENESIS,
    event_hash,
    event_hash_around,
    has_personal,
    new_salt,
    personal_digest,
    utc_text,
)
from engine.db import FINAL_WRITE
from engine.models import AuditEvent, AuditHead, AuditPersonal, CaseInstance, CaseTask
from engine.tenancy import check_write, scoped_to

CASES = cast(Table, CaseInstance.__table__)
TASKS = cast(Table, CaseTask.__table__)
EVENTS = cast(Table, AuditEvent.__table__)
PERSONAL = cast(Table, AuditPersonal.__table__)
HEADS = cast(Table, AuditHead.__table__)
OPEN = ("ready", "waiting")


def _is_open(state: Any) -> Any:
    """`state IN ('ready', 'waiting')` with the states written in the SQL: a literal tuple given to in_() is an
    expanding parameter, rendered anew at every execution, and bound states make SQLite plan the step's read
    (an OR with the task id) five times slower than with the constants it can see."""
    return state.in_([literal_column(f"'{name}'") for name in OPEN])


@dataclass
class CaseRow:
    """The columns of case_instance a step needs; `version` is the one read, checked on write."""

    id: str
    municipality_code: str
    process_id: str
    spec_hash: str
    status: str
    state: str
    version: int
    started_by: str
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    rules_hash: str | None = None  # the rule set pinned at the start (engine.rule_versions)
    unit_code: str | None = None  # the 課 the case belongs to (engine.organisation)

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> CaseRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass
class TaskRow:
    """A case_task row as the engine and the views use it."""

    id: str
    case_id: str
    municipality_code: str
    spiff_task_id: str
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
    position_code: str | None = None  # the position it is addressed to
    on_behalf_of: str | None = None  # the holder the completer acted for (代理・代決)
    process_id: str | None = None  # the case's procedure (for the inbox)

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> TaskRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


# Statements are built once, with bind parameters, and run on the session's connection (in its
# transaction) without the ORM's per-statement machinery: building and routing a statement per call costs
# more than executing it.
_LOAD_CASE = select(*[CASES.c[n] for n in CaseRow.__dataclass_fields__]).where(CASES.c.id == bindparam("b_id"))
_LOAD_CASE_LOCKED = _LOAD_CASE.with_for_update(skip_locked=True)
_LOAD_TASK = select(TASKS).where(TASKS.c.id == bindparam("b_id"))
_OPEN_TASKS = (select(TASKS).where(TASKS.c.case_id == bindparam("b_case"), _is_open(TASKS.c.state))
               .order_by(TASKS.c.created_at, TASKS.c.id))
# A step's reads in one statement: the task with its case's columns (labelled c_…), and the case's other open
# tasks. The task itself comes back whatever its state, so that the caller can say why it cannot be completed.
_STEP_CASE_COLUMNS = [CASES.c[n].label(f"c_{n}") for n in CaseRow.__dataclass_fields__]
_LOAD_STEP = (select(TASKS, *_STEP_CASE_COLUMNS).join(CASES, CASES.c.id == TASKS.c.case_id)
              .where(TASKS.c.case_id == select(TASKS.c.case_id).where(TASKS.c.id == bindparam("b_id"))
                     .scalar_subquery(),
                     (TASKS.c.id == bindparam("b_id")) | _is_open(TASKS.c.state))
              .order_by(TASKS.c.created_at, TASKS.c.id))
# A batch's reads in one statement (load_steps): _LOAD_STEP for several tasks at once.
_STEP_IDS: Any = bindparam("b_ids", expanding=True)
_LOAD_STEPS = (select(TASKS, *_STEP_CASE_COLUMNS).join(CASES, CASES.c.id == TASKS.c.case_id)
               .where(TASKS.c.case_id.in_(select(TASKS.c.case_id).where(TASKS.c.id.in_(_STEP_IDS))),
                      TASKS.c.id.in_(_STEP_IDS) | _is_open(TASKS.c.state))
               .order_by(TASKS.c.created_at, TASKS.c.id))
# PostgreSQL, a batch whose writes are kept (buffer_writes): the cases of its tasks locked before they are read, all
# in one order (their ids; PostgreSQL locks the rows as they leave the sort), as every batch locks them.
_LOCK_STEP_CASES = (select(CASES.c.id).where(CASES.c.id.in_(select(TASKS.c.case_id).where(TASKS.c.id.in_(_STEP_IDS))))
                    .order_by(CASES.c.id).with_for_update())
_CASE_TASKS = select(TASKS).where(TASKS.c.case_id == bindparam("b_case")).order_by(TASKS.c.created_at, TASKS.c.id)
_UPDATE_CASE = update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
_CLOSE_TASK = update(TASKS).where(TASKS.c.id == bindparam("b_id"), _is_open(TASKS.c.state))
_MOVE_DUE = update(TASKS).where(TASKS.c.id == bindparam("b_id"))
_CLAIM_TASK = (update(TASKS).where(TASKS.c.id == bindparam("b_id"), TASKS.c.state == "ready",
                                   TASKS.c.assignee.is_(None)).values(assignee=bindparam("b_to")))
_RELEASE_TASK = (update(TASKS).where(TASKS.c.id == bindparam("b_id"), TASKS.c.state == "ready",
                                     TASKS.c.assignee == bindparam("b_from")).values(assignee=None))
_INSERT_CASE = insert(CASES)
_INSERT_TASK = insert(TASKS)
_INSERT_EVENT = insert(EVENTS)
_INSERT_PERSONAL = insert(PERSONAL)
# Taking the next seq is the UPDATE itself: it row-locks the head (PostgreSQL) or takes the write lock
# (SQLite) before anything is read, so no two writers can be handed the same seq and the chain order is
# the commit order. The head's hash is set once the new events' hashes are known, in the same transaction.
_ADVANCE_HEAD = (update(HEADS).where(HEADS.c.municipality_code == bindparam("b_code"))
                 .values(seq=HEADS.c.seq + bindparam("b_n", type_=BigInteger))
                 .returning(HEADS.c.seq, HEADS.c.head_hash))
_SET_HEAD = update(HEADS).where(HEADS.c.municipality_code == bindparam("b_code"))


# PostgreSQL: the case's write of a step in one round trip, with data-modifying WITH (its audit event and new task
# are the other, _APPEND_ONE_SQL). The case's new state, guarded by its version, and the completed task closed only
# if the case was updated; the statement answers how many of each were written.
_CASE_SET = {name: bindparam(name, type_=CASES.c[name].type)
             for name in ("state", "status", "completed_at", "version", "serializer_version", "updated_at")}
_TASK_CLOSE_SET = {name: bindparam(f"t_{name}", type_=TASKS.c[name].type)
                   for name in ("state", "completed_at", "completed_by", "on_behalf_of")}


def _update_case_closing(scoped: bool) -> Any:
    moved = update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
    closing = update(TASKS).where(TASKS.c.id == bindparam("t_id"), _is_open(TASKS.c.state))
    if scoped:
        moved, closing = _scoped(moved, CASES), _scoped(closing, TASKS)
    moved_cte = moved.values(_CASE_SET).returning(CASES.c.id).cte("moved_case")
    closed_cte = (closing.where(exists(select(moved_cte.c.id))).values(_TASK_CLOSE_SET).returning(TASKS.c.id)
                  .cte("closed_task"))
    return select(select(func.count()).select_from(moved_cte).scalar_subquery(),
                  select(func.count()).select_from(closed_cte).scalar_subquery())



# The same statements for a session scoped to municipalities (engine.tenancy): each also requires its table's
# municipality_code to be one of the session's, given as an expanding parameter. Built once here rather than by
# the tenancy hook on every execution (the ORM route costs more than the query on an indexed row).
def _scoped(statement: Any, *tables: Table) -> Any:
    for table in tables:
        statement = statement.where(table.c.municipality_code.in_(bindparam("b_scope", expanding=True)))
    return statement


_SCOPED: dict[int, Any] = {id(statement): _scoped(statement, *tables) for statement, tables in (
    (_LOAD_CASE, [CASES]), (_LOAD_CASE_LOCKED, [CASES]), (_LOAD_TASK, [TASKS]), (_LOAD_STEP, [TASKS, CASES]),
    (_LOAD_STEPS, [TASKS, CASES]), (_LOCK_STEP_CASES, [CASES]),
    (_OPEN_TASKS, [TASKS]), (_CASE_TASKS, [TASKS]), (_UPDATE_CASE, [CASES]), (_CLOSE_TASK, [TASKS]),
    (_MOVE_DUE, [TASKS]), (_CLAIM_TASK, [TASKS]), (_RELEASE_TASK, [TASKS]))}
# A batch's buffered writes (buffer_writes), sent by executemany: each row also by the municipality check_write
# allowed it for (an expanding parameter, the scoped twins' criterion, cannot be used in an executemany).
_BUFFERED_CASE = _UPDATE_CASE.where(CASES.c.municipality_code == bindparam("b_code"))
_BUFFERED_CLOSE = _CLOSE_TASK.where(TASKS.c.municipality_code == bindparam("b_code"))
_UPDATE_CASE_CLOSING = _update_case_closing(scoped=False)
_SCOPED[id(_UPDATE_CASE_CLOSING)] = _update_case_closing(scoped=True)


def _execute(session: Session, statement: Any, params: Any) -> Any:
    """Run on the session's connection. A session scoped to municipalities runs the scoped twin of the statement,
    which adds the criterion engine.tenancy would: another municipality's row is neither read nor updated.
    Writes a batch buffered (buffer_writes) are sent first: every statement here sees them."""
    if session.info.get(_BUFFER):
        _send_buffered(session)
    codes = scoped_to(session)
    if codes is not None:
        scoped = _SCOPED[id(statement)]  # KeyError: a statement of this module left out of _SCOPED (a bug)
        return session.connection().execute(scoped, {**params, "b_scope": sorted(codes)})
    return session.connection().execute(statement, params)


def load_case(session: Session, case_id: str, *, lock: bool = False) -> CaseRow | None:
    """The case row; with lock=True, FOR UPDATE SKIP LOCKED on PostgreSQL (None if another worker has it)."""
    row = _execute(session, _LOAD_CASE_LOCKED if lock else _LOAD_CASE, {"b_id": case_id}).mappings().first()
    return CaseRow.of(row) if row is not None else None


def load_task(session: Session, task_id: str) -> TaskRow | None:
    row = _execute(session, _LOAD_TASK, {"b_id": task_id}).mappings().first()
    return TaskRow.of(row) if row is not None else None


def load_step(session: Session, task_id: str) -> tuple[TaskRow, CaseRow, list[TaskRow]] | None:
    """What completing a task reads, in one statement: the task, its case, and the case's open tasks (the task
    among them when it is open); None when the task is not there."""
    return _steps(_execute(session, _LOAD_STEP, {"b_id": task_id}), [task_id]).get(task_id)


def load_steps(session: Session, task_ids: Sequence[str]) -> dict[str, tuple[TaskRow, CaseRow, list[TaskRow]]]:
    """load_step for several tasks in one statement (a batch): task id → its step, for the tasks that are there.
    Each step has rows of its own, even two tasks of one case.

    In a batch that keeps its writes (buffer_writes), on PostgreSQL the tasks' cases are first locked, in the order
    of their ids, by a statement of their own; the read that follows sees every step committed before the locks were
    had, and nobody changes these cases until the batch ends. (One statement cannot do both: a row it waited for is
    read again, but not the rows joined to it, which could be the tasks as they were before that step.)"""
    if not task_ids:
        return {}
    if session.info.get(_BUFFER) is not None and session.connection().dialect.name == "postgresql":
        _execute(session, _LOCK_STEP_CASES, {"b_ids": list(task_ids)}).all()
    return _steps(_execute(session, _LOAD_STEPS, {"b_ids": list(task_ids)}), task_ids)


def _steps(result: Any, task_ids: Sequence[str]) -> dict[str, tuple[TaskRow, CaseRow, list[TaskRow]]]:
    wanted = set(task_ids)
    cases: dict[str, Mapping[str, Any]] = {}
    rows: dict[str, list[TaskRow]] = {}
    tasks: dict[str, TaskRow] = {}
    for r in result.mappings():
        row = TaskRow.of(r)
        if row.case_id not in cases:
            cases[row.case_id] = {name: r[f"c_{name}"] for name in CaseRow.__dataclass_fields__}
            rows[row.case_id] = []
        rows[row.case_id].append(row)
        if row.id in wanted:
            tasks[row.id] = row
    shared = set() if len(tasks) < 2 else {  # a single step (the hot path) shares with nobody
        case_id for case_id, n in Counter(t.case_id for t in tasks.values()).items() if n > 1}
    steps = {}
    for task_id, task in tasks.items():
        open_rows = [r for r in rows[task.case_id] if r.state in OPEN]
        if task.case_id in shared:  # rows of its own: a step changes its rows (the completed task's state, …)
            task = replace(task)
            open_rows = [task if r.id == task.id else replace(r) for r in open_rows]
        steps[task_id] = (task, CaseRow(**cases[task.case_id]), open_rows)
    return steps


def open_tasks(session: Session, case_id: str) -> list[TaskRow]:
    return [TaskRow.of(r) for r in _execute(session, _OPEN_TASKS, {"b_case": case_id}).mappings()]


def case_tasks(session: Session, case_id: str) -> list[TaskRow]:
    return [TaskRow.of(r) for r in _execute(session, _CASE_TASKS, {"b_case": case_id}).mappings()]


def insert_case(session: Session, case: CaseRow, *, serializer_version: str, updated_at: dt.datetime,
                defer: bool = False, last: bool = False) -> None:
    """Insert a new case's row. `defer` (PostgreSQL): sent with the start's audit event, by the one statement that
    appends it (insert_events), or else before the start's next write or its commit — as update_case(defer=True);
    `last` likewise: nothing is written after that event, so the statement may be a transaction of its own."""
    check_write(session, case.municipality_code)
    values = {name: getattr(case, name) for name in CaseRow.__dataclass_fields__}
    params = {**values, "serializer_version": serializer_version, "updated_at": updated_at}
    if defer and session.connection().dialect.name == "postgresql":
        flush_case_write(session)
        session.info[_PENDING] = _Held(case.municipality_code, params, last, closing_id=None)
        return
    session.connection().execute(_INSERT_CASE, params)


class VersionMoved(Exception):
    """The case's version moved since the step read it (found by a deferred case write): the statement that found it
    wrote nothing; the caller rolls back and reads the case again."""


_PENDING = "jichi.store.pending_case"  # session.info: the _Held case write not sent yet


@dataclass(frozen=True)
class _Held:
    """A step's case write held back to go with its audit event (update_case / insert_case with defer=True)."""

    code: str  # the case's municipality
    params: dict[str, Any]
    last: bool  # nothing is written after the event: the one statement may be a transaction of its own
    closing_id: str | None  # an update's: the task it closes; None: a new case (insert_case)

    @property
    def new(self) -> bool:
        return self.closing_id is None


def update_case(session: Session, case: CaseRow, *, serializer_version: str, updated_at: dt.datetime,
                closing: TaskRow | None = None, defer: bool = False, last: bool = False) -> bool:
    """Write the case's new state if nobody else did since it was read; False when the version moved.

    `closing`: the task the step completed (its state and completion already on the row), closed with the case's
    write: on PostgreSQL by the same statement. False has written nothing.

    `defer` (PostgreSQL, with `closing`): the write is sent with the step's audit event, by the one statement that
    appends it (insert_events; a round trip less), or else just before the step's next write or its commit — never
    after another write of the step, so a case is still locked before its chain's head. True then means "to be
    written"; a moved version raises VersionMoved from the statement that finds it. A rollback drops it. `last`: the
    step writes nothing after its audit event, so that statement may be a transaction of its own (engine.db.FINAL_WRITE,
    when the session reads without a transaction: engine.db.reads_without_transaction)."""
    check_write(session, case.municipality_code)
    params = {"b_id": case.id, "b_version": case.version, "state": case.state, "status": case.status,
              "completed_at": case.completed_at, "version": case.version + 1,
              "serializer_version": serializer_version, "updated_at": updated_at}
    buffered = session.info.get(_BUFFER)
    if buffered is not None and closing is not None:
        check_write(session, closing.municipality_code)
        buffered.cases.append({**params, "b_code": case.municipality_code})
        buffered.closings.append({**_closing_params(closing), "b_code": closing.municipality_code})
        case.version += 1
        return True
    if closing is not None and session.connection().dialect.name == "postgresql":
        params |= {"t_id": closing.id, "t_state": closing.state, "t_completed_at": closing.completed_at,
                   "t_completed_by": closing.completed_by, "t_on_behalf_of": closing.on_behalf_of}
        if defer:
            flush_case_write(session)
            session.info[_PENDING] = _Held(case.municipality_code, params, last, closing.id)
            case.version += 1
            return True
        moved, closed = _execute(session, _UPDATE_CASE_CLOSING, params).one()
    else:
        moved = _execute(session, _UPDATE_CASE, params).rowcount
        closed = int(_close_task(session, closing)) if moved == 1 and closing is not None else 1
    if not _settled(moved, closed, closing.id if closing else ""):
        return False  # nothing written
    case.version += 1
    return True


def _settled(moved: int, closed: int, closing_id: str) -> bool:
    """Whether a case write (and its task's closing) took; False has written nothing."""
    if moved != 1:
        return False
    if closed != 1:
        # Every step that closes a task moves its case: a task closed while its case did not move is a bug, and
        # the step's transaction is rolled back by the caller (this is not a conflict to retry).
        raise RuntimeError(f"task {closing_id} was no longer open though its case had not moved")
    return True


def flush_case_write(session: Session) -> None:
    """Send the case write update_case(defer=True) or insert_case(defer=True) left pending, if any (VersionMoved if the
    version moved), and the writes a batch buffered (buffer_writes)."""
    if session.info.get(_BUFFER):
        _send_buffered(session)
    held: _Held | None = session.info.pop(_PENDING, None)
    if held is None:
        return
    if held.new:
        session.connection().execute(_INSERT_CASE, held.params)
        return
    moved, closed = _execute(session, _UPDATE_CASE_CLOSING, held.params).one()
    if not _settled(moved, closed, held.closing_id or ""):
        raise VersionMoved(held.params["b_id"])


_BUFFER = "jichi.store.buffered"  # session.info: a batch's writes not sent yet (buffer_writes)


@dataclass
class _Buffered:
    cases: list[dict[str, Any]] = field(default_factory=list)
    closings: list[dict[str, Any]] = field(default_factory=list)
    openings: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.cases or self.closings or self.openings)


def buffer_writes(session: Session) -> None:
    """A batch (engine.cases.complete_tasks), before it reads its steps (load_steps): until its transaction ends, the
    case writes of update_case(closing=…) and the rows of insert_tasks are kept, and sent by one executemany each before
    the transaction's next statement of this module (every read and write here, the audit events' append) or its
    commit. Nobody else changes the batch's cases until it ends — on SQLite it holds the write lock (BEGIN IMMEDIATE),
    on PostgreSQL load_steps locks them — so no case's version can move between the batch's read and its write (a
    write that finds it moved all the same is a bug: RuntimeError, the batch rolls back); a case the batch reads again,
    for a second task of it, is read after its writes are sent."""
    session.connection()  # the session's transaction begun: its end (commit or rollback) drops what is kept
    session.info[_BUFFER] = _Buffered()


def _send_buffered(session: Session) -> None:
    buffered: _Buffered = session.info[_BUFFER]
    cases, closings, openings = buffered.cases, buffered.closings, buffered.openings
    buffered.cases, buffered.closings, buffered.openings = [], [], []
    connection = session.connection()
    if cases:
        moved = connection.execute(_BUFFERED_CASE, cases[0] if len(cases) == 1 else cases).rowcount
        closed = connection.execute(_BUFFERED_CLOSE, closings[0] if len(closings) == 1 else closings).rowcount
        if moved != len(cases) or closed != len(closings):
            raise RuntimeError(f"a batch's buffered writes found {len(cases) - moved} case(s) moved and "
                               f"{len(closings) - closed} task(s) no longer open under its write lock")
    if openings:
        connection.execute(_INSERT_TASK, openings[0] if len(openings) == 1 else openings)


def case_write_pending(session: Session) -> bool:
    """Whether update_case(defer=True) or insert_case(defer=True) left the case's write to be sent later."""
    return _PENDING in session.info


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    flush_case_write(session)  # a step that wrote nothing after its case: the case all the same


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the session's transaction (not a savepoint) ended: rolled back, or committed
        session.info.pop(_PENDING, None)
        session.info.pop(_BUFFER, None)


def close_tasks(session: Session, closed: Sequence[TaskRow]) -> None:
    """Mark rows completed/cancelled, only if still open (a row is closed once, by one step)."""
    if closed:
        flush_case_write(session)
    for row in closed:
        _close_task(session, row)


def _close_task(session: Session, row: TaskRow) -> bool:
    return bool(_execute(session, _CLOSE_TASK, _closing_params(row)).rowcount == 1)


def _closing_params(row: TaskRow) -> dict[str, Any]:
    return {"b_id": row.id, "state": row.state, "completed_at": row.completed_at, "completed_by": row.completed_by,
            "on_behalf_of": row.on_behalf_of}


def claim_task(session: Session, task_id: str, person: str) -> bool:
    """Assign a ready, unassigned task to `person`; False when someone else got there first."""
    return bool(_execute(session, _CLAIM_TASK, {"b_id": task_id, "b_to": person}).rowcount == 1)


def release_task(session: Session, task_id: str, person: str) -> bool:
    """Return a ready task assigned to `person` to the shared inbox; False when it is not theirs any more."""
    return bool(_execute(session, _RELEASE_TASK, {"b_id": task_id, "b_from": person}).rowcount == 1)


def update_due(session: Session, rows: Sequence[TaskRow]) -> None:
    if rows:
        flush_case_write(session)
    for row in rows:
        _execute(session, _MOVE_DUE, {"b_id": row.id, "due_at": row.due_at})


def insert_tasks(session: Session, rows: Sequence[TaskRow]) -> None:
    for row in rows:
        check_write(session, row.municipality_code)
    buffered = session.info.get(_BUFFER)
    if buffered is not None:
        buffered.openings.extend(r.values() for r in rows)
        return
    if rows:
        flush_case_write(session)
    if len(rows) == 1:  # the usual case; a one-row executemany costs more than an execute
        session.connection().execute(_INSERT_TASK, rows[0].values())
    elif rows:
        session.connection().execute(_INSERT_TASK, [r.values() for r in rows])


# PostgreSQL: a step's one audit event — the chain head advanced, the event hashed onto it, its personal payload and
# the step's one new task — in one statement, with the step's case write (update_case(defer=True)) or a start's new
# case (insert_case(defer=True)) when it is pending: one round trip for all of a step's writes. The case is updated
# first and everything else only if it was (each depends on moved_case), so a step still locks its case before its
# chain's head, as the batches do. The head is
# row-locked (FOR UPDATE) before it is read, and the event hashed with the database's sha256 over the byte encoding
# of engine.audit_chain: the fields the database alone knows (the new seq and the previous hash) between the bytes
# jichi encoded before and after them. jichi recomputes the hash from the statement's answer and refuses the step
# when they differ (_append_one), so the encoding has one definition. The event is not written when the
# municipality has no head yet (the caller creates it and appends again).
_OPEN_SQL = "(" + ", ".join(f"'{name}'" for name in OPEN) + ")"
# Whether the municipality's chain has its head (a head once created is never deleted): without one the statement
# writes nothing at all, not even the case — the caller creates the head and sends the statement again.
_HEADED = "EXISTS (SELECT 1 FROM audit_head WHERE municipality_code = :b_code)"


def _append_one_sql(*, personal: bool, opening: bool, case: bool, scoped: bool, new_case: bool = False) -> Any:
    event_columns = [c.name for c in EVENTS.c if c.name not in ("municipality_code", "seq", "prev_hash", "hash")]
    scope = " AND municipality_code = ANY(:b_scope)" if scoped else ""
    gate = " AND EXISTS (SELECT 1 FROM moved_case)" if case else ""
    parts = []
    case_columns = [CASES.c[n] for n in (*CaseRow.__dataclass_fields__, "serializer_version", "updated_at")]
    if new_case:  # a start's case (insert_case(defer=True)); the task and the event refer to it: the database checks
        # their foreign keys at the statement's end, when it is there
        parts.append(f"new_case AS (INSERT INTO case_instance ({', '.join(c.name for c in case_columns)})"
                     f" SELECT {', '.join(f':c_{c.name}' for c in case_columns)} WHERE {_HEADED} RETURNING id)")
    if case:
        parts += [
            f"moved_case AS (UPDATE case_instance SET {', '.join(f'{c} = :{c}' for c in _CASE_SET)}"
            f" WHERE id = :b_id AND version = :b_version{scope} AND {_HEADED} RETURNING id)",
            f"closed_task AS (UPDATE case_task SET {', '.join(f'{c} = :t_{c}' for c in _TASK_CLOSE_SET)}"
            f" WHERE id = :t_id AND state IN {_OPEN_SQL}{scope}{gate} RETURNING id)",
        ]
    parts += [
        f"head AS (SELECT seq + 1 AS seq, head_hash AS prev FROM audit_head WHERE municipality_code = :b_code{gate}"
        " FOR UPDATE)",
        "chained AS (SELECT seq, prev, encode(sha256(:b_before || int4send(octet_length(seq::text))"
        " || convert_to(seq::text, 'UTF8') || int4send(octet_length(prev)) || convert_to(prev, 'UTF8')"
        " || :b_after), 'hex') AS hash FROM head)",
        "advanced AS (UPDATE audit_head SET seq = (SELECT seq FROM chained), head_hash = (SELECT hash FROM chained)"
        " WHERE municipality_code = :b_code AND EXISTS (SELECT 1 FROM chained) RETURNING seq)",
        f"new_event AS (INSERT INTO audit_event (municipality_code, seq, prev_hash, hash, {', '.join(event_columns)})"
        f" SELECT :b_code, seq, prev, hash, {', '.join(f':e_{c}' for c in event_columns)} FROM chained)",
    ]
    if personal:
        columns = [c.name for c in PERSONAL.c if c.name not in ("municipality_code", "seq")]
        parts.append(f"new_personal AS (INSERT INTO audit_personal (municipality_code, seq, {', '.join(columns)})"
                     f" SELECT :b_code, seq, {', '.join(f':p_{c}' for c in columns)} FROM chained)")
    task_columns = [c for c in TASKS.c if c.name in TaskRow.__dataclass_fields__]
    if opening:
        parts.append(f"new_task AS (INSERT INTO case_task ({', '.join(c.name for c in task_columns)})"
                     f" SELECT {', '.join(f':n_{c.name}' for c in task_columns)} WHERE EXISTS (SELECT 1 FROM chained))")
    written = ("(SELECT count(*) FROM moved_case) AS moved, (SELECT count(*) FROM closed_task) AS closed" if case
               else "1 AS moved, 1 AS closed")
    sql = (f"WITH {', '.join(parts)} SELECT {written}, {_HEADED} AS headed, chained.seq AS seq, chained.prev AS prev,"
           " chained.hash AS hash FROM (SELECT 1) AS one LEFT JOIN chained ON true")
    types: dict[str, Any] = {f"e_{c}": EVENTS.c[c].type for c in event_columns}
    if opening:
        types |= {f"n_{c.name}": c.type for c in task_columns}
    if case:
        types |= {c: CASES.c[c].type for c in _CASE_SET} | {f"t_{c}": TASKS.c[c].type for c in _TASK_CLOSE_SET}
    if new_case:
        types |= {f"c_{c.name}": c.type for c in case_columns}
    params = [bindparam(k, type_=t) for k, t in types.items()]
    if scoped:
        params.append(bindparam("b_scope", type_=postgresql.ARRAY(CASES.c.municipality_code.type)))
    # The answer's columns declared: SQLAlchemy then keeps the result's description with the cached statement instead
    # of building it from the cursor at every execution.
    return text(sql).bindparams(bindparam("b_before", type_=LargeBinary), bindparam("b_after", type_=LargeBinary),
                                *params).columns(*_APPEND_ONE_ANSWER)


_APPEND_ONE_ANSWER: list[Any] = [column("moved", Integer), column("closed", Integer), column("headed", Boolean),
                      column("seq", BigInteger), column("prev", String), column("hash", String)]


_APPEND_ONE_SQL = {key: _append_one_sql(personal=key[0], opening=key[1], case=key[2], scoped=key[3], new_case=key[4])
                   for key in itertools.product((False, True), repeat=5)
                   if (key[2] or not key[3]) and not (key[2] and key[4])}


def insert_events(session: Session, events: Sequence[Mapping[str, Any]],
                  opening: Sequence[TaskRow] = ()) -> list[tuple[str, int]]:
    """Append events (values from `audit.event`) to their municipalities' chains; returns (code, seq) each.

    Municipalities are taken in code order, so two transactions never wait for each other's heads in
    opposite orders. `opening`: task rows the step opens, inserted first (as insert_tasks) — on PostgreSQL
    a step's one event and its one new task by one statement (_APPEND_ONE_SQL).
    """
    connection = session.connection()
    if len(events) == 1 and connection.dialect.name == "postgresql":
        along = None
        if len(opening) == 1 and opening[0].municipality_code == events[0]["municipality_code"]:
            check_write(session, opening[0].municipality_code)
            along = opening[0]
        else:
            insert_tasks(session, opening)
        one = _append_one(session, events[0], along)
        if one is None:  # the municipality's first event: no head yet
            ensure_head(session, events[0]["municipality_code"])
            one = _append_one(session, events[0], along)
            assert one is not None  # the head is there now, in this transaction
        return [one]
    flush_case_write(session)
    insert_tasks(session, opening)
    appended: list[tuple[str, int]] = []
    for code in sorted({e["municipality_code"] for e in events}):
        group = [e for e in events if e["municipality_code"] == code]
        head = connection.execute(_ADVANCE_HEAD, {"b_code": code, "b_n": len(group)}).first()
        if head is None:
            ensure_head(session, code)
            head = connection.execute(_ADVANCE_HEAD, {"b_code": code, "b_n": len(group)}).one()
        seq, prev = head[0] - len(group), head[1]
        rows: list[dict[str, Any]] = []
        payloads: list[dict[str, Any]] = []
        for values in group:
            seq += 1
            digest = None
            before, after, personal = values["data_before"], values["data_after"], values["personal"]
            if has_personal(before, after, personal):
                salt = new_salt()
                digest = personal_digest(salt, before, after, personal)
                payloads.append({"municipality_code": code, "seq": seq, "salt": salt, "data_before": before,
                                 "data_after": after, "personal": personal})
            at = values["occurred_at"]
            prev = event_hash(code, seq, prev, utc_text(at), values["actor"], values["action"],
                              values["case_id"], values["task_id"], values["detail"], digest)
            rows.append({"municipality_code": code, "seq": seq, "prev_hash": rows[-1]["hash"] if rows else head[1],
                         "hash": prev, "occurred_at": at, "actor": values["actor"], "action": values["action"],
                         "case_id": values["case_id"], "task_id": values["task_id"], "detail": values["detail"],
                         "personal_digest": digest})
            appended.append((code, seq))
        connection.execute(_INSERT_EVENT, rows[0] if len(rows) == 1 else rows)
        if payloads:
            connection.execute(_INSERT_PERSONAL, payloads[0] if len(payloads) == 1 else payloads)
        connection.execute(_SET_HEAD, {"b_code": code, "head_hash": prev})
    return appended


def _append_one(session: Session, values: Mapping[str, Any], opening: TaskRow | None) -> tuple[str, int] | None:
    """PostgreSQL: one event appended, with its personal payload, `opening` and the case write left pending, by one
    statement; None, having written nothing, when the municipality has no chain head yet."""
    code = values["municipality_code"]
    held: _Held | None = session.info.get(_PENDING)
    if held is not None and held.code != code:
        flush_case_write(session)  # not this event's case (no step writes so): on its own, first
        held = None
    before, after, personal = values["data_before"], values["data_after"], values["personal"]
    digest = None
    params: dict[str, Any] = {"b_code": code}
    if has_personal(before, after, personal):
        salt = new_salt()
        digest = personal_digest(salt, before, after, personal)
        params |= {"p_salt": salt, "p_data_before": before, "p_data_after": after, "p_personal": personal}
    at = utc_text(values["occurred_at"])
    fields = (at, values["actor"], values["action"], values["case_id"], values["task_id"], values["detail"], digest)
    params["b_before"], params["b_after"] = event_hash_around(code, *fields)
    params |= {"e_occurred_at": values["occurred_at"], "e_actor": values["actor"], "e_action": values["action"],
               "e_case_id": values["case_id"], "e_task_id": values["task_id"], "e_detail": values["detail"],
               "e_personal_digest": digest}
    if opening is not None:
        params |= {f"n_{k}": v for k, v in opening.values().items()}
    scope = scoped_to(session)
    updating = held is not None and not held.new
    if held is not None and held.new:
        params |= {f"c_{k}": v for k, v in held.params.items()}
    elif held is not None:
        params |= held.params
        if scope is not None:
            params["b_scope"] = sorted(scope)
    key = (digest is not None, opening is not None, updating, updating and scope is not None,
           held is not None and held.new)
    final = {FINAL_WRITE: True} if held is not None and held.last else None  # all of the step's writes
    moved, closed, headed, seq, prev, hashed = session.connection().execute(
        _APPEND_ONE_SQL[key], params, execution_options=final).one()
    if not headed:
        return None  # nothing written (a pending case write stays pending)
    if held is not None:
        del session.info[_PENDING]
        if updating and not _settled(moved, closed, held.closing_id or ""):
            raise VersionMoved(held.params["b_id"])  # nothing written: every other part depends on the case's
    if hashed != event_hash(code, seq, prev, *fields):
        # The database hashed other bytes than jichi's encoding (docs/audit.md): never commit such a link.
        raise RuntimeError(f"audit event {code}/{seq}: the database's hash differs from jichi's encoding")
    return code, seq


def ensure_head(session: Session, code: str) -> None:
    """Create a municipality's chain head (empty chain) unless it exists; safe when two writers race."""
    connection = session.connection()
    values = {"municipality_code": code, "seq": 0, "head_hash": GENESIS}
    if connection.dialect.name == "postgresql":
        connection.execute(postgresql.insert(HEADS).values(values).on_conflict_do_nothing())
    else:
        connection.execute(sqlite.insert(HEADS).values(values).on_conflict_do_nothing())
