"""Background jobs with leases (engine/jobs.py): claimed by exactly one worker, taken over when their worker dies,
fenced so a worker that lost its lease writes nothing; the studio's impact analysis runs as such a job."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock, jobs
from engine.db import make_engine, make_session_factory
from engine.models import ImpactRun, Job
from engine.registry import Registry
from tests.engine_support import copy_core, environment, take_shokan

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC)


def _queue(sessions: Any, n: int, kind: str = "test") -> list[int]:
    with sessions() as s:
        ids = [jobs.enqueue(s, kind=kind, payload={"n": i}, municipality=None, actor="t").id for i in range(n)]
        s.commit()
    return ids


def test_concurrent_workers_claim_each_job_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    ran: list[int] = []
    lock = threading.Lock()

    def handler(sessions: Any, root: Path, lease: jobs.Lease) -> None:
        with lock:
            ran.append(lease.payload["n"])
        with sessions() as s:
            lease.finish(s)
            s.commit()

    monkeypatch.setattr(jobs, "handlers", lambda: {"test": handler})
    try:
        _queue(sessions, 40)
        # four workers at once on PostgreSQL (FOR UPDATE SKIP LOCKED); SQLite allows one worker
        contenders = 4 if engine.dialect.name == "postgresql" else 1

        def worker() -> None:
            owner = jobs.owner_name()
            while jobs.run_next(sessions, ROOT, owner) is not None:
                pass

        threads = [threading.Thread(target=worker) for _ in range(contenders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(ran) == list(range(40))  # every job once, none twice
        with sessions() as s:
            assert set(s.scalars(select(Job.status))) == {"done"} and set(s.scalars(select(Job.attempts))) == {1}
    finally:
        engine.dispose()


def test_a_job_whose_worker_was_killed_is_taken_over_and_the_dead_lease_writes_nothing(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with clock.frozen(DAY) as now:
        (job_id,) = _queue(sessions, 1)
        pid = os.fork()
        if pid == 0:  # a worker that claims the job, reports progress, and dies with SIGKILL mid-way
            engine.dispose(close=False)

            def dies(sessions: Any, root: Path, lease: jobs.Lease) -> None:
                with sessions() as s:
                    lease.renew(s)
                    s.commit()
                os.kill(os.getpid(), signal.SIGKILL)

            monkeypatch.setattr(jobs, "handlers", lambda: {"test": dies})
            try:
                jobs.run_next(sessions, ROOT, "dead-worker")
            finally:
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        with sessions() as s:
            job = s.get(Job, job_id)
            assert job is not None and (job.status, job.lease_owner, job.attempts) == ("running", "dead-worker", 1)
        finished: list[str] = []

        def handler(sessions: Any, root: Path, lease: jobs.Lease) -> None:
            with sessions() as s:
                lease.finish(s)
                s.commit()
            finished.append(lease.owner)

        monkeypatch.setattr(jobs, "handlers", lambda: {"test": handler})
        assert jobs.run_next(sessions, ROOT, "second") is None  # the lease has not run out yet
        now.advance(seconds=jobs.LEASE.total_seconds() + 1)
        taken = jobs.run_next(sessions, ROOT, "second")
        assert taken is not None and taken.attempts == 2 and finished == ["second"]
        dead = jobs.Lease(job_id, "dead-worker", "test", None, {}, 1)
        with sessions() as s:  # the dead worker's lease is fenced out: it can neither renew nor finish
            with pytest.raises(jobs.LeaseLost):
                dead.renew(s)
            with pytest.raises(jobs.LeaseLost):
                dead.finish(s)
        with sessions() as s:
            job = s.get(Job, job_id)
            assert job is not None and (job.status, job.lease_owner) == ("done", "second")
    engine.dispose()


def test_a_job_that_keeps_killing_its_workers_is_failed_after_three_attempts(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with clock.frozen(DAY) as now:
        (job_id,) = _queue(sessions, 1)
        for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
            with sessions() as s:
                lease = jobs.claim(s, f"worker-{attempt}")
            assert lease is not None and lease.attempts == attempt  # claimed, then its worker "dies"
            now.advance(seconds=jobs.LEASE.total_seconds() + 1)
        with sessions() as s:
            assert jobs.claim(s, "worker-4") is None
            job = s.get(Job, job_id)
            assert job is not None and job.status == "failed" and "3 回" in (job.error or "")
    engine.dispose()


def test_the_studio_s_impact_analysis_runs_as_a_job(database_url: str, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    copy_core(root)
    shutil.copytree(ROOT / "local_rules" / "141305-kawasaki", root / "local_rules" / "141305-kawasaki")
    with clock.frozen(DAY), environment(database_url, Registry.load(root)) as env:
        with env.session() as s:
            above = take_shokan(env.cases, s, 1260)
            take_shokan(env.cases, s, 300)
        rules = root / "local_rules" / "141305-kawasaki" / "rules" / "kodomo_iryohi.rules"
        rules.write_text(rules.read_text(encoding="utf-8").replace("2026-08-31 まで 500円", "2026-08-31 まで 400円"),
                         encoding="utf-8")
        with env.session() as s:  # what the studio's 影響分析 button does: the run's row and its job, one commit
            run = ImpactRun(municipality_code="141305", status="queued", cases_total=0, cases_done=0, decisions=0,
                            changed=0, skipped=0, started_at=clock.now(), started_by="bunseki")
            s.add(run)
            s.flush()
            jobs.enqueue(s, kind="impact", municipality="141305", actor="bunseki",
                         payload={"run_id": run.id, "rules": "disk", "closed_from": None, "closed_to": None})
            s.commit()
            run_id = run.id
        ran = jobs.run_next(env.sessions, root, "worker")
        assert ran is not None and ran.kind == "impact"
        with env.session() as s:
            done = s.get(ImpactRun, run_id)
            job = s.get(Job, ran.job_id)
            assert done is not None and job is not None
            assert (done.status, done.cases_total, done.changed, job.status) == ("done", 2, 1, "done")
            assert above in (done.result_csv or "") and "通院一部負担上限" in (done.result_csv or "")
