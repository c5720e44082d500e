"""The audit log end to end: encoding, append-only tables, migration, per-municipality locking, keys,
checkpoints (truncation, fork), erasure past 保存年限 and administrative events — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from engine import audit, clock
from engine.audit_chain import DEPLOYMENT, GENESIS, chain, event_hash, field, personal_digest, utc_text
from engine.audit_verify import read_rows, verify
from engine.cases import Cases
from engine.db import head_revision, make_engine, make_session_factory, upgrade
from engine.demo import DEMO_MUNICIPALITIES
from engine.models import AuditEvent, AuditHead, AuditPersonal, CaseInstance
from tests.audit_support import bypass_protection
from tests.engine_support import KAWASAKI, ROOT, Env, environment, fixture_registry
from web.cli import cli

KYOTO = "261009"


# --- the encoding ---------------------------------------------------------------------------------------
VECTOR = {  # docs/audit.md prints the same example; an auditor's own implementation must reproduce it
    "digest": "105de0632b6b127b300a1ab38c2ede6dee134dffd963affd15edca6bf1e7bc5e",
    "hash": "59cc44feb34c8af043bd9ede826713c7a0450bd150272e0013e278f04c590c90",
}


def test_the_v1_encoding_is_frozen_and_documented() -> None:
    assert field("141305").hex() == "00000006313431333035" and field(None).hex() == "ffffffff"
    assert field("窓口A").hex() == "00000007e7aa93e58fa341"
    digest = personal_digest("00" * 32, "{}", '{"氏名":"山田 太郎"}', '{"input":{"部数":2}}')
    assert digest == VECTOR["digest"]
    assert event_hash("141305", 1, GENESIS, "2026-04-01T00:00:00.000000Z", "窓口A", "task.completed",
                      "6f1c3e2a-0000-4000-8000-000000000001", None, '{"name":"受付","status":"running"}',
                      digest) == VECTOR["hash"]
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    assert VECTOR["digest"] in doc and VECTOR["hash"] in doc


# --- the database refuses changes -------------------------------------------------------------------------
def _one_event(engine: Engine) -> None:
    with make_session_factory(engine)() as session:
        audit.admin_event(session, action="config.changed", actor="管理者", detail={"key": "x"},
                          personal={"担当": "山田"})
        session.commit()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = '別人'",
    "DELETE FROM audit_event",
    "UPDATE audit_personal SET personal = '{}'",
    "DELETE FROM audit_head",
    "UPDATE audit_head SET seq = 0",
], ids=["update-event", "delete-event", "update-payload", "delete-head", "head-backwards"])
def test_audit_rows_cannot_be_changed_by_the_application(database_url: str, statement: str) -> None:
    engine = make_engine(database_url)
    try:
        _one_event(engine)
        with engine.connect() as connection, pytest.raises(DBAPIError) as e:
            connection.execute(text(statement))
        assert "AUD940" in str(e.value)
        with engine.connect() as connection:
            assert verify(connection).ok
    finally:
        engine.dispose()


@pytest.mark.parametrize("table", ["audit_event", "audit_personal", "audit_head"])
def test_truncate_is_refused_on_postgres(postgres_url: str, table: str) -> None:
    engine = make_engine(postgres_url)
    try:
        _one_event(engine)
        with engine.connect() as connection, pytest.raises(DBAPIError) as e:
            connection.execute(text(f"TRUNCATE {table} CASCADE"))
        assert "AUD940" in str(e.value)
    finally:
        engine.dispose()


def test_payload_rows_may_be_deleted_for_erasure(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        _one_event(engine)
        with engine.begin() as connection:
            assert connection.execute(text("DELETE FROM audit_personal")).rowcount == 1
        with engine.connect() as connection:  # deleted without an erasure record: verify says so
            (finding,) = verify(connection).findings
        assert (finding.code, finding.municipality, finding.seq) == ("AUD907", DEPLOYMENT, 1)
    finally:
        engine.dispose()


# --- migration of events written before the chain ------------------------------------------------------
def test_upgrade_chains_events_written_by_0002(blank_database_url: str) -> None:
    url = blank_database_url
    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO municipality (code, name) VALUES ('141305', '川崎市')"))
            for i, (code, detail) in enumerate([
                    (KAWASAKI, '{"input":{"部数":2},"status":"running"}'), (KYOTO, '{"status":"running"}'),
                    (KAWASAKI, '{"status":"completed"}')]):
                c.execute(text("INSERT INTO audit_event (occurred_at, municipality_code, actor, action, data_before, "
                               "data_after, detail) VALUES (:at, :m, '窓口A', 'task.completed', '{}', :after, :d)"),
                          {"at": dt.datetime(2026, 4, 1, 0, 0, i, 123456, tzinfo=dt.UTC), "m": code, "d": detail,
                           "after": '{"部数":2}' if i == 0 else "{}"})
        assert upgrade(url, "0003") == "0003"
        with engine.connect() as c:
            report = verify(c)
            rows = list(read_rows(c, KAWASAKI))
            head_rows = c.execute(select(AuditHead.municipality_code, AuditHead.seq)).all()
        assert report.ok
        assert [(r.seq, json.loads(r.detail)) for r in rows] == [(1, {"status": "running"}), (2, {"status": "completed"})]
        assert rows[0].personal == '{"input":{"部数":2}}' and rows[0].data_after == '{"部数":2}'
        assert rows[1].salt is None and rows[1].personal_digest is None
        assert utc_text(rows[0].occurred_at) == "2026-04-01T00:00:00.123456Z"
        assert sorted(head_rows) == [(DEPLOYMENT, 0), (KAWASAKI, 2), (KYOTO, 1)]
    finally:
        engine.dispose()


# --- appends serialize per municipality, not globally ----------------------------------------------------
def test_writers_of_different_municipalities_do_not_wait_for_each_other(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    try:
        for code in (KAWASAKI, KYOTO):  # heads exist, as after registration
            with sessions() as s:
                audit.admin_event(s, action="config.changed", actor="x", municipality=code)
                s.commit()
        with sessions() as holder:
            audit.admin_event(holder, action="config.changed", actor="A", municipality=KAWASAKI)  # not committed
            with sessions() as other:
                other.execute(text("SET lock_timeout = '2s'"))
                audit.admin_event(other, action="config.changed", actor="B", municipality=KYOTO)
                other.commit()  # another municipality: no wait
            with sessions() as same:
                same.execute(text("SET lock_timeout = '300ms'"))
                with pytest.raises(OperationalError) as e:
                    audit.admin_event(same, action="config.changed", actor="C", municipality=KAWASAKI)
                assert "lock" in str(e.value).lower()
            holder.commit()
        with engine.connect() as c:
            report = verify(c)
        assert report.ok and {ch.municipality: ch.events for ch in report.chains} == {DEPLOYMENT: 0, KAWASAKI: 2, KYOTO: 2}
    finally:
        engine.dispose()


# --- the CLI: keys, checkpoints, verify, erase -----------------------------------------------------------
@pytest.fixture
def audited(database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A database with the demo, a signing key and one completed and one running case."""
    key = tmp_path / "keys" / "signing.key"
    with environment(database_url) as env:
        done = env.start("Process_Sashimodoshi", {"件名": "山田 太郎 の備品購入"})
        env.complete(done, "起案", {"起案回数": 1}, actor="担当A")
        env.complete(done, "審査", {"承認": True}, actor="係長B")
        running = env.start("Process_Sashimodoshi", {"件名": "鈴木 花子"})
    # Not inside environment(): these tests tamper with the database, which its closing check would refuse.
    engine = make_engine(database_url)
    try:
        yield {"url": database_url, "key": key, "out": tmp_path / "checkpoints", "done": done, "running": running,
               "env": Env(engine, make_session_factory(engine), Cases(fixture_registry()))}
    finally:
        engine.dispose()


