"""From the studio's drafts to a pack version (engine/draft_release.py, `jichi pack drafts`): the latest drafts are
written into the pack's folder with a raised version and a CHANGELOG entry, only when the pack then checks clean and
its rule tests pass; otherwise the folder is left exactly as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import draft_release, process_drafts, rule_drafts
from engine.models import AuditEvent
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import ROOT, copy_core, environment

PACK = "141305-kawasaki"
HOOK = f"local_rules/{PACK}/processes/tennyu_hook.bpmn"
RULES = f"local_rules/{PACK}/rules/kodomo_iryohi.rules"


def _repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    copy_core(root)
    for name in ("VERSION", "extension_points.json"):
        shutil.copy(ROOT / "standard_core" / name, root / "standard_core" / name)
    shutil.copytree(ROOT / "local_rules", root / "local_rules")
    return root


def _folder(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "local_rules" / PACK).rglob("*"))
            if p.is_file()}


def test_drafts_become_a_version_only_when_the_pack_checks_and_tests_clean(tmp_path: Path, database_url: str) -> None:
    root = _repository(tmp_path)
    hook, rules = (root / HOOK).read_text(encoding="utf-8"), (root / RULES).read_text(encoding="utf-8")
    before = _folder(root)
    with environment(database_url) as env, env.session() as s:
        with pytest.raises(DiagnosticError) as nothing:
            draft_release.apply(s, root, PACK, "0.6.0", "", "分析")
        assert [d.code for d in nothing.value.diagnostics] == ["PCK634"]

        process_drafts.save(s, root, "141305", HOOK, hook.replace("&gt;= 2", "&gt;= 3"), "分析")
        # a rule draft that checks clean but breaks two of the pack's own tests (the cap 500円 → 400円)
        rule_drafts.save(s, root, "141305", RULES, rules.replace("2026-08-31 まで 500円", "2026-08-31 まで 400円"), "分析")
        assert [(p.draft.file, p.changed) for p in draft_release.pending(s, root, PACK)] == [(HOOK, True), (RULES, True)]
        with pytest.raises(DiagnosticError) as failing:
            draft_release.apply(s, root, PACK, "0.6.0", "", "分析")
        assert {d.code for d in failing.value.diagnostics} == {"PCK651"} and len(failing.value.diagnostics) == 2
        assert _folder(root) == before  # every file put back
        with pytest.raises(DiagnosticError) as lower:
            draft_release.apply(s, root, PACK, "0.5.0", "", "分析")
        assert [d.code for d in lower.value.diagnostics] == ["PCK635"]

        rule_drafts.save(s, root, "141305", RULES, rules, "分析")  # the analyst takes the change back
        written = draft_release.apply(s, root, PACK, "0.6.0", "案内を三人以上の世帯に", "分析")
        assert [(p.draft.file, p.draft.number) for p in written] == [(HOOK, 1)]
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "pack.drafts_applied")).all()
        assert len(events) == 1 and json.loads(events[0].detail)["version"] == "0.6.0"
    assert "世帯員数 &gt;= 3" in (root / HOOK).read_text(encoding="utf-8")
    assert (root / RULES).read_text(encoding="utf-8") == rules
    assert 'version = "0.6.0"' in (root / "local_rules" / PACK / "pack.toml").read_text(encoding="utf-8")
    changelog = (root / "local_rules" / PACK / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.index("## 0.6.0") < changelog.index("## 0.5.0")
    assert "- 案内を三人以上の世帯に" in changelog and "`processes/tennyu_hook.bpmn`（下書き 1、分析" in changelog


def test_the_command_lists_and_applies(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from web import cli_packs
    from web.cli import cli

    root = _repository(tmp_path)
    monkeypatch.setattr(cli_packs, "project_root", lambda: root)
    monkeypatch.setenv("JICHI_DATABASE_URL", database_url)
    with environment(database_url) as env, env.session() as s:
        hook = (root / HOOK).read_text(encoding="utf-8")
        process_drafts.save(s, root, "141305", HOOK, hook.replace("&gt;= 2", "&gt;= 3"), "分析")
    runner = CliRunner()
    listed = runner.invoke(cli, ["pack", "drafts", PACK])
    assert listed.exit_code == 0 and f"{HOOK}  下書き 1  分析" in listed.output, listed.output
    refused = runner.invoke(cli, ["pack", "drafts", PACK, "--apply", "0.4.9"])
    assert refused.exit_code == 1 and "PCK635" in refused.output
    applied = runner.invoke(cli, ["pack", "drafts", PACK, "--apply", "0.6.0", "--json"])
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["drafts"][0]["file"] == HOOK
    assert runner.invoke(cli, ["pack", "drafts", "no-such-pack"]).exit_code == 1
