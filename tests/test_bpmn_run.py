"""Running validated BPMN on SpiffWorkflow with the DSL script engine, saving and restoring after every step."""

from __future__ import annotations

import builtins
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from dsl import EvalContext
from engine.bpmn import (
    DslScriptEngine,
    ProcessRuntimeError,
    bind,
    eval_context,
    restore,
    rules_provider,
    serializer,
    set_eval_context,
    set_rules,
    start,
    validate_bpmn,
)
from engine.bpmn.validate import ValidatedModel
from standard_core.diagnostics import DiagnosticError
from standard_core.municipal_calendar import MunicipalCalendar

FIXTURES = Path(__file__).parent / "fixtures" / "bpmn"
ROOT = Path(__file__).resolve().parent.parent


def model(path: Path) -> ValidatedModel:
    loaded, found = validate_bpmn(path, path.name)
    assert loaded is not None and found == []
    return loaded


def save_restore(workflow: BpmnWorkflow) -> BpmnWorkflow:
    engine = workflow.script_engine
    assert isinstance(engine, DslScriptEngine)
    restored = restore(serializer().serialize_json(workflow), engine)
    # The evaluation context is not part of the saved state: the case service sets it on every load.
    set_eval_context(restored, eval_context(workflow))
    set_rules(restored, rules_provider(workflow))
    return restored


def complete(workflow: BpmnWorkflow, spec_name: str, data: dict[str, Any]) -> BpmnWorkflow:
    """Complete the one ready user task named spec_name with data, run engine steps, save and restore."""
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    assert [t.task_spec.name for t in ready] == [spec_name]
    ready[0].data.update(data)
    ready[0].run()
    workflow = save_restore(workflow)
    workflow.do_engine_steps()
    return save_restore(workflow)


def path_taken(workflow: BpmnWorkflow) -> list[str]:
    return [t.task_spec.name for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.name not in ("Start", "End") and not t.task_spec.name.endswith(".EndJoin")]


@pytest.mark.parametrize(("data", "path", "amount"), [
    ({"児童数": 2, "所得": 5_000_000}, ["StartEvent_1", "Task_Shinsei", "Gateway_Shotoku", "Task_Keisan",
                                       "End_Nintei"], 30_000),
    ({"児童数": 2, "所得": 7_000_000}, ["StartEvent_1", "Task_Shinsei", "Gateway_Shotoku", "End_Kyakka"], None),
], ids=["within-limit", "over-limit"])
def test_scenario_runs_on_dsl_closures(data: dict[str, Any], path: list[str], amount: int | None) -> None:
    workflow = start([model(FIXTURES / "scenario_teate.bpmn")], "Process_Teate")
    workflow.do_engine_steps()
    workflow = save_restore(workflow)
    workflow = complete(workflow, "Task_Shinsei", data)
    assert workflow.is_completed()
    assert path_taken(workflow) == path
    assert workflow.data.get("支給額") == amount


def test_builtins_eval_and_exec_are_never_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = model(FIXTURES / "scenario_teate.bpmn")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec reached")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    workflow = start([loaded], "Process_Teate")
    workflow.do_engine_steps()
    workflow = complete(workflow, "Task_Shinsei", {"児童数": 1, "所得": 1_000_000})
    assert workflow.is_completed() and workflow.data["支給額"] == 15_000


def test_runtime_dsl_error_is_an_eng_diagnostic() -> None:
    workflow = start([model(FIXTURES / "scenario_teate.bpmn")], "Process_Teate")
    workflow.do_engine_steps()
    (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    task.data.update({"児童数": 2})  # 所得 missing: the gateway condition cannot be decided
    task.run()
    with pytest.raises(ProcessRuntimeError) as caught:
        workflow.do_engine_steps()
    diagnostic = caught.value.diagnostic
    assert diagnostic.code == "ENG504"
    assert (diagnostic.span.file, diagnostic.span.line) == ("scenario_teate.bpmn", 24)


def test_core_process_calls_its_subprocess() -> None:
    tennyu = model(ROOT / "processes" / "tennyu" / "tennyu.bpmn")
    kisai = model(ROOT / "processes" / "tennyu" / "kisai.bpmn")
    hook = model(ROOT / "processes" / "tennyu" / "hook_kisai.bpmn")  # the core's default: no steps
    workflow = start([tennyu, kisai, hook], "Process_Tennyu")
    # The case service sets the reference date and the municipality's calendar; 期限日 needs the calendar.
    set_eval_context(workflow, EvalContext(on=dt.date(2025, 4, 10), calendar=MunicipalCalendar.layered("横浜市", [])))
    workflow.do_engine_steps()
    workflow = complete(workflow, "UserTask_Uketsuke", {
        "氏名": "山田太郎", "転入日": "2025-04-01", "届出日": "2025-04-10", "前住所": "大阪市", "世帯員数": 2})
    workflow = complete(workflow, "UserTask_Honnin", {"本人確認済": True})
    workflow = complete(workflow, "UserTask_Kisai", {"住民票コード": "12345678901"})
    assert workflow.is_completed()
    assert workflow.data["期限内"] is True and workflow.data["記載済"] is True


def test_dsl_timer_evaluates_to_iso_in_tokyo() -> None:
    workflow = start([model(FIXTURES / "timer_dsl_ok.bpmn")], "Process_1")
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data["申請日"] = "2025-04-01"
    workflow.do_engine_steps()
    workflow = save_restore(workflow)
    (timer,) = [t for t in workflow.get_tasks() if t.task_spec.name == "Timer_1"]
    assert timer.internal_data["event_value"] == "2025-04-15T00:00:00+09:00"
    (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    task.data["申請日"] = dt.date(2025, 4, 1)
    assert workflow.script_engine.evaluate(task, "日後(申請日, 14)") == "2025-04-15T00:00:00+09:00"


def test_unchecked_text_is_refused_not_evaluated() -> None:
    workflow = start([model(FIXTURES / "scenario_teate.bpmn")], "Process_Teate")
    workflow.do_engine_steps()
    (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    with pytest.raises(ProcessRuntimeError) as caught:
        workflow.script_engine.evaluate(task, "__import__('os').system('true')")
    assert caught.value.diagnostic.code == "ENG501"


@pytest.mark.parametrize("name", ["python_script.bpmn", "dunder_condition.bpmn", "dsl_syntax_error.bpmn"],
                         ids=["python-script", "dunder-condition", "dsl-syntax-error"])
def test_models_with_errors_are_never_bound(name: str) -> None:
    loaded, found = validate_bpmn(FIXTURES / name, name)
    assert loaded is not None and found
    with pytest.raises(DiagnosticError):
        bind([loaded], "Process_1")
