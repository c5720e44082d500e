"""BPMN hooks: the places in a core procedure where a pack may attach its own steps.

The core declares a hook as a process of its own, marked `jichi:hook="<name>"` (e.g. 「転入.記載後」), whose
body is the default (usually start → end), and calls it from the core procedure with a callActivity. A pack
implements the hook by defining a process with the *same id* and the same `jichi:hook` name in its
processes/ folder; for the municipalities the pack serves, the registry binds the pack's process in place
of the default. Nothing else of the core can be replaced:

- STD304: a pack defines a process whose id is a core procedure that is not a hook;
- STD305: a pack marks a process `jichi:hook` with a name the core does not declare, or under another id.

Both are reported at the pack's process element, with a hint listing the hooks the core declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from engine.bpmn.structure import bpmn_children, executable
from engine.bpmn.validate import ValidatedModel
from engine.bpmn.xml import JICHI_NS
from standard_core.diagnostics import Diagnostic, error

HOOK_ATTRIBUTE = f"{{{JICHI_NS}}}hook"


@dataclass(frozen=True)
class Hook:
    """A hook the core declares: its process id (the callActivity's calledElement) and its name."""

    process_id: str
    name: str
    file: str
    documentation: str


def _processes(model: ValidatedModel) -> Iterable[etree._Element]:
    return (p for p in bpmn_children(model.source.root, "process") if executable(p) and p.get("id"))


def _documentation(process: etree._Element) -> str:
    docs = list(bpmn_children(process, "documentation"))
    return (docs[0].text or "").strip() if docs else ""


def core_hooks(core: Iterable[ValidatedModel]) -> dict[str, Hook]:
    """The hooks the core models declare, by process id."""
    return {p.get("id") or "": Hook(p.get("id") or "", p.get(HOOK_ATTRIBUTE) or "", model.display, _documentation(p))
            for model in core for p in _processes(model) if p.get(HOOK_ATTRIBUTE)}


def is_hook_implementation(model: ValidatedModel, hooks: dict[str, Hook]) -> bool:
    """True when every process of the pack model implements a declared hook (same id, same name): the
    file is attached to the core, not added beside it."""
    processes = list(_processes(model))
    return bool(processes) and all(
        (p.get("id") or "") in hooks and p.get(HOOK_ATTRIBUTE) == hooks[p.get("id") or ""].name for p in processes)


def _listing(hooks: dict[str, Hook]) -> str:
    if not hooks:
        return "core が宣言しているフックはありません。"
    shown = "、".join(f"「{h.name}」（プロセス id {h.process_id}）" for h in sorted(hooks.values(), key=lambda h: h.name))
    return f"core が宣言しているフック: {shown}。"


def hook_conformance(pack_models: Iterable[ValidatedModel], core: Iterable[ValidatedModel]) -> list[Diagnostic]:
    """STD304/STD305 for pack processes that replace a core procedure or attach outside a declared hook."""
    core = list(core)
    hooks = core_hooks(core)
    core_ids = {process_id: model.display for model in core for process_id in model.process_ids}
    by_name = {h.name: h for h in hooks.values()}
    found: list[Diagnostic] = []
    for model in pack_models:
        for process in _processes(model):
            process_id, name = process.get("id") or "", process.get(HOOK_ATTRIBUTE)
            span = model.source.span(process)
            if name is None and process_id in hooks:
                found.append(error(
                    "STD305", f"プロセス「{process_id}」はフック「{hooks[process_id].name}」の id ですが、jichi:hook がありません",
                    span, f'フックとして取り付けるなら process に jichi:hook="{hooks[process_id].name}" を書いてください。'))
            elif name is None and process_id in core_ids:
                found.append(error(
                    "STD304", f"標準の手続き「{process_id}」（{core_ids[process_id]}）はパックで置き換えられません", span,
                    "標準の手続きは変更できません。独自の手順はフックに取り付けてください。" + _listing(hooks)))
            elif name is not None and (name not in by_name or by_name[name].process_id != process_id):
                expected = by_name.get(name)
                where = (f"フック「{name}」のプロセス id は {expected.process_id} です。" if expected is not None
                         else f"フック「{name}」は core にありません。")
                found.append(error(
                    "STD305", f"プロセス「{process_id}」は宣言されたフックの外に取り付けられています", span,
                    where + _listing(hooks)))
    return found
