"""Tables of the durable engine: process specs, case instances, projected tasks, audit events.

Process specs are stored once per content hash. A case instance holds only its SpiffWorkflow state,
the serializer version, the pinned spec hash and an optimistic version column; everything an inbox
queries (municipality, lane, assignee, state, due) is projected into `case_task` rows in the same
transaction. Audit events are written in that transaction too, hash-chained per municipality
(docs/audit.md), their personal payload in a separate erasable table.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
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
    status: Mapped[str] = mapped_column(String(20))  # running | completed | erased (保存年限を過ぎて消去)
    state: Mapped[str] = mapped_column(Text)  # the serialized SpiffWorkflow workflow (JSON)
    serializer_version: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The rule set (core + packs) active for the municipality when the case started; NULL when none was.
    rules_hash: Mapped[str | None] = mapped_column(ForeignKey("rule_set.hash"))
    # The unit (課) the case belongs to (engine.organisation): its tasks go to positions of that unit.
    unit_code: Mapped[str | None] = mapped_column(String(100))

    # Optimistic locking: every UPDATE says WHERE version = <the version read>; a concurrent writer
    # that got there first makes it match no row, and SQLAlchemy raises StaleDataError.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


_SHARED = "state = 'ready' AND kind = 'user' AND assignee IS NULL AND position_code IS NULL"


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
    # The position (職) the task is addressed to, resolved from the case's unit when the task opened; the
    # person it lands on is whoever holds the position on the day the inbox is read.
    position_code: Mapped[str | None] = mapped_column(String(100))
    # Who the completer acted for (代理・代決): the holder of the position, when not the completer.
    on_behalf_of: Mapped[str | None] = mapped_column(String(100))
    # The case's procedure, copied so that the inbox filters and shows it without joining the cases.
    process_id: Mapped[str | None] = mapped_column(String(200))

    # Partial indexes: only open rows are ever looked up by inbox or timer queries, and most rows are
    # closed history; keeping history out of these indexes keeps them small and every write cheaper.
    __table_args__ = (
        Index("ix_case_task_inbox", "municipality_code", "lane", "due_at",
              sqlite_where=text("state IN ('ready', 'waiting')"),
              postgresql_where=text("state IN ('ready', 'waiting')")),
        Index("ix_case_task_assignee", "assignee", "state",
              sqlite_where=text("assignee IS NOT NULL"), postgresql_where=text("assignee IS NOT NULL")),
        Index("ix_case_task_position", "municipality_code", "position_code",
              sqlite_where=text("state IN ('ready', 'waiting') AND position_code IS NOT NULL"),
              postgresql_where=text("state IN ('ready', 'waiting') AND position_code IS NOT NULL")),
        # The shared inbox (engine/inbox.py): unclaimed user tasks not addressed to a position, in due order.
        Index("ix_case_task_shared", "municipality_code", "due_at", "created_at", "id", "process_id",
              sqlite_where=text(_SHARED), postgresql_where=text(_SHARED)),
        Index("ix_case_task_due_timers", "due_at",
              sqlite_where=text("kind = 'timer' AND state = 'waiting'"),
              postgresql_where=text("kind = 'timer' AND state = 'waiting'")),
    )


BACKED_UP = "action = 'db.backed_up'"  # the audit events of `jichi db backup` (web.cli)


class AuditEvent(Base):
    """An audit event, written in the same transaction as the change it records; never updated or deleted.

    Events form one hash chain per municipality (docs/audit.md): `seq` counts 1, 2, 3 … in commit order
    (appends are serialized by the municipality's `audit_head` row), `prev_hash` is the previous event's
    `hash`, and `hash` covers every other column. `detail` is canonical JSON text without personal data;
    the personal payload (data before/after, form input) lives in `audit_personal`, erasable after its
    保存年限, and the event keeps only `personal_digest`, a salted commitment to it. Triggers created by the
    migration refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
    """

    __tablename__ = "audit_event"

    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))  # case.started | task.completed | timer.fired | ...
    case_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[str] = mapped_column(Text)
    personal_digest: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_event_scope", "municipality_code", "occurred_at"),
        Index("ix_audit_event_case", "case_id", "occurred_at"),
        Index("ix_audit_event_actor", "actor", "occurred_at"),
        # the newest `jichi db backup` (engine.ops.last_backup), one probe however long the deployment's chain
        Index("ix_audit_event_backed_up", "municipality_code", "seq",
              sqlite_where=text(BACKED_UP), postgresql_where=text(BACKED_UP)),
    )


class AuditAccessSubject(Base):
    """The 宛名番号 of the residents a read-access event showed (engine/access_log.py), for finding every access to
    one resident. Derived from the event's erasable payload and erased with it; the payload, committed to by the
    chain, is what a bundle proves."""

    __tablename__ = "audit_access_subject"

    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    atena_number: Mapped[str] = mapped_column(String(15), primary_key=True)

    __table_args__ = (Index("ix_audit_access_subject_resident", "municipality_code", "atena_number", "seq"),)


class AuditVerification(Base):
    """A verification of a municipality's chain run from the auditor's page: when, by whom, how many events, and
    the first finding. Shared by every app server (the page shows the latest per municipality)."""

    __tablename__ = "audit_verification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str] = mapped_column(String(100))
    events: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    finding: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_verification_latest", "municipality_code", "verified_at"),)


class AuditPersonal(Base):
    """The personal payload of an audit event, kept apart so that it can be erased past its 保存年限.

    Its commitment (`audit_event.personal_digest` = SHA-256 of salt and the three texts) stays in the
    chain: while the row exists, verification checks it against the digest; once erased (with an audit
    event `case.erased` naming the seqs), the chain still verifies and the salt is gone with the data.
    """

    __tablename__ = "audit_personal"

    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    salt: Mapped[str] = mapped_column(String(64))
    data_before: Mapped[str] = mapped_column(Text)
    data_after: Mapped[str] = mapped_column(Text)
    personal: Mapped[str] = mapped_column(Text)  # other personal items of the event, e.g. {"input": …}

    __table_args__ = (
        ForeignKeyConstraint(["municipality_code", "seq"], ["audit_event.municipality_code", "audit_event.seq"],
                             name="fk_audit_personal_event"),
    )


class AuditHead(Base):
    """The end of a municipality's chain: its last seq and hash, row-locked by every append until commit.

    Serializing appends per municipality on this row makes `seq` the commit order without one global
    lock: writers of different municipalities never wait for each other.
    """

    __tablename__ = "audit_head"

    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))


class RuleSet(Base):
    """A municipality's rule files (core → prefecture → municipality pack), stored once per content hash."""

    __tablename__ = "rule_set"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    pack_id: Mapped[str | None] = mapped_column(String(100))
    pack_version: Mapped[str | None] = mapped_column(String(40))
    core_version: Mapped[str] = mapped_column(String(40))
    # JSON array of [file name, text] in load order (core first), as hashed.
    files: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RuleActivation(Base):
    """`jichi pack activate`: from `effective_from` on, new cases of the municipality pin this rule set."""

    __tablename__ = "rule_activation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    rule_set_hash: Mapped[str] = mapped_column(ForeignKey("rule_set.hash"))
    effective_from: Mapped[date] = mapped_column(Date)
    activated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    activated_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ix_rule_activation_lookup", "municipality_code", "effective_from"),)



# --- organisation (engine.organisation) -------------------------------------------------------------------

class OrgUnit(Base):
    """A 部・課・係 of a municipality's organisation chart in force from `chart_from`."""

    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    chart_from: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # 部 | 課 | 係
    parent_code: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_org_unit_chart", "municipality_code", "chart_from", "code", unique=True),)


class OrgPosition(Base):
    """A position (職) of the chart: 課長 of a 課, 部長 of a 部, 副市長 and 市長 of the municipality."""

    __tablename__ = "org_position"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    chart_from: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(40))  # 係長 | 課長 | 部長 | 副市長 | 市長 | 課長補佐 | …
    name: Mapped[str] = mapped_column(String(200))  # こども家庭課長
    unit_code: Mapped[str | None] = mapped_column(String(100))  # None: the municipality as a whole
    # JSON array of position codes, in the order they stand in (代決者の順)
    deputies: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_org_position_chart", "municipality_code", "chart_from", "code", unique=True),)


