"""The procedures a deployment can run: BPMN of the core and the packs, validated, bound and cached.

A procedure is bound from a *bundle*: the file that defines the process plus every file that defines a
process it calls (transitively). The bundle's content hash is the spec hash a case pins; the files are
stored once per hash (table process_spec) so a case keeps running on exactly the BPMN it started with,
even after the files on disk change.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dsl.rules.model import RuleSet
from dsl.types import Type
from engine.bpmn import DslScriptEngine, ValidatedModel, bind, validate_bpmn, validate_set, validate_source
from engine.bpmn.xml import BPMN_NS, JICHI_NS
from engine.calendars import calendar_for, pack_for
from engine.forms import (
    Form,
    Variation,
    core_form_targets,
    is_form_file,
    pack_variations,
    read_variations,
    vary,
)
from engine.hooks import core_hooks, hook_conformance, is_hook_implementation
from engine.models import ProcessSpec
from engine.notices import Notice, load_notices, unknown_processes
from engine.packs import Pack
from engine.rulesets import RuleSets
from standard_core.diagnostics import DiagnosticError, Span, error, has_errors
from standard_core.municipal_calendar import MunicipalCalendar

_ENCODING = re.compile(r"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass
class Procedure:
    """A runnable process: its bound SpiffWorkflow specs, DSL engine and declared data."""

    process_id: str
    name: str
    spec_hash: str
    files: dict[str, str]
    spec: Any
    subprocess_specs: dict[str, Any]
    script_engine: DslScriptEngine
    inputs: dict[str, Type]  # jichi:data on the process: what a case may be started with
    forms: dict[str, Form]  # user task id → its form, with the municipality's variations
    # user task id → the data item whose value is the title of the position it goes to (jichi:assign)
    assign: dict[str, str] = field(default_factory=dict)
    assign_unit: dict[str, str] = field(default_factory=dict)  # … and the item naming its unit, if not the case's
    names: dict[str, str] = field(default_factory=dict)  # BPMN element id → Japanese name


def bundle_hash(files: dict[str, str]) -> str:
    """sha256 of the canonical JSON of {file name: text}: the identity of what a case runs on."""
    canonical = json.dumps(files, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Registry:
    """Validated models of the core (processes/) and the packs (local_rules/*/processes/), by process id."""

    def __init__(self, models: Iterable[ValidatedModel], packs: Iterable[Pack] = (),
                 hook_implementations: dict[str, dict[str, ValidatedModel]] | None = None,
                 rule_sets: RuleSets | None = None, variations: dict[str, list[Variation]] | None = None) -> None:
        """`hook_implementations`: pack id → core hook process id → the pack's model implementing it;
        `rule_sets`: the rule files on disk, for business rule tasks (None: a process may not call any);
        `variations`: pack id → its form variations (engine.forms), checked already."""
        self.models = list(models)
        self.rule_sets = rule_sets
        self.variations = variations or {}
        self.packs = list(packs)
        self.hook_implementations = hook_implementations or {}
        self._calendars: dict[str, MunicipalCalendar | None] = {}
        self._hooks: dict[str, dict[str, ValidatedModel]] = {}  # by municipality
        self._varied: dict[str, list[Variation]] = {}  # form variations by municipality
        self._by_process: dict[str, ValidatedModel] = {}
        for model in self.models:
            for process_id in model.process_ids:
                self._by_process.setdefault(process_id, model)
        self.notices: list[tuple[Notice, Pack | None]] = []  # 帳票 of the core and the packs (engine.notices)
        self._bound: dict[str, Procedure] = {}  # by spec hash
        self._current: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Procedure] = {}  # process, hooks, forms
        self._lock = threading.Lock()

    @classmethod
    def load(cls, root: Path) -> Registry:
        """Validate every BPMN file under root/processes and the packs; refuse to start on any error."""
        rule_sets = RuleSets(root)
        packs, pack_diagnostics = rule_sets.packs, rule_sets.pack_diagnostics
        diagnostics = list(pack_diagnostics)

        def validated(files: Iterable[Path]) -> list[ValidatedModel]:
            out = []
            for file in files:
                model, found = validate_bpmn(file, file.relative_to(root).as_posix(), rule_sets.for_file(file))
                diagnostics.extend(found)
                if model is not None:
                    out.append(model)
            return out

        core = validated(sorted((root / "processes").glob("**/*.bpmn")))
        hooks = core_hooks(core)
        models, attached = list(core), {}
        for pack in packs:
            own = validated(pack.process_files)
            diagnostics.extend(hook_conformance(own, core))
            attached[pack.id] = [m for m in own if is_hook_implementation(m, hooks)]
            models.extend(m for m in own if m not in attached[pack.id])
        diagnostics.extend(validate_set(models))
        for hook_models in attached.values():
            diagnostics.extend(validate_set(hook_models, models, replaceable=hooks.keys()))
        implementations = {pack_id: {pid: m for m in hook_models for pid in m.process_ids}
                           for pack_id, hook_models in attached.items()}
        variations, found = pack_variations(root, packs, core, rule_sets.for_file)
        diagnostics.extend(found)
        notices, found = load_notices(root, packs)
        diagnostics.extend(found)
        diagnostics.extend(unknown_processes(notices, {pid for m in models for pid in m.process_ids}))
        if has_errors(diagnostics):
            raise DiagnosticError([d for d in diagnostics if d.is_error])
        registry = cls(models, packs, implementations, rule_sets, variations)
        registry.notices = notices
        return registry

    def hooks_for(self, municipality: str | None) -> dict[str, ValidatedModel]:
        """The hook implementations that apply to a municipality: its pack's over its prefecture's pack's."""
        if municipality is None or not self.hook_implementations:
            return {}
        with self._lock:
            known = self._hooks.get(municipality)
        if known is not None:
            return known
        pack, _, problems = pack_for(municipality, self.packs)
        chosen: dict[str, ValidatedModel] = {}
        for layer in (pack.layers or (pack.id,)) if pack is not None and not problems else ():
            chosen.update(self.hook_implementations.get(layer, {}))
        with self._lock:
            self._hooks[municipality] = chosen  # read on every start: resolved once per municipality
        return chosen

    def rules(self, municipality: str) -> RuleSet | None:
        """The municipality's rules as on disk (core, prefecture, municipality): for a case that pinned no
        activated version. None when there are none or they have errors."""
        if self.rule_sets is None:
            return None
        rules, _ = self.rule_sets.for_municipality(municipality)
        return rules

    def _variations_for(self, municipality: str | None) -> list[Variation]:
        """The form variations that apply to a municipality: its prefecture's pack's, then its own pack's."""
        if municipality is None or not self.variations:
            return []
        with self._lock:
            known = self._varied.get(municipality)
        if known is not None:
            return known
        pack, _, problems = pack_for(municipality, self.packs)
        found = [] if pack is None or problems else [
            v for layer in (pack.layers or (pack.id,)) for v in self.variations.get(layer, [])]
        with self._lock:
            self._varied[municipality] = found  # read on every start: resolved once per municipality
        return found

    def calendar(self, municipality: str) -> MunicipalCalendar | None:
        """The municipality's calendar (its pack, else its prefecture's, else the core defaults).

        None when its packs have errors: open-day functions then fail with a diagnostic, never guess.
        """
        with self._lock:
            if municipality in self._calendars:
                return self._calendars[municipality]
        calendar, _ = calendar_for(municipality, self.packs)
        with self._lock:
            self._calendars[municipality] = calendar
        return calendar

    def process_ids(self) -> list[str]:
        return sorted(self._by_process)

    def offered(self, municipality: str) -> list[tuple[str, str]]:
        """(process id, name) of the procedures a clerk of `municipality` may start: the core's, and those of
        the packs that serve it; never a hook implementation (Hook_…), which only runs inside a procedure."""
        served = {p.directory.name for p in self.packs if p.serves(municipality)}
        found = []
        for process_id, model in sorted(self._by_process.items()):
            parts = model.display.split("/")
            if process_id.startswith("Hook_") or (parts[0] == "local_rules" and parts[1] not in served):
                continue
            found.append((process_id, self.procedure(process_id, municipality).name))
        return found

    def procedure(self, process_id: str, municipality: str | None = None) -> Procedure:
        """The current procedure for process_id as the files on disk define it, with the hooks the packs of
        `municipality` attach (none when municipality is None)."""
        model = self._by_process.get(process_id)
        if model is None:
            known = "、".join(self.process_ids()) or "（なし）"
            raise DiagnosticError([error("ENG510", f"手続き「{process_id}」はありません", Span("<手続き>", 1, 1),
                                         f"登録されている手続き: {known}")])
        hooks = self.hooks_for(municipality)
        bundle = self._bundle(model, hooks)
        ids = {pid for m in bundle for pid in m.process_ids}
        varied = [v for v in self._variations_for(municipality) if v.process_id in ids]
        key = (process_id, tuple(sorted(m.display for m in hooks.values())), tuple(v.display for v in varied))
        with self._lock:
            current = self._current.get(key)
        if current is not None:
            return current
        files = {m.display: _text(m) for m in bundle}
        files.update({v.display: v.text for v in varied})
        procedure = self._bind(process_id, files, bundle)
        with self._lock:
            # The files were read when the registry was loaded; they do not change under a running process.
            self._current[key] = procedure
        return procedure

    def stored(self, session: Session, spec_hash: str) -> Procedure:
        """The procedure a case pinned, rebuilt from the stored files when not cached in this process."""
        with self._lock:
            cached = self._bound.get(spec_hash)
        if cached is not None:
            return cached
        row = session.get(ProcessSpec, spec_hash)
        if row is None:
            raise DiagnosticError([error("ENG513", f"案件が使う手続きの版（{spec_hash[:12]}）が見つかりません",
                                         Span("<手続き>", 1, 1), "データベースの復元状態を確認してください。")])
        files: dict[str, str] = json.loads(row.files)
        models = []
        for display, text in sorted(files.items()):
            if is_form_file(display):
                continue  # a form variation of the bundle, applied in _bind
            # Type-checked against the rules on disk for the file's place; at run time the case's pinned
            # rule set is checked again per decision (engine.bpmn.spiff, ENG506).
            rules = self.rule_sets.for_file(self.rule_sets.root / display) if self.rule_sets is not None else None
            model, found = validate_source(_encode(text), display, rules)
            if model is None or has_errors(found):
                raise DiagnosticError([d for d in found if d.is_error] or [error(
                    "ENG513", "保存された手続きを読み込めません", Span(display, 1, 1), "開発者に連絡してください。")])
            models.append(model)
        return self._bind(row.process_id, files, models)

    def ensure_stored(self, session: Session, procedure: Procedure) -> None:
        """Store the procedure's files under its hash unless they are there already (idempotent, and safe when
        two app servers start the first case of a new version at once: the second insert does nothing)."""
        if session.get(ProcessSpec, procedure.spec_hash) is None:
            values = {"hash": procedure.spec_hash, "process_id": procedure.process_id, "name": procedure.name,
                      "files": json.dumps(procedure.files, ensure_ascii=False, sort_keys=True, separators=(",", ":"))}
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            session.execute(dialect.insert(ProcessSpec).values(values).on_conflict_do_nothing(index_elements=["hash"]))

    def _bundle(self, model: ValidatedModel, hooks: dict[str, ValidatedModel]) -> list[ValidatedModel]:
        """The model and every model it calls, transitively; a hook resolves to the pack's implementation."""
        bundle, todo = [model], [model]
        while todo:
            current = todo.pop()
            for call in current.call_activities():
                called = call.get("calledElement") or ""
                target = hooks.get(called) or self._by_process.get(called)
                if target is not None and target not in bundle:
                    bundle.append(target)
                    todo.append(target)
        return bundle

    def _bind(self, process_id: str, files: dict[str, str], models: list[ValidatedModel]) -> Procedure:
        spec_hash = bundle_hash(files)
        with self._lock:
            cached = self._bound.get(spec_hash)
            if cached is not None:
                return cached
        spec, subprocesses, engine = bind(models, process_id)
        forms = self._forms(models, files)
        main = next(m for m in models if process_id in m.process_ids)
        process = next(p for p in main.source.root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == process_id)
        procedure = Procedure(
            process_id=process_id, name=process.get("name") or process_id, spec_hash=spec_hash, files=files,
            spec=spec, subprocess_specs=subprocesses, script_engine=engine,
            inputs=_declared(process, "data", main, direct=True), forms=forms,
            assign={task: item for m in models for scope in m.scopes.values() for task, item in scope.assign.items()},
            assign_unit={task: item for m in models for scope in m.scopes.values()
                         for task, item in scope.assign_unit.items()},
            names={e.get("id") or "": e.get("name") or "" for m in models for e in m.source.root.iter()
                   if isinstance(e.tag, str) and e.get("id")},
        )
        with self._lock:
            self._bound.setdefault(spec_hash, procedure)
            return self._bound[spec_hash]


    def _forms(self, models: list[ValidatedModel], files: dict[str, str]) -> dict[str, Form]:
        """The forms of the bundle's user tasks with the bundle's variations (files under */forms/) applied."""
        forms, scopes = core_form_targets(models)
        texts = [(display, text) for display, text in sorted(files.items()) if is_form_file(display)]
        if not texts:
            return {task_id: form for (_, task_id), form in forms.items()}
        sets = self.rule_sets
        variations, found = read_variations(
            texts, lambda display: sets.for_file(sets.root / display) if sets is not None else None)
        variations.sort(key=_layer_order)
        varied, problems = vary(forms, scopes, variations)
        errors = [d for d in [*found, *problems] if d.is_error]
        if errors:
            raise DiagnosticError(errors)
        return {task_id: form for (_, task_id), form in varied.items()}


def _layer_order(variation: Variation) -> tuple[int, str]:
    """A prefecture's pack (code NN000x) varies a form before a municipality's pack does."""
    parts = variation.display.split("/")
    code = parts[1][:6] if len(parts) > 2 and parts[0] == "local_rules" else ""
    return (0 if code[2:5] == "000" else 1, variation.display)


def _declared(element: etree._Element, kind: str, model: ValidatedModel, direct: bool = False) -> dict[str, Type]:
    """jichi:data / jichi:field declarations of an element, typed as its process's validated scope resolved
    them (built-in types, or records and enumerations of the rule files)."""
    process = element if element.tag == f"{{{BPMN_NS}}}process" else next(
        (a for a in element.iterancestors(f"{{{BPMN_NS}}}process")), None)
    scope = model.scopes.get(process.get("id") or "") if process is not None else None
    found: dict[str, Type] = {}
    ext = element.find(f"{{{BPMN_NS}}}extensionElements")
    candidates = [] if ext is None else (ext.iterchildren(f"{{{JICHI_NS}}}{kind}") if direct
                                          else ext.iter(f"{{{JICHI_NS}}}{kind}"))
    for decl in candidates:
        name = (decl.get("name") or "").strip()
        t = scope.names.get(name) if scope is not None else None
        if t is not None:
            found[name] = t
    return found


def _text(model: ValidatedModel) -> str:
    if model.source.text is None:
        raise DiagnosticError([error("ENG513", "BPMN ファイルの文字コードを判別できません", Span(model.display, 1, 1),
                                     "UTF-8 で保存し直してください。")])
    return model.source.text


def _encode(text: str) -> bytes:
    match = _ENCODING.match(text)
    return text.encode(match.group(1) if match else "utf-8")
