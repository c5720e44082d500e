"""engine.store's writes of a step.

update_case with the task a step completes (`closing`): on PostgreSQL one statement writes both (data-modifying
WITH), on SQLite two; on both backends the case is written only at the version read, the task closed only with it,
and a False answer has written nothing. insert_events with one event: on PostgreSQL the head, the event, its
personal payload and the step's new task by one statement, hashed by the database and checked by jichi — with
the step's case write when update_case deferred it (defer=True). And the state every step rewrites is stored with
lz4 (migration 0023)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update

from engine import audit, audit_verify, store, tenancy
from engine.audit_chain import GENESIS, event_hash, event_hash_around, field
from engine.db import Municipality
from engine.models import AuditEvent, AuditPersonal, CaseInstance, CaseTask
from engine.residents import index_case_names
from tests.engine_support import Env, environment

NOW = dt.datetime(2026, 6, 9, 1, 0, tzinfo=dt.UTC)


def _step(env: Env, case_id: str) -> tuple[store.TaskRow, store.CaseRow]:
    with env.session() as s:
        (task,) = env.ready(case_id)
        found = store.load_step(s, task.id)
        assert found is not None
        row, case, _ = found
    return row, case


def _closed(row: store.TaskRow) -> store.TaskRow:
    return dataclasses.replace(row, state="completed", completed_by="clerk", completed_at=NOW)


def test_the_case_and_its_task_are_written_together(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Deadline")
        row, case = _step(env, case_id)
        with env.session() as s:
            assert store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row))
            assert case.version == 2
            assert s.scalar(select(CaseInstance.version).where(CaseInstance.id == case_id)) == 2
            task = s.execute(select(CaseTask.state, CaseTask.completed_by).where(CaseTask.id == row.id)).one()
            assert tuple(task) == ("completed", "clerk")
            s.rollback()  # a step without its audit event is not kept


def test_a_moved_version_writes_neither(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Deadline")
        row, case = _step(env, case_id)
        stale = dataclasses.replace(case, version=case.version - 1 if case.version > 1 else case.version + 5)
        with env.session() as s:
            assert not store.update_case(s, stale, serializer_version="x", updated_at=NOW, closing=_closed(row))
            s.commit()  # nothing to commit: the task stays open and the case as it was
        assert env.case(case_id).version == case.version
        assert [t.id for t in env.ready(case_id)] == [row.id]


def test_a_task_closed_while_its_case_did_not_move_is_an_error_not_a_retry(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Deadline")
        row, case = _step(env, case_id)
        with env.session() as s:
            s.execute(update(CaseTask).where(CaseTask.id == row.id).values(state="cancelled"))
            s.commit()
        with env.session() as s:
            with pytest.raises(RuntimeError, match="no longer open"):
                store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row))
            s.rollback()
        assert env.case(case_id).version == case.version


# --- a step's audit event: one statement on PostgreSQL (engine.store._append_one) ----------------------------------

@pytest.mark.parametrize("fields", [
    ("2026-06-09T01:00:00.000000Z", "clerk", "task.completed", "c1", "t1", '{"name":"受付"}', None),
    ("2026-06-09T01:00:00.000001Z", "鈴木", "case.started", None, None, "{}", "ab" * 32),
])
def test_the_bytes_around_seq_and_prev_hash_make_the_events_hash(fields: tuple[Any, ...]) -> None:
    # the database hashes before + field(seq) + field(prev) + after; that must be event_hash's encoding
    before, after = event_hash_around("141305", *fields)
    prev = "1f" * 32
    for seq in (1, 9, 10, 123_456_789_012):
        hashed = hashlib.sha256(before + field(str(seq)) + field(prev) + after).hexdigest()
        assert hashed == event_hash("141305", seq, prev, *fields)


def _event(code: str, personal: bool, case_id: str | None = None) -> dict[str, Any]:
    return audit.event(municipality=code, actor="clerk", action="task.completed", case_id=case_id, task_id=None,
                       detail={"name": "受付"}, personal={"input": {"氏名": "山田 太郎"}} if personal else None, at=NOW)


def _prepared(env: Env) -> tuple[str, store.TaskRow, store.CaseRow, store.TaskRow]:
    """A new case, its ready task and the case as a step reads them, and a task row the step could open (a copy of
    the ready one with a new id)."""
    case_id = env.start("Process_Deadline")
    row, case = _step(env, case_id)
    return case_id, row, case, dataclasses.replace(row, id=str(uuid.uuid4()), created_at=NOW)


@pytest.mark.parametrize("personal", [False, True])
def test_an_event_with_its_new_task_is_appended_and_chained(database_url: str, personal: bool) -> None:
    with environment(database_url) as env:
        _, _, case, opening = _prepared(env)
        code = case.municipality_code
        with env.session() as s:
            before = audit_verify.heads(s.connection())[code]
            ((appended_code, seq),) = store.insert_events(s, [_event(code, personal)], opening=[opening])
            s.commit()
        with env.session() as s:
            assert (appended_code, seq) == (code, before[0] + 1)
            assert s.scalar(select(CaseTask.state).where(CaseTask.id == opening.id)) == "ready"
            stored = s.scalar(select(func.count()).select_from(AuditPersonal).where(
                AuditPersonal.municipality_code == code, AuditPersonal.seq == seq))
            assert stored == (1 if personal else 0)
            report = audit_verify.verify(s.connection())
            assert report.findings == []
            assert audit_verify.heads(s.connection())[code][0] == seq


def _new_municipality(env: Env) -> str:
    """A municipality registered without any event: its audit chain has no head yet."""
    with env.session() as s:
        s.add(Municipality(code="131016", name="千代田区"))
        s.commit()
        assert "131016" not in audit_verify.heads(s.connection())
    return "131016"


def test_a_municipalitys_first_event_starts_its_chain(database_url: str) -> None:
    with environment(database_url) as env:
        _new_municipality(env)
        with env.session() as s:
            assert store.insert_events(s, [_event("131016", True)]) == [("131016", 1)]
            s.commit()
        with env.session() as s:
            prev = s.scalar(select(AuditEvent.prev_hash).where(AuditEvent.municipality_code == "131016"))
            assert prev == GENESIS
            assert audit_verify.verify(s.connection()).findings == []


def test_a_municipalitys_first_case_starts_its_chain_with_the_case(database_url: str) -> None:
    # On PostgreSQL the start's one statement writes nothing without the chain's head — not the case either — and is
    # sent again once the head is there: one case, one event, at the chain's first link.
    with environment(database_url) as env:
        _new_municipality(env)
        with env.session() as s:
            view = env.cases.start_case(s, process_id="Process_Deadline", municipality="131016", data={}, actor="t")
        with env.session() as s:
            assert s.scalar(select(func.count()).select_from(CaseInstance).where(CaseInstance.id == view.id)) == 1
            first = s.execute(select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.case_id).where(
                AuditEvent.municipality_code == "131016")).all()
            assert [tuple(r) for r in first] == [(1, GENESIS, view.id)]
            assert [t.id for t in env.ready(view.id)] == [t.id for t in view.tasks if t.state == "ready"]
            assert audit_verify.verify(s.connection()).findings == []


def test_an_event_the_database_hashed_otherwise_is_refused_and_nothing_is_written(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with environment(postgres_url) as env:
        _, _, case, opening = _prepared(env)
        code = case.municipality_code
        with env.session() as s:
            head = audit_verify.heads(s.connection())[code]
        def otherwise(*fields: Any) -> tuple[bytes, bytes]:  # the database given other bytes than jichi hashes
            before, after = event_hash_around(*fields)
            return before + b"x", after

        monkeypatch.setattr(store, "event_hash_around", otherwise)
        with env.session() as s:
            with pytest.raises(RuntimeError, match="hash differs"):
                store.insert_events(s, [_event(code, True)], opening=[opening])
            s.rollback()
        with env.session() as s:
            assert audit_verify.heads(s.connection())[code] == head
            assert s.scalar(select(CaseTask.id).where(CaseTask.id == opening.id)) is None
            assert audit_verify.verify(s.connection()).findings == []


# --- a single step's case write sent with its audit event (update_case(defer=True), PostgreSQL) -------------------

@contextlib.contextmanager
def _statements(env: Env) -> Iterator[list[str]]:
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()[:3]))

    event.listen(env.engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(env.engine, "before_cursor_execute", seen)


def test_a_deferred_case_write_goes_with_the_event_in_one_statement(postgres_url: str) -> None:
    with environment(postgres_url) as env:
        case_id, row, case, opening = _prepared(env)
        code = case.municipality_code
        with env.session() as s, _statements(env) as sent:
            assert store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row), defer=True)
            assert store.case_write_pending(s) and sent == []  # nothing sent yet
            ((_, seq),) = store.insert_events(s, [_event(code, True, case_id)], opening=[opening])
            assert not store.case_write_pending(s)
            assert sent == ["WITH moved_case AS"]  # case, task, head, event, personal payload, new task: one statement
            s.commit()
        assert env.case(case_id).version == case.version == 2
        with env.session() as s:
            assert s.scalar(select(CaseTask.state).where(CaseTask.id == row.id)) == "completed"
            assert s.scalar(select(CaseTask.state).where(CaseTask.id == opening.id)) == "ready"
            assert audit_verify.heads(s.connection())[code][0] == seq
            assert audit_verify.verify(s.connection()).findings == []


def test_a_deferred_write_at_a_moved_version_writes_nothing_of_the_step(postgres_url: str) -> None:
    with environment(postgres_url) as env:
        case_id, row, case, opening = _prepared(env)
        code = case.municipality_code
        with env.session() as s:
            head = audit_verify.heads(s.connection())[code]
        stale = dataclasses.replace(case, version=case.version + 5)
        with env.session() as s:
            assert store.update_case(s, stale, serializer_version="x", updated_at=NOW, closing=_closed(row), defer=True)
            with pytest.raises(store.VersionMoved):
                store.insert_events(s, [_event(code, True)], opening=[opening])
            s.commit()  # whatever the caller does next, the statement wrote nothing
        assert env.case(case_id).version == case.version
        assert [t.id for t in env.ready(case_id)] == [row.id]
        with env.session() as s:
            assert audit_verify.heads(s.connection())[code] == head
            assert s.scalar(select(CaseTask.id).where(CaseTask.id == opening.id)) is None


def test_a_deferred_write_is_sent_before_the_steps_other_writes_and_at_commit(postgres_url: str) -> None:
    with environment(postgres_url) as env:
        case_id, row, case, opening = _prepared(env)
        with env.session() as s, _statements(env) as sent:
            store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row), defer=True)
            store.insert_tasks(s, [opening])  # another write: the case's goes first (its lock before any other)
            assert sent == ["WITH moved_case AS", "INSERT INTO case_task"]
            s.rollback()
        assert env.case(case_id).version == 1
        row, case = _step(env, case_id)  # read again, as a step retried after a rollback does
        with env.session() as s, _statements(env) as sent:
            store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row), defer=True)
            s.commit()  # nothing else written: the commit sends it
            assert sent[0] == "WITH moved_case AS"
        assert env.case(case_id).version == 2
        with env.session() as s:  # the state change's event, for the environment's one-event-per-change check
            store.insert_events(s, [_event(case.municipality_code, False, case_id)])
            s.commit()
        stale = dataclasses.replace(case, version=1)
        with env.session() as s:
            store.update_case(s, stale, serializer_version="x", updated_at=NOW, closing=_closed(row), defer=True)
            with pytest.raises(store.VersionMoved):
                s.commit()
            s.rollback()
            assert not store.case_write_pending(s)


def test_a_rolled_back_step_leaves_no_deferred_write_behind(postgres_url: str) -> None:
    with environment(postgres_url) as env:
        case_id = env.start("Process_Deadline")
        row, case = _step(env, case_id)
        with env.session() as s:
            store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row), defer=True)
            s.rollback()
            assert not store.case_write_pending(s)
            s.commit()  # the next transaction of the session does not write the dropped one
        assert env.case(case_id).version == 1
        assert [t.id for t in env.ready(case_id)] == [row.id]


def test_a_step_entering_names_writes_its_case_before_its_search_keys(postgres_url: str) -> None:
    with environment(postgres_url) as env:
        case_id = env.start("Process_Deadline")
        row, case = _step(env, case_id)
        with env.session() as s, _statements(env) as sent:
            store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row), defer=True)
            index_case_names(s, case.municipality_code, case_id, {"氏名": "山田 太郎"})
            assert sent[:2] == ["WITH moved_case AS", "DELETE FROM case_search_key"]
            s.rollback()


def test_a_cases_state_is_stored_with_lz4_on_postgresql(postgres_url: str) -> None:
    # migration 0023: the state every step rewrites is compressed with lz4 (faster than pglz) where the server
    # has it — Debian's and the PGDG packages do; a server without it keeps pglz
    with environment(postgres_url) as env:
        with env.session() as s:
            available = s.scalar(text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                      "WHERE name = 'default_toast_compression'"))
            declared = s.scalar(text("SELECT attcompression FROM pg_attribute WHERE attname = 'state' "
                                     "AND attrelid = 'case_instance'::regclass"))
        assert available, "PostgreSQL without lz4: not the server this product is tested on"
        assert declared == "l"
        case_id = env.start("Process_Deadline")
        with env.session() as s:
            s.execute(text("UPDATE case_instance SET state = state || repeat(' ', 4000) WHERE id = :id"),
                      {"id": case_id})  # large enough to be compressed whatever the procedure's size
            s.commit()
            used = s.scalar(text("SELECT pg_column_compression(state) FROM case_instance WHERE id = :id"),
                            {"id": case_id})
        assert used == "lz4"


# --- a batch's reads and buffered writes (load_steps, buffer_writes) ----------------------------------------------

def test_load_steps_reads_what_load_step_reads_for_each_task(database_url: str) -> None:
    with environment(database_url) as env:
        parallel = env.start("Process_Parallel")
        first, second = (t.id for t in env.ready(parallel))
        other = env.ready(env.start("Process_Deadline"))[0].id
        with env.session() as s:
            steps = store.load_steps(s, [first, second, other, str(uuid.uuid4())])
            assert set(steps) == {first, second, other}  # a task that is not there is left out
            for task_id, step in steps.items():
                assert step == store.load_step(s, task_id)
            # two tasks of one case: equal rows, not the same objects (a step changes its own)
            assert steps[first][1] is not steps[second][1]
            assert not {id(r) for r in steps[first][2]} & {id(r) for r in steps[second][2]}
            assert steps[first][0] in steps[first][2] and steps[first][0] is next(
                r for r in steps[first][2] if r.id == first)


def test_a_scoped_session_reads_no_step_of_another_municipality(database_url: str) -> None:
    with environment(database_url) as env:
        task = env.ready(env.start("Process_Deadline"))[0]
        with env.session() as s:
            code = store.load_step(s, task.id)[1].municipality_code  # type: ignore[index]
            tenancy.scope(s, {"141305" if code != "141305" else "272078"})
            assert store.load_steps(s, [task.id]) == {}


def _buffered_step(s: Any, case: store.CaseRow, row: store.TaskRow, opening: store.TaskRow) -> None:
    """A batch's step, buffered: the case written with its task closed, and a new task."""
    store.buffer_writes(s)
    assert store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row))
    store.insert_tasks(s, [opening])


