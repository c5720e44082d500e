"""Tamper tests: alter any field, delete, reorder or insert one event among 10,000 — found, at the right seq.

The attacker has write access to the database and bypasses the append-only triggers. The chain is built
once through the real append path (`store.insert_events`) and read back as the verifier reads it. The 1,000
random trials run on in-memory copies; since rows before the tampered position are untouched, each trial
starts the verifier from the state a full walk has at a few rows before it (a full walk over the untouched
chain is checked once). A second set of trials tampers the database itself with SQL, triggers dropped,
inside a transaction that is rolled back, and runs the full `verify` — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from engine import audit, store
from engine.audit_chain import EventRow, event_hash, row_hash, utc_text
from engine.audit_verify import ChainState, Finding, heads, read_rows, verify, verify_rows
from engine.db import make_engine, make_session_factory, upgrade
from tests.audit_support import bypass_protection

N = 10_000
TRIALS = 1_000
CODE = "141305"
SEED = int(os.environ.get("JICHI_TAMPER_SEED", "20261128"))
START = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)


def build_chain(engine: Engine, n: int = N) -> None:
    """n events of one municipality, appended in batches through the engine's own path."""
    rng = random.Random(7)
    sessions = make_session_factory(engine)
    cases = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n // 5)]
    done = 0
    while done < n:
        batch = []
        for i in range(done, min(done + 1000, n)):
            case = cases[i % len(cases)]
            if i % 7 == 3:  # an administrative event: no case, no personal data
                batch.append(audit.event(municipality=CODE, actor="system:worker", action="config.changed",
                                         detail={"key": f"k{i}"}, at=START + dt.timedelta(seconds=i)))
                continue
            batch.append(audit.event(
                municipality=CODE, actor=f"窓口{i % 13}", action="task.completed", case_id=case,
                task_id=str(uuid.UUID(int=rng.getrandbits(128))) if i % 2 else None,
                before={"住所": f"川崎市中原区{i}"}, after={"住所": f"川崎市高津区{i}"}, personal={"input": {"部数": i % 5}},
                detail={"bpmn_id": "Task_Uketsuke", "name": "受付", "status": "running"},
                at=START + dt.timedelta(seconds=i, microseconds=i)))
        with sessions() as session:
            store.insert_events(session, batch)
            session.commit()
        done += len(batch)


@pytest.fixture(scope="module")
def sqlite_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('tamper') / 'chain.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    build_chain(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def chain_rows(sqlite_chain: Engine) -> tuple[list[EventRow], tuple[int, str]]:
    with sqlite_chain.connect() as connection:
        return list(read_rows(connection, CODE)), heads(connection)[CODE]


# --- tampering in memory ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tamper:
    name: str
    rows: list[EventRow]  # the municipality's rows as the verifier would read them (sorted by seq)
    head: tuple[int, str]
    first: int  # lowest position the tampering touched: the verifier may start just before it
    expected: int  # the seq the first finding must name
    codes: frozenset[str]  # acceptable codes for the first finding


EVENT_FIELDS = ("municipality_code", "seq", "prev_hash", "hash", "occurred_at", "actor", "action", "case_id",
                "task_id", "detail", "personal_digest")
PAYLOAD_FIELDS = ("salt", "data_before", "data_after", "personal")


def _changed(row: EventRow, name: str, rng: random.Random) -> object:
    value = getattr(row, name)
    if name == "seq":
        return rng.choice([v for v in (rng.randint(1, N), value + 1, value - 1, value + N) if v != value])
    if name == "municipality_code":
        return "261009"
    if name == "occurred_at":  # SQLite's stored text, as the verifier reads it
        moved = dt.datetime.fromisoformat(value) + dt.timedelta(microseconds=rng.choice([1, -1, 3_600_000_000]))
        return moved.isoformat(sep=" ", timespec="microseconds")
    if name in ("prev_hash", "hash", "personal_digest", "salt"):
        return f"{rng.getrandbits(256):064x}"
    if value is None:
        return str(uuid.UUID(int=rng.getrandbits(128)))
    position = rng.randrange(len(value) + 1)
    return value[:position] + rng.choice(["x", "1", "名", " "]) + value[position:]


