"""`jichi status`: what an operator's monitoring reads — overdue timers (no worker running), waiting, stalled and
failed jobs — with exit 1 when something needs a person."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import version

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
