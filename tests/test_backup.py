"""The backup and restore drill (docs/operations.md「バックアップと復元」), every step a real `jichi` process: a
backup taken while cases are open, restored into an empty database; the audit chains verify, the checkpoints
written after the backup show exactly what was lost since, and the open cases go on (a clerk's task, a timer
that fell due) on the restored database."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import AuditEvent, CaseTask
from engine.registry import Registry
from tests.engine_support import environment
from tests.test_engine_cli import JICHI, ROOT

A = "141305"
BEGAN = dt.datetime(2026, 4, 6, 0, 30, tzinfo=dt.UTC)


def run(url: str, tmp_path: Path, *args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JICHI_DATABASE_URL": url, "JICHI_AUDIT_KEY": str(tmp_path / "keys" / "signing.key"),
           "JICHI_AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"), **extra}
    done = subprocess.run([JICHI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    if ok:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def _empty(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    name = server.create(migrated=False)
    request.addfinalizer(lambda: server.drop(name))
    return str(server.url_of(name))


def test_a_backup_restored_into_an_empty_database_verifies_and_its_cases_go_on(
        database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with clock.frozen(BEGAN), environment(database_url, Registry.load(ROOT)) as env:
        cases = []
        for i in range(3):  # 転入届 waiting at 本人確認, each with its 14日経過 timer (督促)
            with env.session() as s:
                cases.append(env.cases.start_case(s, process_id="Process_Tennyu", municipality=A, data={},
                                                  actor="窓口").id)
            env.complete(cases[-1], "受付", {"氏名": f"転入 {i}", "転入日": "2026-04-01", "届出日": "2026-04-06",
                                             "前住所": "東京都千代田区", "世帯員数": 1})
    run(database_url, tmp_path, "audit", "keygen")
    run(database_url, tmp_path, "audit", "checkpoint")
    backup = tmp_path / "backups" / "jichi-20260406.backup"
    taken = json.loads(run(database_url, tmp_path, "db", "backup", "--to", str(backup), "--json").stdout)
    assert backup.is_file() and taken["bytes"] == backup.stat().st_size and len(taken["sha256"]) == 64
    assert taken["audit_heads"][A]["seq"] == 6  # 3 starts and 3 intakes
    again = run(database_url, tmp_path, "db", "backup", "--to", str(backup), ok=False)
    assert again.returncode == 1 and "ENG542" in again.stderr  # never overwrites a backup

    # after the backup, the original goes on: one more step, and a checkpoint that covers it
    with clock.frozen(BEGAN + dt.timedelta(hours=1)), environment(database_url, Registry.load(ROOT)) as env:
        env.complete(cases[0], "本人確認", {"本人確認済": True})
    run(database_url, tmp_path, "audit", "checkpoint")

    target = _empty(database_url, request, tmp_path)
    restored = json.loads(run(target, tmp_path, "db", "restore", "--from", str(backup), "--json").stdout)
    assert restored["sha256"] == taken["sha256"] and restored["audit_heads"] == taken["audit_heads"]
    assert restored["revision"]
    refused = run(target, tmp_path, "db", "restore", "--from", str(backup), ok=False)
    assert refused.returncode == 1 and "ENG541" in refused.stderr  # only into an empty database

    # the restored chains verify by themselves; the later checkpoint proves what the backup does not hold
    assert "結果: 問題なし" in run(target, tmp_path, "audit", "verify").stdout
    compared = run(target, tmp_path, "audit", "verify", "--checkpoint", str(tmp_path / "checkpoints"), "--json",
                   "--municipality", A, ok=False)
    assert compared.returncode == 1
    (finding,) = json.loads(compared.stdout)["findings"]
    assert (finding["code"], finding["municipality"], finding["seq"]) == ("AUD910", A, 7)  # the step after it

    # the open cases continue on the restored database: a clerk's step, and the worker's overdue timers
    task = _ready(target, cases[1])
    done = subprocess.run([JICHI, "task", "complete", task, "--data", "-", "--as", "窓口"], cwd=ROOT,
                          input='{"本人確認済": true}', capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "JICHI_DATABASE_URL": target})
    assert done.returncode == 0, done.stderr
    fired = json.loads(run(target, tmp_path, "worker", "--once", "--json",
                           JICHI_NOW=(BEGAN + dt.timedelta(days=15)).isoformat()).stdout)["moved"]
    # the overdue 督促 of case 0 (its 本人確認 after the backup was not restored) and of case 2; case 1's timer
    # ended with its 本人確認 just now
    assert sorted(fired) == sorted([cases[0], cases[2]])
    assert "結果: 問題なし" in run(target, tmp_path, "audit", "verify").stdout
    actions = _actions(target)
    assert actions[-1:] == ["timer.fired"] and "task.completed" in actions
    shown = json.loads(run(target, tmp_path, "case", "show", cases[1], "--json").stdout)
    assert shown["data"]["本人確認済"] is True


def _ready(url: str, case_id: str) -> str:
    from engine.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return str(c.execute(select(CaseTask.id).where(CaseTask.case_id == case_id,
                                                          CaseTask.state == "ready")).scalar_one())
    finally:
        engine.dispose()


def _actions(url: str) -> list[Any]:
    from engine.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return list(c.execute(select(AuditEvent.action).where(AuditEvent.municipality_code == A)
                                  .order_by(AuditEvent.seq)).scalars())
    finally:
        engine.dispose()

