"""Loops: SpiffWorkflow 3.2 loses a READY task after ~1000 tree levels; jichi rewinds every back-edge.

After every step of a 差戻し loop taken 600 times, the case's status must agree with a full scan of the
stored state for unfinished tasks, and the stored state must stay bounded.
"""

from __future__ import annotations

from pathlib import Path

from SpiffWorkflow.util.task import TaskState

from engine.bpmn import load_state, start, validate_bpmn
from engine.registry import Registry
from engine.runtime import UNFINISHED, walk
from tests.engine_support import FIXTURES, environment

LOOPS = 600


def _scan_unfinished(state: str, registry: Registry, spec_hash: str, session: object) -> int:
    procedure = registry.stored(session, spec_hash)  # type: ignore[arg-type]
    workflow = load_state(state, procedure.spec, procedure.subprocess_specs, procedure.script_engine)
    return sum(1 for task, _ in walk(workflow) if task.state & UNFINISHED)


def test_stock_spiffworkflow_reports_complete_with_a_ready_task() -> None:
    """The upstream failure this module guards against; if SpiffWorkflow fixes it, this test says so."""
    model, found = validate_bpmn(FIXTURES / "sashimodoshi.bpmn", "sashimodoshi.bpmn")
    assert model is not None and found == []
    workflow = start([model], "Process_Sashimodoshi")
    workflow.do_engine_steps()
    for _ in range(2 * LOOPS):  # one task per step: 起案, 審査, 起案, ...
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            break
        ready[0].data.update({"起案回数": 1, "承認": False})
        ready[0].run()
        workflow.do_engine_steps()
    lost = [t for t, _ in walk(workflow) if t.state == TaskState.READY]
    assert workflow.is_completed() and lost, "SpiffWorkflow no longer loses tasks in deep trees"


def test_send_back_600_times_stays_consistent_and_bounded(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": "差戻しの検証"})
        sizes = []
        for i in range(1, LOOPS + 1):
            env.complete(case_id, "起案", {"起案回数": i})
            env.complete(case_id, "審査", {"承認": i == LOOPS})
            case = env.case(case_id)
            with env.session() as s:
                unfinished = _scan_unfinished(case.state, env.cases.registry, case.spec_hash, s)
            assert (case.status == "completed") == (unfinished == 0), f"step {i}"
            if i < LOOPS:
                assert [t.name for t in env.ready(case_id)] == ["起案"], f"step {i}"
            sizes.append(len(case.state))
        assert case.status == "completed"
        assert max(sizes) <= sizes[0] * 1.1, (sizes[0], max(sizes))
        assert env.audit_count(case_id, "task.completed") == 2 * LOOPS
        with env.session() as s:
            from engine.cases import Cases

            data = Cases(env.cases.registry).get_case(s, case_id).data
        assert data["起案回数"] == LOOPS and data["承認"] is True


def test_automatic_loop_runs_600_times_in_one_step(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Counter", {"上限": LOOPS})
        assert [t.name for t in env.ready(case_id)] == ["確認"]
        case = env.case(case_id)
        assert len(case.state) < 20_000
        with env.session() as s:
            from engine.cases import Cases

            assert Cases(env.cases.registry).get_case(s, case_id).data["回数"] == LOOPS
        env.complete(case_id, "確認")
        assert env.case(case_id).status == "completed"


def test_tree_depth_stays_small_however_long_the_loop(tmp_path: Path) -> None:
    model, _ = validate_bpmn(FIXTURES / "sashimodoshi.bpmn", "sashimodoshi.bpmn")
    assert model is not None
    from engine.runtime import advance, complete_manual

    workflow = start([model], "Process_Sashimodoshi")
    advance(workflow, lambda d: None)
    depths = []
    for i in range(300):
        for name, data in (("Task_Kian", {"起案回数": i}), ("Task_Shinsa", {"承認": False})):
            (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
            assert task.task_spec.name == name
            task.data.update(data)
            complete_manual(workflow, task, lambda d: None)
        depths.append(max(depth for _, depth in walk(workflow)))
    assert max(depths) == min(depths) < 12
