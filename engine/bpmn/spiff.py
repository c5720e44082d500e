"""Binding validated models to SpiffWorkflow 3.2: specs, the DSL script engine, and serialization.

SpiffWorkflow's default script environment is plain `eval`/`exec` on task data. `DslScriptEngine`
replaces it entirely: every condition, script and timer was compiled to DSL closures at load time, and
at run time the engine only looks the text up (per process scope) and runs the closure. Text that was
not compiled at load — which cannot happen for a model that validated clean — is refused, never eval'd.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any, ClassVar

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.parser.task_parsers import ScriptTaskParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.defaults import ParallelMultiInstanceTask, ScriptTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

import dsl
from dsl.context import EvalContext
from dsl.rules.model import RuleSet
from dsl.rules.runtime import RuleRuntime, json_trace
from dsl.values import json_value
from engine.bpmn.expressions import Compiled, ProcessScope, decision_key, iso_timer_error
from engine.bpmn.validate import ValidatedModel
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

TOKYO = dt.timezone(dt.timedelta(hours=9), "Asia/Tokyo")
_SCOPE_KEY = "__jichi_scope__"
_EVAL_KEY = "__jichi_eval__"
_EVAL_ATTRIBUTE = "jichi_eval_context"
_RULES_ATTRIBUTE = "jichi_rules"
_DECIDED_ATTRIBUTE = "jichi_decided"

RulesProvider = Callable[[], RuleSet | None]


class ProcessRuntimeError(DiagnosticError):
    """A DSL text failed while a process ran (ENG5xx); `diagnostic` says where and why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__([diagnostic])
        self.diagnostic = diagnostic


def _runtime(code: str, message: str, hint: str = "") -> ProcessRuntimeError:
    return ProcessRuntimeError(error(code, message, Span("<実行時>", 1, 1), hint))


class DslEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]  # untyped base class
    """Runs closures compiled at load, looked up by (process scope, text). Never evaluates Python."""

    def __init__(self, scopes: Iterable[ProcessScope]) -> None:
        super().__init__({})
        self.by_member: dict[str, ProcessScope] = {}
        for scope in scopes:
            for member in scope.member_ids | {scope.process_id}:
                self.by_member[member] = scope

    def compiled(self, text: str, external_context: Mapping[str, Any] | None) -> Compiled:
        """The closure compiled at load for `text` in the scope named by the engine."""
        scope = self.by_member.get(str((external_context or {}).get(_SCOPE_KEY)))
        entry = scope.compiled.get(text) if scope is not None else None
        if entry is None:
            raise _runtime("ENG501", "読み込み時に検査されていない式は実行できません",
                           "プロセスを jichi check で検査してから読み込んでください。")
        return entry

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        entry = self.compiled(expression, external_context)
        if entry.literal is not None:
            return entry.literal
        if entry.expression is None:
            raise _runtime("ENG501", "スクリプトを式として評価しようとしました")
        try:
            value = entry.expression.evaluate(context, (external_context or {}).get(_EVAL_KEY))
        except dsl.DslRuntimeError as e:
            raise _from_dsl(e.diagnostic, entry) from e
        return _timer_value(value, entry) if entry.kind == "timer" else value

    def execute(self, script: str, context: dict[str, Any],
                external_context: Mapping[str, Any] | None = None) -> bool:
        entry = self.compiled(script, external_context)
        if entry.script is None:
            raise _runtime("ENG501", "式をスクリプトとして実行しようとしました")
        try:
            entry.script.run(context, (external_context or {}).get(_EVAL_KEY))
        except dsl.DslRuntimeError as e:
            raise _from_dsl(e.diagnostic, entry) from e
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise _runtime("ENG502", "サービス呼び出しは未対応です")


def _from_dsl(cause: Diagnostic, entry: Compiled) -> ProcessRuntimeError:
    """ENG504 at the BPMN element whose DSL failed on this case's data, quoting the DSL diagnostic."""
    what = {"condition": "条件式", "script": "スクリプト", "timer": "タイマー式"}[entry.kind]
    where = entry.where or Span("<実行時>", 1, 1)
    return ProcessRuntimeError(error(
        "ENG504", f"{what}を実行できませんでした（{cause.code} {cause.message}）", where,
        cause.hint or "案件のデータに、式が使う項目がそろっているか確認してください。"))


def _timer_value(value: object, entry: Compiled) -> str:
    """SpiffWorkflow's timers parse an ISO 8601 string; a DSL date means midnight in Tokyo."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), TOKYO).isoformat()
    if isinstance(value, str) and entry.timer is not None and iso_timer_error(value, entry.timer) is None:
        return value
    raise _runtime("ENG503", f"タイマー式の値「{value}」は ISO 8601 ではありません",
                   "P14D や 2025-04-01T09:00:00+09:00 の形になる式にしてください。")


def eval_context(workflow: BpmnWorkflow) -> EvalContext | None:
    """The evaluation context set on `workflow` (it is not part of the saved state)."""
    context: EvalContext | None = getattr(workflow, _EVAL_ATTRIBUTE, None)
    return context


def set_eval_context(workflow: BpmnWorkflow, context: EvalContext | None) -> None:
    """What DSL texts of this workflow see as 基準日 and as the municipality's calendar from now on."""
    setattr(workflow, _EVAL_ATTRIBUTE, context)


