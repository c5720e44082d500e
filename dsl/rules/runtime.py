"""Evaluating a rule set: default logic with exceptions, decision tables, dated parameters and counting
rules, every step recorded in an explanation trace.

Default logic (as in Catala): the exceptions to a case are tried before it; if several applicable
definitions at one level disagree, that is a conflict (DSL310) naming both, never a silent first match;
if nothing applies and there is no `それ以外`, the decision is empty (DSL311).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dsl.compiler import Fn, _Element, coerce
from dsl.context import EvalContext
from dsl.errors import DslRuntimeError, runtime_error
from dsl.rules.analysis import names_used
from dsl.rules.model import CompiledCase, CompiledCell, DecisionVersion, RuleSet, TableVersion
from dsl.rules.nodes import Period
from dsl.types import DATE, Type
from dsl.values import json_value
from standard_core.diagnostics import Span
from standard_core.municipal_calendar import MunicipalCalendar

Trace = dict[str, Any]
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


@dataclass
class _Frame:
    trace: Trace
    reference_date: dt.date | None
    shown: set[str] = field(default_factory=set)  # definitions already listed as "evaluated above"


@dataclass
class _Plan:
    """A decision version's cases arranged for default logic, computed once per version."""

    exceptions: dict[str, list[CompiledCase]]  # label → the cases that are exceptions to it
    to_all: list[CompiledCase]  # `例外:` without a label: exceptions to every base case
    base: list[CompiledCase]
    otherwise: CompiledCase | None
    dated: bool  # some case only applies in a period (a pack's 適用期間)
    inputs: tuple[str, ...]  # the inputs its cases read, for the explanation


def _plan(version: DecisionVersion, inputs: Mapping[str, Type]) -> _Plan:
    if version.plan is not None:
        return version.plan  # type: ignore[no-any-return]
    used = {n for c in version.cases for n in names_used(c.case)} & inputs.keys()
    plan = _Plan({}, [], [], None, any(c.period is not None for c in version.cases), tuple(sorted(used)))
    for c in version.cases:
        if c.case.otherwise:
            plan.otherwise = c
        elif c.case.exception_to is None:
            plan.base.append(c)
        elif c.case.exception_to == "":
            plan.to_all.append(c)
        else:
            plan.exceptions.setdefault(c.case.exception_to, []).append(c)
    version.plan = plan
    return plan


