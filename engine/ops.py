"""What an operator monitors (`jichi status`, docs/operations.md「監視」): is a worker keeping up with the timers
and the jobs, did jobs fail, how far the audit chains reach. One read-only query each."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine import clock, periodic, workers
from engine.audit_chain import DEPLOYMENT
from engine.db import SCHEMA_BEHIND, SCHEMA_BEHIND_HINT, schema_state, stored_revision
from engine.models import BACKED_UP, AuditEvent, AuditHead, CaseInstance, CaseTask, Job


@dataclass(frozen=True)
class Status:
    running_cases: int
    overdue_timers: int  # due longer ago than the allowed lag: no worker is firing them
    oldest_overdue_timer: str | None
    queued_jobs: int
    oldest_queued_job: str | None
    stalled_jobs: int  # running under a lease that ran out: their worker died; another worker will take them
    failed_jobs_24h: int
    audit_chains: int
    audit_events: int
    problems: list[str]
    duties: list[dict[str, Any]] = field(default_factory=list)  # the workers' periodic duties: who last, when, next
    schema: str = "ok"  # engine.db.schema_state: ok | behind (jichi db upgrade) | newer (a newer release upgraded it)
    schema_revision: str | None = None
    # this machine's clock against the database server's, in seconds (the server's minus this one's); None on SQLite
    # (no server) and when the clock is not the machine's (JICHI_NOW)
    clock_skew_seconds: float | None = None
    # the running `jichi worker` processes (engine.workers): owner, host, pid, version, started_at, seen_at, stale
    workers: list[dict[str, Any]] = field(default_factory=list)
    # the newest `jichi db backup` of this database (its audit event db.backed_up): at, actor, sha256, bytes; None
    # if none was taken (a backup made by other means, such as pg_basebackup, is not seen)
    last_backup: dict[str, Any] | None = None
    # PostgreSQL: other sessions' transactions open longer than the lag (engine.ops.long_transactions), oldest first
    long_transactions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return clock.as_utc(value).isoformat()


# Every machine of the platform must keep the same time (NTP): due timers, job leases, sessions and the audit log's
# times are read from each machine's clock. A second is far beyond what NTP allows and far below what breaks a lease.
MAX_CLOCK_SKEW = dt.timedelta(seconds=1)


def clock_skew(session: Session) -> float | None:
    """Seconds the database server's clock is ahead of this machine's (negative: behind), taken at the midpoint of
    one round trip; None on SQLite (the database is a file of this machine) or when the clock is not the machine's."""
    if not clock.is_system() or session.connection().dialect.name != "postgresql":
        return None
    sent = clock.now()
    server: dt.datetime | None = session.scalar(select(func.clock_timestamp()))
    answered = clock.now()
    assert server is not None
    return round(float((server - (sent + (answered - sent) / 2)).total_seconds()), 3)


# Other sessions of this database whose transaction has been open longer than :age seconds, by the server's clock:
# a forgotten psql session holding row locks makes every request behind them fail after the app server's
# lock_timeout (ENG540), and keeps VACUUM from cleaning up. pg_dump's long snapshot (jichi db backup) is expected.
_LONG_TRANSACTIONS = text(
    "SELECT a.pid, a.usename, a.application_name, a.client_addr::text AS client, a.state, "
    "extract(epoch FROM now() - a.xact_start) AS seconds, "
    "EXISTS (SELECT 1 FROM pg_stat_activity w WHERE a.pid = ANY(pg_blocking_pids(w.pid))) AS blocking "
    "FROM pg_stat_activity a WHERE a.datname = current_database() AND a.backend_type = 'client backend' "
    "AND a.pid <> pg_backend_pid() AND a.xact_start < now() - make_interval(secs => :age) "
    "AND a.application_name NOT IN ('pg_dump', 'pg_restore') ORDER BY a.xact_start")


def long_transactions(session: Session, age: dt.timedelta) -> list[dict[str, Any]]:
    """PostgreSQL: the other sessions' transactions open longer than `age` (pid, user, application, client, state,
    seconds, whether it blocks someone); [] on SQLite (a writer there is this machine's process, and the
    app's busy timeout waits for it)."""
    if session.connection().dialect.name != "postgresql":
        return []
    return [{"pid": r.pid, "user": r.usename, "application": r.application_name or None, "client": r.client,
             "state": r.state, "seconds": round(float(r.seconds), 1), "blocking": bool(r.blocking)}
            for r in session.execute(_LONG_TRANSACTIONS, {"age": age.total_seconds()})]


# The condition as the partial index ix_audit_event_backed_up states it, literally: so both databases use the index.
_LAST_BACKUP = (select(AuditEvent.occurred_at, AuditEvent.actor, AuditEvent.detail)
                .where(AuditEvent.municipality_code == DEPLOYMENT, text(BACKED_UP))
                .order_by(AuditEvent.seq.desc()).limit(1))


