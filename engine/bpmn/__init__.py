"""BPMN loading for jichi: a validation pass (diagnostics, never tracebacks) before SpiffWorkflow sees a file.

    validate_bpmn(path, display=None, rules=None) -> (ValidatedModel | None, list[Diagnostic])
    validate_set(models, context=()) -> list[Diagnostic]        cross-file: call targets, duplicate ids
    bind(models, process_id) -> (spec, subprocess_specs, DslScriptEngine)   clean models only
    start(models, process_id) -> BpmnWorkflow
    serializer() / restore(json, engine)                            save and restore running workflows
    dump_state(workflow) / load_state(json, spec, subprocess_specs, engine)   the same without the specs
    set_eval_context / set_rules / take_decided     what a running workflow's DSL and decisions see and did
"""

from engine.bpmn.spiff import (
    DslScriptEngine,
    ProcessRuntimeError,
    bind,
    dump_state,
    eval_context,
    load_state,
    restore,
    rules_provider,
    serializer,
    set_eval_context,
    set_rules,
    start,
    take_decided,
)
from engine.bpmn.validate import ValidatedModel, validate_bpmn, validate_set, validate_source

__all__ = [
    "DslScriptEngine",
    "ProcessRuntimeError",
    "ValidatedModel",
    "bind",
    "dump_state",
    "eval_context",
    "load_state",
    "restore",
    "rules_provider",
    "serializer",
    "set_eval_context",
    "set_rules",
    "start",
    "take_decided",
    "validate_bpmn",
    "validate_set",
    "validate_source",
]
