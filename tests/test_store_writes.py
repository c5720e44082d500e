"""engine.store.update_case with the task a step completes (`closing`): on PostgreSQL one statement writes both
(data-modifying WITH), on SQLite two; on both backends the case is written only at the version read, the task
closed only with it, and a False answer has written nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select, update

from engine import store
from engine.models import CaseInstance, CaseTask
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