def _last_backup(session: Session) -> tuple[dt.datetime, dict[str, Any]] | None:
    """The newest `jichi db backup` recorded in this database's audit log (web.cli): its time, and what status
    shows of it; None if there is none."""
    row = session.execute(_LAST_BACKUP).first()
    if row is None:
        return None
    detail = json.loads(row.detail)
    at = clock.as_utc(row.occurred_at)
    return at, {"at": _iso(at), "actor": row.actor, "sha256": detail.get("sha256"), "bytes": detail.get("bytes")}


def status(session: Session, *, lag: dt.timedelta = dt.timedelta(minutes=5),
           backup_age: dt.timedelta | None = None) -> Status:
    """backup_age: a backup (`jichi db backup`) older than this, or none at all, is a problem; None: not checked
    (backups made by other means are not seen)."""
    now = clock.now()
    # First: a schema without the tables read below fails here as ENG543 (web.cli), one behind but with them is
    # reported as a problem.
    revision = stored_revision(session)
    schema = schema_state(revision)
    t, j = CaseTask, Job
    overdue = session.execute(select(func.count(), func.min(t.due_at)).where(
        t.kind == "timer", t.state == "waiting", t.due_at < now - lag)).one()
    queued = session.execute(select(func.count(), func.min(j.created_at)).where(j.status == "queued")).one()
    stalled = session.scalar(select(func.count()).select_from(j).where(j.status == "running", j.lease_until < now))
    failed = session.scalar(select(func.count()).select_from(j).where(
        j.status == "failed", j.finished_at >= now - dt.timedelta(hours=24)))
    running = session.scalar(select(func.count()).select_from(CaseInstance).where(CaseInstance.status == "running"))
    chains = session.execute(select(func.count(), func.coalesce(func.sum(AuditHead.seq), 0))).one()
    skew = clock_skew(session)
    problems = []
    if skew is not None and abs(skew) > MAX_CLOCK_SKEW.total_seconds():
        problems.append(f"この機械の時計がデータベースのサーバーと {abs(skew):.1f} 秒ずれています"
                        "（NTP で時刻を合わせてください。タイマー・ジョブのリース・監査ログの時刻が狂います）")
    if schema == "behind":
        problems.append(f"{SCHEMA_BEHIND}（リビジョン {revision}。{SCHEMA_BEHIND_HINT}）")
    if overdue[0]:
        problems.append(f"期限を {int(lag.total_seconds() // 60)} 分以上過ぎたタイマーが {overdue[0]} 件あります"
                        "（jichi worker が動いていない・追いついていない）")
    oldest_job = clock.as_utc(queued[1]) if queued[1] is not None else None
    if oldest_job is not None and now - oldest_job > lag:
        problems.append(f"{int(lag.total_seconds() // 60)} 分以上待っているジョブがあります（jichi worker が動いていない）")
    if failed:
        problems.append(f"この 24 時間に失敗したジョブが {failed} 件あります")
    duties = [{"name": d.name, "label": d.label, "last_by": d.last_by, "last_at": _iso(d.last_at),
               "next_at": _iso(d.next_at)} for d in periodic.duties(session)]
    running_workers = workers.running(session)
    for w in running_workers:
        if w.stale(now):
            problems.append(f"worker {w.owner}（{w.version}）から {int((now - w.seen_at).total_seconds() // 60)} 分"
                            "応答がありません（止まったか、固まっています。止まったのなら記録は 1〜2 時間で消えます）")
    held = long_transactions(session, lag)
    for tx in held:
        problems.append(f"{_duration(tx['seconds'])}続いているトランザクションがあります（pid {tx['pid']}、"
                        f"{tx['user']}、{tx['application'] or 'アプリ名なし'}、{tx['state']}"
                        + ("。ほかのセッションを待たせています" if tx["blocking"] else "")
                        + "）: 行ロックを持っていると、その後ろの要求は ENG540 になります。psql なら COMMIT か "
                        "ROLLBACK を。止めるなら SELECT pg_terminate_backend(pid)")
    newest = _last_backup(session)
    backup = newest[1] if newest is not None else None
    if backup_age is not None:
        if newest is None:
            problems.append("jichi db backup によるバックアップの記録がありません")
        elif now - newest[0] > backup_age:
            problems.append(f"最後のバックアップ（{newest[1]['at']}）から {_hours(backup_age)} 時間以上たっています"
                            "（jichi db backup が定期的に動いているか確かめてください）")
    found_workers = [{"owner": w.owner, "host": w.host, "pid": w.pid, "version": w.version,
                      "started_at": _iso(w.started_at), "seen_at": _iso(w.seen_at), "stale": w.stale(now)}
                     for w in running_workers]
    return Status(int(running or 0), int(overdue[0]), _iso(overdue[1]), int(queued[0]), _iso(queued[1]),
                  int(stalled or 0), int(failed or 0), int(chains[0]), int(chains[1]), problems, duties,
                  schema, revision, skew, found_workers, backup, held)


def _duration(seconds: float) -> str:
    return f"{int(seconds // 60)} 分" if seconds >= 120 else f"{int(seconds)} 秒"


def _hours(age: dt.timedelta) -> str:
    return f"{age.total_seconds() / 3600:g}"