def jichi(state: dict[str, Any], *args: str) -> Result:
    env = {"JICHI_DATABASE_URL": state["url"], "JICHI_AUDIT_KEY": str(state["key"]),
           "JICHI_AUDIT_CHECKPOINT_DIR": str(state["out"])}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def actions(state: dict[str, Any], code: str = DEPLOYMENT) -> list[str]:
    env: Env = state["env"]
    with env.session() as s:
        return list(s.scalars(select(AuditEvent.action).where(AuditEvent.municipality_code == code)
                              .order_by(AuditEvent.seq)))


def test_keygen_checkpoint_and_verify(audited: dict[str, Any]) -> None:
    result = jichi(audited, "audit", "keygen", "--as", "情報政策課")
    assert result.exit_code == 0, result.output
    key: Path = audited["key"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (key.parent / "signing.key.pub").exists()
    again = jichi(audited, "audit", "keygen")
    assert again.exit_code == 1 and "AUD920" in again.output

    result = jichi(audited, "audit", "checkpoint", "--json")
    assert result.exit_code == 0, result.output
    written = {c["municipality"]: c for c in json.loads(result.output)}
    assert written[KAWASAKI]["seq"] == 4 and Path(written[KAWASAKI]["file"]).is_file()
    assert actions(audited)[-2:] == ["audit.key_created", "audit.checkpoint_exported"]

    result = jichi(audited, "audit", "verify", "--checkpoint", str(audited["out"]))
    assert result.exit_code == 0, result.output
    assert "結果: 問題なし" in result.output and "チェックポイント 1 件と一致" in result.output
    shown = json.loads(jichi(audited, "audit", "verify", "--json", "--municipality", KAWASAKI).output)
    assert shown == {"ok": True, "findings": [], "chains": [
        {"municipality": KAWASAKI, "events": 4, "head_hash": written[KAWASAKI]["head_hash"], "checkpoints_matched": 0}]}


def _cut_tail(engine: Engine, code: str, keep: int) -> None:
    """An attacker deletes the newest events and moves the head back, so the chain alone looks whole."""
    with engine.connect() as c:
        bypass_protection(c)
        c.execute(text("DELETE FROM audit_personal WHERE municipality_code = :c AND seq > :k"), {"c": code, "k": keep})
        c.execute(text("DELETE FROM audit_event WHERE municipality_code = :c AND seq > :k"), {"c": code, "k": keep})
        head = c.execute(text("SELECT hash FROM audit_event WHERE municipality_code = :c AND seq = :k"),
                         {"c": code, "k": keep}).scalar_one()
        c.execute(text("UPDATE audit_head SET seq = :k, head_hash = :h WHERE municipality_code = :c"),
                  {"c": code, "k": keep, "h": head})
        c.commit()


def test_truncation_after_a_checkpoint_is_detected(audited: dict[str, Any]) -> None:
    assert jichi(audited, "audit", "keygen").exit_code == 0
    assert jichi(audited, "audit", "checkpoint").exit_code == 0
    _cut_tail(audited["env"].engine, KAWASAKI, 2)
    alone = jichi(audited, "audit", "verify")
    assert alone.exit_code == 0  # the chain by itself cannot tell: that is what checkpoints are for
    result = jichi(audited, "audit", "verify", "--checkpoint", str(audited["out"]), "--json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.output)["findings"]
    assert (finding["code"], finding["municipality"], finding["seq"]) == ("AUD910", KAWASAKI, 3)
    assert "切り詰め" in finding["message"]
    refused = jichi(audited, "audit", "checkpoint")  # and no new checkpoint blesses the shorter chain
    assert refused.exit_code == 1 and "AUD914" in refused.output and "AUD910" in refused.output


def test_a_rewritten_chain_is_a_fork_of_the_checkpoint(audited: dict[str, Any]) -> None:
    assert jichi(audited, "audit", "keygen").exit_code == 0
    assert jichi(audited, "audit", "checkpoint").exit_code == 0
    engine: Engine = audited["env"].engine
    with engine.connect() as c:  # change who completed 起案, then recompute every hash and the head
        rows = list(read_rows(c, KAWASAKI))
        forged = chain([r._replace(actor="担当Z") if r.seq == 2 else r for r in rows])
        bypass_protection(c)
        for r in forged:
            c.execute(text("UPDATE audit_event SET actor = :a, prev_hash = :p, hash = :h "
                           "WHERE municipality_code = :c AND seq = :s"),
                      {"a": r.actor, "p": r.prev_hash, "h": r.hash, "c": KAWASAKI, "s": r.seq})
        c.execute(text("UPDATE audit_head SET head_hash = :h WHERE municipality_code = :c"),
                  {"h": forged[-1].hash, "c": KAWASAKI})
        c.commit()
    assert jichi(audited, "audit", "verify").exit_code == 0
    result = jichi(audited, "audit", "verify", "--checkpoint", str(audited["out"]))
    assert result.exit_code == 1
    assert f"監査ログ {KAWASAKI}:4: AUD911" in result.output and "分岐" in result.output


def test_a_forged_or_unsigned_checkpoint_is_not_trusted(audited: dict[str, Any], tmp_path: Path) -> None:
    assert jichi(audited, "audit", "keygen").exit_code == 0
    assert jichi(audited, "audit", "checkpoint").exit_code == 0
    (file,) = (audited["out"] / KAWASAKI).glob("*.json")
    data = json.loads(file.read_text(encoding="utf-8"))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**data, "seq": 2}), encoding="utf-8")
    result = jichi(audited, "audit", "verify", "--checkpoint", str(forged))
    assert result.exit_code == 1 and "AUD912" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    result = jichi(audited, "audit", "verify", "--checkpoint", str(broken))
    assert result.exit_code == 1 and "AUD913" in result.output