def _rehash(row: EventRow) -> EventRow:
    return row._replace(hash=row_hash(row))


def _sorted(rows: list[EventRow]) -> list[EventRow]:
    return sorted((r for r in rows if r.municipality_code == CODE), key=lambda r: r.seq)


def alter(rows: list[EventRow], head: tuple[int, str], rng: random.Random) -> Tamper:
    k = rng.randint(1, N)
    name = rng.choice(EVENT_FIELDS)
    rehashed = name not in ("hash",) and rng.random() < 0.5
    new = rows[k - 1]._replace(**{name: _changed(rows[k - 1], name, rng)})
    if rehashed:
        new = _rehash(new)
    copy = list(rows)
    copy[k - 1] = new
    moved = name == "seq" or name == "municipality_code"
    first = min(k, new.seq) if name == "seq" else k
    codes = {"AUD901", "AUD902", "AUD904"} if moved else ({"AUD904", "AUD906"} if rehashed else {"AUD901"})
    return Tamper(f"alter {name}{' +rehash' if rehashed else ''} at {k}", _sorted(copy) if moved else copy, head,
                  first, k, frozenset(codes))


def alter_payload(rows: list[EventRow], head: tuple[int, str], rng: random.Random) -> Tamper:
    k = rng.choice([r.seq for r in rows[:N] if r.salt is not None])
    copy = list(rows)
    if rng.random() < 0.2:  # the payload row deleted without an erasure record
        copy[k - 1] = copy[k - 1]._replace(salt=None, data_before=None, data_after=None, personal=None)
        return Tamper(f"payload deleted at {k}", copy, head, k, k, frozenset({"AUD907"}))
    name = rng.choice(PAYLOAD_FIELDS)
    copy[k - 1] = copy[k - 1]._replace(**{name: _changed(copy[k - 1], name, rng)})
    return Tamper(f"alter payload {name} at {k}", copy, head, k, k, frozenset({"AUD906"}))


def delete(rows: list[EventRow], head: tuple[int, str], rng: random.Random) -> Tamper:
    k = rng.randint(1, N)
    rest = rows[: k - 1] + rows[k:]
    renumbered = rng.random() < 0.5
    if renumbered:
        rest = rows[: k - 1] + [r._replace(seq=r.seq - 1) for r in rows[k:]]
    return Tamper(f"delete {k}{' +renumber' if renumbered else ''}", rest, head, k, k, frozenset({"AUD902"}))


def insert(rows: list[EventRow], head: tuple[int, str], rng: random.Random) -> Tamper:
    k = rng.randint(1, N)
    prev = rows[k - 2].hash if k > 1 else "0" * 64
    fake = rows[rng.randrange(N)]._replace(seq=k, prev_hash=prev, actor="偽の職員", detail='{"forged":true}')
    how = rng.choice(["valid", "garbage", "duplicate-before", "duplicate-after"])
    fake = _rehash(fake) if how != "garbage" else fake._replace(hash=f"{rng.getrandbits(256):064x}")
    if how in ("valid", "garbage"):
        copy = rows[: k - 1] + [fake] + [r._replace(seq=r.seq + 1) for r in rows[k - 1:]]
        codes = {"AUD903"} if how == "valid" else {"AUD901"}
    elif how == "duplicate-before":  # the primary key was dropped: two rows claim seq k, the fake read first
        copy = [*rows[:k - 1], fake, *rows[k - 1:]]
        codes = {"AUD904", "AUD903"}
    else:
        copy = [*rows[:k], fake, *rows[k:]]
        codes = {"AUD903"}
    return Tamper(f"insert {how} at {k}", copy, head, k, k, frozenset(codes))


