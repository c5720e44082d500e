"""Erasure of a case's personal data once its 保存年限 has passed, without breaking the audit chain.

What is erased: the personal payload of every audit event of the case (`audit_personal`: data before and
after, form input, and the salt of its commitment) and the case's stored workflow state (its data). What
stays: the chained events themselves — who did what, when, on which task, the gateway decisions — each
with the salted digest of the payload it had, so every hash still verifies and nothing about the erased
data can be recovered from it. The erasure is a state change of the case: one `case.erased` event in the
municipality's chain naming the erased seqs, in the same transaction; verification accepts a missing
payload only when such an event names it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine import audit, clock, store
from engine.audit_checkpoint import AuditError
from engine.audit_verify import ERASE_ACTION, READS_ERASE_ACTION
from engine.models import AuditAccessSubject, CaseSearchKey
from engine.store import CASES, EVENTS, PERSONAL


@dataclass(frozen=True)
class Erased:
    case_id: str
    municipality: str
    payloads: int  # personal payloads deleted
    event_seq: int  # the case.erased event


def erase_case(session: Session, case_id: str, *, actor: str, reason: str) -> Erased:
    """Erase one completed case's personal data; one transaction, committed here."""
    try:
        erased = _erase(session, case_id, actor, reason)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return erased


def erase_completed_before(session: Session, municipality: str, before: dt.date, *, actor: str, reason: str,
                           dry_run: bool = False) -> list[str]:
    """Erase every completed case of a municipality completed before `before` (Tokyo); one transaction per case.

    Returns the ids of the cases erased (or, with dry_run, that would be).
    """
    cutoff = dt.datetime.combine(before, dt.time(), tzinfo=clock.TOKYO).astimezone(dt.UTC)
    ids = list(session.scalars(select(CASES.c.id).where(
        CASES.c.municipality_code == municipality, CASES.c.status == "completed",
        CASES.c.completed_at < cutoff).order_by(CASES.c.completed_at, CASES.c.id)))
    session.rollback()
    if not dry_run:
        for case_id in ids:
            erase_case(session, case_id, actor=actor, reason=reason)
    return ids


def _erase(session: Session, case_id: str, actor: str, reason: str) -> Erased:
    connection = session.connection()
    query = select(CASES.c.municipality_code, CASES.c.status, CASES.c.version, CASES.c.completed_at).where(
        CASES.c.id == case_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    case = connection.execute(query).first()
    if case is None:
        raise AuditError("AUD930", f"案件「{case_id}」はありません", "案件の ID を確かめてください（jichi case show）。")
    municipality, status, version, completed_at = case
    if status == "erased":
        raise AuditError("AUD932", f"案件「{case_id}」の個人データは消去済みです",
                         "消去の記録（case.erased）は監査ログにあります。もう一度消去する必要はありません。")
    if status != "completed":
        raise AuditError("AUD931", f"案件「{case_id}」は完了していないため、個人データを消去できません",
                         "保存年限は案件の完結から数えます。完了した案件だけを消去できます。")
    seqs = sorted(connection.execute(select(PERSONAL.c.seq).join(
        EVENTS, (EVENTS.c.municipality_code == PERSONAL.c.municipality_code) & (EVENTS.c.seq == PERSONAL.c.seq))
        .where(EVENTS.c.municipality_code == municipality, EVENTS.c.case_id == case_id)).scalars())
    if seqs:
        connection.execute(delete(PERSONAL).where(PERSONAL.c.municipality_code == municipality,
                                                  PERSONAL.c.seq.in_(seqs)))
    # the search keys of the names entered in the case are personal data too
    connection.execute(delete(CaseSearchKey).where(CaseSearchKey.case_id == case_id))
    now = clock.now()
    # The version check keeps a concurrent step (there should be none: the case is complete) from racing.
    moved = connection.execute(update(CASES).where(CASES.c.id == case_id, CASES.c.version == version).values(
        state="", status="erased", version=version + 1, updated_at=now)).rowcount
    if moved != 1:
        raise AuditError("AUD931", f"案件「{case_id}」が同時に更新されたため、消去を取り消しました",
                         "もう一度実行してください。")
    completed = clock.as_utc(completed_at) if completed_at is not None else None
    ((_, seq),) = store.insert_events(session, [audit.event(
        municipality=municipality, actor=actor, action=ERASE_ACTION, case_id=case_id, at=now,
        detail={"erased": seqs, "reason": reason,
                "completed_at": completed.isoformat() if completed is not None else None})])
    return Erased(case_id, municipality, len(seqs), seq)


def erase_reads_before(session: Session, municipality: str, before: dt.date, *, actor: str, reason: str,
                       dry_run: bool = False) -> list[int]:
    """Erase the personal payloads (residents shown, query typed) of the municipality's read-access events that
    belong to no case — resident searches, the auditor's searches — recorded before `before` (Tokyo), and their
    index rows; one `reads.erased` event names the seqs, so the chain still verifies. Reads of a case go with the
    case (erase_case). Returns the seqs erased (or, with dry_run, that would be); committed here."""
    cutoff = dt.datetime.combine(before, dt.time(), tzinfo=clock.TOKYO).astimezone(dt.UTC)
    connection = session.connection()
    seqs = sorted(connection.execute(select(PERSONAL.c.seq).join(
        EVENTS, (EVENTS.c.municipality_code == PERSONAL.c.municipality_code) & (EVENTS.c.seq == PERSONAL.c.seq))
        .where(EVENTS.c.municipality_code == municipality, EVENTS.c.case_id.is_(None),
               EVENTS.c.action.in_(sorted(audit.READ_ACTIONS)), EVENTS.c.occurred_at < cutoff)).scalars())
    if dry_run or not seqs:
        session.rollback()
        return seqs
    try:
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            connection.execute(delete(PERSONAL).where(PERSONAL.c.municipality_code == municipality,
                                                      PERSONAL.c.seq.in_(chunk)))
            session.execute(delete(AuditAccessSubject).where(AuditAccessSubject.municipality_code == municipality,
                                                             AuditAccessSubject.seq.in_(chunk)))
        store.insert_events(session, [audit.event(municipality=municipality, actor=actor, action=READS_ERASE_ACTION,
                                                  detail={"erased": seqs, "reason": reason,
                                                          "before": before.isoformat()})])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return seqs