class DslScriptEngine(PythonScriptEngine):  # type: ignore[misc]  # untyped base class
    """A PythonScriptEngine whose evaluate/execute run DSL closures; eval/exec are never reached."""

    def __init__(self, scopes: Iterable[ProcessScope]) -> None:
        super().__init__(environment=DslEnvironment(scopes))

    @staticmethod
    def _context(task: Any, external_context: Mapping[str, Any] | None) -> dict[str, Any]:
        # The scope is the process (or sub-process) whose spec owns the task; the evaluation context
        # (reference date, municipality calendar) is the one the case service set on the workflow.
        return {**(external_context or {}), _SCOPE_KEY: task.task_spec._wf_spec.name,
                _EVAL_KEY: getattr(task.workflow.top_workflow, _EVAL_ATTRIBUTE, None)}

    def validate(self, expression: str) -> None:
        """SpiffWorkflow calls this to syntax-check Python; DSL texts were checked at load."""

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        return self.environment.evaluate(expression, task.data, self._context(task, external_context))

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        context = self._context(task, external_context)
        entry = self.environment.compiled(script, context)
        if entry.kind == "decision":
            _decide(task, entry, context[_EVAL_KEY])
            return True
        result: bool = self.environment.execute(script, task.data, context)
        return result

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        return self.environment.call_service(task.data, **kwargs)


def _decide(task: Any, entry: Compiled, context: EvalContext | None) -> None:
    """Run a business rule task: evaluate each called decision of the case's rule set on the task data.

    The rule set is the one the case pinned (or the municipality's current rules, see engine.cases); the
    value is stored in its JSON form under the result name, and the decision's trace is kept on the
    workflow for the step's audit event (take_decided).
    """
    workflow = task.workflow.top_workflow
    provider = rules_provider(workflow)
    rules = provider() if provider is not None else None
    where = entry.where or Span("<実行時>", 1, 1)
    if rules is None:
        raise ProcessRuntimeError(error("ENG506", "この案件に適用する規則を読み込めません", where,
                                        "団体のパックと規則の版（jichi pack activate）を確かめてください。"))
    calendar = context.calendar if context else None
    runtime = RuleRuntime(rules, task.data, on=context.on if context else None, calendar=calendar)
    decided = getattr(workflow, _DECIDED_ATTRIBUTE, None)
    if decided is None:
        decided = []
        setattr(workflow, _DECIDED_ATTRIBUTE, decided)
    for call in entry.decisions:
        if rules.definition_type(call.name) != call.type:
            raise ProcessRuntimeError(error(
                "ENG506", f"案件の規則の版では判定「{call.name}」が{call.type}として定義されていません", where,
                "案件が固定した規則の版に、この手続きが呼ぶ判定があるか確かめてください（jichi case move-rules）。"))
        try:
            if call.on is None:
                value, trace = runtime.evaluate(call.name)
            else:
                on = call.on.evaluate(task.data, context)
                assert isinstance(on, dt.date)  # checked to be 日付 at load
                value, trace = RuleRuntime(rules, task.data, on=on, calendar=calendar).evaluate(call.name)
        except dsl.DslRuntimeError as e:
            raise ProcessRuntimeError(error(
                "ENG504", f"判定「{call.name}」を評価できませんでした（{e.diagnostic.code} {e.diagnostic.message}）",
                where, e.diagnostic.hint or "案件のデータに、判定が読む項目がそろっているか確認してください。")) from e
        task.data[call.result] = json_value(value)
        decided.append({"bpmn_id": task.task_spec.bpmn_id, "decision": call.name, "result": call.result,
                        "value": json_value(value), "trace": json_trace(trace)})


def set_rules(workflow: BpmnWorkflow, provider: RulesProvider | None) -> None:
    """Where this workflow's business rule tasks get their rule set (called only when one runs)."""
    setattr(workflow, _RULES_ATTRIBUTE, provider)


def rules_provider(workflow: BpmnWorkflow) -> RulesProvider | None:
    """What set_rules set on `workflow` (it is not part of the saved state)."""
    provider: RulesProvider | None = getattr(workflow, _RULES_ATTRIBUTE, None)
    return provider


def take_decided(workflow: BpmnWorkflow) -> list[dict[str, Any]]:
    """The decisions evaluated since the last call (value and JSON trace each), and forget them."""
    decided: list[dict[str, Any]] = getattr(workflow, _DECIDED_ATTRIBUTE, None) or []
    setattr(workflow, _DECIDED_ATTRIBUTE, [])
    return decided


class _DecisionTaskParser(ScriptTaskParser):  # type: ignore[misc]  # untyped base class
    """A business rule task runs as a script task whose "script" is the key of its compiled decision calls."""

    def get_script(self) -> str:
        return decision_key(self.bpmn_id)


