"""The core's extension points, and the rule that they change only with the core's version.

The core (standard_core/rules/*.rules) declares what a pack may touch: `開放 決定` (exceptions may be added)
and `開放 パラメータ` (values may be set); the core processes declare BPMN hooks (`jichi:hook`, engine.hooks)
where a pack may attach steps, and their user tasks' forms, which a pack may vary within limits (engine.forms). That list is part of the core's semantic version: the file
standard_core/extension_points.json records, per core version, a digest of the list; a test fails when the
list changes and standard_core/VERSION was not bumped (docs/dsl.md, 「標準の拡張点」).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dsl.rules.load import load_rules
from dsl.rules.model import RuleSet
from engine.bpmn import ValidatedModel, validate_bpmn
from engine.forms import core_form_targets
from engine.hooks import core_hooks
from engine.rulesets import core_rule_files, read_sources
from standard_core.diagnostics import Diagnostic, DiagnosticError

VERSION_FILE = Path("standard_core") / "VERSION"
MANIFEST_FILE = Path("standard_core") / "extension_points.json"


def core_version(root: Path) -> str:
    return (root / VERSION_FILE).read_text(encoding="utf-8").strip()


def extension_points(root: Path) -> list[dict[str, Any]]:
    """The open decisions and parameters of the core rules and the core's BPMN hooks, by kind and name."""
    sources, problems = read_sources(core_rule_files(root), root)
    rules, diagnostics = load_rules(sources)
    errors: list[Diagnostic] = [d for d in [*problems, *diagnostics] if d.is_error]
    if rules is None or errors:
        raise DiagnosticError(errors)
    points: list[dict[str, Any]] = []
    for name, versions in rules.decisions.items():
        if versions[0].decl.open:
            points.append({"kind": "decision", "name": name, "type": versions[0].type.name,
                           "labels": sorted({c.case.label for v in versions for c in v.cases if c.case.label}),
                           "file": versions[0].file})
    for name, parameter in rules.parameters.items():
        if parameter.open:
            points.append({"kind": "parameter", "name": name, "type": parameter.type.name, "file": parameter.file})
    models = _core_models(root, rules)
    for hook in sorted(core_hooks(models).values(), key=lambda h: h.name):
        points.append({"kind": "hook", "name": hook.name, "process_id": hook.process_id, "file": hook.file})
    forms, _ = core_form_targets(models)
    files = {pid: m.display for m in models for pid in m.process_ids}
    for (process_id, task_id), form in forms.items():
        points.append({"kind": "form", "name": f"{process_id}/{task_id}", "label": form.task_name,
                       "fields": [{"name": f.name, "type": f.type.name, "required": f.required} for f in form.fields],
                       "checks": [c.text for c in form.checks], "file": files.get(process_id, "")})
    return sorted(points, key=lambda p: (p["kind"], p["name"]))


def _core_models(root: Path, rules: RuleSet) -> list[ValidatedModel]:
    """The core processes, validated against the core rules (they declare the hooks and the forms)."""
    models = []
    for file in sorted((root / "processes").glob("**/*.bpmn")):
        model, found = validate_bpmn(file, file.relative_to(root).as_posix(), rules)
        if model is None or any(d.is_error for d in found):
            raise DiagnosticError([d for d in found if d.is_error])
        models.append(model)
    return models


def digest(points: list[dict[str, Any]]) -> str:
    canonical = json.dumps(points, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_FILE
    if not path.is_file():
        return {"versions": [], "extension_points": []}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write_manifest(root: Path) -> dict[str, Any]:
    """Record the current extension points under the current core version (a version keeps its digest)."""
    points = extension_points(root)
    version, current = core_version(root), digest(points)
    manifest = read_manifest(root)
    history = [v for v in manifest.get("versions", []) if v["version"] != version]
    recorded = next((v for v in manifest.get("versions", []) if v["version"] == version), None)
    if recorded is not None and recorded["digest"] != current:
        raise ValueError(f"拡張点が変わりましたが、標準の版 {version} は記録済みです。standard_core/VERSION を上げてください。")
    history.append({"version": version, "digest": current})
    manifest = {"versions": history, "extension_points": points}
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def manifest_problems(root: Path) -> list[str]:
    """Why the committed manifest does not match the core (empty when it does)."""
    problems: list[str] = []
    points = extension_points(root)
    version, current = core_version(root), digest(points)
    manifest = read_manifest(root)
    if manifest.get("extension_points") != points:
        problems.append("standard_core/extension_points.json が標準の規則と一致しません。"
                        "jichi rules manifest --write で更新してください。")
    recorded = next((v for v in manifest.get("versions", []) if v["version"] == version), None)
    if recorded is None:
        problems.append(f"標準の版 {version} の拡張点が記録されていません（jichi rules manifest --write）。")
    elif recorded["digest"] != current:
        problems.append(f"拡張点が変わりましたが、標準の版は {version} のままです。standard_core/VERSION を上げてから"
                        "jichi rules manifest --write を実行してください。")
    versions = [tuple(int(p) for p in v["version"].split(".")) for v in manifest.get("versions", [])]
    if versions != sorted(set(versions)):
        problems.append("記録された標準の版が昇順ではありません。")
    return problems
