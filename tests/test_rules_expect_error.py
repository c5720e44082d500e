"""`期待 名前 は エラー DSL314;`: an in-file test may name the evaluation error it expects."""

from __future__ import annotations

import pytest

from dsl.rules.build import parse_rules
from dsl.rules.load import load_rules
from dsl.rules.testing import run_tests
from standard_core.diagnostics import DiagnosticError

RULES = """\
入力 {{ 診療日: 日付; }}
パラメータ 上限: 金額 {{ 2024-04-01 から 500円 出典「規則」; }}
決定 負担額: 金額 {{ 基準日とする 診療日; その日: 真 のとき 上限; }}
テスト 「値のない日」 {{ 入力 診療日 = 2024-03-31; 期待 負担額 は {expect}; }}
"""


def _failures(expect: str) -> list[str]:
    rules, diagnostics = load_rules([("a.rules", RULES.format(expect=expect))])
    assert rules is not None, [d.format() for d in diagnostics]
    (result,) = run_tests(rules)
    return list(result.failures)


@pytest.mark.parametrize("expect", ["エラー DSL314", "エラー", "空"])
def test_the_right_error_passes(expect: str) -> None:
    assert _failures(expect) == []


def test_another_code_fails_and_says_which_came() -> None:
    (failure,) = _failures("エラー DSL310")
    assert "「負担額」はエラー DSL310のはずが、DSL314" in failure


@pytest.mark.parametrize("expect", ["空 DSL314", "エラー X1", "エラー DSL1"])
def test_a_code_only_after_エラー_and_only_an_evaluation_code(expect: str) -> None:
    with pytest.raises(DiagnosticError) as caught:
        parse_rules(RULES.format(expect=expect), "a.rules")
    assert [d.code for d in caught.value.diagnostics] == ["DSL126"]
