"""Checks over a whole rule set before anything runs: versions, exceptions, cycles, overlaps."""

from __future__ import annotations

from collections.abc import Sequence

from dsl.rules import nodes as r
from dsl.rules.analysis import Interval, comparison, literal, may_overlap, names_used
from dsl.rules.model import DecisionVersion, RuleSet, TableVersion
from standard_core.diagnostics import Diagnostic, Span, error, warning

Lines = dict[str, list[str]]


def check_rule_set(rules: RuleSet, asts: dict[str, list[tuple[str, r.Item]]], lines: Lines) -> list[Diagnostic]:
    found: list[Diagnostic] = []

    def add(d: Diagnostic) -> None:
        file_lines = lines.get(d.span.file, [])
        source = file_lines[d.span.line - 1] if 1 <= d.span.line <= len(file_lines) else None
        found.append(Diagnostic(d.code, d.severity, d.message, d.span, d.hint, d.reference, source))

    for name, versions in rules.decisions.items():
        _periods(name, [(v.period, v.decl.span) for v in versions], add)
        for version in versions:
            _exceptions(version, add)
    for name, tables in rules.tables.items():
        _periods(name, [(t.period, t.decl.span) for t in tables], add)
        for table in tables:
            _table_overlaps(table, add)
    for parameter in rules.parameters.values():
        # Values of one layer must not overlap; a pack's values for an open parameter may cover the core's.
        for layer in {v.layer for v in parameter.values}:
            _parameter_periods(parameter.name, [(v.period, v.span) for v in parameter.values if v.layer == layer], add)
    _cycles(rules, asts, add)
    return found


def _periods(name: str, periods: Sequence[tuple[r.Period | None, Span]], add: object) -> None:
    if len(periods) < 2:
        return
    for i, (a, span_a) in enumerate(periods):
        for b, span_b in periods[i + 1:]:
            if a is None or b is None or a.overlaps(b):
                add(error("DSL228", f"「{name}」の版の適用期間が重なっています（{span_a.file}:{span_a.line} と "  # type: ignore[operator]
                          f"{span_b.file}:{span_b.line}）", span_b,
                          "同じ名前の版を複数書くときは、どれにも「適用期間 … から … まで;」を書き、重ならないようにしてください。"))


def _parameter_periods(name: str, periods: Sequence[tuple[r.Period, Span]], add: object) -> None:
    for i, (a, span_a) in enumerate(periods):
        for b, span_b in periods[i + 1:]:
            if a.overlaps(b):
                add(error("DSL233", f"パラメータ「{name}」の値の期間が重なっています（{span_a.file}:{span_a.line} と "  # type: ignore[operator]
                          f"{span_b.file}:{span_b.line}）",
                          span_b, "前の値に「… まで」を書いて、期間が重ならないようにしてください。"))


def _exceptions(version: DecisionVersion, add: object) -> None:
    labels: dict[str, r.Case] = {}
    otherwise = [c for c in version.cases if c.case.otherwise]
    for c in version.cases:
        label = c.case.label
        if label is None:
            continue
        if label in labels:
            add(error("DSL229", f"ラベル「{label}」が「{version.name}」の中で二度使われています", c.case.span,  # type: ignore[operator]
                      "ラベルは決定の中で一意にしてください。"))
        labels[label] = c.case
    if len(otherwise) > 1:
        add(error("DSL229", f"「{version.name}」に「それ以外」が二つあります", otherwise[1].case.span,  # type: ignore[operator]
                  "「それ以外」は一つだけ書けます。"))
    for c in version.cases:
        target = c.case.exception_to
        if target and target not in labels:
            add(error("DSL234", f"例外の対象「{target}」というラベルは「{version.name}」にありません", c.case.span,  # type: ignore[operator]
                      f"ラベル: {'、'.join(labels) or '（なし）'}"))
    # A chain of exceptions that comes back to itself can never be decided.
    for start in labels:
        seen, current = {start}, labels[start].exception_to
        while current:
            if current in seen:
                add(error("DSL235", f"例外の関係が循環しています（「{start}」）", labels[start].span,  # type: ignore[operator]
                          "例外は一方向にだけ重ねてください。"))
                break
            seen.add(current)
            current = labels[current].exception_to if current in labels else None
    _sibling_overlaps(version, add)


