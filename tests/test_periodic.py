"""Periodic duties shared by several workers (engine/periodic.py): one turn per interval, whoever asks, however many
ask at once; `jichi status` shows who took the last one."""

from __future__ import annotations

import datetime as dt
import json
import threading

from click.testing import CliRunner
from sqlalchemy import update

from engine import clock, periodic
from engine.db import make_engine, make_session_factory
from engine.models import PeriodicDuty
from web.cli import cli

START = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def test_one_turn_per_interval(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        with clock.frozen(START) as now, sessions() as s:
            assert periodic.take_turn(s, periodic.PRUNE, HOUR, "worker-a")
            assert not periodic.take_turn(s, periodic.PRUNE, HOUR, "worker-b")  # same interval: taken
            assert periodic.take_turn(s, periodic.CHECKPOINT, HOUR, "worker-b")  # another duty: its own turns
            now.advance(minutes=59)
            assert not periodic.take_turn(s, periodic.PRUNE, HOUR, "worker-b")
            now.advance(minutes=1)
            assert periodic.take_turn(s, periodic.PRUNE, HOUR, "worker-b")
            shown = {d.name: d for d in periodic.duties(s)}
            assert (shown[periodic.PRUNE].last_by, shown[periodic.PRUNE].last_at) == ("worker-b", START + HOUR)
            assert shown[periodic.PRUNE].next_at == START + 2 * HOUR
            assert shown[periodic.CHECKPOINT].label == "監査ログのチェックポイント"
    finally:
        engine.dispose()


def test_workers_asking_at_once_get_one_turn(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    workers = 6
    barrier = threading.Barrier(workers)
    won: list[str] = []
    errors: list[BaseException] = []

    def ask(owner: str) -> None:
        try:
            with sessions() as s:
                barrier.wait(timeout=30)
                if periodic.take_turn(s, periodic.CHECKPOINT, HOUR, owner, now=START):
                    won.append(owner)
        except BaseException as e:  # reported below: a failed thread must fail the test
            errors.append(e)

    try:
        for _ in range(3):  # three intervals, each raced by every worker
            threads = [threading.Thread(target=ask, args=(f"w{i}",)) for i in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            assert len(won) == 1, won
            won.clear()
            with sessions() as s:  # the next interval comes due
                s.execute(update(PeriodicDuty).values(next_at=START))
                s.commit()
    finally:
        engine.dispose()


def test_status_shows_the_last_turn(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with clock.frozen(START), make_session_factory(engine)() as s:
            assert periodic.take_turn(s, periodic.PRUNE, HOUR, "host:1234:abcd")
    finally:
        engine.dispose()
    env = {"JICHI_DATABASE_URL": database_url, "JICHI_NOW": (START + dt.timedelta(minutes=5)).isoformat()}
    shown = json.loads(CliRunner().invoke(cli, ["status", "--json"], env=env).output)
    assert shown["duties"] == [{"name": periodic.PRUNE, "label": "古い記録の削除", "last_by": "host:1234:abcd",
                                "last_at": START.isoformat(), "next_at": (START + HOUR).isoformat()}]
    text = CliRunner().invoke(cli, ["status"], env=env).output
    assert "定期の仕事「古い記録の削除」: 最後 2026-04-01T00:00:00+00:00（host:1234:abcd）" in text
