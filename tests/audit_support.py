"""Helpers for the audit tests: act as an attacker who has the database owner's rights; run a bundle's verifier."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from sqlalchemy import Connection, text


def bypass_protection(connection: Connection) -> None:
    """What an attacker with the owner's rights does first: switch the append-only protection off.

    On SQLite, pysqlite runs DDL and pragmas outside a transaction: the triggers stay dropped.
    """
    if connection.dialect.name == "postgresql":
        for table in ("audit_event", "audit_personal", "audit_head"):
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        connection.execute(text("ALTER TABLE audit_personal DROP CONSTRAINT fk_audit_personal_event"))
    else:
        names = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
        for name in names:
            connection.execute(text(f"DROP TRIGGER {name}"))
        connection.execute(text("PRAGMA foreign_keys = OFF"))


def run_bundle_verifier(bundle: Path, *keys: Path, source: Path | None = None) -> subprocess.CompletedProcess[str]:
    """An evidence bundle's verify.py (from the bundle, or from `source` when the bundle itself is damaged), alone in
    a folder, in an isolated interpreter (-I: no PYTHONPATH, no user site): it cannot import jichi."""
    folder = bundle.parent / "offline"
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(source or bundle) as archive:
        (folder / "verify.py").write_bytes(archive.read("verify.py"))
    args = [sys.executable, "-I", "verify.py", str(bundle)]
    for key in keys:
        args += ["--public-key", str(key)]
    return subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=60, check=False)
