"""Fit & gap (`jichi pack diff PACK`): everything a pack changes relative to the standard, with its cites.

For procurement and audit a municipality must see exactly how its rules differ from the standard core:
every open parameter the pack sets (with its dated values), every exception it adds to an open decision,
every definition of its own (local rules), every hook it implements and local procedure it adds, every
form variation, its calendar, and how many in-file tests back it. Each item names the file and line it
comes from, so the report can be checked against the pack itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.rules import nodes as r
from dsl.rules.build import parse_rules
from engine.bpmn.structure import bpmn_children, executable
from engine.bpmn.validate import ValidatedModel
from engine.forms import Variation
from engine.hooks import HOOK_ATTRIBUTE
from engine.packs import Pack
from standard_core.diagnostics import DiagnosticError, Span, error

KINDS = {
    "parameter": "開放パラメータの設定",
    "exception": "開放決定への例外",
    "definition": "団体独自の規則",
    "hook": "フックへの取り付け",
    "procedure": "団体独自の手続き",
    "form": "様式の変更",
    "calendar": "団体の暦",
}


@dataclass
class FitGap:
    pack: Pack
    core_version: str
    items: list[dict[str, Any]] = field(default_factory=list)
    tests: int = 0
    municipality: str | None = None  # the report is for this one of the pack's municipalities


    def to_json(self) -> dict[str, Any]:
        p = self.pack
        return {"pack": p.id, "version": p.version, "name": p.name, "vendor": p.vendor, "base": p.base,
                "municipalities": list(p.municipalities), "core_version": self.core_version, "core_range": p.core,
                "tests": self.tests, "for_municipality": self.municipality, "items": self.items}

    def lines(self) -> list[str]:
        """The report in Japanese, grouped by kind."""
        p = self.pack
        out = [f"パック {p.id} {p.version}" + (f"（{p.name}）" if p.name else "") + f" — 標準 {self.core_version} との違い"
               + (f"（団体 {self.municipality} に適用されるもの）" if self.municipality else ""),
               f"  対象の団体: {'、'.join(p.municipalities) or '（なし）'}" + (f"   上位のパック: {p.base}" if p.base else "")
               + (f"   提供: {p.vendor}" if p.vendor else "") + (f"   対応する標準: {p.core}" if p.core else "")]
        for kind, title in KINDS.items():
            mine = [i for i in self.items if i["kind"] == kind]
            if not mine:
                continue
            out.append(f"■ {title}（{len(mine)}）")
            for item in mine:
                out.append(f"  {item['summary']}  {item['where']}")
                out.extend(f"      {detail}" for detail in item.get("details", []))
        if not self.items:
            out.append("  標準との違いはありません。")
        out.append(f"■ ファイル内のテスト: {self.tests} 件（jichi pack test {p.id}）")
        return out


def source_text(lines: Sequence[str], span: Span) -> str:
    """The source text of a node, from its first column to its last (lines joined by a space)."""
    if span.end_line is None or span.end_column is None:
        return lines[span.line - 1].strip() if 0 < span.line <= len(lines) else ""
    if span.line == span.end_line:
        return lines[span.line - 1][span.column - 1: span.end_column - 1].strip()
    first = lines[span.line - 1][span.column - 1:].strip()
    rest = [lines[n - 1].strip() for n in range(span.line + 1, span.end_line)]
    last = lines[span.end_line - 1][: span.end_column - 1].strip()
    return " ".join([first, *rest, last]).strip()


def _rules(fitgap: FitGap, display: str, text: str, municipality: str | None = None) -> None:
    lines = text.split("\n")
    try:
        parsed = parse_rules(text, display)
    except DiagnosticError:
        return  # jichi check reports it; a report of a file that does not parse would be a guess
    first = len(fitgap.items)
    for item in parsed.items:
        where = f"{display}:{item.span.line}"
        if isinstance(item, r.Parameter) and item.setting:
            fitgap.items.append({
                "kind": "parameter", "name": item.name, "where": where,
                "summary": f"{item.name}: " + "、".join(f"{v.period.label()} {source_text(lines, v.value.span)}"
                                                         for v in item.values),
                "values": [{"period": v.period.label(), "value": source_text(lines, v.value.span), "cite": v.cite}
                           for v in item.values],
                "details": [f"出典「{v.cite}」" for v in item.values if v.cite]})
        elif isinstance(item, r.Decision) and item.extension:
            for case in item.cases:
                period = f"（{item.period.label()}）" if item.period else ""
                condition = source_text(lines, case.condition.span) if case.condition is not None else "それ以外"
                fitgap.items.append({
                    "kind": "exception", "decision": item.name, "label": case.label,
                    "exception_to": case.exception_to, "period": item.period.label() if item.period else None,
                    "condition": condition, "value": source_text(lines, case.value.span), "cite": case.cite,
                    "where": f"{display}:{case.span.line}",
                    "summary": f"{item.name} に「{case.label or '（名前なし）'}」{period}: {condition} → "
                               f"{source_text(lines, case.value.span)}",
                    "details": [f"出典「{case.cite}」"] if case.cite else []})
        elif isinstance(item, r.Test):
            fitgap.tests += 1
        elif isinstance(item, r.Parameter):
            fitgap.items.append({
                "kind": "definition", "what": "パラメータ", "name": item.name, "where": where,
                "cite": "、".join(v.cite for v in item.values if v.cite),
                "summary": f"パラメータ {item.name}: " + ("、".join(
                    f"{v.period.label()} {source_text(lines, v.value.span)}" for v in item.values)
                    or ("値は団体ごとに設定" if item.open else "値なし")),
                "details": [f"出典「{v.cite}」" for v in item.values if v.cite]})
        elif isinstance(item, (r.Decision, r.Table, r.Counting, r.RecordTypeDecl, r.EnumDecl)):
            what = {r.Decision: "決定", r.Table: "表", r.Counting: "数え方",
                    r.RecordTypeDecl: "型", r.EnumDecl: "列挙"}[type(item)]
            cite = getattr(item, "cite", "")
            fitgap.items.append({"kind": "definition", "what": what, "name": item.name, "cite": cite, "where": where,
                                 "summary": f"{what} {item.name}",
                                 "details": [f"出典「{cite}」"] if cite else []})
        elif isinstance(item, r.Inputs):
            names = "、".join(f.name for f in item.fields)
            fitgap.items.append({"kind": "definition", "what": "入力", "name": names, "cite": "", "where": where,
                                 "summary": f"入力 {names}", "details": []})
    if municipality is not None:  # a rules/<code>/ file: it applies to that municipality only
        for added in fitgap.items[first:]:
            added["municipality"] = municipality
            added["summary"] = f"団体 {municipality} のみ: {added['summary']}"


def _processes(fitgap: FitGap, models: Sequence[ValidatedModel], hooks: dict[str, str]) -> None:
    for model in models:
        for process in bpmn_children(model.source.root, "process"):
            if not executable(process):
                continue
            process_id = process.get("id") or ""
            where = f"{model.display}:{process.sourceline}"
            hook = process.get(HOOK_ATTRIBUTE)
            if process_id in hooks and hook is not None:
                fitgap.items.append({"kind": "hook", "hook": hook, "process_id": process_id, "where": where,
                                     "summary": f"フック「{hook}」（{process_id}）: {process.get('name') or ''}"})
            else:
                fitgap.items.append({"kind": "procedure", "process_id": process_id, "name": process.get("name"),
                                     "where": where, "summary": f"{process.get('name') or process_id}（{process_id}）"})


def _forms(fitgap: FitGap, variations: Sequence[Variation]) -> None:
    for v in variations:
        details = []
        for change in v.changes:
            if change.type is not None:
                details.append(f"独自の項目 {change.name}: {change.type}" + ("、必須" if change.required else "")
                               + (f"、見出し「{change.label}」" if change.label else ""))
                continue
            parts = [f"見出し「{change.label}」" if change.label else "", f"説明「{change.help}」" if change.help else "",
                     "必須にする" if change.required else ""]
            details.append(f"{change.name}: {'、'.join(p for p in parts if p)}")
        if v.order:
            details.append(f"順序: {'、'.join(v.order)}")
        details.extend(f"検査の追加: {c.test} →「{c.message}」" for c in v.checks)
        fitgap.items.append({"kind": "form", "process_id": v.process_id, "task_id": v.task_id, "where": f"{v.display}:1",
                             "summary": f"{v.process_id} / {v.task_id}", "details": details})


def _calendar(fitgap: FitGap, pack: Pack) -> None:
    settings = pack.calendar
    if settings is None:
        return
    details = []
    if settings.year_end is not None:
        details.append(f"年末年始: {settings.year_end.start}〜{settings.year_end.end}"
                       + (f" 出典「{settings.year_end.cite}」" if settings.year_end.cite else ""))
    details.extend(f"休日: {h.day} {h.name} 出典「{h.cite}」" for h in settings.local_holidays)
    if not details:
        return  # [calendar] with only a cite: the base pack's calendar, unchanged
    fitgap.items.append({"kind": "calendar", "where": f"{pack.manifest.name}",
                         "summary": f"閉庁日の設定（{len(details)}）", "details": details})


def fit_gap(root: Path, pack: Pack, models: Sequence[ValidatedModel], hooks: dict[str, str],
            variations: Sequence[Variation], core_version: str) -> FitGap:
    """The fit & gap report of one pack (its own files; its base pack has its own report)."""
    result = FitGap(pack, core_version)
    own = {f: code for code, files in pack.municipal_rules for f in files}
    for path in pack.all_rule_files:
        display = path.resolve().relative_to(root.resolve()).as_posix()
        _rules(result, display, path.read_text(encoding="utf-8"), own.get(path))
    _processes(result, models, hooks)
    _forms(result, variations)
    _calendar(result, pack)
    return result


def report_for(registry: Any, root: Path, pack_id: str, municipality: str | None = None) -> FitGap:
    """The fit & gap of a pack of a loaded registry (`jichi pack diff PACK`, the studio's page), optionally only
    what applies to one of its municipalities. PCK630 for an unknown pack, PCK631 for a municipality it does not
    serve."""
    from engine.hooks import core_hooks
    from engine.manifest import core_version

    pack = next((p for p in registry.packs if p.id == pack_id), None)
    if pack is None:
        known = "、".join(p.id for p in registry.packs) or "（なし）"
        raise DiagnosticError([error("PCK630", f"パック「{pack_id}」はありません", Span("<入力>", 1, 1), f"パック: {known}")])
    directory = pack.directory.resolve()
    own = [m for m in [*registry.models, *registry.hook_implementations.get(pack.id, {}).values()]
           if m.path.resolve().is_relative_to(directory)]
    hooks = {pid: h.name for pid, h in core_hooks(m for m in registry.models
                                                   if not m.path.resolve().is_relative_to(root / "local_rules")).items()}
    report = fit_gap(root, pack, own, hooks, registry.variations.get(pack.id, []), core_version(root))
    if municipality is not None:
        if not pack.serves(municipality):
            raise DiagnosticError([error("PCK631", f"パック「{pack_id}」は団体「{municipality}」を受け持っていません",
                                         Span("<入力>", 1, 1), f"このパックの municipalities: {'、'.join(pack.municipalities)}")])
        report.municipality = municipality
        report.items = [i for i in report.items if i.get("municipality") in (None, municipality)]
    return report
