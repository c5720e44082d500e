"""A case's history as people read it, from its audit events: who did what when, what each step decided (the
gateways taken, and each business rule decision with its value and trace, for "なぜ？").

The caller has already found the case through the request's scoped session (engine/tenancy.py); the events are
read by the case's municipality and id. A decision's value and trace are personal data kept in the erasable part
of the log: after `jichi audit erase` the entry says the decision was made, and no longer what it used.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.models import AuditEvent, AuditPersonal

ACTIONS = {
    "case.started": "受付（案件の開始）",
    "task.completed": "完了",
    "review.completed": "後閲",
    "timer.fired": "期限の到来",
    "task.withdrawn": "引戻し",
    "task.claimed": "引受け",
    "task.released": "受付箱に戻す",
    "case.rules_moved": "規則の版の変更",
    "case.erased": "個人データの消去",
    "notice.printed": "帳票の印刷",
}


@dataclass(frozen=True)
class Decision:
    name: str  # the rule decision (判定) evaluated by a business rule task
    bpmn_id: str
    value: Any = None
    trace: dict[str, Any] | None = None  # None once the personal part was erased


@dataclass(frozen=True)
class Entry:
    seq: int
    at: dt.datetime
    actor: str
    action: str
    label: str
    task: str | None  # the task's name, when the step was about one
    acting: str | None = None  # 代理・代決: the mode, when the actor acted for the position's holder
    reason: str | None = None
    gateways: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "chosen"}]
    decisions: list[Decision] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)


def timeline(session: Session, municipality: str, case_id: str) -> list[Entry]:
    events = list(session.scalars(select(AuditEvent).where(
        AuditEvent.municipality_code == municipality, AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))
    seqs = [e.seq for e in events]
    personal = {p.seq: p for p in session.scalars(select(AuditPersonal).where(
        AuditPersonal.municipality_code == municipality, AuditPersonal.seq.in_(seqs)))} if seqs else {}
    entries = []
    for event in events:
        detail = json.loads(event.detail or "{}")
        kept = personal.get(event.seq)
        private = json.loads(kept.personal) if kept is not None and kept.personal else {}
        traced = ({(d.get("bpmn_id"), d.get("decision")): d for d in private.get("decisions", [])}
                  if isinstance(private, dict) else {})
        decisions = [Decision(d["decision"], d["bpmn_id"], traced.get((d["bpmn_id"], d["decision"]), {}).get("value"),
                              traced.get((d["bpmn_id"], d["decision"]), {}).get("trace"))
                     for d in detail.get("rule_decisions", [])]
        at = clock.as_utc(event.occurred_at)
        entries.append(Entry(
            seq=event.seq, at=at, actor=event.actor, action=event.action,
            label=ACTIONS.get(event.action, event.action), task=detail.get("name"),
            acting=(detail.get("acting") or {}).get("mode"), reason=detail.get("reason"),
            gateways=[{"id": g.get("gateway"), "name": g.get("name") or "", "chosen": g.get("chosen", [])}
                      for g in detail.get("decisions", [])],
            decisions=decisions, opened=[o.get("name", "") for o in detail.get("opened", [])]))
    return entries
