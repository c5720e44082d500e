"""Backups of the database and their restore into an empty one (docs/operations.md「バックアップと復元」).

- SQLite: SQLite's online backup API — a consistent copy while app servers and the worker keep running (copying
  the file itself is not: the WAL holds recent commits). The backup is itself a SQLite database.
- PostgreSQL: `pg_dump --format=custom` (one consistent snapshot, the server keeps running) and `pg_restore
  --single-transaction` into an empty database (all or nothing). The password travels in PGPASSWORD, never on
  the command line.

A backup reports the audit chains' heads (municipality → last seq and hash) it holds, so that after a restore
`jichi audit verify --checkpoint` tells exactly which events were lost since (the checkpoints written after the
backup are beyond the restored heads: AUD9xx). A restore refuses a database that has any table (ENG541) and
upgrades the restored schema to this release's head, so a backup of an older release restores too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, make_url

from engine.audit_verify import heads
from engine.db import make_engine, upgrade
from standard_core.diagnostics import DiagnosticError, Span, error


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    sha256: str
    heads: dict[str, tuple[int, str]]  # municipality → (last seq, its hash)
    revision: str | None = None


def _fail(code: str, message: str, hint: str) -> DiagnosticError:
    return DiagnosticError([error(code, message, Span("<バックアップ>", 1, 1), hint)])


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise _fail("ENG542", "メモリ上の SQLite はバックアップできません", "ファイルの SQLite か PostgreSQL を使ってください。")
    return Path(database)


def _pg(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq connection arguments and environment for url (the password in PGPASSWORD only)."""
    parsed = make_url(url)
    args = ["--dbname", parsed.database or ""]
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = {**os.environ}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise _fail("ENG542", f"{name} が見つかりません",
                    "PostgreSQL のクライアント（Debian では postgresql-client）をインストールしてください。"
                    "サーバーと同じ版か新しい版が必要です。")
    return found


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["（出力なし）"])[-1][:300]
        raise _fail("ENG542", f"{what}に失敗しました（{detail}）",
                    "接続先（JICHI_DATABASE_URL）、ディスクの空き、ファイルの権限を確かめてください。")


def chain_heads(url: str) -> dict[str, tuple[int, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return heads(connection)
    finally:
        engine.dispose()


def backup(url: str, target: Path) -> Backup:
    """Write a consistent backup of the database at url to target (which must not exist)."""
    if target.exists():
        raise _fail("ENG542", f"{target} はすでにあります", "バックアップは新しいファイル名に書きます（上書きしません）。")
    target.parent.mkdir(parents=True, exist_ok=True)
    held = chain_heads(url)  # read before the copy: the copy holds at least these events
    if make_url(url).get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
            source.close()
    else:
        args, env = _pg(url)
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(target), *args],
             env, "pg_dump によるバックアップ")
    return Backup(target, target.stat().st_size, _digest(target), held)


def restore(url: str, source: Path) -> Backup:
    """Restore the backup at source into the empty database at url, then upgrade its schema to head."""
    if not source.is_file():
        raise _fail("ENG542", f"バックアップ {source} がありません", "jichi db backup で作ったファイルを指定してください。")
    engine = make_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise _fail("ENG541", f"復元先のデータベースが空ではありません（テーブル {len(tables)} 個）",
                    "復元は空のデータベースにだけ行います（PostgreSQL: createdb で新しく作る。SQLite: 新しいファイル名）。"
                    "いまのデータベースを残したまま、新しい方に接続を切り替えてください。")
    if make_url(url).get_backend_name() == "sqlite":
        try:
            backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            backup_db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            raise _fail("ENG542", f"{source} は SQLite のバックアップとして読めません（{e}）",
                        "jichi db backup で SQLite から作ったファイルを指定してください。") from e
        target = sqlite3.connect(_sqlite_path(url))
        try:
            with target:
                backup_db.backup(target)
        finally:
            target.close()
            backup_db.close()
    else:
        args, env = _pg(url)
        _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
              *args, str(source)], env, "pg_restore による復元")
    revision = upgrade(url)
    return Backup(source, source.stat().st_size, _digest(source), chain_heads(url), revision)
