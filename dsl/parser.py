"""Parse DSL text into the typed AST (dsl.nodes). Every failure is a DiagnosticError, never a Lark error."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError
from lark.tree import Meta

from dsl import nodes
from dsl.syntax_errors import explain_syntax_error
from standard_core.dates import DateError, YearMonth
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from standard_core.wareki import ERAS_BY_NAME, WarekiError, wareki_to_date

GRAMMAR = Path(__file__).with_name("grammar.lark")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="basic",  # keywords stay reserved in every parser state
        start=["expression", "script", "rules_file"],
        propagate_positions=True,
        maybe_placeholders=False,
    )


def parse_expression(text: str, file: str = "<式>") -> nodes.Expr:
    """Parse one expression. Raises DiagnosticError (with positions relative to `text`)."""
    result = _parse(text, file, "expression")
    assert not isinstance(result, nodes.Script)
    return result


def parse_script(text: str, file: str = "<スクリプト>") -> nodes.Script:
    """Parse a script: assignments `名前 := 式`, one after another. Raises DiagnosticError."""
    result = _parse(text, file, "script")
    assert isinstance(result, nodes.Script)
    return result


def _parse(text: str, file: str, start: str) -> nodes.Expr | nodes.Script:
    result = build(text, file, start, Builder(file))
    if start == "script":
        assert isinstance(result, nodes.Script)
    return result  # type: ignore[no-any-return]  # the builder's methods return AST nodes


def build(text: str, file: str, start: str, builder: Builder) -> Any:
    """Parse text from a start rule and transform it with builder; every problem is a DiagnosticError."""
    if not isinstance(text, str):
        raise TypeError("DSL source must be str")
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as e:
        raise DiagnosticError([explain_syntax_error(text, file, start, e, _parser())]) from None
    try:
        result = builder.transform(tree)
    except VisitError as e:  # pragma: no cover - the builder records problems instead of raising
        raise DiagnosticError([error("DSL101", "式を解釈できません", Span(file, 1, 1),
                                     "開発者に連絡してください。")]) from e
    if builder.diagnostics:
        lines = text.split("\n")
        raise DiagnosticError([
            Diagnostic(d.code, d.severity, d.message, d.span, d.hint, d.reference, lines[d.span.line - 1])
            for d in builder.diagnostics
        ])
    return result


_OPS = {"==": "=", "≠": "!=", "≤": "<=", "≥": ">=", "×": "*", "÷": "/"}
_WAREKI = re.compile(r"(明治|大正|昭和|平成|令和)([0-9]{1,2}|元)年([0-9]{1,2})月([0-9]{1,2})日")


def _leading_int(token: Token) -> int:
    """The number of a duration literal: 14日 → 14 (the terminal's regex guarantees leading digits)."""
    digits = re.match(r"[0-9]+", str(token))
    assert digits is not None
    return int(digits.group())


def _span(file: str, meta: Meta | Token) -> Span:
    if isinstance(meta, Meta) and getattr(meta, "empty", True):
        return Span(file, 1, 1)
    line = meta.line or 1
    column = meta.column or 1
    return Span(file, line, column, meta.end_line, meta.end_column)


def _values(children: list[Any]) -> list[Any]:
    """Children that are sub-expressions, without operator tokens."""
    return [c for c in children if not isinstance(c, Token)]


@v_args(meta=True)
class Builder(Transformer[Token, Any]):
    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def _s(self, meta: Meta | Token) -> Span:
        return _span(self.file, meta)

    def _name(self, token: Token) -> str:
        name = str(token)
        if "__" in name:
            self.diagnostics.append(error(
                "DSL105", f"「{name}」のような Python の内部名は使えません",
                self._s(token), hint="jichi の式は Python ではありません。データ項目の名前だけを使ってください。",
            ))
        return name

    def expression(self, meta: Meta, children: list[Any]) -> nodes.Expr:
        expr: nodes.Expr = children[0]
        return expr

    # --- scripts -------------------------------------------------------------------------------
    def script(self, meta: Meta, children: list[Any]) -> nodes.Script:
        return nodes.Script(self._s(meta), tuple(children))

    def statement(self, meta: Meta, children: list[Any]) -> nodes.Assign:
        target, value = _values(children)
        return nodes.Assign(self._s(meta), target, value)

    def target(self, meta: Meta, children: list[Token]) -> tuple[str, ...]:
        return tuple(self._name(t) for t in children)

    # --- expressions ---------------------------------------------------------------------------
    def if_expr(self, meta: Meta, children: list[Any]) -> nodes.If:
        cond, then, otherwise = _values(children)
        return nodes.If(self._s(meta), cond, then, otherwise)

    def or_expr(self, meta: Meta, children: list[Any]) -> nodes.Logical:
        left, right = children
        return nodes.Logical(self._s(meta), "or", left, right)

    def and_expr(self, meta: Meta, children: list[Any]) -> nodes.Logical:
        left, right = children
        return nodes.Logical(self._s(meta), "and", left, right)

    def not_expr(self, meta: Meta, children: list[Any]) -> nodes.Not:
        (operand,) = _values(children)
        return nodes.Not(self._s(meta), operand)

    def compare(self, meta: Meta, children: list[Any]) -> nodes.Compare:
        left, op, right = children
        return nodes.Compare(self._s(meta), _OPS.get(str(op), str(op)), left, right)

    def member(self, meta: Meta, children: list[Any]) -> nodes.Member:
        item, container = _values(children)
        return nodes.Member(self._s(meta), False, item, container)

    def not_member(self, meta: Meta, children: list[Any]) -> nodes.Member:
        item, container = _values(children)
        return nodes.Member(self._s(meta), True, item, container)

    def binary(self, meta: Meta, children: list[Any]) -> nodes.Binary:
        left, op, right = children
        return nodes.Binary(self._s(meta), _OPS.get(str(op), str(op)), left, right)

    def negate(self, meta: Meta, children: list[Any]) -> nodes.Negate:
        (operand,) = children[1:]
        return nodes.Negate(self._s(meta), operand)

    def field(self, meta: Meta, children: list[Any]) -> nodes.Field:
        target, name = children
        return nodes.Field(self._s(meta), target, self._name(name))

    def call(self, meta: Meta, children: list[Any]) -> nodes.Call:
        name, *args = children
        return nodes.Call(self._s(meta), self._name(name), tuple(args))

    def name(self, meta: Meta, children: list[Token]) -> nodes.Name:
        return nodes.Name(self._s(meta), self._name(children[0]))

    def list_lit(self, meta: Meta, children: list[Any]) -> nodes.ListLit:
        return nodes.ListLit(self._s(meta), tuple(children))

    # --- literals ------------------------------------------------------------------------------
    def money_lit(self, meta: Meta, children: list[Token]) -> nodes.MoneyLit:
        return nodes.MoneyLit(self._s(meta), int(str(children[0]).rstrip("円").replace(",", "")))

    def percent_lit(self, meta: Meta, children: list[Token]) -> nodes.RateLit:
        return nodes.RateLit(self._s(meta), Fraction(str(children[0]).rstrip("%")) / 100)

    def decimal_lit(self, meta: Meta, children: list[Token]) -> nodes.RateLit:
        return nodes.RateLit(self._s(meta), Fraction(str(children[0])))

    def int_lit(self, meta: Meta, children: list[Token]) -> nodes.IntLit:
        return nodes.IntLit(self._s(meta), int(str(children[0])))

    def date_iso_lit(self, meta: Meta, children: list[Token]) -> nodes.DateLit:
        text = str(children[0])
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            self._bad_date(meta, f"{text}は存在しない日付です")
            value = dt.date.min
        return nodes.DateLit(self._s(meta), value)

    def date_wareki_lit(self, meta: Meta, children: list[Token]) -> nodes.DateLit:
        text = str(children[0])
        m = _WAREKI.fullmatch(text)
        assert m is not None  # the terminal's regex guarantees the shape
        era, year, month, day = m.groups()
        try:
            value = wareki_to_date(era, 1 if year == "元" else int(year), int(month), int(day))
        except WarekiError as e:
            # The core's hint is the specific one: it names the date in the right era (平成32年 → 令和2年).
            self._bad_date(meta, e.message, e.hint)
            value = dt.date.min
        return nodes.DateLit(self._s(meta), value)

    def year_month_lit(self, meta: Meta, children: list[Token]) -> nodes.YearMonthLit:
        text = str(children[0])
        iso = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text)
        try:
            if iso:
                return nodes.YearMonthLit(self._s(meta), YearMonth(int(iso.group(1)), int(iso.group(2))))
            m = re.fullmatch(r"(明治|大正|昭和|平成|令和)([0-9]{1,2}|元)年([0-9]{1,2})月", text)
            assert m is not None  # the terminal's regex guarantees the shape
            era, year, month = m.groups()
            number = 1 if year == "元" else int(year)
            # The month exists in the era when its first or its last day does (平成元年1月 began on the 8th).
            try:
                day = wareki_to_date(era, number, int(month), 1)
            except WarekiError:
                last = calendar.monthrange(ERAS_BY_NAME[era].start.year + number - 1, int(month))[1]
                day = wareki_to_date(era, number, int(month), last)
            return nodes.YearMonthLit(self._s(meta), YearMonth(day.year, day.month))
        except (WarekiError, DateError) as e:
            self._bad_date(meta, e.message, e.hint)
        except ValueError:
            self._bad_date(meta, f"{text}はありません", "月は 1〜12 です。")
        return nodes.YearMonthLit(self._s(meta), YearMonth(1, 1))

    def fiscal_year_lit(self, meta: Meta, children: list[Token]) -> nodes.FiscalYearLit:
        text = str(children[0])
        iso = re.fullmatch(r"([0-9]{4})年度", text)
        if iso:
            return nodes.FiscalYearLit(self._s(meta), int(iso.group(1)))
        m = re.fullmatch(r"(明治|大正|昭和|平成|令和)([0-9]{1,2}|元)年度", text)
        assert m is not None  # the terminal's regex guarantees the shape
        era = ERAS_BY_NAME[m.group(1)]
        number = 1 if m.group(2) == "元" else int(m.group(2))
        start = era.start.year + number - 1
        # A 年度 is named by the era of its first day or of the day the era began (令和元年度 = 2019年度).
        last = era.end.year if era.end is not None else None
        if number < 1 or (last is not None and start > last):
            self._bad_date(meta, f"{text}はありません（{era.name}は{era.start.year}年から"
                           + (f"{last}年まで）" if last else "）"), "西暦で「2025年度」のようにも書けます。")
        return nodes.FiscalYearLit(self._s(meta), start)

    def _bad_date(self, meta: Meta, message: str, hint: str = "") -> None:
        self.diagnostics.append(error(
            "DSL109", message, self._s(meta),
            hint=hint or "暦にある日付を書いてください（例: 2025-04-01、令和7年4月1日。令和は2019年5月1日から）。",
        ))

    def text_lit(self, meta: Meta, children: list[Token]) -> nodes.TextLit:
        raw = str(children[0])
        if raw.startswith("「"):
            return nodes.TextLit(self._s(meta), raw[1:-1])
        body = raw[1:-1]
        value = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), body)
        return nodes.TextLit(self._s(meta), value)

    def days_lit(self, meta: Meta, children: list[Token]) -> nodes.DurationLit:
        return nodes.DurationLit(self._s(meta), "days", _leading_int(children[0]))

    def months_lit(self, meta: Meta, children: list[Token]) -> nodes.DurationLit:
        return nodes.DurationLit(self._s(meta), "months", _leading_int(children[0]))

    def years_lit(self, meta: Meta, children: list[Token]) -> nodes.DurationLit:
        return nodes.DurationLit(self._s(meta), "years", _leading_int(children[0]))

    def field_init(self, meta: Meta, children: list[Any]) -> tuple[str, nodes.Expr]:
        name, value = children
        return self._name(name), value

    def record_lit(self, meta: Meta, children: list[Any]) -> nodes.RecordLit:
        seen: set[str] = set()
        for name, _ in children:
            if name in seen:
                self.diagnostics.append(error("DSL112", f"項目「{name}」が二度書かれています", self._s(meta),
                                              "レコードの項目は一度だけ書いてください。"))
            seen.add(name)
        return nodes.RecordLit(self._s(meta), tuple(children))

    def where(self, meta: Meta, children: list[Any]) -> nodes.Where:
        items, condition = children
        return nodes.Where(self._s(meta), items, condition)

    def each(self, meta: Meta, children: list[Any]) -> nodes.Each:
        items, value = children
        return nodes.Each(self._s(meta), items, value)

    def true_lit(self, meta: Meta, children: list[Token]) -> nodes.BoolLit:
        return nodes.BoolLit(self._s(meta), True)

    def false_lit(self, meta: Meta, children: list[Token]) -> nodes.BoolLit:
        return nodes.BoolLit(self._s(meta), False)

