"""Load rule files into a RuleSet: resolve names and types across files, type-check and compile every
expression, and check what can be checked before anything runs (all diagnostics at once)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from dsl import nodes
from dsl.checker import Checker
from dsl.compiler import Compiler, Fn
from dsl.parser import parse_expression
from dsl.rules import nodes as r
from dsl.rules.analysis import names_used
from dsl.rules.build import parse_rules
from dsl.rules.checks import check_rule_set
from dsl.rules.model import (
    CompiledCase,
    CompiledCell,
    CompiledCounting,
    CompiledParameter,
    CompiledParameterValue,
    CompiledRow,
    CompiledTest,
    DecisionVersion,
    RuleSet,
    TableVersion,
)
from dsl.types import (
    BOOL,
    DATE,
    DAYS,
    FISCAL_YEAR,
    INT,
    MONEY,
    MONTHS,
    RATE,
    YEAR_MONTH,
    YEARS,
    CountingType,
    EnumType,
    ListType,
    Type,
    list_of,
    record,
    type_named,
    type_names,
)
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error, has_errors

_NUMBERS = (INT, MONEY, RATE, DAYS, MONTHS, YEARS)
_AGGREGATABLE: dict[str, tuple[Type, ...]] = {
    "sum": _NUMBERS, "min": (*_NUMBERS, DATE, YEAR_MONTH, FISCAL_YEAR), "max": (*_NUMBERS, DATE, YEAR_MONTH, FISCAL_YEAR),
}


CORE = "core"


def layer_of(display: str) -> str:
    """The layer a rule file belongs to: the core (standard_core/rules/), or the pack folder it is in."""
    parts = display.replace("\\", "/").split("/")
    if display.startswith("standard_core/"):
        return CORE
    if len(parts) > 2 and parts[0] == "local_rules":
        return parts[1]
    return display


def load_rules(sources: Sequence[tuple[str, str]],
               layers: Mapping[str, str] | None = None) -> tuple[RuleSet | None, list[Diagnostic]]:
    """Load (file name, text) pairs in layer order (core first). Returns the rule set, or None when any
    error was found, and every diagnostic (warnings included).

    `layers` names each file's layer (default: layer_of(file name)); what a layer may do to the layers
    below it is the conformance of docs/dsl.md: only the core's `開放` definitions are extension points.
    """
    parsed: list[tuple[str, str, r.RuleFile]] = []
    diagnostics: list[Diagnostic] = []
    for display, text in sources:
        try:
            parsed.append((display, text, parse_rules(text, display)))
        except DiagnosticError as e:
            diagnostics.extend(e.diagnostics)
    loader = _Loader(parsed, {d: (layers or {}).get(d) or layer_of(d) for d, _, _ in parsed})
    loader.run()
    diagnostics.extend(loader.diagnostics)
    if not has_errors(diagnostics):
        diagnostics.extend(check_rule_set(loader.rules, loader.asts, loader.lines))
    return (None if has_errors(diagnostics) else loader.rules), diagnostics


class _Loader:
    def __init__(self, files: list[tuple[str, str, r.RuleFile]], layers: dict[str, str]) -> None:
        self.files = files
        self.layers = layers
        self.lines = {display: text.split("\n") for display, text, _ in files}
        self.rules = RuleSet(files=[display for display, _, _ in files])
        self.diagnostics: list[Diagnostic] = []
        self.defined: dict[str, tuple[str, Span]] = {}  # name → (what, where), across all kinds
        self.asts: dict[str, list[tuple[str, r.Item]]] = {}  # definition name → its declarations
        self._reading: set[str] | None = None  # where _expr records the names read (the current definition)

    def _error(self, code: str, message: str, span: Span, hint: str) -> None:
        lines = self.lines.get(span.file, [])
        source = lines[span.line - 1] if 1 <= span.line <= len(lines) else None
        d = error(code, message, span, hint)
        self.diagnostics.append(Diagnostic(d.code, d.severity, d.message, d.span, d.hint, d.reference, source))

    def _declare(self, name: str, what: str, span: Span) -> bool:
        previous = self.defined.get(name)
        if previous is not None and self.layers.get(previous[1].file) == CORE and self.layers.get(span.file) != CORE:
            self._error("STD301", f"標準の{previous[0]}「{name}」（{previous[1].file}:{previous[1].line}）はパックで定義し直せません",
                        span, self._extension_hint(name))
            return False
        if previous is not None:
            self._error("DSL220", f"「{name}」は {previous[1].file}:{previous[1].line} で{previous[0]}として定義されています",
                        span, "名前は規則集全体（標準・都道府県・市区町村のパック）で一意にしてください。")
            return False
        self.defined[name] = (what, span)
        return True

    def _extension_hint(self, name: str) -> str:
        """Which extension point the core offers for `name`, if any."""
        for _, item in self.asts.get(name, []):
            if isinstance(item, r.Decision) and item.open:
                return f"標準の決定「{name}」は開放されています。「追加 決定 {name} {{ 例外 ラベル: 条件 のとき 値; }}」で例外を加えてください。"
            if isinstance(item, r.Parameter) and item.open:
                return f"標準のパラメータ「{name}」は開放されています。「追加 パラメータ {name} {{ 期間 値 出典「…」; }}」で値を設定してください。"
        return "標準は閉じています。パック独自の定義には別の名前（パックの名前空間）を使ってください。拡張点は jichi rules manifest で確かめられます。"

    def run(self) -> None:
        items = [(display, item) for display, _, f in self.files for item in f.items]
        for _, item in items:
            if isinstance(item, r.EnumDecl) and self._declare(item.name, "列挙", item.span):
                enum = EnumType("enum", item.name, item.values)
                self.rules.types[item.name] = enum
                for value in item.values:
                    if self._declare(value, f"列挙「{item.name}」の値", item.span):
                        self.rules.enum_values[value] = enum
            elif isinstance(item, r.RecordTypeDecl) and self._declare(item.name, "型", item.span):
                self.rules.types[item.name] = record(item.name, {})  # fields resolved below
        for _, item in items:
            if isinstance(item, r.RecordTypeDecl) and item.name in self.rules.types:
                fields = {f.name: self._type(f.type) for f in item.fields}
                self.rules.types[item.name] = record(item.name, fields)
        # Record fields may name records declared later: resolve once more now all are known.
        for _, item in items:
            if isinstance(item, r.RecordTypeDecl) and item.name in self.rules.types:
                self.rules.types[item.name] = record(item.name, {f.name: self._type(f.type, report=False)
                                                                 for f in item.fields})
        for _, item in items:
            if isinstance(item, r.Inputs):
                for f in item.fields:
                    t = self._type(f.type)
                    known = self.rules.inputs.get(f.name)
                    if known is not None and known != t:
                        self._error("DSL221", f"入力「{f.name}」は{known}として宣言済みですが、ここでは{t}です", f.span,
                                    "同じ入力には同じ型を宣言してください。")
                    elif known is None and self._declare(f.name, "入力", f.span):
                        self.rules.inputs[f.name] = t
        self._declare_definitions(items)
        scope = self._scope()
        for display, item in items:
            self._compile(display, item, scope)

    def _declare_definitions(self, items: list[tuple[str, r.Item]]) -> None:
        for display, item in items:
            name = getattr(item, "name", None)
            if name is None or isinstance(item, (r.EnumDecl, r.RecordTypeDecl)):
                continue
            self.asts.setdefault(name, []).append((display, item))
            if (isinstance(item, r.Decision) and item.extension) or (isinstance(item, r.Parameter) and item.setting):
                continue
            versions = [(f, i) for f, i in self.asts[name]
                        if type(i) is type(item) and not getattr(i, "extension", False)]
            if len(versions) > 1 and isinstance(item, (r.Decision, r.Table)) and versions[0][0] == display:
                continue  # another effective-dated version in the same file; periods are checked in checks.py
            what = {r.Parameter: "パラメータ", r.Decision: "決定", r.Table: "表", r.Counting: "数え方"}[type(item)]
            self._declare(name, what, item.span)

    def _scope(self) -> dict[str, Type]:
        scope: dict[str, Type] = dict(self.rules.inputs)
        scope.update(self.rules.enum_values)
        for name, decls in self.asts.items():
            first = decls[0][1]
            if isinstance(first, r.Parameter) and first.setting:
                continue
            if isinstance(first, (r.Parameter, r.Table)) or (isinstance(first, r.Decision) and first.type):
                scope[name] = self._type(first.type, report=False)  # type: ignore[arg-type]
            elif isinstance(first, r.Counting):
                scope[name] = CountingType("counting", name, self._type(first.type, report=False))
        return scope

    def _type(self, ref: r.TypeRef, report: bool = True) -> Type:
        name = ref.name
        if name.endswith("の一覧"):
            return list_of(self._type(r.TypeRef(ref.span, name[: -len("の一覧")]), report))
        found = self.rules.types.get(name) or type_named(name)
        if found is None:
            if report:
                known = [*type_names(), *self.rules.types]
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
                self._error("DSL222", f"型「{name}」はありません", ref.span,
                            (f"「{close[0]}」のことですか？" if close else "") + f"使える型: {'、'.join(known)}")
            return BOOL if found is None else found
        return found

    # --- compiling ---------------------------------------------------------------------------------
    def _expr(self, display: str, node: nodes.Expr, scope: dict[str, Type], expected: Type | None,
              what: str) -> tuple[object, Type] | None:
        checker = Checker(scope, display, "\n".join(self.lines[display]))
        t = checker.check(node)
        if self._reading is not None:
            self._reading.update(checker.read)
        checker.expect(node, t, expected, what)
        self.diagnostics.extend(checker.diagnostics)
        if has_errors(checker.diagnostics):
            return None
        definitions = frozenset(n for n in scope if self.rules.definition_type(n) is not None or n in self.asts)
        constants: dict[str, object] = {v: v for v in self.rules.enum_values}
        constants.update({n: n for n, t2 in scope.items() if isinstance(t2, CountingType)})
        compiler = Compiler(checker.scope, checker.types, definitions - set(constants), constants)
        return compiler.compile(node), t

    def _compile(self, display: str, item: r.Item, scope: dict[str, Type]) -> None:
        self._reading = None
        if isinstance(item, r.Parameter):
            self._parameter(display, item)
        elif isinstance(item, r.Decision):
            self._decision(display, item, scope)
        elif isinstance(item, r.Table):
            self._table(display, item, scope)
        elif isinstance(item, r.Counting):
            self._counting(display, item, scope)
        elif isinstance(item, r.Test):
            self._test(display, item, scope)

    def _parameter(self, display: str, item: r.Parameter) -> None:
        base = self.rules.parameters.get(item.name)
        if item.setting:
            if base is None:
                self._error("DSL224", f"値を設定する先のパラメータ「{item.name}」がありません", item.span,
                            "設定できるのは、読み込み順で先にある（標準や上位のパックの）「開放 パラメータ」だけです。")
                return
            if not base.open:
                code = "STD303" if self.layers.get(base.file) == CORE else "DSL225"
                self._error(code, f"パラメータ「{item.name}」は開放されていないため、値を設定できません", item.span,
                            "標準の値は閉じています。設定できるのは「開放 パラメータ」と宣言された値だけです。")
                return
        t = base.type if item.setting and base is not None else self._type(item.type, report=False)  # type: ignore[arg-type]
        values = []
        for v in item.values:
            compiled = self._expr(display, v.value, dict(self.rules.enum_values), t, f"パラメータ「{item.name}」の値")
            if compiled is not None:
                values.append(CompiledParameterValue(v.period, compiled[0], v.cite, v.span,  # type: ignore[arg-type]
                                                     self.layers.get(display, display)))
        if item.setting and base is not None:
            # The more specific layer's values come first; the core's remain for dates they do not cover.
            self.rules.parameters[item.name] = CompiledParameter(item.name, t, (*values, *base.values), base.file,
                                                                 True)
            return
        self.rules.parameters[item.name] = CompiledParameter(item.name, t, tuple(values), display, item.open)

    def _reference(self, reference: str | None, span: Span) -> None:
        if reference is not None and self.rules.inputs.get(reference) != DATE:
            self._error("DSL223", f"基準日とする「{reference}」は日付の入力ではありません", span,
                        "入力 { … } で日付として宣言した項目（診療日・申請日など）を指定してください。")

    def _decision(self, display: str, item: r.Decision, scope: dict[str, Type]) -> None:
        self._reading = self.rules.reads.setdefault(item.name, set())
        if item.reference is not None:
            self._reading.add(item.reference)
        if item.extension:
            if item.reference is not None:
                self._error("DSL237", f"「追加 決定 {item.name}」に基準日とするは書けません", item.span,
                            "基準日は追加先の決定が決めます。追加する例外には、条件と適用期間だけを書いてください。")
                return
            versions = self.rules.decisions.get(item.name)
            target = self.asts.get(item.name, [])
            base = next((d for _, d in target if isinstance(d, r.Decision) and not d.extension), None)
            if base is None or not versions:
                self._error("DSL224", f"追加先の決定「{item.name}」がありません", item.span,
                            "追加できるのは、読み込み順で先にある（標準や上位のパックの）「開放 決定」だけです。")
                return
            if not base.open:
                core = self.layers.get(versions[0].file) == CORE
                self._error("STD302" if core else "DSL225",
                            f"{'標準の' if core else ''}決定「{item.name}」は開放されていないため、例外を追加できません", item.span,
                            "標準の規則は閉じています。追加できるのは「開放 決定」と宣言された規則だけです。")
                return
            for version in versions:
                version.cases.extend(self._cases(display, item, version.type, scope, item.period))
            return
        t = self._type(item.type, report=False) if item.type else BOOL
        self._reference(item.reference, item.span)
        earlier = self.rules.decisions.get(item.name)
        if earlier and (earlier[0].type != t or earlier[0].reference != item.reference):
            first = earlier[0]
            self._error("DSL237", f"「{item.name}」の版どうしで型か基準日が違います（{first.file}:{first.decl.span.line} は"
                        f"{first.type}・基準日 {first.reference or '評価の基準日'}）", item.span,
                        "同じ決定の版は、同じ型と同じ「基準日とする」にしてください。制度の変更は値や条件で表します。")
            return
        version = DecisionVersion(item.name, t, item, display, item.period, item.reference)
        version.cases.extend(self._cases(display, item, t, scope))
        self.rules.decisions.setdefault(item.name, []).append(version)

    def _cases(self, display: str, item: r.Decision, t: Type, scope: dict[str, Type],
               period: r.Period | None = None) -> list[CompiledCase]:
        cases = []
        for case in item.cases:
            condition = None
            if case.condition is not None:
                c = self._expr(display, case.condition, scope, BOOL, "条件")
                if c is None:
                    continue
                condition = c[0]
            value = self._expr(display, case.value, scope, t, f"「{item.name}」の値")
            if value is not None:
                cases.append(CompiledCase(case, condition, value[0], display, period))  # type: ignore[arg-type]
        return cases

    def _table(self, display: str, item: r.Table, scope: dict[str, Type]) -> None:
        self._reading = self.rules.reads.setdefault(item.name, set())
        if item.reference is not None:
            self._reading.add(item.reference)
        t = self._type(item.type, report=False)
        output_type: Type | None = t
        if item.policy in ("collect", "rule_order") and item.aggregate is None:
            if not isinstance(t, ListType):
                self._error("DSL236", f"表「{item.name}」は結果の一覧を返すので、型は「…の一覧」にしてください（{t}です）",
                            item.type.span, f"例: 表 {item.name}: {t}の一覧 {{ … }}")
                return
            output_type = t.item
        elif item.aggregate == "count":
            output_type = None
        elif item.aggregate is not None and t not in _AGGREGATABLE[item.aggregate]:
            allowed = "・".join(x.name for x in _AGGREGATABLE[item.aggregate])
            word = {"sum": "合計", "min": "最小", "max": "最大"}[item.aggregate]
            self._error("DSL236", f"表「{item.name}」の集計（{word}）は{t}にはできません", item.type.span,
                        f"集計できる型: {allowed}")
            return
        self._reference(item.reference, item.span)
        columns = [self._expr(display, c, scope, None, "列") for c in item.columns]
        if any(c is None for c in columns):
            return
        column_types = [c[1] for c in columns if c is not None]
        rows = []
        for row in item.rows:
            cells = []
            for cell, column_type in zip(row.cells, column_types, strict=False):
                fns = []
                for v in cell.values:
                    compiled = self._expr(display, v, scope, column_type, "セルの値")
                    if compiled is not None:
                        fns.append(compiled[0])
                cells.append(CompiledCell(cell.kind, cell.op, tuple(fns), cell.low_open, cell.high_open))  # type: ignore[arg-type]
            output = self._expr(display, row.output, scope, output_type, f"表「{item.name}」の結果")
            if output is not None:
                rows.append(CompiledRow(row, tuple(cells), output[0]))  # type: ignore[arg-type]
        priority = [self._expr(display, p, scope, t, "優先順の値") for p in item.priority]
        self.rules.tables.setdefault(item.name, []).append(TableVersion(
            item.name, t, item, display, item.period, item.reference, tuple(c[0] for c in columns if c),  # type: ignore[misc]
            tuple(rows), tuple(p[0] for p in priority if p)))  # type: ignore[misc]

    def _counting(self, display: str, item: r.Counting, scope: dict[str, Type]) -> None:
        element = self._type(item.type, report=False)
        inner = dict(scope)
        inner["それ"] = element
        if hasattr(element, "fields"):
            inner.update(dict(element.fields))
        subject = self._expr(display, item.subject, inner, BOOL, "数える条件") if item.subject else None
        order = self._expr(display, item.order, inner, None, "並び順") if item.order else None
        self.rules.countings[item.name] = CompiledCounting(
            item.name, element, subject[0] if subject else None, order[0] if order else None,  # type: ignore[arg-type]
            item.descending, item.cite, display)

    def _test(self, display: str, item: r.Test, scope: dict[str, Type]) -> None:
        given = []
        for g in item.given:
            t = self.rules.inputs.get(g.name)
            if t is None:
                close = difflib.get_close_matches(g.name, list(self.rules.inputs), n=1, cutoff=0.5)
                self._error("DSL226", f"テストの入力「{g.name}」は宣言されていません", g.span,
                            (f"「{close[0]}」のことですか？" if close else "") + "入力 { … } で宣言した名前を使ってください。")
                continue
            compiled = self._expr(display, g.value, dict(self.rules.enum_values), t, f"入力「{g.name}」の値")
            if compiled is not None:
                given.append((g.name, compiled[0]))
        expects: list[tuple[r.Expect, object]] = []
        for e in item.expects:
            if e.condition is None:
                if e.error_of not in self.rules.decisions and e.error_of not in self.rules.tables:
                    self._error("DSL227", f"「{e.error_of}」は決定でも表でもありません", e.span,
                                "エラーを期待できるのは決定と表です。")
                    continue
                expects.append((e, None))
                continue
            compiled = self._expr(display, e.condition, scope, BOOL, "期待")
            if compiled is not None:
                expects.append((e, compiled[0]))
        self.rules.tests.append(CompiledTest(item, display, tuple(given), tuple(expects)))  # type: ignore[arg-type]


__all__ = ["compile_in", "load_rules", "names_used"]


def compile_in(rules: RuleSet, text: str, file: str = "--expr") -> tuple[Fn, Type]:
    """Check and compile one expression with everything a rule set defines in scope (inputs, decisions,
    tables, parameters, enum values, counting rules). Raises DiagnosticError."""
    node = parse_expression(text, file)
    scope: dict[str, Type] = dict(rules.inputs)
    scope.update(rules.enum_values)
    definitions = set()
    for name in [*rules.parameters, *rules.decisions, *rules.tables]:
        t = rules.definition_type(name)
        if t is not None:
            scope[name] = t
            definitions.add(name)
    constants: dict[str, object] = {v: v for v in rules.enum_values}
    for name, counting in rules.countings.items():
        scope[name] = CountingType("counting", name, counting.item)
        constants[name] = name
    checker = Checker(scope, file, text)
    t = checker.check(node)
    if has_errors(checker.diagnostics):
        raise DiagnosticError(checker.diagnostics)
    return Compiler(checker.scope, checker.types, frozenset(definitions), constants).compile(node), t
