"""`jichi status`: what an operator's monitoring reads — overdue timers (no worker running), waiting, stalled and
failed jobs — with exit 1 when something needs a person."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import version
from typing import Any

import pytest
from click.testing import CliRunner

from engine import clock, jobs, workers
from engine.ops import status
from tests.engine_support import environment
from web.cli import cli

START = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)


def test_status_names_overdue_timers_and_jobs_nobody_runs(database_url: str) -> None:
    with clock.frozen(START) as now, environment(database_url) as env:
        env.start("Process_Timers", {"公開日": "2026-04-03"})
        with env.session() as s:
            assert status(s).problems == [] and status(s).running_cases == 1
        now.advance(hours=1, minutes=10)  # the 1-hour timer is 10 minutes overdue: no worker fired it
        with env.session() as s:
            found = status(s)
            assert found.overdue_timers == 1 and "タイマー" in found.problems[0]
            jobs.enqueue(s, kind="impact", payload={}, municipality=None, actor="t")
            s.commit()
        result = CliRunner().invoke(cli, ["status", "--json"], env={"JICHI_DATABASE_URL": database_url,
                                                                    "JICHI_NOW": clock.now().isoformat()})
        assert result.exit_code == 1
        shown = json.loads(result.output)
        assert (shown["overdue_timers"], shown["queued_jobs"]) == (1, 1) and len(shown["problems"]) == 1
        with env.session() as s:
            env.cases.fire_due_timers(s)
            lease = jobs.claim(s, "w")
            assert lease is not None
            now.advance(minutes=10)
            found = status(s)  # the job's worker died: its lease ran out (another worker will take it over)
            assert found.overdue_timers == 0 and found.stalled_jobs == 1 and found.problems == []
            lease = jobs.claim(s, "w2")
            assert lease is not None
            lease.finish(s, error="ValueError: 規則を読み込めません")
            s.commit()
            found = status(s)
            assert found.failed_jobs_24h == 1 and "失敗したジョブ" in found.problems[0]
        result = CliRunner().invoke(cli, ["status"], env={"JICHI_DATABASE_URL": database_url,
                                                          "JICHI_NOW": clock.now().isoformat()})
        assert result.exit_code == 1 and "失敗したジョブが 1 件" in result.output


def test_status_says_how_the_schema_stands_to_this_release(database_url: str) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from engine.db import alembic_config, head_revision, make_engine

    def run() -> tuple[int, dict[str, object]]:
        result = CliRunner().invoke(cli, ["status", "--json"], env={"JICHI_DATABASE_URL": database_url})
        return result.exit_code, json.loads(result.output)

    def set_revision(revision: str) -> None:
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        engine.dispose()

    code, shown = run()
    assert code == 0 and (shown["schema"], shown["schema_revision"]) == ("ok", head_revision())
    previous = ScriptDirectory.from_config(alembic_config(database_url)).get_revision(head_revision()).down_revision
    set_revision(str(previous))  # as if only an older release's upgrade had run
    code, shown = run()
    assert code == 1 and shown["schema"] == "behind" and any("jichi db upgrade" in p for p in shown["problems"])
    set_revision("f00dfeed0099")  # a newer release upgraded it: this one is being replaced
    code, shown = run()
    assert code == 0 and shown["schema"] == "newer" and shown["problems"] == []
    result = CliRunner().invoke(cli, ["status"], env={"JICHI_DATABASE_URL": database_url})
    assert "リビジョン f00dfeed0099（この版より新しい: 入れ替えの途中）" in result.output


def test_status_measures_this_machines_clock_against_the_database_server(
        postgres_url: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with environment(postgres_url) as env:
        with env.session() as s:
            found = status(s)
        assert found.clock_skew_seconds is not None and abs(found.clock_skew_seconds) < 1 and found.problems == []
        real = clock._system_now
        monkeypatch.setattr(clock, "_system_now", lambda: real() + dt.timedelta(minutes=10))  # this machine runs ahead
        clock.set_clock(None)
        try:
            with env.session() as s:
                found = status(s)
        finally:
            monkeypatch.undo()
            clock.set_clock(None)
        assert found.clock_skew_seconds is not None and -601 < found.clock_skew_seconds < -599
        assert len(found.problems) == 1 and "600.0 秒ずれています" in found.problems[0]
        result = CliRunner().invoke(cli, ["status"], env={"JICHI_DATABASE_URL": postgres_url})
        assert result.exit_code == 0 and "時計: データベースのサーバーとの差 " in result.output
        with clock.frozen(START), env.session() as s:
            assert status(s).clock_skew_seconds is None  # a fixed clock (JICHI_NOW, tests) is not the machine's
    with environment(sqlite_url) as env, env.session() as s:
        assert status(s).clock_skew_seconds is None  # the database is a file of this machine


def test_status_names_the_running_workers_and_one_that_stopped_answering(database_url: str) -> None:
    with clock.frozen(START) as now, environment(database_url) as env:
        with env.session() as s:
            workers.beat(s, "host-a:100:aaaa", "0.2.0", START)
            workers.beat(s, "host-b:200:bbbb", "0.1.0", START)
            found = status(s)
        assert [(w["owner"], w["version"], w["stale"]) for w in found.workers] == [
            ("host-a:100:aaaa", "0.2.0", False), ("host-b:200:bbbb", "0.1.0", False)] and found.problems == []
        now.advance(minutes=4)  # host-a keeps beating; host-b died without a word (SIGKILL, its machine)
        with env.session() as s:
            workers.beat(s, "host-a:100:aaaa", "0.2.0", START)
            found = status(s)
        assert [w["stale"] for w in found.workers] == [False, True]
        assert len(found.problems) == 1 and "worker host-b:200:bbbb（0.1.0）から 4 分応答がありません" in found.problems[0]
        with env.session() as s:
            workers.stopped(s, "host-a:100:aaaa")  # a clean stop takes its row away
            now.advance(hours=1, minutes=1)
            assert workers.forget(s, clock.now()) == 1  # the dead one, later (the housekeeping duty)
            s.commit()
            assert status(s).workers == [] and status(s).problems == []


def test_a_running_worker_says_so_and_a_stopped_one_is_gone(database_url: str) -> None:
    import os
    import signal
    import subprocess
    import time

    from tests.test_engine_cli import JICHI, ROOT

    env = {**os.environ, "JICHI_DATABASE_URL": database_url}
    env.pop("JICHI_NOW", None)
    worker = subprocess.Popen([JICHI, "worker", "--interval", "0.2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        shown: dict[str, object] = {}
        for _ in range(150):
            result = CliRunner().invoke(cli, ["status", "--json"], env={"JICHI_DATABASE_URL": database_url})
            shown = json.loads(result.output)
            if shown["workers"]:
                break
            time.sleep(0.2)
        (running,) = shown["workers"]  # type: ignore[misc]
        assert running["pid"] == worker.pid and running["version"] == version("jichi") and not running["stale"]
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    result = CliRunner().invoke(cli, ["status", "--json"], env={"JICHI_DATABASE_URL": database_url})
    assert json.loads(result.output)["workers"] == []


def test_status_says_when_the_last_backup_was_and_when_it_is_too_old(database_url: str, tmp_path: Any) -> None:
    def jichi(*args: str, **extra: str) -> Any:
        return CliRunner().invoke(cli, list(args), env={"JICHI_DATABASE_URL": database_url, **extra})

    with clock.frozen(START) as now, environment(database_url) as env:
        with env.session() as s:
            found = status(s, backup_age=dt.timedelta(hours=26))
            assert found.last_backup is None and found.problems == ["jichi db backup によるバックアップの記録がありません"]
            assert status(s).problems == []  # not asked: backups made by other means (pg_basebackup) are not seen
        quiet = jichi("status")
        assert quiet.exit_code == 0 and "最後のバックアップ: 記録なし" in quiet.output
        taken = jichi("db", "backup", "--to", str(tmp_path / "first.backup"), "--json", "--as", "運用担当")
        assert taken.exit_code == 0, taken.output
        made = json.loads(taken.output)
        now.advance(hours=25)
        result = jichi("status", "--json", "--backup-age", "26")
        shown = json.loads(result.output)
        assert result.exit_code == 0 and shown["problems"] == []
        assert shown["last_backup"] == {"at": START.isoformat(), "actor": "運用担当", "sha256": made["sha256"],
                                        "bytes": made["bytes"]}
        now.advance(hours=2)
        late = jichi("status", JICHI_BACKUP_MAX_AGE_HOURS="26")  # the same, set once for the monitoring's runs
        assert late.exit_code == 1 and f"最後のバックアップ（{START.isoformat()}）から 26 時間以上たっています" in late.output
        assert jichi("db", "backup", "--to", str(tmp_path / "second.backup")).exit_code == 0
        second = clock.now()
        now.advance(hours=1)
        again = jichi("status", "--backup-age", "26")
        assert again.exit_code == 0 and f"最後のバックアップ: {second.isoformat()}（" in again.output
        refused = jichi("status", "--backup-age", "0.5")
        assert refused.exit_code == 2 and "Traceback" not in refused.output  # under an hour: a usage error


def test_the_last_backup_is_found_by_its_index_not_by_reading_the_deployment_s_chain(database_url: str) -> None:
    """The deployment's chain holds every sign-in of the platform: jichi status and each /metrics scrape must not
    read it back to its last backup (or, when there is none, to its start)."""
    from sqlalchemy import event

    from engine.ops import _LAST_BACKUP

    with environment(database_url) as env, env.session() as s:
        sql = str(_LAST_BACKUP.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if database_url.startswith("sqlite") else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in s.connection().exec_driver_sql(explain + sql))
        assert "ix_audit_event_backed_up" in plan, plan
        seen: list[str] = []
        event.listen(s.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))
        status(s)
        assert any("action = 'db.backed_up'" in q for q in seen)  # what status runs is what was planned above


def test_status_names_a_transaction_left_open_and_whether_it_holds_others_up(postgres_url: str) -> None:
    import threading
    import time

    from sqlalchemy import create_engine, text

    lag = dt.timedelta(seconds=0.3)
    with environment(postgres_url) as env:
        env.start("Process_Deadline")
        with env.session() as s:
            assert status(s, lag=lag).long_transactions == []
        outside = create_engine(postgres_url, connect_args={"application_name": "psql"})  # an operator's session
        with outside.connect() as held:
            held.execute(text("SET idle_in_transaction_session_timeout = '30s'"))  # a failure must not hang
            held.execute(text("SELECT 1 FROM case_instance FOR UPDATE"))
            time.sleep(0.5)
            with env.session() as s:
                found = status(s, lag=lag)
            (tx,) = found.long_transactions
            assert (tx["application"], tx["state"], tx["blocking"]) == ("psql", "idle in transaction", False)
            assert tx["seconds"] >= 0.5 and tx["user"] == outside.url.username
            assert len(found.problems) == 1 and "続いているトランザクションがあります（pid" in found.problems[0]

            def wait_for_the_lock() -> None:  # a request's update behind it
                with outside.connect() as waiting:
                    waiting.execute(text("SET lock_timeout = '20s'"))
                    waiting.execute(text("UPDATE case_instance SET version = version"))
                    waiting.rollback()

            waiter = threading.Thread(target=wait_for_the_lock)
            waiter.start()
            time.sleep(0.6)
            with env.session() as s:
                found = status(s, lag=lag)
            first, second = found.long_transactions  # the oldest first
            assert (first["application"], first["blocking"]) == ("psql", True)
            assert (second["state"], second["blocking"]) == ("active", False)
            assert "ほかのセッションを待たせています" in found.problems[0]
            held.rollback()
        waiter.join(timeout=30)
        outside.dispose()
        with env.session() as s:
            assert status(s, lag=lag).long_transactions == []
