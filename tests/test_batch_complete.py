"""一括処理 (engine.cases.Cases.complete_tasks, POST /api/tasks/complete): several tasks completed with one commit,
each its own step — its version, its audit event, its refusal leaving nothing of it — and all durable together or not at
all: a process killed before the commit leaves nothing of the batch, one killed after it left every step once."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from typing import Any

import pytest
from sqlalchemy import event, func, select

from engine import cases as engine_cases
from engine import faults, store
from engine.audit_verify import verify
from engine.cases import CaseError, CaseView
from engine.models import AuditEvent, CaseInstance
from standard_core.diagnostics import Span, error
from tests.api_support import api_app, call
from tests.engine_support import Env, assert_task_rows_follow_states, environment

A, B = "141305", "272078"
NOBODY = "00000000-0000-0000-0000-000000000000"


def _first_task(env: Env, case_id: str) -> str:
    (task,) = env.ready(case_id)
    return task.id


def _versions(env: Env, case_ids: list[str]) -> list[int]:
    with env.session() as s:
        found = dict(s.execute(select(CaseInstance.id, CaseInstance.version).where(CaseInstance.id.in_(case_ids))).all())
    return [found[c] for c in case_ids]


def test_each_item_is_its_own_step_and_a_refusal_is_undone_alone(database_url: str) -> None:
    with environment(database_url) as env:
        cases = [env.start("Process_Deadline") for _ in range(3)]
        tasks = [_first_task(env, c) for c in cases]
        with env.session() as s:
            results = env.cases.complete_tasks(s, [
                (tasks[0], {"異動日": "2026-06-09"}),
                (tasks[1], {"異動日": "いつか"}),          # refused: not a date
                (NOBODY, {}),                               # refused: no such task
                (tasks[2], {"異動日": "2026-06-10"}),
                (tasks[0], {"異動日": "2026-06-09"}),       # refused: completed by the first item, in this batch
            ], "clerk")
        assert [type(r).__name__ for r in results] == ["CaseView", "CaseError", "CaseError", "CaseView", "CaseError"]
        assert [r.code for r in results if isinstance(r, CaseError)] == ["ENG512", "ENG514", "ENG511"]
        done = [r for r in results if isinstance(r, CaseView)]
        assert [v.id for v in done] == [cases[0], cases[2]] and [str(v.data["異動日"]) for v in done] == [
            "2026-06-09", "2026-06-10"]
        assert _versions(env, cases) == [2, 1, 2]  # the refused case is untouched
        assert [env.audit_count(c, "task.completed") for c in cases] == [1, 0, 1]
        assert [t.name for t in env.ready(cases[1])] == ["受付"]
        assert all(t.name == "確認" for c in (cases[0], cases[2]) for t in env.ready(c))
        # the steps go on from the batch as from single completions (the workflows kept for the next step)
        env.complete(cases[0], "確認")
        assert env.case(cases[0]).status == "completed"
        with env.engine.connect() as connection:
            assert verify(connection).ok


def test_two_tasks_of_one_case_in_one_batch(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Parallel")
        by_name = {t.name: t.id for t in env.ready(case_id)}
        with env.session() as s:
            results = env.cases.complete_tasks(s, [(by_name["照会の回答"], {"照会結果": "該当なし"}),
                                                    (by_name["書類の確認"], {"書類OK": True})], "clerk")
        assert all(isinstance(r, CaseView) for r in results)
        last = results[-1]
        assert isinstance(last, CaseView) and last.status == "completed" and last.version == 3
        case = env.case(case_id)
        assert case.status == "completed" and case.version == 3
        assert env.audit_count(case_id, "task.completed") == 2


def test_a_batch_reads_its_steps_at_once_and_sends_its_writes_at_once(database_url: str) -> None:
    with environment(database_url) as env:

        def statements(n: int) -> list[str]:
            tasks = [_first_task(env, env.start("Process_Deadline")) for _ in range(n)]
            sent: list[str] = []

            def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                sent.append(" ".join(statement.split()))

            event.listen(env.engine, "before_cursor_execute", seen)
            try:
                with env.session() as s:
                    results = env.cases.complete_tasks(s, [(t, {"異動日": "2026-06-09"}) for t in tasks], "clerk")
            finally:
                event.remove(env.engine, "before_cursor_execute", seen)
            assert all(isinstance(r, CaseView) for r in results)
            assert all(t.name == "確認" for r in results for t in r.tasks)  # type: ignore[union-attr]
            return sent

        small, large = statements(2), statements(7)
        reads = [[q for q in sent if q.startswith("SELECT") and "case_task.state" in q] for sent in (small, large)]
        assert [len(r) for r in reads] == [1, 1]  # every item's task, case and open tasks: one statement
        assert len(large) == len(small)  # seven steps' writes as two's: one executemany each
        if env.engine.dialect.name == "postgresql":  # the cases locked, in one order, before they are read
            locks = [i for i, q in enumerate(large) if q.endswith("FOR UPDATE")]
            assert len(locks) == 1 and "ORDER BY case_instance.id" in large[locks[0]]
            assert locks[0] < large.index(reads[1][0])


def test_an_item_whose_case_moved_is_retried_from_a_fresh_read(database_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with environment(database_url) as env:
        cases = [env.start("Process_Deadline") for _ in range(2)]
        tasks = [_first_task(env, c) for c in cases]
        real, calls = store.update_case, []

        def lose_second(*args: Any, **kwargs: Any) -> bool:
            calls.append(1)
            return False if len(calls) == 2 else real(*args, **kwargs)

        monkeypatch.setattr(store, "update_case", lose_second)
        with env.session() as s:
            results = env.cases.complete_tasks(s, [(t, {"異動日": "2026-06-09"}) for t in tasks], "clerk")
        assert len(calls) == 3 and all(isinstance(r, CaseView) for r in results)
        assert _versions(env, cases) == [2, 2]
        assert [env.audit_count(c, "task.completed") for c in cases] == [1, 1]


def test_an_item_refused_after_it_began_writing_is_taken_out_and_the_batch_run_again(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Items are refused before they write (task, role, form, DSL are checked in memory first); should one be refused
    # later, the batch is rolled back and run again without it: nothing of it stays, the others complete once.
    with environment(database_url) as env:
        cases = [env.start("Process_Deadline") for _ in range(3)]
        tasks = [_first_task(env, c) for c in cases]
        real, refusals = engine_cases.index_case_names, []

        def refuse_the_second(session: Any, municipality: str, case_id: str, values: Any) -> None:
            # called after the step wrote its case and closed its task
            if case_id == cases[1]:
                refusals.append(1)
                raise CaseError([error("ENG511", "テストの拒否", Span("<案件>", 1, 1), "")])
            real(session, municipality, case_id, values)

        monkeypatch.setattr(engine_cases, "index_case_names", refuse_the_second)
        with env.session() as s:
            results = env.cases.complete_tasks(s, [(t, {"異動日": "2026-06-09"}) for t in tasks], "clerk")
        assert len(refusals) == 1  # the second pass does not take it again
        assert [type(r).__name__ for r in results] == ["CaseView", "CaseError", "CaseView"]
        assert _versions(env, cases) == [2, 1, 2]
        assert [env.audit_count(c, "task.completed") for c in cases] == [1, 0, 1]
        assert [t.name for t in env.ready(cases[1])] == ["受付"]
        monkeypatch.setattr(engine_cases, "index_case_names", real)
        env.complete(cases[1], "受付", {"異動日": "2026-06-09"})  # its workflow was not kept half-done
        assert _versions(env, cases) == [2, 2, 2]
        with env.engine.connect() as connection:
            assert verify(connection).ok


def _killed_in_child(env: Env, items: list[tuple[str, dict[str, Any]]], point: str, skip: int = 0) -> bool:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            env.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            faults.arm(point, skip)
            with env.session() as s:
                env.cases.complete_tasks(s, items, "clerk")
        except BaseException:
            traceback.print_exc()
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.parametrize(("point", "skip", "committed"), [
    ("after_audit_write", 2, False),  # killed in the third item
    ("before_commit", 0, False),
    ("after_commit", 0, True),
])
def test_a_batch_killed_is_all_there_or_not_at_all_and_a_rerun_acts_once(database_url: str, point: str, skip: int,
                                                                           committed: bool) -> None:
    with environment(database_url) as env:
        cases = [env.start("Process_Deadline") for _ in range(5)]
        items = [(_first_task(env, c), {"異動日": "2026-06-09"}) for c in cases]
        assert _killed_in_child(env, items, point, skip)
        assert _versions(env, cases) == [2 if committed else 1] * 5
        with env.session() as s:  # the client was not answered: it sends the batch again
            again = env.cases.complete_tasks(s, items, "clerk")
        if committed:
            assert {r.code for r in again if isinstance(r, CaseError)} == {"ENG511"} and len(again) == 5
        else:
            assert all(isinstance(r, CaseView) for r in again)
        assert _versions(env, cases) == [2] * 5
        assert [env.audit_count(c, "task.completed") for c in cases] == [1] * 5
        with env.engine.connect() as connection:
            assert verify(connection).ok


def test_the_api_batch_answers_each_item_and_keeps_isolation(database_url: str) -> None:
    setup = api_app(database_url, {"a": ("a-clerk", f"{A}:clerk"), "reader": ("a-reader", f"{A}:auditor"),
                                   "b": ("b-clerk", f"{B}:clerk")})
    app, tokens = next(setup)
    try:
        def start(token: str, code: str) -> dict[str, Any]:
            response = call(app, token, "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": code})
            assert response.status_code == 201, response.get_json()
            body: dict[str, Any] = response.get_json()
            return body

        mine = [start(tokens["a"], A) for _ in range(2)]
        theirs = start(tokens["b"], B)
        their_task = theirs["tasks"][0]["id"]
        batch = {"tasks": [{"id": mine[0]["tasks"][0]["id"], "data": {"異動日": "2026-06-09"}},
                           {"id": their_task, "data": {"異動日": "2026-06-09"}},
                           {"id": NOBODY, "data": {"異動日": "2026-06-09"}},
                           {"id": mine[1]["tasks"][0]["id"], "data": {"異動日": "2026-06-10"}}]}
        response = call(app, tokens["a"], "POST", "/api/tasks/complete", batch, **{"Idempotency-Key": "batch-1"})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert (body["completed"], body["refused"]) == (2, 2)
        assert [r["status"] for r in body["results"]] == [200, 404, 404, 200]
        assert body["results"][0]["case"]["tasks"][0]["name"] == "確認"
        # B's task answers exactly as a task that does not exist (only the id sent differs)
        theirs_said, nobody_said = body["results"][1], body["results"][2]
        assert str(theirs_said).replace(their_task, NOBODY) == str(nobody_said)
        assert theirs["id"] not in response.get_data(as_text=True)
        # the same key and body: the stored answer, nothing done again
        replay = call(app, tokens["a"], "POST", "/api/tasks/complete", batch, **{"Idempotency-Key": "batch-1"})
        assert replay.headers.get("Idempotent-Replayed") == "true" and replay.get_json() == body
        # a reader's role does not complete (403 for the item), and changes nothing
        other = start(tokens["a"], A)
        read_only = call(app, tokens["reader"], "POST", "/api/tasks/complete",
                         {"tasks": [{"id": other["tasks"][0]["id"], "data": {"異動日": "2026-06-09"}}]})
        assert read_only.status_code == 200 and read_only.get_json()["results"][0]["status"] == 403
        # malformed batches are refused whole, in the one error shape
        wrongs: list[dict[str, Any]] = [{}, {"tasks": []}, {"tasks": "x"}, {"tasks": [{"data": {}}]},
                                        {"tasks": [{"id": 3}]}, {"tasks": [{"id": "x", "data": []}]},
                                        {"tasks": [{"id": "x"}] * 101}]
        for wrong in wrongs:
            refused = call(app, tokens["a"], "POST", "/api/tasks/complete", wrong)
            assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "INP806", wrong
        with app.app_context():
            from web.db import get_session
            session = get_session()
            assert [session.get(CaseInstance, c["id"]).version for c in (theirs, other)] == [1, 1]  # type: ignore[union-attr]
            completed = session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "task.completed"))
            assert completed == 2
    finally:
        setup.close()


@pytest.mark.postgres
def test_batches_and_single_steps_racing_on_the_same_cases_complete_each_task_once(postgres_url: str) -> None:
    # Each batch locks its cases in one order and the chain head last, as single steps do: batches given the same
    # tasks in opposite orders, and single completions of the same tasks meanwhile, wait for each other — none
    # deadlocks (PostgreSQL would abort one as ENG540) and every task is completed exactly once.
    with environment(postgres_url) as env:
        cases = [env.start("Process_Deadline") for _ in range(12)]
        items = [(_first_task(env, c), {"異動日": "2026-06-09"}) for c in cases]
        barrier = threading.Barrier(4)
        outcomes: list[Any] = []

        def batch(given: list[tuple[str, dict[str, Any]]]) -> None:
            barrier.wait()
            with env.session() as s:
                outcomes.extend(env.cases.complete_tasks(s, given, "clerk"))

        def singles(given: list[tuple[str, dict[str, Any]]]) -> None:
            barrier.wait()
            for task_id, data in given:
                with env.session() as s:
                    try:
                        outcomes.append(env.cases.complete_task(s, task_id, data, "clerk"))
                    except CaseError as e:
                        outcomes.append(e)

        threads = [threading.Thread(target=batch, args=(items,)), threading.Thread(target=batch, args=(items[::-1],)),
                   threading.Thread(target=singles, args=(items[::2],)),
                   threading.Thread(target=singles, args=(items[1::2][::-1],))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outcomes) == 12 * 3
        done = [o for o in outcomes if isinstance(o, CaseView)]
        refused = [o for o in outcomes if isinstance(o, CaseError)]
        assert len(done) == 12 and {o.code for o in refused} == {"ENG511"}
        assert sorted(v.id for v in done) == sorted(cases)
        assert _versions(env, cases) == [2] * 12
        assert [env.audit_count(c, "task.completed") for c in cases] == [1] * 12
        with env.engine.connect() as connection:
            assert verify(connection).ok


def test_a_batch_waiting_for_a_case_reads_the_step_that_held_it(postgres_url: str) -> None:
    # A batch locks its cases, then reads them: a step committed while the batch waited for its lock is in what the
    # batch reads — the task that step completed is no longer open and the tasks it opened are. (Locking and reading
    # in one statement would give the waited-for case row as it is now, but the tasks joined to it as they were.)
    with environment(postgres_url) as env:
        case_id = env.start("Process_Parallel")
        by_name = {t.name: t.id for t in env.ready(case_id)}
        holding, release = threading.Event(), threading.Event()
        outcomes: dict[str, Any] = {}

        def single() -> None:
            with env.session() as s:
                def hold(session: Any) -> None:
                    holding.set()
                    release.wait(30)

                event.listen(s, "before_commit", hold)
                outcomes["single"] = env.cases.complete_task(s, by_name["照会の回答"], {"照会結果": "該当なし"}, "clerk")

        def batch() -> None:
            with env.session() as s:
                outcomes["batch"] = env.cases.complete_tasks(s, [(by_name["書類の確認"], {"書類OK": True})], "clerk")

        first = threading.Thread(target=single)
        first.start()
        assert holding.wait(30)  # the single step has written its case and holds it, uncommitted
        second = threading.Thread(target=batch)
        second.start()
        second.join(1.0)
        assert second.is_alive()  # the batch waits for the case
        release.set()
        first.join(30)
        second.join(30)
        assert isinstance(outcomes["single"], CaseView)
        (result,) = outcomes["batch"]
        assert isinstance(result, CaseView) and result.status == "completed" and result.version == 3
        with env.session() as s:
            detail = s.scalar(select(AuditEvent.detail).where(AuditEvent.case_id == case_id,
                                                              AuditEvent.task_id == by_name["書類の確認"]))
        assert detail is not None and "cancelled" not in detail  # it did not take 照会の回答 for open
        assert env.audit_count(case_id, "task.completed") == 2
        assert_task_rows_follow_states(env.engine, env.cases)
