"""Rule drafts (engine/rule_drafts.py): a changed rule file checked in the scope it runs in, with its own
diagnostics; saved as a numbered draft only when clean, only for the municipality's own pack, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine import rule_drafts
from engine.models import AuditEvent, RuleDraft
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import environment

ROOT = Path(__file__).resolve().parent.parent
FILE = "local_rules/141305-kawasaki/rules/kodomo_iryohi.rules"


def test_check_save_and_number(database_url: str) -> None:
    good = (ROOT / FILE).read_text(encoding="utf-8")
    assert rule_drafts.editable(ROOT, "141305") == ("141305-kawasaki", [FILE])
    broken = rule_drafts.check(ROOT, "141305", FILE, good.replace("最小(通院一部負担上限,", "最小(通院一部負担の上限,"))
    assert [(d.code, d.span.line) for d in broken.diagnostics] == [("DSL201", 42)] and broken.rules is None
    with environment(database_url) as env, env.session() as s:
        with pytest.raises(DiagnosticError):
            rule_drafts.save(s, ROOT, "141305", FILE, good.replace("最小(通院一部負担上限,", "最小(x,"), "分析")
        with pytest.raises(DiagnosticError):  # not a file of the municipality's pack: nothing is opened or saved
            rule_drafts.save(s, ROOT, "141305", "../../etc/passwd", good, "分析")
        s.rollback()
        first = rule_drafts.save(s, ROOT, "141305", FILE, good.replace("まで 500円", "まで 400円"), "分析")
        second = rule_drafts.save(s, ROOT, "141305", FILE, good, "分析")
        assert (first.number, second.number) == (1, 2)
        assert [d.number for d in rule_drafts.drafts(s, "141305-kawasaki", FILE)] == [2, 1]
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "rule.draft_saved")).all() == \
            ["rule.draft_saved"] * 2
        assert len(s.scalars(select(RuleDraft)).all()) == 2
    assert (ROOT / FILE).read_text(encoding="utf-8") == good  # the pack on disk is never written
