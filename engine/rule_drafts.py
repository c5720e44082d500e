"""Editing a pack's rule files in the studio: check a changed text in the scope it runs in (the core and the
pack's layers for the municipality), run the files' own tests on it, and save what checks clean as a numbered
draft in the database. Nothing is written to the pack's folder and nothing is evaluated as Python."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dsl.rules.load import load_rules
from dsl.rules.model import RuleSet
from dsl.rules.testing import TestResult, run_tests
from engine import audit, clock
from engine.calendars import pack_for
from engine.models import RuleDraft
from engine.packs import discover_packs
from engine.rulesets import pack_rule_files, read_sources, scope_for
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from standard_core.municipal_calendar import MunicipalCalendar

MAX_TEXT = 200_000  # characters of one rule file the studio accepts


@dataclass(frozen=True)
class Checked:
    rules: RuleSet | None
    diagnostics: list[Diagnostic]  # those about the edited file
    others: list[Diagnostic]  # errors elsewhere that the edit caused or that were already there


def editable(root: Path, code: str) -> tuple[str | None, list[str]]:
    """(the municipality's own pack id, the rule files of it an analyst may edit, as shown in diagnostics)."""
    packs, _ = discover_packs(root / "local_rules")
    pack, _, _ = pack_for(code, packs)
    if pack is None:
        return None, []
    own = [f for f in pack_rule_files(pack, packs, code) if f.resolve().is_relative_to(pack.directory.resolve())]
    return pack.id, [f.resolve().relative_to(root.resolve()).as_posix() for f in own]


def check(root: Path, code: str, file: str, text: str) -> Checked:
    """Load the municipality's rules with `file` replaced by `text`; its diagnostics, and the others."""
    if len(text) > MAX_TEXT:
        return Checked(None, [error("DSL127", "規則ファイルが長すぎます", Span(file, 1, 1), f"{MAX_TEXT} 文字までです。")], [])
    packs, _ = discover_packs(root / "local_rules")
    scope, problems = scope_for(code, root, packs)
    if scope is None:
        return Checked(None, [], problems)
    sources, problems = read_sources(scope.files, root)
    sources = [(name, text if name == file else body) for name, body in sources]
    rules, diagnostics = load_rules(sources)
    mine = [d for d in [*problems, *diagnostics] if d.span.file == file]
    return Checked(rules, mine, [d for d in [*problems, *diagnostics] if d.span.file != file and d.is_error])


def tests(checked: Checked, calendar: MunicipalCalendar | None) -> list[TestResult]:
    return run_tests(checked.rules, calendar) if checked.rules is not None else []


def save(session: Session, root: Path, code: str, file: str, text: str, actor: str) -> RuleDraft:
    """Store the text as the next draft of the file, if it checks clean (no error anywhere); audited."""
    pack_id, files = editable(root, code)
    if pack_id is None or file not in files:
        raise DiagnosticError([error("PCK630", f"「{file}」は団体 {code} のパックの規則ファイルではありません",
                                     Span(file, 1, 1), "分析の画面の一覧から選んでください。")])
    checked = check(root, code, file, text)
    errors = [d for d in [*checked.diagnostics, *checked.others] if d.is_error]
    if errors or checked.rules is None:
        raise DiagnosticError(errors or [error("DSL127", "規則を読み込めません", Span(file, 1, 1), "")])
    number = int(session.scalar(select(func.coalesce(func.max(RuleDraft.number), 0)).where(
        RuleDraft.pack_id == pack_id, RuleDraft.file == file)) or 0) + 1
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    draft = RuleDraft(pack_id=pack_id, file=file, number=number, text=text, sha256=digest, created_at=clock.now(),
                      created_by=actor)
    session.add(draft)
    audit.admin_event(session, action="rule.draft_saved", actor=actor, municipality=code,
                      detail={"pack": pack_id, "file": file, "number": number, "sha256": digest})
    session.commit()
    return draft


def drafts(session: Session, pack_id: str, file: str) -> list[RuleDraft]:
    return list(session.scalars(select(RuleDraft).where(RuleDraft.pack_id == pack_id, RuleDraft.file == file)
                                .order_by(RuleDraft.number.desc())))


def with_drafts(session: Session, root: Path, code: str) -> tuple[RuleSet | None, list[RuleDraft]]:
    """The municipality's rules with each file of its pack replaced by its latest saved draft (None when no draft
    exists, or when they do not load together), and the drafts used."""
    pack_id, files = editable(root, code)
    latest = [d for f in files if (d := next(iter(drafts(session, pack_id or "", f)), None)) is not None]
    if not latest:
        return None, []
    packs, _ = discover_packs(root / "local_rules")
    scope, _ = scope_for(code, root, packs)
    if scope is None:
        return None, latest
    sources, problems = read_sources(scope.files, root)
    replaced = {d.file: d.text for d in latest}
    rules, _ = load_rules([(name, replaced.get(name, text)) for name, text in sources])
    return (None if problems else rules), latest