def reorder(rows: list[EventRow], head: tuple[int, str], rng: random.Random) -> Tamper:
    j = rng.randint(1, N - 1)
    k = j + 1 if rng.random() < 0.5 else rng.randint(j + 1, N)
    rehashed = rng.random() < 0.3
    copy = list(rows)
    a, b = rows[k - 1]._replace(seq=j), rows[j - 1]._replace(seq=k)
    if rehashed:
        a, b = _rehash(a), _rehash(b)
    copy[j - 1], copy[k - 1] = a, b
    return Tamper(f"swap {j}<->{k}{' +rehash' if rehashed else ''}", copy, head, j, j,
                  frozenset({"AUD904"} if rehashed else {"AUD901", "AUD902"}))


KINDS: tuple[Callable[[list[EventRow], tuple[int, str], random.Random], Tamper], ...] = (
    alter, alter_payload, delete, insert, reorder)


def first_finding(t: Tamper, rows: list[EventRow], margin: int) -> Finding | None:
    """Verify t.rows from the state a full walk has `margin` rows before the first tampered position."""
    start = max(0, t.first - 1 - margin)
    state = ChainState(start + 1, rows[start - 1].hash if start else "0" * 64,
                       (rows[start - 2].hash if start > 1 else "0" * 64) if start else None)
    tail = [r for r in t.rows if r.seq > start]
    verifier = verify_rows(CODE, tail, state=state)
    findings = verifier.finish(t.head)
    return findings[0] if findings else None


def test_untouched_chain_verifies_in_full(chain_rows: tuple[list[EventRow], tuple[int, str]]) -> None:
    rows, head = chain_rows
    assert len(rows) == N and head == (N, rows[-1].hash)
    assert sum(r.salt is not None for r in rows) > N // 2  # most events carry personal data
    verifier = verify_rows(CODE, rows)
    assert verifier.finish(head) == [] and verifier.events == N
    # The incremental start used below is exactly the state a full walk reaches.
    assert (verifier.state.next_seq, verifier.state.prev_hash, verifier.state.prev_prev_hash) == (
        N + 1, rows[-1].hash, rows[-2].hash)


def test_thousand_random_tamperings_are_all_found_at_their_position(
        chain_rows: tuple[list[EventRow], tuple[int, str]]) -> None:
    rows, head = chain_rows
    rng = random.Random(SEED)
    missed = []
    counts: dict[str, int] = {}
    for trial in range(TRIALS):
        kind = KINDS[trial % len(KINDS)]
        t = kind(rows, head, rng)
        counts[kind.__name__] = counts.get(kind.__name__, 0) + 1
        found = first_finding(t, rows, margin=rng.randint(0, 3))
        if found is None or found.seq != t.expected or found.code not in t.codes:
            missed.append(f"{t.name}: {found.code + ' at ' + str(found.seq) if found else 'nothing found'}")
    assert missed == [], f"seed {SEED}: {len(missed)} of {TRIALS} wrong, e.g. {missed[:5]}"
    assert min(counts.values()) >= TRIALS // len(KINDS)


# --- tampering in the database, triggers bypassed -------------------------------------------------------
def _shift(connection: Connection, table: str, from_seq: int, by: int) -> None:
    # Two steps, so that no row takes a seq still held by another while the primary key is checked.
    connection.execute(text(f"UPDATE {table} SET seq = -(seq + :by) WHERE municipality_code = :c AND seq >= :s"),
                       {"by": by, "c": CODE, "s": from_seq})
    connection.execute(text(f"UPDATE {table} SET seq = -seq WHERE municipality_code = :c AND seq < 0"), {"c": CODE})


