"""The validation pass: one file (`validate_bpmn`) and a set of files checked together (`validate_set`).

Only a model with no error diagnostics may be bound to SpiffWorkflow (spiff.py enforces it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from dsl.rules.model import RuleSet
from engine.bpmn.depth import check_depth
from engine.bpmn.dialects import vendor_diagnostics
from engine.bpmn.expressions import ProcessScope, check_expressions
from engine.bpmn.structure import bpmn_children, check_structure, containers, executable
from engine.bpmn.xml import BPMN_NS, SourceFile, parse_source, read_source
from standard_core.diagnostics import Diagnostic, error, has_errors


@dataclass
class ValidatedModel:
    """A parsed BPMN file with its checked DSL closures; `clean` is True when it had no error."""

    path: Path
    source: SourceFile
    scopes: dict[str, ProcessScope]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def display(self) -> str:
        return self.source.display

    @property
    def clean(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def process_ids(self) -> list[str]:
        """Ids of the executable processes defined in this file."""
        return [p.get("id") or "" for p in bpmn_children(self.source.root, "process")
                if executable(p) and p.get("id")]

    def call_activities(self) -> list[etree._Element]:
        """Every callActivity in the file that names a calledElement."""
        return [e for e in self.source.root.iter(f"{{{BPMN_NS}}}callActivity") if e.get("calledElement")]


def validate_bpmn(path: Path, display: str | None = None,
                  rules: RuleSet | None = None) -> tuple[ValidatedModel | None, list[Diagnostic]]:
    """Validate one BPMN file on its own (call targets are resolved by validate_set); `rules` are the rule
    files its business rule tasks may call (engine.rulesets.RuleSets.for_file).

    Returns the model (None when the file is not readable BPMN at all) and every diagnostic found.
    Never raises on bad input.
    """
    source, diagnostics = read_source(path, display or str(path))
    return _validate(path, source, diagnostics, rules)


def validate_source(data: bytes, display: str, rules: RuleSet | None = None,
                    path: Path | None = None) -> tuple[ValidatedModel | None, list[Diagnostic]]:
    """Validate BPMN held in memory (a spec stored in the database, a diagram edited in the studio) exactly as
    validate_bpmn does; `path` is where the file lives or would live (in its pack), when it has one."""
    source, diagnostics = parse_source(data, display)
    return _validate(path or Path(display), source, diagnostics, rules)


def _validate(
    path: Path, source: SourceFile | None, diagnostics: list[Diagnostic], rules: RuleSet | None,
) -> tuple[ValidatedModel | None, list[Diagnostic]]:
    if source is None:
        return None, diagnostics
    diagnostics.extend(check_structure(source))
    diagnostics.extend(vendor_diagnostics(source))
    for container in containers(source.root):
        too_deep = check_depth(source, container)
        if too_deep is not None:
            diagnostics.append(too_deep)
    scopes, expression_diagnostics = check_expressions(source, rules)
    diagnostics.extend(expression_diagnostics)
    model = ValidatedModel(path, source, scopes, diagnostics)
    return model, list(diagnostics)


def validate_set(
    models: Iterable[ValidatedModel], context: Iterable[ValidatedModel] = (), replaceable: Collection[str] = (),
) -> list[Diagnostic]:
    """Cross-file checks of `models`: duplicate process ids, and call activities whose target is missing.

    `context` holds further models call activities may target (processes/, base packs) without being
    checked themselves. A process id in `replaceable` (a core hook, engine.hooks) may be defined again by
    a checked model when its first definition lies in the context. The returned diagnostics are also
    appended to each model's own list.
    """
    checked = list(models)
    context = list(context)
    defined: dict[str, ValidatedModel] = {}
    for model in [*context, *checked]:
        for process_id in model.process_ids:
            defined.setdefault(process_id, model)
    found: list[Diagnostic] = []
    for model in checked:
        own: list[Diagnostic] = []
        for process in bpmn_children(model.source.root, "process"):
            first = defined.get(process.get("id") or "")
            if (process.get("id") or "") in replaceable and first in context:
                continue
            if executable(process) and first is not None and first is not model:
                own.append(error(
                    "BPM434", f"プロセス id「{process.get('id')}」は {first.display} でも定義されています",
                    model.source.span(process), "プロセス id は core と全パックを通じて一意にしてください。"
                    "パック独自のプロセスにはパック名を含む id を付けてください。"))
        for call in model.call_activities():
            target = call.get("calledElement") or ""
            if target not in defined:
                known = sorted(defined)
                own.append(error(
                    "BPM429", f"呼び出し先のプロセス「{target}」が見つかりません", model.source.span(call),
                    "calledElement を既存のプロセス id にしてください。"
                    + (f"候補: {', '.join(known[:8])}" if known else "")))
        model.diagnostics.extend(own)
        found.extend(own)
    return found
