"""Driving SpiffWorkflow safely: loop rewinds, a full-scan completion check, and the task projection.

SpiffWorkflow 3.2 grows its task tree by one level per task run, loops included; its TaskIterator stops
at depth 1000, so a case that looped a few hundred times reports itself complete while a task is still
READY (tests/test_engine_loops.py reproduces it). jichi therefore rewinds every back-edge: when a task
is about to be entered again below an earlier occurrence of the same BPMN element, the earlier
occurrence is reset (`reset_from_task_id`) with the current data instead of growing the tree. The tree,
and so the stored state, stays bounded however often a 差戻し loop is taken; the history lives in the
audit log and the task rows, not in the tree.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import ExclusiveGateway, InclusiveGateway
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent as BoundaryEventMixin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from standard_core.diagnostics import DiagnosticError, Span, error

# States that say the task will (or does) exist, as opposed to MAYBE/LIKELY predictions.
DEFINITE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.FUTURE
UNFINISHED = TaskState.READY | TaskState.WAITING | TaskState.STARTED
# A fuse, far above any rewound tree: a process without loops this deep is refused by BPM430 at load.
MAX_TREE_DEPTH = 800
MAX_REWINDS_PER_STEP = 10_000


class _Rewind(Exception):
    def __init__(self, child: Any, earlier: Any) -> None:
        super().__init__()
        self.child, self.earlier = child, earlier


@dataclass(frozen=True)
class Decision:
    """An exclusive/inclusive gateway's choice, for the audit log."""

    bpmn_id: str
    name: str
    chosen: tuple[str, ...]
    data: dict[str, Any]


def _reentry(task: Any) -> None:
    """Raise _Rewind if a child just created by `task` re-enters an element already on its path."""
    for child in task.children:
        if not child.state & DEFINITE:
            continue
        spec = child.task_spec
        earlier = child.parent
        while earlier is not None:
            if earlier.task_spec is spec:
                raise _Rewind(child, earlier)
            earlier = earlier.parent


def _rewind(workflow: BpmnWorkflow, r: _Rewind) -> None:
    # The earlier occurrence starts again with the data that came round the loop; its old descendants
    # (the previous pass through the loop) are dropped from the tree. Becoming ready, SpiffWorkflow merges
    # the parent's (older) data over it, so the loop's data is applied again afterwards: a 差戻し reason
    # entered in the loop must reach the drafter.
    data = copy.deepcopy(r.child.data)
    workflow.reset_from_task_id(r.earlier.id, data=copy.deepcopy(data))  # merged into in place: a copy
    r.earlier.data.update(data)


def complete_manual(workflow: BpmnWorkflow, task: Any, on_decision: Callable[[Decision], None]) -> None:
    """Run a READY manual task (its data already set) and advance the workflow, rewinding loops."""
    task.run()
    try:
        _reentry(task)
    except _Rewind as r:
        _rewind(workflow, r)
    advance(workflow, on_decision)


def advance(workflow: BpmnWorkflow, on_decision: Callable[[Decision], None]) -> None:
    """do_engine_steps until only manual or waiting tasks remain, rewinding every back-edge taken."""

    def did_complete(task: Any) -> None:
        spec = task.task_spec
        if isinstance(spec, (ExclusiveGateway, InclusiveGateway)):
            chosen = tuple(c.task_spec.bpmn_id or c.task_spec.name for c in task.children if c.state & DEFINITE)
            on_decision(Decision(spec.bpmn_id or spec.name, spec.bpmn_name or "", chosen, dict(task.data)))
        _reentry(task)

    for _ in range(MAX_REWINDS_PER_STEP):
        try:
            workflow.do_engine_steps(did_complete_task=did_complete)
            return
        except _Rewind as r:
            _rewind(workflow, r)
    raise DiagnosticError([error("ENG520", "ループが止まりません（自動で実行される手順だけでループしています）",
                                 Span("<実行時>", 1, 1), "ループのどこかに人の作業か終了条件を入れてください。")])


def walk(workflow: BpmnWorkflow) -> Iterator[tuple[Any, int]]:
    """Every task of the workflow and its sub-workflows with its depth, without recursion or depth limit."""
    workflows = [workflow, *workflow.subprocesses.values()]
    for wf in workflows:
        stack = [(wf.task_tree, 1)]
        while stack:
            task, depth = stack.pop()
            yield task, depth
            stack.extend((child, depth + 1) for child in task.children)


def finished(workflow: BpmnWorkflow) -> bool:
    """True when the case is over, by a full scan that must agree with SpiffWorkflow's own answer."""
    unfinished = False
    deepest = 0
    for task, depth in walk(workflow):
        deepest = max(deepest, depth)
        if task.state & UNFINISHED:
            unfinished = True
    if deepest > MAX_TREE_DEPTH:
        raise DiagnosticError([error("ENG521", f"案件の内部状態が深くなりすぎました（{deepest} 段）",
                                     Span("<実行時>", 1, 1), "開発者に連絡してください（ループの巻き戻しが効いていません）。")])
    reported = workflow.is_completed()
    if reported and unfinished:
        raise DiagnosticError([error("ENG522", "エンジンが完了と報告しましたが、未完了のタスクが残っています",
                                     Span("<実行時>", 1, 1), "この操作は取り消されました。開発者に連絡してください。")])
    return not unfinished and reported


@dataclass(frozen=True)
class LiveTask:
    """A task the projection shows: a user task waiting for a person, or a timer waiting for time."""

    spiff_id: str
    kind: str  # user | timer
    bpmn_id: str
    name: str
    lane: str | None
    due_at: datetime | None


def live_tasks(workflow: BpmnWorkflow) -> list[LiveTask]:
    """Ready user tasks and waiting timer events, across sub-workflows."""
    found: list[LiveTask] = []
    for task, _ in walk(workflow):
        spec = task.task_spec
        if task.state == TaskState.READY and spec.manual:
            found.append(LiveTask(str(task.id), "user", spec.bpmn_id or spec.name, spec.bpmn_name or spec.name,
                                  spec.lane, deadline(task)))
        elif task.state == TaskState.WAITING and isinstance(getattr(spec, "event_definition", None),
                                                             TimerEventDefinition):
            found.append(LiveTask(str(task.id), "timer", spec.bpmn_id or spec.name, spec.bpmn_name or spec.name,
                                  spec.lane, timer_due(task)))
    return found


def deadline(task: Any) -> datetime | None:
    """A user task's deadline: the earliest waiting timer attached to it as a boundary event (what happens at
    the deadline — a reminder, an escalation — is what that timer leads to in the diagram)."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return None
    dues = [timer_due(sibling) for sibling in parent.children
            if sibling is not task and sibling.state == TaskState.WAITING
            and isinstance(sibling.task_spec, BoundaryEventMixin)
            and isinstance(getattr(sibling.task_spec, "event_definition", None), TimerEventDefinition)]
    found = [d for d in dues if d is not None]
    return min(found) if found else None


def timer_due(task: Any) -> datetime | None:
    """When a waiting timer fires (SpiffWorkflow keeps it as ISO text in the task's internal data)."""
    value = task._get_internal_data("event_value")
    if isinstance(value, dict):  # cycle timers keep {'next': ..., 'cycles': ...}
        value = value.get("next")
    if not isinstance(value, str):
        return None
    try:
        return TimerEventDefinition.get_datetime(value)  # type: ignore[no-any-return]
    except ValueError:
        return None
