"""Evaluations/s of one rule — 川崎市 子ども医療費助成（通院）の窓口負担額, with a dated parameter and an
exception — written four ways and run in one process on the same case data:

    rule      the compiled rule file through dsl.rules.runtime.RuleRuntime (a new runtime per evaluation,
              as `jichi rules eval` and the engine use it: version and parameter chosen by 診療日, default
              logic with the exception, the explanation trace recorded)
    expr      the same logic as one compiled DSL expression (dsl.check_expression → CompiledExpression)
    python    the same logic as a hand-written Python function
    spiff     the same condition as a Python expression evaluated by SpiffWorkflow 3.2's default script
              engine (PythonScriptEngine → TaskDataEnvironment.evaluate, i.e. `eval`) — here in the bench
              only: nothing from case data reaches eval in the product

Targets (issue 5): rule ≥ 0.5× the hand-written function's speed, and ≥ 5× SpiffWorkflow's eval.

    .venv/bin/python bench/bench_rules.py [--evaluations N] [--rounds R] [--profile]

Rounds interleave the four (in a rotating order) so all see the same machine state; medians are reported,
with absolute numbers and ratios. --profile prints where the rule path spends its time.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsl import check_expression  # noqa: E402
from dsl.rules.load import load_rules  # noqa: E402
from dsl.rules.runtime import RuleRuntime  # noqa: E402
from dsl.types import DATE, INT, MONEY, TEXT  # noqa: E402

RULES = """\
# 川崎市 子ども医療費助成（通院）の窓口負担
パラメータ 通院一部負担上限: 金額 {
  2023-09-01 から 2026-08-31 まで 500円 出典「川崎市小児医療費助成条例施行規則（2023年9月1日施行）」;
  2026-09-01 から 0円 出典「川崎市 小児医療費助成の拡充（2026年9月1日から通院一部負担金なし）」;
}
列挙 課税区分 { 課税, 非課税 }
入力 { 診療日: 日付; 学年: 整数; 世帯課税: 課税区分; 保険診療負担額: 金額; }
決定 窓口負担額: 金額 {
  基準日とする 診療日;
  適用期間 2023-09-01 から;
  出典「川崎市小児医療費助成条例」;
  高学年: 学年 >= 4 のとき 最小(通院一部負担上限, 保険診療負担額) 出典「川崎市小児医療費助成条例施行規則」;
  低学年: 学年 < 4 のとき 0円;
  非課税 例外 高学年: 世帯課税 = 非課税 のとき 0円 出典「川崎市小児医療費助成条例施行規則 ただし書」;
}
"""

# One DSL expression with the same meaning (the parameter's dates written into it).
EXPRESSION = (
    "もし 世帯課税 = 「非課税」 かつ 学年 >= 4 ならば 0円 "
    "でなければ もし 学年 >= 4 ならば 最小(もし 診療日 >= 2026-09-01 ならば 0円 でなければ 500円, 保険診療負担額) "
    "でなければ 0円"
)
SCOPE = {"診療日": DATE, "学年": INT, "世帯課税": TEXT, "保険診療負担額": MONEY}

# The same condition as SpiffWorkflow users write it: Python, evaluated with eval on the task data.
SPIFF_EXPRESSION = (
    "0 if 世帯課税 == '非課税' and 学年 >= 4 else "
    "(min(0 if 診療日 >= '2026-09-01' else 500, 保険診療負担額) if 学年 >= 4 else 0)"
)

START = dt.date(2023, 9, 1)
ABOLISHED = dt.date(2026, 9, 1)


def window_payment(data: Mapping[str, object]) -> int:
    """The hand-written function: what a developer would write in Python for the same rule."""
    day = dt.date.fromisoformat(str(data["診療日"]))
    if day < START:
        raise ValueError("no version of the rule before 2023-09-01")
    grade = data["学年"]
    assert isinstance(grade, int)
    if grade >= 4:
        if data["世帯課税"] == "非課税":
            return 0
        cap = 0 if day >= ABOLISHED else 500
        cost = data["保険診療負担額"]
        assert isinstance(cost, int)
        return min(cap, cost)
    return 0


# Case data as the engine holds it (JSON: dates as ISO strings), covering every branch.
CASES: list[dict[str, object]] = [
    {"診療日": "2025-06-01", "学年": 5, "世帯課税": "課税", "保険診療負担額": 1200},
    {"診療日": "2025-06-01", "学年": 9, "世帯課税": "課税", "保険診療負担額": 320},
    {"診療日": "2026-09-01", "学年": 6, "世帯課税": "課税", "保険診療負担額": 1200},
    {"診療日": "2025-06-01", "学年": 6, "世帯課税": "非課税", "保険診療負担額": 1200},
    {"診療日": "2025-06-01", "学年": 2, "世帯課税": "課税", "保険診療負担額": 1200},
    {"診療日": "2024-02-29", "学年": 4, "世帯課税": "課税", "保険診療負担額": 700},
]


def contenders() -> dict[str, Callable[[dict[str, object]], object]]:
    rules, diagnostics = load_rules([("kawasaki.rules", RULES)])
    if rules is None:
        raise SystemExit("\n".join(d.format() for d in diagnostics))
    loaded = rules
    compiled = check_expression(EXPRESSION, SCOPE, expected=MONEY)
    environment = PythonScriptEngine().environment

    def rule(data: dict[str, object]) -> object:
        return RuleRuntime(loaded, data, on=None, calendar=None).evaluate("窓口負担額")[0]

    def rule_value(data: dict[str, object]) -> object:
        return RuleRuntime(loaded, data, on=None, calendar=None, explain=False).evaluate("窓口負担額")[0]

    def spiff(data: dict[str, object]) -> object:
        return environment.evaluate(SPIFF_EXPRESSION, dict(data))

    return {"rule": rule, "rule_value": rule_value, "expr": compiled.evaluate, "python": window_payment,
            "spiff": spiff}


def measure(fn: Callable[[dict[str, object]], object], evaluations: int) -> float:
    """Evaluations per second over the cases, round-robin."""
    cases = CASES
    n = len(cases)
    start = time.perf_counter()
    for i in range(evaluations):
        fn(cases[i % n])
    return evaluations / (time.perf_counter() - start)


def profile(fn: Callable[[dict[str, object]], object], evaluations: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(evaluations):
        fn(CASES[i % len(CASES)])
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=20000, help="evaluations per contender per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="profile the rule path after measuring")
    args = parser.parse_args()

    fns = contenders()
    for data in CASES:  # all four agree on every case before anything is timed
        results = {name: fn(dict(data)) for name, fn in fns.items()}
        assert len(set(results.values())) == 1, (data, results)

    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        order = names[round_ % len(names):] + names[: round_ % len(names)]
        for name in order:
            samples[name].append(measure(fns[name], args.evaluations))
    medians = {name: statistics.median(values) for name, values in samples.items()}

    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.system()}; {args.rounds} rounds × {args.evaluations} evaluations, medians")
    for name in names:
        spread = f"{min(samples[name]):,.0f}–{max(samples[name]):,.0f}"
        print(f"  {name:<10} {medians[name]:>12,.0f} evaluations/s  ({1e6 / medians[name]:6.2f} µs each; "
              f"rounds {spread})")
    ratios = {
        "rule / python": medians["rule"] / medians["python"],
        "expr / python": medians["expr"] / medians["python"],
        "rule / spiff": medians["rule"] / medians["spiff"],
        "rule_value / spiff": medians["rule_value"] / medians["spiff"],
        "expr / spiff": medians["expr"] / medians["spiff"],
    }
    targets = {"rule / python": 0.5, "rule / spiff": 5.0}
    for label, ratio in ratios.items():
        target = targets.get(label)
        verdict = "" if target is None else f"  (target ≥ {target}×: {'met' if ratio >= target else 'MISSED'})"
        print(f"  {label:<18} {ratio:6.2f}×{verdict}")
    print(json.dumps({"evaluations_per_s": {k: round(v) for k, v in medians.items()},
                      "ratios": {k: round(v, 3) for k, v in ratios.items()}}, ensure_ascii=False))
    if args.profile:
        profile(fns["rule"], args.evaluations)


if __name__ == "__main__":
    main()