def test_signing_key_readable_by_others_is_refused(audited: dict[str, Any]) -> None:
    assert jichi(audited, "audit", "keygen").exit_code == 0
    audited["key"].chmod(0o644)
    result = jichi(audited, "audit", "checkpoint")
    assert result.exit_code == 1 and "AUD922" in result.output
    missing = jichi({**audited, "key": audited["key"].parent / "none.key"}, "audit", "checkpoint")
    assert missing.exit_code == 1 and "AUD921" in missing.output


def test_the_worker_writes_checkpoints_on_a_schedule_only_when_chains_moved(audited: dict[str, Any]) -> None:
    assert jichi(audited, "audit", "keygen").exit_code == 0
    args = ("worker", "--once", "--checkpoint-every", "60")
    first = jichi(audited, *args)
    assert first.exit_code == 0 and "チェックポイント" in first.output, first.output
    files = sorted(audited["out"].rglob("*.json"))
    assert {f.parent.name for f in files} == {DEPLOYMENT, KAWASAKI}
    audited["env"].complete(audited["running"], "起案", {"起案回数": 1})
    same_hour = jichi(audited, *args)  # another worker in the same interval: the turn was taken (engine.periodic)
    assert same_hour.exit_code == 0 and sorted(audited["out"].rglob("*.json")) == files
    with clock.frozen(clock.now() + dt.timedelta(minutes=61)) as now:
        assert jichi(audited, *args).exit_code == 0
        assert len(sorted(audited["out"].rglob("*.json"))) == len(files) + 2  # 141305 and the deployment chain
        now.advance(minutes=61)
        idle = jichi(audited, *args)  # nothing happened since, except the export's own event
        assert idle.exit_code == 0 and len(sorted(audited["out"].rglob("*.json"))) == len(files) + 2


