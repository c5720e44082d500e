"""Parse a rule file into dsl.rules.nodes (the expression parts are dsl.nodes)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from lark import Token, v_args
from lark.tree import Meta

from dsl import nodes
from dsl.parser import Builder, build
from dsl.rules import nodes as r
from standard_core.diagnostics import error

POLICIES = {"一意": "unique", "いずれか": "any", "最初": "first", "優先": "priority", "集計": "collect",
            "規則順": "rule_order"}
AGGREGATES = {"合計": "sum", "件数": "count", "最小": "min", "最大": "max"}
ERROR_KINDS = {"衝突": "conflict", "空": "empty", "エラー": "error"}


def parse_rules(text: str, file: str) -> r.RuleFile:
    """Parse a *.rules file. Raises DiagnosticError (syntax: the first error; structure: all of them)."""
    result: r.RuleFile = build(text, file, "rules_file", _RulesBuilder(file))
    return result


def _text(token: Token) -> str:
    raw = str(token)
    return raw[1:-1]


@v_args(meta=True)
class _RulesBuilder(Builder):
    """The expression builder plus the file-level constructs."""

    def rules_file(self, meta: Meta, children: list[Any]) -> r.RuleFile:
        return r.RuleFile(self._s(meta), tuple(children))

    def type_ref(self, meta: Meta, children: list[Token]) -> r.TypeRef:
        return r.TypeRef(self._s(meta), self._name(children[0]))

    def cite(self, meta: Meta, children: list[Token]) -> str:
        return _text(children[0])

    def period(self, meta: Meta, children: list[Any]) -> r.Period:
        dates = [c.value for c in children]
        start: dt.date = dates[0]
        end: dt.date | None = dates[1] if len(dates) > 1 else None
        if end is not None and end < start:
            self.diagnostics.append(error("DSL120", f"期間の終わり（{end}）が始まり（{start}）より前です", self._s(meta),
                                          "「開始日 から 終了日 まで」の順に書いてください。"))
        return r.Period(start, end)

    # --- parameters, types, inputs ----------------------------------------------------------------
    def parameter(self, meta: Meta, children: list[Any]) -> r.Parameter:
        is_open = bool(children) and isinstance(children[0], Token) and children[0].type == "OPEN"
        if is_open:
            children = children[1:]
        name, type_ref, *values = children
        return r.Parameter(self._s(meta), self._name(name), type_ref, tuple(values), open=is_open)

    def parameter_setting(self, meta: Meta, children: list[Any]) -> r.Parameter:
        name, *values = children
        return r.Parameter(self._s(meta), self._name(name), None, tuple(values), setting=True)

    def parameter_value(self, meta: Meta, children: list[Any]) -> r.ParameterValue:
        period, value, *rest = children
        return r.ParameterValue(self._s(meta), period, value, rest[0] if rest else "")

    def field_decl(self, meta: Meta, children: list[Any]) -> r.FieldDecl:
        name, type_ref = children
        return r.FieldDecl(self._s(meta), self._name(name), type_ref)

    def record_type(self, meta: Meta, children: list[Any]) -> r.RecordTypeDecl:
        name, *fields = children
        return r.RecordTypeDecl(self._s(meta), self._name(name), tuple(fields))

    def enum_type(self, meta: Meta, children: list[Token]) -> r.EnumDecl:
        name, *values = children
        return r.EnumDecl(self._s(meta), self._name(name), tuple(self._name(v) for v in values))

    def inputs(self, meta: Meta, children: list[Any]) -> r.Inputs:
        return r.Inputs(self._s(meta), tuple(children))

    # --- decisions --------------------------------------------------------------------------------
    def reference(self, meta: Meta, children: list[Token]) -> tuple[str, str]:
        return ("reference", self._name(children[0]))

    def effective(self, meta: Meta, children: list[Any]) -> tuple[str, r.Period]:
        return ("effective", children[0])

    def about(self, meta: Meta, children: list[Any]) -> tuple[str, str]:
        return ("cite", children[0])

    def label(self, meta: Meta, children: list[Token]) -> tuple[str | None, str | None]:
        return self._name(children[0]), None

    def labelled_exception(self, meta: Meta, children: list[Token]) -> tuple[str | None, str | None]:
        return self._name(children[0]), (self._name(children[1]) if len(children) > 1 else "")

    def exception(self, meta: Meta, children: list[Token]) -> tuple[str | None, str | None]:
        return None, (self._name(children[0]) if children else "")

    def case(self, meta: Meta, children: list[Any]) -> r.Case:
        label: str | None = None
        exception_to: str | None = None
        if isinstance(children[0], tuple):
            (label, exception_to), children = children[0], children[1:]
        condition, value, *rest = children
        return r.Case(self._s(meta), label, exception_to, condition, value, rest[0] if rest else "")

    def otherwise(self, meta: Meta, children: list[Any]) -> r.Case:
        value, *rest = children
        return r.Case(self._s(meta), None, None, None, value, rest[0] if rest else "", otherwise=True)

    def _decision_body(self, meta: Meta, items: list[Any], name: str) -> dict[str, Any]:
        body: dict[str, Any] = {"reference": None, "period": None, "cite": "", "cases": []}
        for item in items:
            if isinstance(item, r.Case):
                body["cases"].append(item)
                continue
            key, value = item
            field = {"reference": "reference", "effective": "period", "cite": "cite"}[key]
            if body[field]:
                self.diagnostics.append(error("DSL121", f"「{name}」に同じ指定が二度あります", self._s(meta),
                                              "基準日とする・適用期間・出典は一度だけ書いてください。"))
            body[field] = value
        return body

    def decision(self, meta: Meta, children: list[Any]) -> r.Decision:
        is_open = bool(children) and isinstance(children[0], Token) and children[0].type == "OPEN"
        if is_open:
            children = children[1:]
        name, type_ref, *items = children
        body = self._decision_body(meta, items, str(name))
        return r.Decision(self._s(meta), self._name(name), type_ref, is_open, False, body["reference"],
                          body["period"], body["cite"], tuple(body["cases"]))

    def extension(self, meta: Meta, children: list[Any]) -> r.Decision:
        name, *items = children
        body = self._decision_body(meta, items, str(name))
        return r.Decision(self._s(meta), self._name(name), None, False, True, body["reference"], body["period"],
                          body["cite"], tuple(body["cases"]))

    # --- tables -----------------------------------------------------------------------------------
    def policy(self, meta: Meta, children: list[Token]) -> tuple[str, tuple[str, str | None, tuple[Any, ...]]]:
        words = [str(c) for c in children]
        policy = POLICIES.get(words[0])
        aggregate = AGGREGATES.get(words[1]) if len(words) > 1 else None
        if policy is None or (len(words) > 1 and (aggregate is None or policy != "collect")) or (
                policy == "priority"):
            self.diagnostics.append(error(
                "DSL122", f"判定方式「{' '.join(words)}」はありません", self._s(meta),
                "一意・いずれか・最初・規則順・集計（合計・件数・最小・最大と組み合わせる）・優先 [値, …] から選んでください。"))
        return ("policy", (policy or "unique", aggregate, ()))

    def priority_policy(self, meta: Meta, children: list[Any]) -> tuple[str, tuple[str, str | None, tuple[Any, ...]]]:
        word, *values = children
        if str(word) != "優先":
            self.diagnostics.append(error("DSL122", f"判定方式「{word}」に値の並びは書けません", self._s(meta),
                                          "値の並びを書くのは「判定方式 優先 [高い値, …, 低い値];」だけです。"))
        return ("policy", ("priority", None, tuple(values)))

    def columns(self, meta: Meta, children: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return ("columns", tuple(children))

    def any_cell(self, meta: Meta, children: list[Any]) -> r.Cell:
        return r.Cell(self._s(meta), "any")

    def compare_cell(self, meta: Meta, children: list[Any]) -> r.Cell:
        op, value = children
        return r.Cell(self._s(meta), "compare", op={"==": "=", "≠": "!=", "≤": "<=", "≥": ">="}.get(str(op), str(op)),
                      values=(value,))

    def _range(self, meta: Meta, children: list[Any], low_open: bool, high_open: bool) -> r.Cell:
        return r.Cell(self._s(meta), "range", values=(children[0], children[1]), low_open=low_open,
                      high_open=high_open)

    def range_closed(self, meta: Meta, children: list[Any]) -> r.Cell:
        return self._range(meta, children, False, False)

    def range_half_open(self, meta: Meta, children: list[Any]) -> r.Cell:
        return self._range(meta, children, False, True)

    def range_open_closed(self, meta: Meta, children: list[Any]) -> r.Cell:
        return self._range(meta, children, True, False)

    def range_open(self, meta: Meta, children: list[Any]) -> r.Cell:
        return self._range(meta, children, True, True)

    def values_cell(self, meta: Meta, children: list[Any]) -> r.Cell:
        return r.Cell(self._s(meta), "values", values=tuple(children))

    def row(self, meta: Meta, children: list[Any]) -> tuple[str, r.Row]:
        cells = [c for c in children if isinstance(c, r.Cell)]
        rest = [c for c in children if not isinstance(c, (r.Cell, Token))]
        output, *cite = rest
        return ("row", r.Row(self._s(meta), tuple(cells), output, cite[0] if cite else ""))

    def table(self, meta: Meta, children: list[Any]) -> r.Table:
        name, type_ref, *items = children
        settings: dict[str, Any] = {"reference": None, "effective": None, "cite": "", "columns": (),
                                    "policy": ("unique", None, ())}
        rows = []
        for key, value in items:
            if key == "row":
                rows.append(value)
            else:
                settings[key] = value
        policy, aggregate, priority = settings["policy"]
        table = r.Table(self._s(meta), self._name(name), type_ref, policy, aggregate, priority,
                        settings["reference"], settings["effective"], settings["cite"], settings["columns"],
                        tuple(rows))
        for row in rows:
            if len(row.cells) != len(table.columns):
                self.diagnostics.append(error(
                    "DSL123", f"行の列の数（{len(row.cells)}）が「列」の数（{len(table.columns)}）と違います", row.span,
                    "「列 …;」に並べた入力と同じ数だけ、| で区切ったセルを書いてください（どれでもよいセルは -）。"))
        return table

    # --- counting rules ---------------------------------------------------------------------------
    def subject(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return ("subject", children[0])

    def order(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        expr, *direction = children
        descending = False
        if direction:
            word = str(direction[0])
            if word not in ("昇順", "降順"):
                self.diagnostics.append(error("DSL124", f"並び順「{word}」はありません", self._s(meta),
                                              "「昇順」（小さい・古い順、既定）か「降順」を書いてください。"))
            descending = word == "降順"
        return ("order", (expr, descending))

    def counting(self, meta: Meta, children: list[Any]) -> r.Counting:
        name, type_ref, *items = children
        settings: dict[str, Any] = {"subject": None, "order": (None, False), "cite": ""}
        for key, value in items:
            settings[key] = value
        order, descending = settings["order"]
        return r.Counting(self._s(meta), self._name(name), type_ref, settings["subject"], order, descending,
                          settings["cite"])

    # --- tests ------------------------------------------------------------------------------------
    def at(self, meta: Meta, children: list[Any]) -> tuple[str, dt.date]:
        return ("on", children[0].value)

    def given(self, meta: Meta, children: list[Any]) -> tuple[str, list[r.Given]]:
        found = []
        for expr in children:
            if isinstance(expr, nodes.Compare) and expr.op == "=" and isinstance(expr.left, nodes.Name):
                found.append(r.Given(expr.span, expr.left.name, expr.right))
            else:
                self.diagnostics.append(error("DSL125", "テストの入力は「名前 = 値」の形で書きます", expr.span,
                                              "例: 入力 学年 = 4, 世帯課税 = 課税;"))
        return ("given", found)

    def expect(self, meta: Meta, children: list[Any]) -> tuple[str, r.Expect]:
        return ("expect", r.Expect(self._s(meta), children[0]))

    def expect_error(self, meta: Meta, children: list[Token]) -> tuple[str, r.Expect]:
        name, kind, *rest = (str(c) for c in children)
        code = rest[0] if rest else ""
        if kind not in ERROR_KINDS:
            self.diagnostics.append(error("DSL126", f"期待できるエラーは「衝突」「空」「エラー」です（「{kind}」）",
                                          self._s(meta), "例: 期待 窓口負担額 は 衝突;"))
        elif code and (kind != "エラー" or re.fullmatch(r"DSL3[0-9]{2}", code) is None):
            self.diagnostics.append(error("DSL126", f"「は {kind} {code}」とは書けません",
                                          self._s(meta), "コードを指定するときは「期待 名前 は エラー DSL314;」のように、"
                                          "エラー の後に評価のエラーのコード（DSL3xx）を書きます。"))
            code = ""
        return ("expect", r.Expect(self._s(meta), None, name, ERROR_KINDS.get(kind, "error"), code))

    def test(self, meta: Meta, children: list[Any]) -> r.Test:
        title, *items = children
        on: dt.date | None = None
        given: list[r.Given] = []
        expects: list[r.Expect] = []
        for key, value in items:
            if key == "on":
                on = value
            elif key == "given":
                given.extend(value)
            else:
                expects.append(value)
        return r.Test(self._s(meta), _text(title), on, tuple(given), tuple(expects))
