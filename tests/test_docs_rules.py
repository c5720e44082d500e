"""Every rule-file example in docs/dsl.md loads without errors and its tests pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsl.rules.load import load_rules
from dsl.rules.testing import run_tests

DOC = Path(__file__).resolve().parent.parent / "docs" / "dsl.md"
EXAMPLES = re.findall(r"```rules\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_reference_has_rule_examples() -> None:
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("text", EXAMPLES, ids=[f"example-{i + 1}" for i in range(len(EXAMPLES))])
def test_example_loads_and_its_tests_pass(text: str) -> None:
    rules, diagnostics = load_rules([("docs/dsl.md", text)])
    assert rules is not None, "\n".join(d.format() for d in diagnostics)
    # The conflict example is meant to overlap, and says that it is warned about (DSL231).
    assert [d.code for d in diagnostics] in ([], ["DSL231"])
    results = run_tests(rules)
    assert results, "every example shows at least one test"
    assert [(r.title, r.failures) for r in results if not r.passed] == []
