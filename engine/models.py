"""Tables of the durable engine: process specs, case instances, projected tasks, audit events.

Process specs are stored once per content hash. A case instance holds only its SpiffWorkflow state,
the serializer version, the pinned spec hash and an optimistic version column; everything an inbox
queries (municipality, lane, assignee, state, due) is projected into `case_task` rows in the same
transaction. Audit events are written in that transaction too; every field is plain text, integer or
timestamp so that the tamper-evidence issue can hash a documented canonical encoding of each row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


def new_id() -> str:
    """A random UUID (text): ids must not reveal how many cases another municipality has."""
    return str(uuid.uuid4())


class ProcessSpec(Base):
    """The BPMN files a case runs on, stored once per content hash (sha256 of the files)."""

    __tablename__ = "process_spec"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    # JSON object {file name: BPMN text}, canonical (sorted keys), so the hash can be recomputed.
    files: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseInstance(Base):
    """One running or finished case (案件) of a procedure."""

    __tablename__ = "case_instance"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    municipality_code: Mapped[str] = mapped_column(String(6), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    spec_hash: Mapped[str] = mapped_column(ForeignKey("process_spec.hash"))
    status: Mapped[str] = mapped_column(String(20))  # running | completed
    state: Mapped[str] = mapped_column(Text)  # the serialized SpiffWorkflow workflow (JSON)
    serializer_version: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Optimistic locking: every UPDATE says WHERE version = <the version read>; a concurrent writer
    # that got there first makes it match no row, and SQLAlchemy raises StaleDataError.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class CaseTask(Base):
    """A task of a case as the inbox sees it: user tasks waiting for a person, timers waiting for time.

    A row is one occurrence: when a 差戻し loop brings a case back to the same BPMN task, a new row is
    created, so a completed row never becomes ready again.
    """

    __tablename__ = "case_task"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("case_instance.id"), index=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(10))  # user | timer
    bpmn_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))  # ready | waiting | completed | cancelled
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by: Mapped[str | None] = mapped_column(String(100))

    # Partial indexes: only open rows are ever looked up by inbox or timer queries, and most rows are
    # closed history; keeping history out of these indexes keeps them small and every write cheaper.
    __table_args__ = (
        Index("ix_case_task_inbox", "municipality_code", "lane", "due_at",
              sqlite_where=text("state IN ('ready', 'waiting')"),
              postgresql_where=text("state IN ('ready', 'waiting')")),
        Index("ix_case_task_assignee", "assignee", "state",
              sqlite_where=text("assignee IS NOT NULL"), postgresql_where=text("assignee IS NOT NULL")),
        Index("ix_case_task_due_timers", "due_at",
              sqlite_where=text("kind = 'timer' AND state = 'waiting'"),
              postgresql_where=text("kind = 'timer' AND state = 'waiting'")),
    )


class AuditEvent(Base):
    """An audit event, written in the same transaction as the change it records.

    `data_before` / `data_after` / `detail` are canonical JSON text (sorted keys, no insignificant
    whitespace). `seq` orders events in commit order per municipality in a later issue (hash chain);
    here it is the insertion order.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    municipality_code: Mapped[str] = mapped_column(String(6))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))  # case.started | task.completed | timer.fired | ...
    case_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    data_before: Mapped[str] = mapped_column(Text)
    data_after: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_audit_event_scope", "municipality_code", "occurred_at"),
        Index("ix_audit_event_case", "case_id", "occurred_at"),
        Index("ix_audit_event_actor", "actor", "occurred_at"),
    )