def test_erasing_a_completed_case_keeps_the_chain_verifying(audited: dict[str, Any]) -> None:
    done, env = audited["done"], audited["env"]
    with env.session() as s:
        before = s.scalars(select(AuditPersonal.seq).where(AuditPersonal.municipality_code == KAWASAKI)).all()
    result = jichi(audited, "audit", "erase", "--case", done, "--as", "文書管理担当")
    assert result.exit_code == 0, result.output
    with env.session() as s:
        left = s.scalars(select(AuditPersonal.seq).where(AuditPersonal.municipality_code == KAWASAKI)).all()
        case = s.get(CaseInstance, done)
        erased = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.erased")).one()
    assert sorted(before) == [1, 2, 3, 4] and left == [4]  # only the running case's start keeps its data
    assert case is not None and case.status == "erased" and "山田" not in case.state
    assert json.loads(erased.detail)["erased"] == [1, 2, 3] and erased.actor == "文書管理担当"
    assert erased.case_id == done and erased.seq == 5
    result = jichi(audited, "audit", "verify", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["ok"] is True
    shown = jichi(audited, "case", "show", done)
    assert shown.exit_code == 1 and "ENG517" in shown.output


@pytest.mark.parametrize(("which", "code"), [("running", "AUD931"), ("unknown", "AUD930"), ("twice", "AUD932")])
def test_erasure_is_refused_when_it_may_not_happen(audited: dict[str, Any], which: str, code: str) -> None:
    case_id = {"running": audited["running"], "unknown": "00000000-0000-0000-0000-000000000000",
               "twice": audited["done"]}[which]
    if which == "twice":
        assert jichi(audited, "audit", "erase", "--case", case_id).exit_code == 0
    result = jichi(audited, "audit", "erase", "--case", case_id, "--json")
    assert result.exit_code == 1 and json.loads(result.output)["diagnostics"][0]["code"] == code


def test_erasure_by_retention_date(audited: dict[str, Any]) -> None:
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    dry = jichi(audited, "audit", "erase", "--municipality", KAWASAKI, "--completed-before", tomorrow, "--dry-run",
                "--json")
    assert json.loads(dry.output) == {"dry_run": True, "cases": [audited["done"]]}
    assert "case.erased" not in actions(audited, KAWASAKI)
    past = jichi(audited, "audit", "erase", "--municipality", KAWASAKI, "--completed-before", "2020-01-01")
    assert past.exit_code == 0 and "案件 0 件" in past.output
    result = jichi(audited, "audit", "erase", "--municipality", KAWASAKI, "--completed-before", tomorrow)
    assert result.exit_code == 0 and actions(audited, KAWASAKI)[-1] == "case.erased"
    assert jichi(audited, "audit", "verify").exit_code == 0


def test_administrative_actions_are_events(blank_database_url: str, tmp_path: Path) -> None:
    state: dict[str, Any] = {"url": blank_database_url, "key": tmp_path / "k", "out": tmp_path / "o"}
    assert jichi(state, "db", "upgrade", "--as", "運用担当").exit_code == 0
    assert jichi(state, "db", "upgrade").exit_code == 0  # nothing to upgrade: no event
    assert jichi(state, "demo", "load").exit_code == 0
    assert jichi(state, "demo", "load").exit_code == 0  # nothing added: no event
    engine = make_engine(blank_database_url)
    try:
        with engine.connect() as c:
            rows = c.execute(select(AuditEvent.action, AuditEvent.actor, AuditEvent.detail)
                             .where(AuditEvent.municipality_code == DEPLOYMENT).order_by(AuditEvent.seq)).all()
            assert verify(c).ok
    finally:
        engine.dispose()
    assert rows[0][:2] == ("db.upgraded", "運用担当")
    assert json.loads(rows[0][2]) == {"from_revision": None, "to_revision": head_revision()}
    assert [r[0] for r in rows[1:]] == ["municipality.registered"] * len(DEMO_MUNICIPALITIES)
    assert [json.loads(r[2]) for r in rows[1:]] == [{"code": c, "name": n} for c, n in DEMO_MUNICIPALITIES]


def test_a_row_appended_past_the_head_is_an_insertion(database_url: str) -> None:
    """The attacker appends a well-formed event but leaves audit_head alone (a writer never does)."""
    engine = make_engine(database_url)
    try:
        _one_event(engine)
        with engine.connect() as c:
            (last,) = list(read_rows(c, DEPLOYMENT))
            bypass_protection(c)
            at = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
            forged = event_hash(DEPLOYMENT, 2, last.hash, "2026-04-01T00:00:00.000000Z", "x", "config.changed",
                                None, None, "{}", None)
            c.execute(text("INSERT INTO audit_event (municipality_code, seq, prev_hash, hash, occurred_at, actor, "
                           "action, detail) VALUES (:m, 2, :p, :h, :at, 'x', 'config.changed', '{}')"),
                      {"m": DEPLOYMENT, "p": last.hash, "h": forged,
                       "at": at if c.dialect.name == "postgresql" else "2026-04-01 00:00:00.000000"})
            c.commit()
        with engine.connect() as c:
            (finding,) = verify(c).findings
        assert (finding.code, finding.municipality, finding.seq) == ("AUD903", DEPLOYMENT, 2)
    finally:
        engine.dispose()