class OrgAssignment(Base):
    """A person holding a position from one date to another (人事異動: a row ends, another begins)."""

    __tablename__ = "org_assignment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    position_code: Mapped[str] = mapped_column(String(100))
    person: Mapped[str] = mapped_column(String(100))  # the account name
    person_name: Mapped[str] = mapped_column(String(200))  # 氏名 as shown
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # inclusive; None: until further notice

    __table_args__ = (Index("ix_org_assignment_position", "municipality_code", "position_code", "valid_from"),)


class OrgAbsence(Base):
    """A person away for a period (出張・休暇), optionally with a named substitute (代理) for that period."""

    __tablename__ = "org_absence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    person: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)  # inclusive
    reason: Mapped[str] = mapped_column(String(200))
    substitute: Mapped[str | None] = mapped_column(String(100))  # acts for the person in this period
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_org_absence_person", "municipality_code", "person", "valid_from"),)


class TrustedPackKey(Base):
    """A vendor's public key a municipality trusts for the packs that serve it (`jichi pack trust`)."""

    __tablename__ = "trusted_pack_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    key_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(Text)  # PEM (SubjectPublicKeyInfo)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # `jichi pack distrust`: archives signed by the key are refused from then on; the row stays for the record
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)

    __table_args__ = (Index("ix_trusted_pack_key", "municipality_code", "key_id", unique=True),)


class UserAccount(Base):
    """A person who signs in (`jichi user add`). Never deleted: a leaver is disabled and keeps their history."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # the organisation's person code (jichi org import), so that positions come from the organisation model
    person_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)  # argon2id; None: cannot sign in yet
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    disabled_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class UserRole(Base):
    """A role a user holds in one municipality (tenancy: a user sees only the municipalities of their roles)."""

    __tablename__ = "user_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    municipality_code: Mapped[str] = mapped_column(String(6))
    role: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    granted_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ix_user_role_unique", "user_id", "municipality_code", "role", unique=True),)


class WebSession(Base):
    """A server-side sign-in session. The browser holds a random token; only its SHA-256 is stored here."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(token) hex
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the absolute timeout
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(50), nullable=True)

    __table_args__ = (Index("ix_web_session_user", "user_id"),)


