"""Helpers for the audit tests: act as an attacker who has the database owner's rights."""

from __future__ import annotations

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