class RuleRuntime:
    """One evaluation over one set of case data; memoizes each definition per reference date."""

    def __init__(self, rules: RuleSet, data: Mapping[str, object], *, on: dt.date | None,
                 calendar: MunicipalCalendar | None, explain: bool = True) -> None:
        self.rules = rules
        # explain=False: only the value is wanted (an engine condition); no trace is recorded.
        self.explain = explain
        # Inputs are coerced where they are read (compiled names check their type cheaply first).
        self.data: Mapping[str, object] = data
        self.context = EvalContext(on=on, calendar=calendar, rules=self)
        self.memo: dict[tuple[str, dt.date | None], object] = {}
        self.frames: list[_Frame] = [_Frame({"kind": "root", "uses": []}, on)]
        self.active: set[str] = set()

    # --- public ------------------------------------------------------------------------------------
    def evaluate(self, name: str) -> tuple[object, Trace]:
        """Evaluate a decision, table or parameter by name: (value, trace). Raises DslRuntimeError.

        The trace holds runtime values; json_trace() gives its JSON form, explain() its Japanese text.
        """
        versions = self.rules.decisions.get(name) or self.rules.tables.get(name)
        if versions:
            span = versions[0].decl.span
        elif name in self.rules.parameters:
            span = self.rules.parameters[name].values[0].span if self.rules.parameters[name].values else Span(name, 1, 1)
        else:
            known = "、".join(self.rules.evaluable()) or "（なし）"
            raise runtime_error("DSL315", f"「{name}」という決定・表・パラメータはありません", Span(name, 1, 1),
                                f"評価できる名前: {known}")
        value = self.value(name, span)
        if not self.explain:
            return value, {"kind": "value", "name": name, "value": value}
        uses = self.frames[0].trace["uses"]
        return value, (uses[-1] if uses else {"kind": "value", "name": name, "value": value})

    def trace(self) -> list[Trace]:
        """What the evaluations so far used, for an expression evaluated with run()."""
        return list(self.frames[0].trace["uses"])

    def run(self, fn: Fn) -> object:
        """Evaluate a compiled expression of this rule set (a test's expectation, --expr)."""
        return fn(self.data, self.context)

    # --- RuleAccess --------------------------------------------------------------------------------
    def value(self, name: str, span: Span) -> object:
        if name in self.rules.parameters:
            return self._parameter(name, span)
        if name in self.active:  # the loader rejects cycles; this guards extensions loaded later
            raise runtime_error("DSL230", f"「{name}」の評価が循環しました", span, "定義の循環を取り除いてください。")
        versions: Sequence[DecisionVersion | TableVersion] = (self.rules.decisions.get(name)
                                                               or self.rules.tables.get(name) or [])
        reference = self._reference_date(versions[0].reference, span)
        if reference is None and (len(versions) > 1 or versions[0].period is not None):
            raise runtime_error("DSL305", f"「{name}」には適用期間のある版があり、基準日がないと版を選べません",
                                versions[0].decl.span, "基準日（--on、テストの「時点」）を与えてください。")
        key = (name, reference)
        if key in self.memo:
            frame = self.frames[-1]
            if name not in frame.shown:  # say "evaluated above" once per frame
                frame.shown.add(name)
                self._use({"kind": "decision" if name in self.rules.decisions else "table", "name": name,
                           "value": self.memo[key], "type": versions[0].type.name, "again": True})
            return self.memo[key]
        if len(versions) == 1 and versions[0].period is None:
            version: DecisionVersion | TableVersion | None = versions[0]
        else:
            version = next((v for v in versions if reference is None or v.applies_on(reference)), None)
        if version is None:
            periods = "、".join(v.period.label() for v in versions if v.period)
            raise runtime_error("DSL313", f"「{name}」は {reference} に適用される版がありません（{periods}）",
                                versions[0].decl.span,
                                "基準日が規則の適用期間に入っているか確かめてください。")
        if self.explain:
            frame = _Frame({"kind": "decision" if name in self.rules.decisions else "table", "name": name,
                            "reference_date": reference,
                            "reference": version.reference or "基準日", "file": version.file,
                            "line": version.decl.span.line, "type": version.type.name, "uses": []}, reference)
            if version.period is not None:
                frame.trace["version"] = version.period
            if version.decl.cite:
                frame.trace["cite"] = version.decl.cite
        else:
            frame = _Frame({}, reference)
        self.frames.append(frame)
        self.active.add(name)
        try:
            # Errors about the definition itself (conflict, empty, several rows) point at its declaration.
            if isinstance(version, DecisionVersion):
                value = self._decision(version, version.decl.span, reference)
            else:
                value = self._table(version, version.decl.span)
        finally:
            self.active.discard(name)
            self.frames.pop()
        if self.explain:
            frame.trace["value"] = value
            self._use(frame.trace)
        self.memo[key] = value
        return value

    def counted(self, name: str, items: Sequence[object], span: Span) -> list[object]:
        rule = self.rules.countings[name]
        kept = [e for e in items if rule.subject is None or rule.subject(_Element(e, self.data), self.context)]
        if rule.order is not None:
            order = rule.order
            kept.sort(key=lambda e: order(_Element(e, self.data), self.context), reverse=rule.descending)
        self._use({"kind": "counting", "name": name, "cite": rule.cite, "counted": len(kept), "of": len(items)})
        return kept

    # --- tracing -----------------------------------------------------------------------------------
    def _use(self, trace: Trace) -> None:
        if self.explain:
            self.frames[-1].trace["uses"].append(trace)

    def _inputs(self, names: Sequence[str]) -> None:
        """List the inputs a definition reads first among what it used (they are known statically)."""
        if not self.explain:
            return
        self.frames[-1].trace["uses"][0:0] = [
            {"kind": "input", "name": name, "value": self.data[name], "type": self.rules.inputs[name].name}
            for name in names if name in self.data]

    # --- definitions -------------------------------------------------------------------------------
    def _reference_date(self, reference: str | None, span: Span) -> dt.date | None:
        if reference is None:
            return self.frames[-1].reference_date if len(self.frames) > 1 else self.context.on
        value = coerce(self.data.get(reference), DATE, span, reference)
        assert isinstance(value, dt.date)
        return value

    def _parameter(self, name: str, span: Span) -> object:
        parameter = self.rules.parameters[name]
        day = self.frames[-1].reference_date
        if day is None:
            raise runtime_error("DSL305", f"パラメータ「{name}」を選ぶ基準日がありません", span,
                                "基準日（--on）か、決定の「基準日とする」入力を与えてください。")
        for v in parameter.values:
            if v.period.contains(day):
                value = v.value(self.data, self.context)
                if self.explain:
                    self._use({"kind": "parameter", "name": name, "value": value, "type": parameter.type.name,
                               "valid": v.period, "cite": v.cite, "reference_date": day, "file": parameter.file,
                               "line": v.span.line})
                return value
        periods = "、".join(v.period.label() for v in parameter.values) or "値なし"
        hint = ("パラメータに、その日を含む期間の値を書いてください。" if not parameter.open else
                f"標準が開放しているパラメータです。団体のパックで「追加 パラメータ {name} {{ 期間 値 出典「…」; }}」"
                "として値を設定してください。")
        raise runtime_error("DSL314", f"パラメータ「{name}」には {day} の値がありません（{periods}）", span, hint)

    def _decision(self, version: DecisionVersion, span: Span, reference: dt.date | None) -> object:
        plan = _plan(version, self.rules.inputs)
        data, context = self.data, self.context

        def live(cases: list[CompiledCase]) -> list[CompiledCase]:
            if not plan.dated:
                return cases
            # an exception a pack added for a period that does not include this date does not exist here
            return [c for c in cases if c.period is None or (reference is not None and c.period.contains(reference))]

        def level(cases: list[CompiledCase]) -> list[tuple[CompiledCase, object]]:
            results: list[tuple[CompiledCase, object]] = []
            for case in live(cases):
                found = level(plan.exceptions[case.case.label]) if case.case.label in plan.exceptions else []
                if found:
                    results.extend(found)
                elif case.condition is not None and case.condition(data, context):
                    results.append((case, case.value(data, context)))
            if len(results) > 1:
                self._agree(version.name, results, span)
            return results

        results = level(plan.to_all) or level(plan.base)
        if not results:
            fallback = plan.otherwise
            if fallback is None:
                raise runtime_error("DSL311", f"「{version.name}」に当てはまる場合がありません", span,
                                    "入力を確かめるか、規則に「それ以外 値;」を書いてください。")
            results = [(fallback, fallback.value(data, context))]
        if not self.explain:
            return results[0][1]
        self._inputs(plan.inputs)
        self.frames[-1].trace["applied"] = [
            {"label": c.case.label, "exception_to": c.case.exception_to or None, "otherwise": c.case.otherwise,
             "cite": c.case.cite, "file": c.file, "line": c.case.span.line} for c, _ in results]
        return results[0][1]

    def _agree(self, name: str, results: list[tuple[CompiledCase, object]], span: Span) -> None:
        first = results[0][1]
        other = next((r for r in results if r[1] != first), None)
        if other is not None:
            a, b = results[0][0], other[0]
            cites = "、".join(f"{c.describe()} 出典「{c.case.cite}」" for c in (a, b) if c.case.cite)
            raise DslRuntimeError(_conflict(name, a, first, b, other[1], cites, span))

    def _table(self, table: TableVersion, span: Span) -> object:
        values = [column(self.data, self.context) for column in table.columns]
        self._inputs(_table_inputs(table, self.rules.inputs))
        matched = [row for row in table.rows
                   if all(self._cell(cell, value) for cell, value in zip(row.cells, values, strict=False))]
        if self.explain:
            self.frames[-1].trace["matched"] = [{"line": row.row.span.line, "cite": row.row.cite} for row in matched]
        policy, aggregate = table.decl.policy, table.decl.aggregate
        outputs = [row.output(self.data, self.context) for row in matched]
        if policy in ("collect", "rule_order"):
            if aggregate is None:
                return tuple(outputs)
            if aggregate == "count":
                return len(outputs)
            if aggregate == "sum":
                return sum(outputs)
            if not outputs:
                raise runtime_error("DSL311", f"表「{table.name}」に当てはまる行がありません", span,
                                    "入力を確かめるか、どの入力にも当てはまる行（- のセル）を加えてください。")
            return min(outputs) if aggregate == "min" else max(outputs)
        if not outputs:
            raise runtime_error("DSL311", f"表「{table.name}」に当てはまる行がありません", span,
                                "入力を確かめるか、どの入力にも当てはまる行（- のセル）を加えてください。")
        if policy == "first":
            return outputs[0]
        if policy == "priority":
            order = [p(self.data, self.context) for p in table.priority]
            ranked = sorted(outputs, key=lambda v: order.index(v) if v in order else len(order))
            return ranked[0]
        if len(outputs) > 1 and (policy == "unique" or any(o != outputs[0] for o in outputs)):
            lines = "、".join(f"{row.row.span.line} 行目" for row in matched)
            raise runtime_error("DSL312", f"表「{table.name}」（判定方式 {'一意' if policy == 'unique' else 'いずれか'}）"
                                f"で複数の行が当てはまりました（{lines}）", span,
                                "行の条件が重ならないように直すか、判定方式を見直してください。")
        return outputs[0]

    def _cell(self, cell: CompiledCell, value: object) -> bool:
        if cell.kind == "any":
            return True
        operands = [v(self.data, self.context) for v in cell.values]
        if cell.kind == "compare":
            return _CMP[cell.op](value, operands[0])
        if cell.kind == "range":
            low, high = operands
            above = value > low if cell.low_open else value >= low
            below = value < high if cell.high_open else value <= high
            return bool(above and below)
        return value in operands


def _conflict(name: str, a: CompiledCase, va: object, b: CompiledCase, vb: object, cites: str,
              span: Span) -> Any:
    from standard_core.diagnostics import error

    return error("DSL310", f"「{name}」で二つの定義が同時に当てはまり、値が違います: {a.describe()} は "
                 f"{json_value(va)}、{b.describe()} は {json_value(vb)}", span,
                 "どちらかを他方の例外（例外 ラベル:）にするか、条件が重ならないように直してください。",
                 reference=cites)


_NOWHERE = Span("<入力>", 1, 1)


def _table_inputs(table: TableVersion, inputs: Mapping[str, Type]) -> tuple[str, ...]:
    if table.inputs is None:
        table.inputs = tuple(sorted(names_used(table.decl) & inputs.keys()))
    return table.inputs


def json_trace(trace: Trace) -> Trace:
    """A trace with every recorded value in its JSON form. Traces hold the runtime values as they were
    used (converting them costs more than the evaluation); this is for output (--json, the API)."""
    converted = {k: (v.label() if isinstance(v, Period) else json_value(v)) for k, v in trace.items() if k != "uses"}
    if "uses" in trace:
        converted["uses"] = [json_trace(u) for u in trace["uses"]]
    return converted