class LoginAttempt(Base):
    """Sign-in attempts, for rate limiting by login name and by client address (no permanent lockout)."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(100))
    remote: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    succeeded: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_login_attempt_login_at", "login", "at"), Index("ix_login_attempt_remote_at", "remote", "at"))


class ApiToken(Base):
    """A user's token for the JSON API (`jichi user token`). Only its SHA-256 is stored; shown once at creation."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(token) hex
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_api_token_user", "user_id"),)


class IdempotencyRecord(Base):
    """The answer to a request sent with an Idempotency-Key, so that a retry gets it again instead of acting
    twice. `status` is None while the first request is still running."""

    __tablename__ = "idempotency_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_idempotency_user_key", "user_id", "key", unique=True),)


class Resident(Base):
    """A person of the municipality's 宛名 (the standard data model's `person`), as the clerk searches for them.

    `name` and `name_kana` are stored exactly as given (異体字 and their variation selectors included); the
    search keys are derived from them (engine/residents.py) and never shown.
    """

    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    atena_number: Mapped[str] = mapped_column(String(15))
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    address: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    kana_key: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    household_number: Mapped[str | None] = mapped_column(String(15))  # 世帯番号 (standard: household)
    relationship: Mapped[str | None] = mapped_column(String(20))  # 世帯主との続柄 (code list 続柄区分)

    __table_args__ = (
        UniqueConstraint("municipality_code", "atena_number", name="uq_resident_atena"),
        Index("ix_resident_household", "municipality_code", "household_number"),
        Index("ix_resident_name_key", "municipality_code", "name_key"),
        Index("ix_resident_kana_key", "municipality_code", "kana_key"),
    )


class CaseSearchKey(Base):
    """The folded search key of a name or kana entered in a case's form (engine/residents.search_key), so that
    the inbox finds the case however the name is typed while the case data keeps exactly what was entered.
    Personal data: erased with the case (engine/audit_erase.py)."""

    __tablename__ = "case_search_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    case_id: Mapped[str] = mapped_column(ForeignKey("case_instance.id"))
    item: Mapped[str] = mapped_column(String(200))  # the data item: 申請者カナ, 児童/名前
    key: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_case_search_key_key", "municipality_code", "key"),
        Index("ix_case_search_key_case", "case_id", "item"),
    )


class RuleDraft(Base):
    """A rule file of a pack as an analyst edited it in the studio and it checked clean: numbered per file, kept in
    the database so that every app server sees it. Activation still goes through the pack on disk (a draft is
    copied into the pack and released as a version)."""

    __tablename__ = "rule_draft"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pack_id: Mapped[str] = mapped_column(String(100))
    file: Mapped[str] = mapped_column(String(300))  # the file as shown in diagnostics (local_rules/…/x.rules)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("pack_id", "file", "number", name="uq_rule_draft_number"),)


class ImpactRun(Base):
    """An impact analysis started from the studio (engine/impact.py): its progress, readable by every app server
    while it runs, and its result as CSV once done."""

    __tablename__ = "impact_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(20))  # queued | running | done | failed
    cases_total: Mapped[int] = mapped_column(Integer)
    cases_done: Mapped[int] = mapped_column(Integer)
    decisions: Mapped[int] = mapped_column(Integer)
    changed: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    result_csv: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[str] = mapped_column(String(100))


class Job(Base):
    """Background work (engine/jobs.py): queued by an app server, run by whichever `jichi worker` claims it first.
    A claim is a lease: the holder renews it while it works; a worker that dies leaves a lease that runs out, and
    another worker takes the job again. Every write of a holder is fenced by (lease_owner, status)."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    municipality_code: Mapped[str | None] = mapped_column(String(6))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(20))  # queued | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_job_claimable", "status", "id"),)


class PeriodicDuty(Base):
    """A duty several workers share, done by one of them per interval (engine/periodic.py): the audit checkpoint,
    the housekeeping prune. `next_at` moves forward when a worker takes the turn."""

    __tablename__ = "periodic_duty"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_by: Mapped[str | None] = mapped_column(String(200))
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkerHeartbeat(Base):
    """A running `jichi worker` (engine/workers.py): written when it starts and every HEARTBEAT while it runs,
    deleted when it stops cleanly — a row that stopped being written is a worker that died or hangs."""

    __tablename__ = "worker_heartbeat"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)  # engine.jobs.owner_name(): host:pid:random
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MigrationReport(Base):
    """The report of a `jichi migrate` dry run or import (engine/migration.py), kept for the migration team's page.

    `report` is the JSON of the report: counts, the unmapped characters, the duplicated 宛名番号 and every rejected
    record's problems (record, field, position, code, reason) — the data the team must fix, never whole records."""

    __tablename__ = "migration_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(20))  # dry-run | import
    file: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    report: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_migration_report_latest", "municipality_code", "id"),)