class _JichiParser(BpmnParser):  # type: ignore[misc]  # untyped base class
    """SpiffWorkflow's parser fed only with lxml trees we already validated (no file reading, no XSD)."""

    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, tuple[type, type]]] = {
        full_tag("businessRuleTask"): (_DecisionTaskParser, ScriptTask)}


def bind(models: Iterable[ValidatedModel], process_id: str) -> tuple[Any, dict[str, Any], DslScriptEngine]:
    """Build (spec, subprocess specs, script engine) for `process_id` from models that validated clean.

    Raises DiagnosticError if any model has errors (nothing unvalidated reaches SpiffWorkflow) or if
    SpiffWorkflow still rejects the model (BPM490, a gap in our validator).
    """
    models = list(models)
    dirty = [d for m in models for d in m.diagnostics if d.is_error]
    if dirty:
        raise DiagnosticError(dirty)
    parser = _JichiParser()
    try:
        for model in models:
            parser.add_bpmn_xml(model.source.root, filename=model.display)
        spec = parser.get_spec(process_id)
        subprocesses = parser.get_subprocess_specs(process_id)
    except (ValidationException, RecursionError) as e:
        raise DiagnosticError([error(
            "BPM490", f"SpiffWorkflow がプロセスを読み込めませんでした: {e}", Span(models[0].display, 1, 1),
            "検査をすり抜けた問題です。このファイルを添えて開発者に報告してください。")]) from e
    for wf_spec in [spec, *subprocesses.values()]:
        for task_spec in wf_spec.task_specs.values():
            if isinstance(task_spec, ParallelMultiInstanceTask) and task_spec.input_item is not None:
                _forget_input_item(task_spec)
    engine = DslScriptEngine(scope for m in models for scope in m.scopes.values())
    return spec, subprocesses, engine


def _forget_input_item(spec: Any) -> None:
    """A finished instance's data is merged into the multi-instance task (SpiffWorkflow 3.2) — including the
    element it was given, so the next pass through the same or another multi-instance task (合議 部内, then
    他部) would find that name taken and stop. The element is dropped from the merged data."""
    merge = type(spec).merge_child

    def merge_child(workflow: Any, child: Any) -> None:
        merge(spec, workflow, child)
        child.parent.data.pop(spec.input_item.bpmn_id, None)

    spec.merge_child = merge_child


def start(models: Iterable[ValidatedModel], process_id: str) -> BpmnWorkflow:
    """A new workflow instance of `process_id`, running on the DSL script engine."""
    spec, subprocesses, engine = bind(models, process_id)
    return BpmnWorkflow(spec, subprocesses, script_engine=engine)


def _data_registry() -> DefaultRegistry:
    registry = DefaultRegistry()
    registry.register(dt.date, lambda v: {"value": v.isoformat()}, lambda v: dt.date.fromisoformat(v["value"]),
                      typename="date")
    registry.register(Fraction, lambda v: {"n": v.numerator, "d": v.denominator},
                      lambda v: Fraction(v["n"], v["d"]), typename="Fraction")
    return registry


@functools.cache
def serializer() -> BpmnWorkflowSerializer:
    """A BpmnWorkflowSerializer that also knows the DSL's runtime values (dates and exact rates).

    Built once per process: it holds only converter tables, and building it costs more than a step.
    """
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(registry=_data_registry()))


class _StateConverter(BpmnWorkflowConverter):  # type: ignore[misc]  # untyped base class
    """Converts a workflow without its specs: jichi stores the BPMN once per content hash (process_spec),
    so each case row holds only its state. SpiffWorkflow's own format repeats the whole spec in every
    serialized workflow, which is most of its size and of the time to write it."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["spec"] = workflow.spec.name
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


@functools.cache
def _state_serializer() -> BpmnWorkflowSerializer:
    registry = _data_registry()
    config = {**DEFAULT_CONFIG, BpmnWorkflow: _StateConverter}
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config, registry=registry))


def dump_state(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON, without its specs (see _StateConverter)."""
    return _state_serializer().serialize_json(workflow)  # type: ignore[no-any-return]


def load_state(state: str, spec: Any, subprocess_specs: Mapping[str, Any], engine: DslScriptEngine) -> BpmnWorkflow:
    """Rebuild a workflow from dump_state() output and the specs it runs on (from the registry)."""
    dct = json.loads(state)
    dct.pop(BpmnWorkflowSerializer.VERSION_KEY, None)
    # Already-built objects pass through the converter registry unchanged.
    dct["spec"] = spec
    dct["subprocess_specs"] = dict(subprocess_specs)
    workflow: BpmnWorkflow = _state_serializer().from_dict(dct)
    workflow.script_engine = engine
    return workflow


def restore(serialized: str, engine: DslScriptEngine) -> BpmnWorkflow:
    """Deserialize a workflow and put the DSL engine back before anything can run on the default one."""
    workflow: BpmnWorkflow = serializer().deserialize_json(serialized)
    workflow.script_engine = engine
    return workflow