def test_buffered_writes_are_sent_together_before_the_next_statement(database_url: str) -> None:
    with environment(database_url) as env:
        _, row, case, opening = _prepared(env)
        with env.session() as s, _statements(env) as sent:
            _buffered_step(s, case, row, opening)
            assert sent == []  # kept
            # the next read sends them first, and sees them
            assert store.load_task(s, row.id).state == "completed"  # type: ignore[union-attr]
            assert store.load_task(s, opening.id) is not None
            store.insert_events(s, [_event(case.municipality_code, False, case.id)])
            s.commit()
        assert env.case(case.id).version == case.version
        assert [t.id for t in env.ready(case.id)] == [opening.id]


def test_a_buffered_write_at_a_moved_version_is_an_error_and_writes_nothing(database_url: str) -> None:
    with environment(database_url) as env:
        _, row, case, opening = _prepared(env)
        stale = dataclasses.replace(case, version=case.version + 5)
        with env.session() as s:
            _buffered_step(s, stale, row, opening)
            with pytest.raises(RuntimeError, match="1 case"):
                s.commit()
            s.rollback()
        assert env.case(case.id).version == case.version
        assert [t.id for t in env.ready(case.id)] == [row.id]


def test_a_rolled_back_batch_leaves_nothing_buffered(database_url: str) -> None:
    with environment(database_url) as env:
        _, row, case, opening = _prepared(env)
        with env.session() as s:
            _buffered_step(s, case, row, opening)
            s.rollback()
            # the next transaction writes at once again
            case.version -= 1
            assert store.update_case(s, case, serializer_version="x", updated_at=NOW, closing=_closed(row))
            assert store.load_task(s, opening.id) is None
            store.insert_events(s, [_event(case.municipality_code, False, case.id)])
            s.commit()
        assert env.case(case.id).version == case.version
        assert env.ready(case.id) == []
