"""Conformance: a pack may only use the core's extension points (docs/dsl.md, 「標準の拡張点」).

Each non-conformant pack below is one edit away from the conformant pack in tests/fixtures/conformance, and
fails with its own code at the position of that edit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dsl.rules.load import load_rules
from dsl.rules.runtime import RuleRuntime

FIXTURES = Path(__file__).parent / "fixtures" / "conformance"
CORE = ("standard_core/rules/core.rules", (FIXTURES / "core.rules").read_text(encoding="utf-8"))
PACK_FILE = "local_rules/162108-nanto/rules/pack.rules"
PACK = (FIXTURES / "pack.rules").read_text(encoding="utf-8")


def test_the_conformant_pack_loads_and_uses_the_extension_points() -> None:
    rules, diagnostics = load_rules([CORE, (PACK_FILE, PACK)])
    assert rules is not None and [d.code for d in diagnostics] == []
    on = dt.date(2025, 4, 1)
    assert RuleRuntime(rules, {"部数": 3, "生活保護": False}, on=on, calendar=None).evaluate("手数料")[0] == 900
    assert RuleRuntime(rules, {"部数": 3, "生活保護": True}, on=on, calendar=None).evaluate("手数料")[0] == 0


EDITS = {
    # id: (text replaced in the conformant pack, replacement, expected code, line of the edit)
    "redefine-a-core-decision": ("決定 南砺市_郵送料", "決定 交付可", "STD301", 8),
    "redefine-an-open-core-decision": ("決定 南砺市_郵送料", "決定 手数料", "STD301", 8),
    "exception-to-a-closed-core-decision": ("追加 決定 手数料", "追加 決定 交付可", "STD302", 4),
    "set-a-closed-core-parameter": ("追加 パラメータ 手数料単価", "追加 パラメータ 交付上限部数", "STD303", 2),
    "redefine-a-core-parameter": ("追加 パラメータ 手数料単価", "パラメータ 手数料単価: 金額", "STD301", 2),
    "python-in-a-rule": ("140円", "__import__('os').system('id')", "DSL105", 9),
}


@pytest.mark.parametrize(("old", "new", "code", "line"), list(EDITS.values()), ids=list(EDITS))
def test_one_edit_away_is_refused_with_its_own_code(old: str, new: str, code: str, line: int) -> None:
    assert old in PACK
    rules, diagnostics = load_rules([CORE, (PACK_FILE, PACK.replace(old, new, 1))])
    assert rules is None
    first = diagnostics[0]
    assert (first.code, first.span.file, first.span.line) == (code, PACK_FILE, line), first.format()
    assert first.hint


def test_the_hint_names_the_extension_point_to_use() -> None:
    _, diagnostics = load_rules([CORE, (PACK_FILE, PACK.replace("決定 南砺市_郵送料", "決定 手数料", 1))])
    assert "追加 決定 手数料" in diagnostics[0].hint


def test_an_open_parameter_without_a_value_says_which_pack_must_set_it() -> None:
    rules, _ = load_rules([CORE])
    assert rules is not None
    from dsl.errors import DslRuntimeError

    with pytest.raises(DslRuntimeError) as e:
        RuleRuntime(rules, {"部数": 1, "生活保護": False}, on=dt.date(2025, 4, 1), calendar=None).evaluate("手数料")
    assert e.value.diagnostic.code == "DSL314" and "追加 パラメータ 手数料単価" in e.value.diagnostic.hint
