"""Running the in-file tests of a rule set (`テスト 「…」 { 時点 …; 入力 …; 期待 …; }`)."""

from __future__ import annotations

from dataclasses import dataclass

from dsl import nodes
from dsl.context import EvalContext
from dsl.errors import DslRuntimeError
from dsl.rules.model import CompiledTest, RuleSet
from dsl.rules.runtime import RuleRuntime
from dsl.values import json_value
from standard_core.municipal_calendar import MunicipalCalendar

# Which run-time codes each expected error kind accepts.
ERROR_CODES = {"conflict": {"DSL310"}, "empty": {"DSL311", "DSL313", "DSL314"}}


@dataclass(frozen=True)
class TestResult:
    file: str
    line: int
    title: str
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def run_tests(rules: RuleSet, calendar: MunicipalCalendar | None = None) -> list[TestResult]:
    """Run every test of the rule set; a test fails with Japanese messages saying what differed.

    Never raises: a failure inside the evaluator (a bug of jichi, not of the rule) fails that one test.
    """
    results = []
    for test in rules.tests:
        try:
            results.append(_run(rules, test, calendar))
        except Exception as e:  # reported as the test's failure so that the other tests still run
            results.append(TestResult(test.file, test.test.span.line, test.test.title,
                                      (f"評価中に内部エラーが起きました（{type(e).__name__}）。開発者に連絡してください。",)))
    return results


def _run(rules: RuleSet, test: CompiledTest, calendar: MunicipalCalendar | None) -> TestResult:
    failures: list[str] = []
    context = EvalContext(on=test.test.on, calendar=calendar)
    data: dict[str, object] = {}
    for name, fn in test.given:
        try:
            data[name] = fn({}, context)
        except DslRuntimeError as e:
            failures.append(f"入力「{name}」を作れません: {e.diagnostic.message}")
    for expect, check in test.expects:
        runtime = RuleRuntime(rules, data, on=test.test.on, calendar=calendar)
        line = expect.span.line
        if check is None:
            try:
                value, _ = runtime.evaluate(expect.error_of)
            except DslRuntimeError as e:
                accepted = {expect.error_code} if expect.error_code else ERROR_CODES.get(expect.error_kind)
                if accepted is not None and e.diagnostic.code not in accepted:
                    failures.append(f"{line} 行目: 「{expect.error_of}」は{_kind(expect.error_kind)}"
                                    f"{' ' + expect.error_code if expect.error_code else ''}のはずが、"
                                    f"{e.diagnostic.code} {e.diagnostic.message}")
                continue
            failures.append(f"{line} 行目: 「{expect.error_of}」は{_kind(expect.error_kind)}のはずが、値 "
                            f"{json_value(value)} になりました")
            continue
        try:
            ok = runtime.run(check)
        except DslRuntimeError as e:
            failures.append(f"{line} 行目: 評価できません: {e.diagnostic.code} {e.diagnostic.message}")
            continue
        if not ok:
            failures.append(f"{line} 行目: 期待どおりではありません{_actual(expect.condition, rules, data, test, calendar)}")
    return TestResult(test.file, test.test.span.line, test.test.title, tuple(failures))


def _kind(kind: str) -> str:
    return {"conflict": "衝突", "empty": "空（当てはまる定義なし）"}.get(kind, "エラー")


def _actual(condition: nodes.Expr | None, rules: RuleSet, data: dict[str, object], test: CompiledTest,
            calendar: MunicipalCalendar | None) -> str:
    """For `期待 名前 = 値`, say what the name's value actually was."""
    if not isinstance(condition, nodes.Compare) or not isinstance(condition.left, nodes.Name):
        return ""
    name = condition.left.name
    if name in rules.decisions or name in rules.tables or name in rules.parameters:
        try:
            value, _ = RuleRuntime(rules, data, on=test.test.on, calendar=calendar).evaluate(name)
        except DslRuntimeError as e:
            return f"（{name}: {e.diagnostic.message}）"
        return f"（{name} の実際の値: {json_value(value)}）"
    if name in data:
        return f"（{name} = {json_value(data[name])}）"
    return ""