def sql_tamper(connection: Connection, kind: str, k: int) -> None:
    p = {"c": CODE, "k": k}
    if kind == "alter":
        connection.execute(text("UPDATE audit_event SET actor = actor || '改' WHERE municipality_code = :c AND seq = :k"), p)
    elif kind == "payload":
        connection.execute(text("UPDATE audit_personal SET data_after = '{\"住所\":\"偽\"}' "
                                "WHERE municipality_code = :c AND seq = :k"), p)
    elif kind == "delete":
        connection.execute(text("DELETE FROM audit_personal WHERE municipality_code = :c AND seq = :k"), p)
        connection.execute(text("DELETE FROM audit_event WHERE municipality_code = :c AND seq = :k"), p)
    elif kind == "reorder":
        for table in ("audit_event", "audit_personal"):
            connection.execute(text(f"UPDATE {table} SET seq = -(CASE seq WHEN :k THEN :k + 1 ELSE :k END) "
                                    "WHERE municipality_code = :c AND seq IN (:k, :k + 1)"), p)
            connection.execute(text(f"UPDATE {table} SET seq = -seq WHERE municipality_code = :c AND seq < 0"), p)
    elif kind == "insert":
        for table in ("audit_personal", "audit_event"):
            _shift(connection, table, k, 1)
        prev = connection.execute(text("SELECT hash FROM audit_event WHERE municipality_code = :c AND seq = :k - 1"),
                                  p).scalar() or "0" * 64
        at = START + dt.timedelta(seconds=k)
        detail = json.dumps({"forged": True})
        forged = event_hash(CODE, k, prev, utc_text(at), "偽の職員", "task.completed", None, None, detail, None)
        connection.execute(text("INSERT INTO audit_event (municipality_code, seq, prev_hash, hash, occurred_at, actor, "
                                "action, detail) VALUES (:c, :k, :prev, :h, :at, '偽の職員', 'task.completed', :d)"),
                           {**p, "prev": prev, "h": forged, "at": at if connection.dialect.name == "postgresql"
                            else at.replace(tzinfo=None).isoformat(sep=" "), "d": detail})


def run_sql_trials(engine: Engine, trials: list[tuple[str, int]]) -> list[str]:
    wrong = []
    for kind, k in trials:
        with engine.connect() as connection:
            transaction = connection.begin()
            bypass_protection(connection)
            sql_tamper(connection, kind, k)
            report = verify(connection, municipality=CODE)
            transaction.rollback()
        first = report.findings[0] if report.findings else None
        if first is None or first.seq != k or first.municipality != CODE:
            wrong.append(f"{kind} at {k}: {first.format() if first else 'nothing found'}")
    return wrong


def _payload_positions(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT seq FROM audit_personal ORDER BY seq")).scalars())


def test_sql_tampering_with_triggers_dropped_is_found_on_sqlite(sqlite_chain: Engine) -> None:
    rng = random.Random(SEED + 1)
    payloads = _payload_positions(sqlite_chain)
    trials = [(kind, rng.choice(payloads) if kind == "payload" else rng.randint(2, N - 1))
              for kind in ("alter", "payload", "delete", "reorder", "insert") for _ in range(4)]
    trials += [("delete", N), ("alter", 1), ("insert", 1)]
    assert run_sql_trials(sqlite_chain, trials) == []
    with sqlite_chain.connect() as connection:  # every transaction was rolled back
        assert verify(connection).ok


@pytest.mark.postgres
def test_sql_tampering_with_triggers_disabled_is_found_on_postgres(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        build_chain(engine)
        rng = random.Random(SEED + 2)
        payloads = _payload_positions(engine)
        trials = [(kind, rng.choice(payloads) if kind == "payload" else rng.randint(2, N - 1))
                  for kind in ("alter", "payload", "delete", "reorder", "insert")]
        assert run_sql_trials(engine, trials) == []
    finally:
        engine.dispose()


def test_verify_reads_the_database_as_written(tmp_path: Path) -> None:
    """Timestamps round-trip exactly (microseconds, UTC), so hashes computed at insert verify after reading."""
    url = f"sqlite:///{tmp_path / 'small.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        build_chain(engine, 50)
        with engine.connect() as connection:
            assert verify(connection).ok
    finally:
        engine.dispose()