def _sibling_overlaps(version: DecisionVersion, add: object) -> None:
    """Warn when two cases of one level can both apply (conditions on one input that intersect)."""
    levels: dict[str | None, list[r.Case]] = {}
    for c in version.cases:
        if not c.case.otherwise:
            levels.setdefault(c.case.exception_to, []).append(c.case)
    for siblings in levels.values():
        for i, a in enumerate(siblings):
            for b in siblings[i + 1:]:
                if a.condition is None or b.condition is None:
                    continue
                va, vb = literal(a.value), literal(b.value)
                if va is not None and va == vb:
                    continue  # both may apply, and agree
                if may_overlap(a.condition, b.condition):
                    add(warning("DSL231", f"「{version.name}」の二つの場合の条件が重なります（{a.span.file}:{a.span.line} と "  # type: ignore[operator]
                                f"{b.span.file}:{b.span.line}）。両方に当てはまると衝突エラーになります", b.span,
                                "条件が重ならないように書くか、一方を他方の例外（例外 ラベル:）にしてください。"))


def _cell_set(cell: r.Cell) -> Interval | None:
    """The values a cell matches, when its values are literals (None: unknown or any)."""
    if cell.kind == "compare" and (v := literal(cell.values[0])) is not None:
        return comparison(cell.op, v)
    if cell.kind == "range":
        low, high = literal(cell.values[0]), literal(cell.values[1])
        if low is not None and high is not None:
            return Interval(low, high, cell.low_open, cell.high_open)
    if cell.kind == "values":
        values = [literal(v) for v in cell.values]
        if all(v is not None for v in values):
            return Interval(points=frozenset(v for v in values if v is not None))
    return None


def _table_overlaps(table: TableVersion, add: object) -> None:
    if table.decl.policy not in ("unique", "any"):
        return
    rows = table.decl.rows
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            overlap = True
            for ca, cb in zip(a.cells, b.cells, strict=False):
                if ca.kind == "any" or cb.kind == "any":
                    continue
                sa, sb = _cell_set(ca), _cell_set(cb)
                if sa is None or sb is None:
                    overlap = False  # unknown: left to the run-time check
                    break
                if not sa.intersects(sb):
                    overlap = False
                    break
            if not overlap:
                continue
            if table.decl.policy == "any":
                oa, ob = literal(a.output), literal(b.output)
                if oa is None or ob is None or oa == ob:
                    continue
            add(error("DSL232", f"表「{table.name}」（判定方式 {_POLICY_NAMES[table.decl.policy]}）の {a.span.line} 行目と "  # type: ignore[operator]
                      f"{b.span.line} 行目が同じ入力に当てはまります", b.span,
                      "範囲が重ならないようにするか、判定方式を「最初」「優先」「集計」などにしてください。"))


_POLICY_NAMES = {"unique": "一意", "any": "いずれか"}


def _cycles(rules: RuleSet, asts: dict[str, list[tuple[str, r.Item]]], add: object) -> None:
    """A decision that (through others) depends on itself can never be evaluated."""
    graph: dict[str, set[str]] = {}
    spans: dict[str, Span] = {}
    for name, decls in asts.items():
        deps: set[str] = set()
        for _, item in decls:
            deps |= names_used(item) & asts.keys()
        graph[name] = deps - {name} if isinstance(decls[0][1], r.Counting) else deps
        spans[name] = decls[0][1].span
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = []
        stack = [(start, iter(sorted(graph[start])))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            if state.get(child) == 1:
                cycle = [*path[path.index(child):], child]
                add(error("DSL230", f"定義が循環しています: {' → '.join(cycle)}", spans[child],  # type: ignore[operator]
                          "ある決定が、巡り巡って自分自身の値を使っています。どこかで入力かパラメータを使うようにしてください。"))
                return
            if not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
