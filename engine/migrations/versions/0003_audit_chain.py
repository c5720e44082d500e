"""tamper-evident audit log: per-municipality hash chains, erasable personal payloads, append-only triggers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Existing events (0002 had no chain) are moved into the new table in their id order, chained per
municipality with the frozen v1 encoding (engine/audit_chain.py); the form input that 0002 kept in
`detail.input` moves to the erasable personal payload with the case data before and after.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.audit_chain import DEPLOYMENT, EMPTY_JSON, GENESIS, EventRow, chain, has_personal, new_salt

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSED = "AUD940 監査ログは追記のみです。記録済みの行は変更・削除できません"
HEAD_BACKWARDS = "AUD940 監査ログの先頭（audit_head）は進めることしかできません"

# SQLite: RAISE(ABORT) undoes the statement; the application's transaction sees an IntegrityError.
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
    f"CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
    f"CREATE TRIGGER audit_personal_no_update BEFORE UPDATE ON audit_personal "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
    f"CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
    f"CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head "
    f"WHEN NEW.seq < OLD.seq OR NEW.municipality_code <> OLD.municipality_code "
    f"BEGIN SELECT RAISE(ABORT, '{HEAD_BACKWARDS}'); END",
)

# PostgreSQL: row triggers do not fire on TRUNCATE, so statement triggers refuse it too. DELETE on
# audit_personal stays allowed: that is the erasure past 保存年限, itself recorded as an audit event.
POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION jichi_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSED}（% %）', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END $$""",
    f"""CREATE FUNCTION jichi_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seq < OLD.seq OR NEW.municipality_code <> OLD.municipality_code THEN
            RAISE EXCEPTION '{HEAD_BACKWARDS}' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION jichi_audit_refuse()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION jichi_audit_refuse()",
    "CREATE TRIGGER audit_personal_no_update BEFORE UPDATE ON audit_personal "
    "FOR EACH ROW EXECUTE FUNCTION jichi_audit_refuse()",
    "CREATE TRIGGER audit_personal_no_truncate BEFORE TRUNCATE ON audit_personal "
    "FOR EACH STATEMENT EXECUTE FUNCTION jichi_audit_refuse()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION jichi_audit_refuse()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION jichi_audit_refuse()",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION jichi_audit_head_forward()",
)


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_scope")
        batch_op.drop_index("ix_audit_event_case")
        batch_op.drop_index("ix_audit_event_actor")
    op.rename_table("audit_event", "audit_event_0002")
    if op.get_bind().dialect.name == "postgresql":  # constraint names are schema-wide there
        op.execute("ALTER TABLE audit_event_0002 RENAME CONSTRAINT pk_audit_event TO pk_audit_event_0002")

    op.create_table(
        "audit_event",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("personal_digest", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "seq", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_actor", ["actor", "occurred_at"], unique=False)
        batch_op.create_index("ix_audit_event_case", ["case_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_audit_event_scope", ["municipality_code", "occurred_at"], unique=False)
    op.create_table(
        "audit_head",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_personal",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("data_before", sa.Text(), nullable=False),
        sa.Column("data_after", sa.Text(), nullable=False),
        sa.Column("personal", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_code", "seq"], ["audit_event.municipality_code", "audit_event.seq"],
                                name="fk_audit_personal_event"),
        sa.PrimaryKeyConstraint("municipality_code", "seq", name=op.f("pk_audit_personal")),
    )

    _chain_existing_events(op.get_bind())
    op.drop_table("audit_event_0002")
    for statement in POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def _chain_existing_events(connection: sa.Connection) -> None:
    """Move 0002's events into their municipalities' chains (id order = the order they were written)."""
    old = sa.table("audit_event_0002", sa.column("occurred_at", sa.DateTime(timezone=True)), *(sa.column(n) for n in (
        "id", "municipality_code", "actor", "action", "case_id", "task_id", "data_before", "data_after", "detail")))
    by_code: dict[str, list[EventRow]] = {}
    for r in connection.execute(sa.select(old).order_by(old.c.id)).mappings():
        detail = json.loads(r["detail"] or EMPTY_JSON)
        personal = json.dumps({"input": detail.pop("input")}, ensure_ascii=False, sort_keys=True,
                              separators=(",", ":")) if "input" in detail else EMPTY_JSON
        detail_text = json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        before, after = r["data_before"] or EMPTY_JSON, r["data_after"] or EMPTY_JSON
        salt = new_salt() if has_personal(before, after, personal) else None
        occurred_at = r["occurred_at"]
        by_code.setdefault(r["municipality_code"], []).append(EventRow(
            r["municipality_code"], 0, GENESIS, "", occurred_at, r["actor"], r["action"], r["case_id"],
            r["task_id"], detail_text, None, salt, before, after, personal))
    events = sa.table("audit_event", sa.column("occurred_at", sa.DateTime(timezone=True)), *(sa.column(n) for n in (
        "municipality_code", "seq", "prev_hash", "hash", "actor", "action", "case_id", "task_id", "detail",
        "personal_digest")))
    personal_table = sa.table("audit_personal", *(sa.column(n) for n in (
        "municipality_code", "seq", "salt", "data_before", "data_after", "personal")))
    heads = sa.table("audit_head", sa.column("municipality_code"), sa.column("seq"), sa.column("head_hash"))
    codes = {DEPLOYMENT, *connection.execute(sa.text("SELECT code FROM municipality")).scalars()}
    for code in sorted(codes | set(by_code)):
        rows = chain(by_code.get(code, []))
        if rows:
            connection.execute(sa.insert(events), [{n: getattr(r, n) for n in (
                "municipality_code", "seq", "prev_hash", "hash", "occurred_at", "actor", "action", "case_id",
                "task_id", "detail", "personal_digest")} for r in rows])
            payloads = [{"municipality_code": r.municipality_code, "seq": r.seq, "salt": r.salt,
                         "data_before": r.data_before, "data_after": r.data_after, "personal": r.personal}
                        for r in rows if r.salt is not None]
            if payloads:
                connection.execute(sa.insert(personal_table), payloads)
        connection.execute(sa.insert(heads), {"municipality_code": code, "seq": len(rows),
                                              "head_hash": rows[-1].hash if rows else GENESIS})


def downgrade() -> None:
    # Going back would throw away the chain and with it every proof; an operator who really must
    # restores the database backup taken before the upgrade instead.
    raise NotImplementedError("0003 の改ざん検知つき監査ログは downgrade できません。upgrade 前のバックアップから戻してください。")
