"""From the studio's drafts to a version of the pack: the latest saved draft of each file (rules and BPMN) is written
into the pack's folder, the pack's version is raised and its CHANGELOG gets an entry naming each draft. The folder is
then checked as `jichi check` and `jichi pack test` check it; on any error every file is put back as it was and
nothing is recorded. The result is an ordinary pack version, built, signed and activated as any other
(`jichi pack build`, `jichi pack activate`). Audited as pack.drafts_applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dsl.rules.testing import run_tests
from engine import audit
from engine.calendars import calendar_for
from engine.check import check_paths
from engine.models import RuleDraft
from engine.packs import Pack, discover_packs
from engine.rulesets import RuleSets, core_rule_files, pack_rule_files
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

VERSION_LINE = re.compile(r'^version\s*=\s*"[^"]*"', re.M)


@dataclass(frozen=True)
class Pending:
    draft: RuleDraft
    changed: bool  # the draft differs from the file in the folder (or the file does not exist yet)


def pack_named(root: Path, pack_id: str) -> Pack:
    packs, _ = discover_packs(root / "local_rules")
    pack = next((p for p in packs if p.id == pack_id), None)
    if pack is None:
        raise DiagnosticError([error("PCK630", f"パック「{pack_id}」がありません", Span("local_rules", 1, 1),
                                     "候補: " + "、".join(sorted(p.id for p in packs)))])
    return pack


def pending(session: Session, root: Path, pack_id: str) -> list[Pending]:
    """The latest draft of each file of the pack, and whether it differs from the folder."""
    latest = select(RuleDraft.file, func.max(RuleDraft.number).label("number")).where(
        RuleDraft.pack_id == pack_id).group_by(RuleDraft.file).subquery()
    drafts = session.scalars(select(RuleDraft).join(
        latest, (RuleDraft.file == latest.c.file) & (RuleDraft.number == latest.c.number)).where(
        RuleDraft.pack_id == pack_id).order_by(RuleDraft.file))
    found = []
    for draft in drafts:
        path = root / draft.file
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        found.append(Pending(draft, current != draft.text))
    return found


def apply(session: Session, root: Path, pack_id: str, version: str, note: str, actor: str) -> list[Pending]:
    """Write the changed drafts into the pack as `version`; returns what was written. Raises DiagnosticError (and
    leaves the folder as it was) when there is nothing to write, the version does not go up, or the pack with the
    drafts has a check error or a failing rule test."""
    pack = pack_named(root, pack_id)
    changed = [p for p in pending(session, root, pack_id) if p.changed]
    manifest = pack.directory / "pack.toml"
    if not changed:
        raise DiagnosticError([error("PCK634", f"パック「{pack_id}」に、フォルダと違う下書きがありません",
                                     Span(_shown(manifest, root), 1, 1), "分析の画面で規則やプロセスを直して下書きとして保存してください。")])
    try:
        raised = Version(version) > Version(pack.version or "0")
    except InvalidVersion:
        raised = False
    if not raised:
        raise DiagnosticError([error("PCK635", f"版「{version}」は、いまの版 {pack.version} より新しくありません",
                                     Span(_shown(manifest, root), 1, 1), "1.2.0 の形で、いまより大きい版を指定してください。")])
    originals: dict[Path, str | None] = {}

    def write(path: Path, text: str) -> None:
        if path not in originals:
            originals[path] = path.read_text(encoding="utf-8") if path.is_file() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    try:
        for p in changed:
            write(root / p.draft.file, p.draft.text)
        toml = manifest.read_text(encoding="utf-8")
        write(manifest, VERSION_LINE.sub(f'version = "{version}"', toml, count=1))
        write(pack.directory / "CHANGELOG.md", _changelog(pack.directory / "CHANGELOG.md", version, changed, note))
        problems = _problems(root, pack_id)
        if problems:
            raise DiagnosticError(problems)
    except (DiagnosticError, OSError, UnicodeDecodeError) as e:
        for path, text in originals.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        if isinstance(e, DiagnosticError):
            raise
        raise DiagnosticError([error("PCK636", f"パックのフォルダに書き込めません: {e}", Span(_shown(manifest, root), 1, 1),
                                     "フォルダの権限を確かめてください。何も変えていません。")]) from None
    audit.admin_event(session, action="pack.drafts_applied", actor=actor, detail={
        "pack": pack_id, "from": pack.version, "version": version,
        "files": [{"file": p.draft.file, "draft": p.draft.number, "sha256": p.draft.sha256} for p in changed]})
    session.commit()
    return changed


def _shown(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def _changelog(path: Path, version: str, changed: list[Pending], note: str) -> str:
    text = path.read_text(encoding="utf-8") if path.is_file() else "# 変更履歴\n"
    lines = [f"## {version}", ""]
    if note.strip():
        lines += [f"- {note.strip()}"]
    for p in changed:
        d = p.draft
        where = d.file.split("/", 2)[-1]
        lines += [f"- 分析の画面の下書きを反映: `{where}`（下書き {d.number}、{d.created_by}、"
                  f"{d.created_at:%Y-%m-%d %H:%M}、sha256 {d.sha256[:12]}）"]
    entry = "\n".join(lines) + "\n\n"
    head, sep, rest = text.partition("\n## ")
    return head.rstrip("\n") + "\n\n" + entry + (sep.lstrip("\n") + rest if sep else "")


def _problems(root: Path, pack_id: str) -> list[Diagnostic]:
    """Check errors of the pack's folder, then its failing rule tests (as `jichi pack test`)."""
    errors = [d for d in check_paths([root / "local_rules" / pack_id], root) if d.is_error]
    if errors:
        return errors
    sets = RuleSets(root)
    pack = next(p for p in sets.packs if p.id == pack_id)
    failed: list[Diagnostic] = []
    for code in pack.municipalities:  # as `jichi pack test PACK`: each municipality the pack serves, its calendar
        rules, diagnostics = sets.load(core_rule_files(root) + pack_rule_files(pack, sets.packs, code))
        if rules is None:
            return [d for d in diagnostics if d.is_error]
        for result in run_tests(rules, calendar_for(code, sets.packs)[0]):
            if not result.passed:
                failed.append(error("PCK651", f"規則のテスト「{result.title}」が失敗します（団体 {code}）",
                                    Span(result.file, result.line, 1),
                                    " ".join(result.failures) + " 下書きを直してから反映してください。"))
    return failed
