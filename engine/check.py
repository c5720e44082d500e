"""The walker behind `jichi check`: every BPMN file of the core and the packs, all diagnostics at once.

Core processes (processes/**/*.bpmn) are checked together; each pack's processes are checked with the
core and the pack's base packs as call-target context. Files that validate clean are also handed to
SpiffWorkflow's parser (nothing runs), so a gap in our validator shows up as BPM490 here rather than
when a clerk starts a case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from engine.bpmn.spiff import bind
from engine.bpmn.validate import ValidatedModel, validate_bpmn, validate_set, validate_source
from engine.forms import pack_variations
from engine.hooks import hook_conformance
from engine.notices import load_notices, unknown_processes
from engine.packs import Pack
from engine.rulesets import RuleSets, core_rule_files, pack_rule_files
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error


def check_paths(paths: list[Path], root: Path, overrides: Mapping[Path, bytes] | None = None) -> list[Diagnostic]:
    """Check `paths` (files or folders; [] means the whole repository at `root`), sorted by file/line/col.

    `overrides` maps BPMN files (existing or not) to the text to check in place of the file's: the studio's
    modeler checks an edited diagram exactly as `jichi check` would check it once saved in the pack.
    File names in diagnostics are relative to `root` when the file lies under it. Never raises on bad input.
    """
    root = root.resolve()
    replaced = {path.resolve(): data for path, data in (overrides or {}).items()}
    cache: dict[Path, tuple[ValidatedModel | None, list[Diagnostic]]] = {}
    checked_files: set[Path] = set()
    rule_sets = RuleSets(root)

    def load(files: Iterable[Path], checked: bool = False) -> list[ValidatedModel]:
        models = []
        for file in files:
            key = file.resolve()
            if key not in cache:
                if key in replaced:
                    cache[key] = validate_source(replaced[key], _display(key, root), rule_sets.for_file(key), path=key)
                else:
                    cache[key] = validate_bpmn(key, _display(key, root), rule_sets.for_file(key))
            if checked:
                checked_files.add(key)
            model = cache[key][0]
            if model is not None:
                models.append(model)
        return models

    diagnostics: list[Diagnostic] = []
    core_files = sorted((root / "processes").glob("**/*.bpmn"))
    packs, pack_diagnostics = rule_sets.packs, rule_sets.pack_diagnostics
    by_id = {pack.id: pack for pack in packs}
    targets: list[tuple[list[ValidatedModel], list[ValidatedModel], bool]] = []  # (checked, context, in a pack)
    if not paths:
        diagnostics.extend(pack_diagnostics)
        core = load(core_files, checked=True)
        targets.append((core, [], False))
        for pack in packs:
            targets.append((load(pack.process_files, checked=True), core + load(_base_files(pack, by_id)), True))
    else:
        core = load(core_files)
        for path in paths:
            files, missing = ([path], []) if path.resolve() in replaced else _expand(path, root)
            diagnostics.extend(missing)
            owner = _pack_of(path, packs)
            context = core + (load(_base_files(owner, by_id) + list(owner.process_files)) if owner else [])
            checked = load(files, checked=True)
            targets.append((checked, [m for m in context if m not in checked], owner is not None))
    # In a pack, a process with a core id is either a hook implementation or STD304 (hook_conformance);
    # BPM434 (duplicate id) would only repeat it.
    core_ids = {process_id for model in core for process_id in model.process_ids}
    for checked, context, in_pack in targets:
        validate_set(checked, context, replaceable=core_ids if in_pack else ())
        if in_pack:
            diagnostics.extend(hook_conformance(checked, core))
        diagnostics.extend(_spiff_safety_net(checked, context))
    diagnostics.extend(_rule_diagnostics(paths, root, packs, rule_sets))
    _, form_diagnostics = pack_variations(root, packs, core, rule_sets.for_file)
    wanted = [p.resolve() for p in paths]
    diagnostics.extend(d for d in form_diagnostics
                       if not paths or any((root / d.span.file).resolve().is_relative_to(w) for w in wanted))
    notices, notice_diagnostics = load_notices(root, packs)
    known = {pid for model, _ in cache.values() if model is not None for pid in model.process_ids}
    notice_diagnostics += unknown_processes(notices, known)
    diagnostics.extend(d for d in notice_diagnostics
                       if not paths or any((root / d.span.file).resolve().is_relative_to(w) for w in wanted))
    for key in checked_files:
        model, found = cache[key]
        diagnostics.extend(model.diagnostics if model is not None else found)
    shown = [_relative(d, root) for d in _unique(diagnostics)]
    return sorted(shown, key=lambda d: (d.span.file, d.span.line, d.span.column, d.code))


def _rule_diagnostics(paths: list[Path], root: Path, packs: list[Pack], sets: RuleSets) -> list[Diagnostic]:
    """Rule files are checked in the scope they run in: the core alone, and each pack on its bases.

    With explicit paths, only the scopes containing a given *.rules file (or folder) are checked, and
    only diagnostics about the given files are kept.
    """
    wanted: set[Path] | None = None
    if paths:
        wanted = {f.resolve() for p in paths for f in ([p] if p.is_file() else p.glob("**/*.rules"))
                  if f.suffix == ".rules"}
        if not wanted:
            return []
    scopes = [core_rule_files(root)] + [core_rule_files(root) + pack_rule_files(p, packs, code) for p in packs
                                        for code in (None, *(c for c, _ in p.municipal_rules)) if p.all_rule_files]
    found: list[Diagnostic] = []
    for files in scopes:
        if wanted is not None and not wanted & {f.resolve() for f in files}:
            continue
        _, diagnostics = sets.load(files)
        found.extend(d for d in diagnostics
                     if wanted is None or (root / d.span.file).resolve() in wanted)
    return found


def _relative(diagnostic: Diagnostic, root: Path) -> Diagnostic:
    """Pack diagnostics name absolute paths; show every file under root relative to it."""
    file = Path(diagnostic.span.file)
    if not file.is_absolute():
        return diagnostic
    return replace(diagnostic, span=replace(diagnostic.span, file=_display(file, root)))


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _expand(path: Path, root: Path) -> tuple[list[Path], list[Diagnostic]]:
    if path.is_dir():
        return sorted(path.glob("**/*.bpmn")), []
    if path.is_file():
        # rule files: _rule_diagnostics; form variations (forms/*.toml): engine.forms
        return ([], []) if path.suffix in (".rules", ".toml") else ([path], [])
    return [], [error("BPM403", "ファイルがありません", Span(_display(path.resolve(), root), 1, 1),
                      "パスの綴りを確認してください。")]


def _pack_of(path: Path, packs: list[Pack]) -> Pack | None:
    resolved = path.resolve()
    return next((p for p in packs if resolved.is_relative_to(p.directory.resolve())), None)


def _base_files(pack: Pack, by_id: dict[str, Pack]) -> list[Path]:
    files: list[Path] = []
    for layer in pack.layers:
        if layer != pack.id and layer in by_id:
            files.extend(by_id[layer].process_files)
    return files


def _spiff_safety_net(checked: list[ValidatedModel], context: list[ValidatedModel]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for model in checked:
        # A hook implementation takes the place of the core's default: never bind both.
        usable = [m for m in [*context, *checked]
                  if m.clean and m is not model and not set(m.process_ids) & set(model.process_ids)]
        # Several files may define one hook (the core's default, each pack's implementation): bind only one
        # of them, the one from the model's own pack when it has one, else the last (packs load after the core).
        own_pack = model.path.resolve().parent.parent
        latest: dict[str, ValidatedModel] = {}
        for m in usable:
            for pid in m.process_ids:
                if pid not in latest or m.path.resolve().is_relative_to(own_pack) or \
                        not latest[pid].path.resolve().is_relative_to(own_pack):
                    latest[pid] = m
        usable = [m for m in usable if all(latest[pid] is m for pid in m.process_ids)]
        available = {pid for m in [model, *usable] for pid in m.process_ids}
        called = {c.get("calledElement") for m in [model, *usable] for c in m.call_activities()}
        if not model.clean or not called <= available:
            continue  # the missing call target is already reported (BPM429) or lies in a file with errors
        for process_id in model.process_ids:
            try:
                bind([model, *usable], process_id)
            except DiagnosticError as e:
                found.extend(replace(d, span=Span(model.display, 1, 1)) for d in e.diagnostics
                             if d.code == "BPM490")
    return found


def _unique(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, str, int, int, str]] = set()
    out = []
    for d in diagnostics:
        key = (d.code, d.span.file, d.span.line, d.span.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
