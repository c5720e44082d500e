"""Golden good/bad tables for rule files (tests/golden/rules/*.golden).

A case's input is one or more rule files and, for the good tables, what to evaluate on which data; the
expected output is the formatted diagnostics of loading, then each evaluation's value and Japanese
explanation (or its run-time diagnostic), then the in-file test results. The conventions inside a case
are documented in the header of each .golden file:

    >>> 名前.rules                     starts a rule file (files load in order: core first, then packs);
                                       without any, the whole input is one file 規則.rules
    >>> 評価 決定名 [時点 YYYY-MM-DD]  evaluates a decision, table or parameter; the lines after it, up to
                                       the next `>>>`, are the case data as one JSON object
    >>> テスト                         runs the in-file tests (テスト 「…」 { … }) of all files
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dsl.errors import DslRuntimeError
from dsl.rules.explain import explain
from dsl.rules.load import load_rules
from dsl.rules.runtime import RuleRuntime
from dsl.rules.testing import run_tests
from dsl.values import json_value
from tests import golden_files

DEFAULT_FILE = "規則.rules"
_DIRECTIVE = re.compile(r"^>>> (?P<rest>.*)$")
_EVALUATE = re.compile(r"^評価 (?P<name>\S+)(?: 時点 (?P<on>\d{4}-\d{2}-\d{2}))?$")


@dataclass
class Request:
    """One directive after the rule files: evaluate a name on data, or run the in-file tests."""

    kind: str  # "evaluate" | "tests"
    name: str = ""
    on: dt.date | None = None
    data_lines: list[str] = field(default_factory=list)

    def data(self) -> dict[str, object]:
        text = "\n".join(self.data_lines).strip()
        loaded = json.loads(text) if text else {}
        assert isinstance(loaded, dict), f"case data must be a JSON object: {text}"
        return loaded


def split_case(text: str) -> tuple[list[tuple[str, str]], list[Request]]:
    """The rule files (name, text) in layer order, and the requests, of one golden input."""
    files: list[tuple[str, list[str]]] = []
    requests: list[Request] = []
    for line in text.split("\n"):
        directive = _DIRECTIVE.match(line)
        if directive is None:
            if requests:
                requests[-1].data_lines.append(line)
            elif files:
                files[-1][1].append(line)
            else:
                files.append((DEFAULT_FILE, [line]))
            continue
        rest = directive["rest"].strip()
        if rest.endswith(".rules"):
            assert not requests, "rule files come before the requests"
            files.append((rest, []))
        elif rest == "テスト":
            requests.append(Request("tests"))
        elif (evaluate := _EVALUATE.match(rest)) is not None:
            on = dt.date.fromisoformat(evaluate["on"]) if evaluate["on"] else None
            requests.append(Request("evaluate", evaluate["name"], on))
        else:
            raise AssertionError(f"unknown directive: {line}")
    return [(name, "\n".join(lines)) for name, lines in files], requests


def render(text: str) -> str:
    """Load the files of a case, then run its requests; everything a reader needs to check by eye."""
    files, requests = split_case(text)
    rules, diagnostics = load_rules(files)
    out = [d.format() for d in diagnostics]
    if rules is None:
        out.append("（読み込めませんでした）")
        return "\n".join(out)
    for request in requests:
        if request.kind == "tests":
            results = run_tests(rules)
            out.append(">>> テスト")
            for result in results:
                mark = "合格" if result.passed else "不合格"
                out.append(f"{mark} {result.file}:{result.line} 「{result.title}」")
                out.extend(f"    {failure}" for failure in result.failures)
            passed = sum(r.passed for r in results)
            out.append(f"{passed} passed, {len(results) - passed} failed")
            continue
        out.append(f">>> 評価 {request.name}" + (f" 時点 {request.on}" if request.on else ""))
        runtime = RuleRuntime(rules, request.data(), on=request.on, calendar=None)
        try:
            value, trace = runtime.evaluate(request.name)
        except DslRuntimeError as e:
            out.append("実行時エラー: " + e.diagnostic.format())
            continue
        out.append(f"値: {json.dumps(json_value(value), ensure_ascii=False)}")
        out.append(explain(trace))
    return "\n".join(out)


def _cases(name: str) -> tuple[Path, list[golden_files.Case], list[str]]:
    return golden_files.params(f"rules/{name}")


BAD_PATH, BAD_CASES, BAD_IDS = _cases("bad.golden")
EVAL_PATH, EVAL_CASES, EVAL_IDS = _cases("eval.golden")
LAYERS_PATH, LAYERS_CASES, LAYERS_IDS = _cases("layers.golden")


@pytest.mark.parametrize("case", BAD_CASES, ids=BAD_IDS)
def test_bad_rule_files(case: golden_files.Case) -> None:
    """Bad table: each rule file prints every diagnostic, positioned, with its hint."""
    golden_files.check(BAD_PATH, case, render(case.input))


@pytest.mark.parametrize("case", EVAL_CASES, ids=EVAL_IDS)
def test_evaluations(case: golden_files.Case) -> None:
    """Good table: values and explanations of named decisions on given data, and run-time errors."""
    golden_files.check(EVAL_PATH, case, render(case.input))


@pytest.mark.parametrize("case", LAYERS_CASES, ids=LAYERS_IDS)
def test_layers(case: golden_files.Case) -> None:
    """Core + pack layering: 開放 決定 extended with 追加 決定, and what a pack may not do."""
    golden_files.check(LAYERS_PATH, case, render(case.input))


def test_bad_cases_load_nothing() -> None:
    """Every case of the bad table fails to load (warnings alone would belong in the good tables)."""
    loaded = [c.id for c in BAD_CASES if not c.id.startswith("warning-") and load_rules(split_case(c.input)[0])[0]]
    assert loaded == []


RULES_SOURCE = Path(__file__).parent.parent / "dsl" / "rules"


def test_every_rules_diagnostic_code_has_a_bad_case() -> None:
    """Each DSL code the rules layer emits appears in the expected output of some golden case."""
    emitted = {code for path in RULES_SOURCE.glob("*.py")
               for code in re.findall(r'"(DSL[12]\d\d)"', path.read_text(encoding="utf-8"))}
    expected = "\n".join(c.expected for c in [*BAD_CASES, *EVAL_CASES, *LAYERS_CASES])
    missing = sorted(code for code in emitted if f": {code} " not in expected)
    assert emitted, "the scan found no codes: has dsl/rules moved?"
    assert missing == []


def test_every_runtime_code_of_rules_has_a_case() -> None:
    """The run-time errors of rule evaluation (conflict, empty, table, versions, parameters, inputs)."""
    expected = "\n".join(c.expected for c in [*EVAL_CASES, *LAYERS_CASES])
    missing = [code for code in ("DSL301", "DSL302", "DSL310", "DSL311", "DSL312", "DSL313", "DSL314")
               if f": {code} " not in expected]
    assert missing == []
