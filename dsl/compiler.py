"""Compile a type-checked AST into Python closures.

No source is generated and nothing reaches eval/exec/compile: each node becomes a small function
of the case data and the evaluation context (dsl.context.EvalContext: 基準日 and the municipality's
calendar), built from the node's children. Values read from case data are coerced to their
declared type on the way in, so a form that sent "2025-04-01" yields a date.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from fractions import Fraction
from typing import Any

from dsl import functions, nodes
from dsl.checker import ELEMENT
from dsl.context import EvalContext, RuleAccess
from dsl.errors import DslRuntimeError, runtime_error
from dsl.types import (
    DATE,
    YEAR_MONTH,
    CountingType,
    EnumType,
    ListType,
    RecordType,
    Type,
)
from standard_core.dates import DateError, YearMonth
from standard_core.diagnostics import Span
from standard_core.holidays import OutOfCalendarRange

Data = Mapping[str, object]
Context = EvalContext | None
Fn = Callable[[Data, Context], Any]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


# Values already of their runtime type pass through on the first test: the common case, read often.
_EXACT: dict[str, type] = {"int": int, "money": int, "days": int, "months": int, "years": int,
                           "fiscal_year": int, "date": dt.date, "text": str, "duration": str, "bool": bool,
                           "rate": Fraction, "year_month": YearMonth}


def coerce(value: object, t: Type, span: Span, label: str) -> object:
    """Convert a value from case data into the runtime value of type t, or raise DSL302."""
    exact = _EXACT.get(t.key)
    if exact is not None and type(value) is exact:
        return value
    if value is None:
        raise runtime_error("DSL301", f"「{label}」の値がありません", span,
                            "この式を評価する前に値が入力されるよう、手続きの順序を確かめてください。")
    # Lists and records first: a list of records (児童) is read often, and its records pass as they are (their
    # fields are coerced where they are read).
    if isinstance(t, RecordType) and isinstance(value, Mapping):
        return value
    if isinstance(t, ListType) and isinstance(value, (list, tuple)):
        return tuple(coerce(v, t.item, span, label) for v in value)
    ok: object = _NO
    key = t.key  # dispatch on the key string: comparing Type dataclasses field by field is slow
    if key in ("int", "money", "days", "months", "years", "fiscal_year"):
        if isinstance(value, int) and not isinstance(value, bool):
            ok = value
    elif key == "rate":
        if isinstance(value, (int, Fraction)) and not isinstance(value, bool):
            ok = Fraction(value)
        elif isinstance(value, str):
            try:
                ok = Fraction(value)
            except (ValueError, ZeroDivisionError):
                ok = _NO
    elif key == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            ok = value
        elif isinstance(value, str):
            try:
                ok = dt.date.fromisoformat(value)
            except ValueError:
                ok = _NO
    elif key in ("text", "duration"):
        if isinstance(value, str):
            ok = value
    elif key == "bool":
        if isinstance(value, bool):
            ok = value
    elif isinstance(t, EnumType):
        if isinstance(value, str) and value in t.values:
            ok = value
    elif key == "year_month":
        if isinstance(value, YearMonth):
            ok = value
        elif isinstance(value, str) and (m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", value)):
            try:
                ok = YearMonth(int(m.group(1)), int(m.group(2)))
            except DateError:
                ok = _NO
    if ok is _NO:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise runtime_error("DSL302", f"「{label}」の値 {shown} は{t}として読めません", span,
                            "入力データの形式を確かめてください（日付は 2025-04-01 の形、金額は整数の円）。")
    return ok


_NO = object()


def runtime_input(value: object, t: Type) -> object:
    """An input value converted once to its runtime type, deeply — a list's items, a record's declared fields — as
    coerce does where each is read (which then finds it converted: its cheap first test). A value that does not
    convert, or is missing, is left as given, for the read that needs it to report (DSL301/DSL302, with its place).
    For inputs read many times (a batch evaluates each recipient's rules on two dates)."""
    if value is None:
        return None
    if isinstance(t, ListType):
        return tuple(runtime_input(v, t.item) for v in value) if isinstance(value, (list, tuple)) else value
    if isinstance(t, RecordType):
        if not isinstance(value, Mapping):
            return value
        fields = dict(t.fields)
        return {k: runtime_input(v, fields[k]) if k in fields else v for k, v in value.items()}
    try:
        return coerce(value, t, _INPUT, "")
    except DslRuntimeError:
        return value


_INPUT = Span("<入力>", 1, 1)


def to_data(value: object, t: Type) -> object:
    """The JSON-friendly form a script stores in case data: dates as ISO text, rates as exact fractions."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, tuple):
        item = t.item if isinstance(t, ListType) else t
        return [to_data(v, item) for v in value]
    return value


class Compiler:
    """Closures for checked nodes. In a rule file, `definitions` are the names of decisions, tables and
    parameters (read through the context's RuleAccess, so they are evaluated and traced on demand) and
    `constants` the enum values and counting rules, which are known when the file is loaded."""

    def __init__(self, scope: Mapping[str, Type], types: Mapping[int, Type],
                 definitions: frozenset[str] = frozenset(), constants: Mapping[str, object] | None = None) -> None:
        self.scope = scope
        self.types = types
        self.definitions = definitions
        self.constants = constants or {}

    def _inner(self, item: Type) -> Compiler:
        """The compiler for the right side of のうち / ごとの: the element's fields and それ are data names."""
        scope = dict(self.scope)
        scope[ELEMENT] = item
        if isinstance(item, RecordType):
            scope.update(dict(item.fields))
        shadowed = frozenset(scope.keys() - self.scope.keys()) | {ELEMENT}
        if isinstance(item, RecordType):
            shadowed |= {n for n, _ in item.fields}
        return Compiler(scope, self.types, self.definitions - shadowed,
                        {k: v for k, v in self.constants.items() if k not in shadowed})

    def compile(self, node: nodes.Expr) -> Fn:
        match node:
            case nodes.IntLit(value=v) | nodes.MoneyLit(value=v) | nodes.TextLit(value=v) | nodes.BoolLit(value=v):
                return _const(v)
            case nodes.RateLit(value=r):
                return _const(r)
            case nodes.DateLit(value=d):
                return _const(d)
            case nodes.ListLit(items=items):
                fns = [self.compile(i) for i in items]
                return lambda data, ctx: tuple(f(data, ctx) for f in fns)
            case nodes.DurationLit(amount=amount):
                return _const(amount)
            case nodes.YearMonthLit(value=ym):
                return _const(ym)
            case nodes.FiscalYearLit(value=year):
                return _const(year)
            case nodes.RecordLit(fields=fields):
                parts = [(name, self.compile(value)) for name, value in fields]
                return lambda data, ctx: {name: f(data, ctx) for name, f in parts}
            case nodes.Where(items=items, condition=condition):
                list_type = self.types[id(items)]
                assert isinstance(list_type, ListType)
                get_items, keep = self.compile(items), self._inner(list_type.item).compile(condition)
                return lambda data, ctx: tuple(e for e in get_items(data, ctx) if keep(_Element(e, data), ctx))
            case nodes.Each(items=items, value=value):
                list_type = self.types[id(items)]
                assert isinstance(list_type, ListType)
                get_items, get_value = self.compile(items), self._inner(list_type.item).compile(value)
                return lambda data, ctx: tuple(get_value(_Element(e, data), ctx) for e in get_items(data, ctx))
            case nodes.Name(name=name, span=span):
                if name in self.constants:
                    return _const(self.constants[name])
                if name in self.definitions:
                    return _definition(name, span)
                if name not in self.scope:  # the checker allowed it, so it is a built-in
                    return _builtin(name, span)
                t = self.scope[name]
                exact = _EXACT.get(t.key)

                def read(data: Data, ctx: Context) -> object:
                    value = data.get(name)
                    # the common case first, without a call: the value already has its runtime type
                    return value if type(value) is exact else coerce(value, t, span, name)

                return read
            case nodes.Field(target=target, name=name, span=span):
                get_target = self.compile(target)
                t = self.types[id(node)]
                exact_field = _EXACT.get(t.key)

                def read_field(data: Data, ctx: Context) -> object:
                    value = get_target(data, ctx).get(name)
                    return value if type(value) is exact_field else coerce(value, t, span, name)

                return read_field
            case nodes.Call():
                return self._call(node)
            case nodes.Negate(operand=operand):
                f = self.compile(operand)
                return lambda data, ctx: -f(data, ctx)
            case nodes.Binary(op=op, left=left, right=right, span=span):
                if YEAR_MONTH in (self.types[id(left)], self.types[id(right)]):
                    return _year_month_arith(op, self.compile(left), self.compile(right),
                                             self.types[id(left)] == YEAR_MONTH, self.types[id(right)] == YEAR_MONTH)
                if DATE in (self.types[id(left)], self.types[id(right)]) and op in "+-":
                    return _date_arith(op, self.compile(left), self.compile(right), span,
                                       self.types[id(left)] == DATE)
                return _arith(op, self.compile(left), self.compile(right), span)
            case nodes.Compare(op=op, left=left, right=right):
                cmp, lf, rf = _COMPARE[op], self.compile(left), self.compile(right)
                return lambda data, ctx: cmp(lf(data, ctx), rf(data, ctx))
            case nodes.Member(negated=negated, item=item, container=container):
                itf, cf = self.compile(item), self.compile(container)
                return lambda data, ctx: (itf(data, ctx) in cf(data, ctx)) != negated
            case nodes.Logical(op="and", left=left, right=right):
                lf, rf = self.compile(left), self.compile(right)
                return lambda data, ctx: bool(lf(data, ctx)) and bool(rf(data, ctx))
            case nodes.Logical(left=left, right=right):
                lf, rf = self.compile(left), self.compile(right)
                return lambda data, ctx: bool(lf(data, ctx)) or bool(rf(data, ctx))
            case nodes.Not(operand=operand):
                f = self.compile(operand)
                return lambda data, ctx: not f(data, ctx)
            case nodes.If(condition=condition, then=then, otherwise=otherwise):
                cf, tf, ef = self.compile(condition), self.compile(then), self.compile(otherwise)
                return lambda data, ctx: tf(data, ctx) if cf(data, ctx) else ef(data, ctx)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def _call(self, node: nodes.Call) -> Fn:
        if node.args and isinstance(self.types.get(id(node.args[0])), CountingType):
            return self._counting(node)
        fn = functions.lookup(node.function)
        assert fn is not None  # the checker rejected unknown functions
        impl, args, span = fn.impl, [self.compile(a) for a in node.args], node.span

        def call(data: Data, ctx: Context) -> object:
            values = [a(data, ctx) for a in args]
            if fn.needs_calendar:
                if ctx is None or ctx.calendar is None:
                    raise runtime_error(
                        "DSL305", f"{fn.name}には団体の暦が必要ですが、この評価では団体が指定されていません", span,
                        "団体コードを指定して評価してください（jichi rules eval --municipality 団体コード）。",
                    )
                values.insert(0, ctx.calendar)
            try:
                return impl(*values)
            except OutOfCalendarRange as e:
                raise DslRuntimeError(e.diagnostic("DSL306", span)) from None
            except DateError as e:
                raise DslRuntimeError(replace(e.diagnostic("DSL304", span), message=f"{fn.name}: {e.message}")) from None
            except functions.FunctionDomainError as e:
                raise runtime_error("DSL304", f"{fn.name}: {e}", span, e.hint) from None
            except (ArithmeticError, ValueError) as e:
                raise runtime_error("DSL304", f"{fn.name}を計算できません（{type(e).__name__}）", span) from None

        return call


    def _counting(self, node: nodes.Call) -> Fn:
        rule = node.args[0]
        assert isinstance(rule, nodes.Name)
        name, span = rule.name, node.span
        items = self.compile(node.args[1])
        if node.function in ("件数", "count"):
            return lambda data, ctx: len(_rules(ctx, span).counted(name, items(data, ctx), span))
        element = self.compile(node.args[2])

        def rank(data: Data, ctx: Context) -> int:
            counted = _rules(ctx, span).counted(name, items(data, ctx), span)
            target = element(data, ctx)
            for position, item in enumerate(counted, start=1):
                if item == target:
                    return position
            raise runtime_error("DSL307", f"数え方「{name}」で数える対象に、その要素が入っていません", span,
                                "数える条件を満たす要素か確かめてください（対象外の人に順番はありません）。")

        return rank


class _Element(Mapping[str, object]):
    """Names inside のうち / ごとの: the element's fields first, then それ, then the surrounding data."""

    def __init__(self, element: object, outer: Data) -> None:
        self.element, self.outer = element, outer

    def __getitem__(self, key: str) -> object:
        if key == ELEMENT:
            return self.element
        if isinstance(self.element, Mapping) and key in self.element:
            return self.element[key]
        return self.outer[key]

    def __iter__(self) -> Iterator[str]:
        return iter({ELEMENT, *(self.element if isinstance(self.element, Mapping) else ()), *self.outer})

    def __len__(self) -> int:
        return len(set(self))


def _rules(ctx: Context, span: Span) -> RuleAccess:
    if ctx is None or ctx.rules is None:
        raise runtime_error("DSL305", "規則ファイルの定義は、規則の評価の中でだけ使えます", span,
                            "jichi rules eval --procedure か、規則ファイルのテストで評価してください。")
    return ctx.rules


def _definition(name: str, span: Span) -> Fn:
    return lambda data, ctx: _rules(ctx, span).value(name, span)


def _year_month_arith(op: str, lf: Fn, rf: Fn, left_ym: bool, right_ym: bool) -> Fn:
    """年月 ± 月数 → 年月, 月数 + 年月 → 年月, 年月 − 年月 → 月数 (the checker allows nothing else)."""
    if left_ym and right_ym:
        return lambda data, ctx: rf(data, ctx).months_until(lf(data, ctx))
    if left_ym:
        sign = 1 if op == "+" else -1
        return lambda data, ctx: lf(data, ctx).plus(sign * rf(data, ctx))
    return lambda data, ctx: rf(data, ctx).plus(lf(data, ctx))


def _date_arith(op: str, lf: Fn, rf: Fn, span: Span, date_left: bool) -> Fn:
    """日付 ± 日数 (the checker allows no other date arithmetic)."""
    sign = 1 if op == "+" else -1

    def shift(data: Data, ctx: Context) -> dt.date:
        date, days = (lf(data, ctx), rf(data, ctx)) if date_left else (rf(data, ctx), lf(data, ctx))
        try:
            return date + dt.timedelta(days=sign * days)  # type: ignore[no-any-return]
        except OverflowError:
            raise runtime_error("DSL304", "日付が扱える範囲を超えました", span, "日数を確かめてください。") from None

    return shift


def _builtin(name: str, span: Span) -> Fn:
    builtin = functions.BUILTIN_NAMES[name]

    def read(data: Data, ctx: Context) -> object:
        if ctx is None or ctx.on is None:
            raise runtime_error(
                "DSL305", f"{builtin.name}が与えられていません", span,
                "基準日を指定して評価してください（jichi rules eval --on 日付）。",
            )
        return ctx.on

    return read


def _const(value: object) -> Fn:
    return lambda data, ctx: value


def _arith(op: str, lf: Fn, rf: Fn, span: Span) -> Fn:
    if op == "+":
        return lambda data, ctx: lf(data, ctx) + rf(data, ctx)
    if op == "-":
        return lambda data, ctx: lf(data, ctx) - rf(data, ctx)
    if op == "*":
        return lambda data, ctx: lf(data, ctx) * rf(data, ctx)

    def divide(data: Data, ctx: Context) -> Fraction:
        left, right = lf(data, ctx), rf(data, ctx)
        if right == 0:
            raise runtime_error("DSL303", "0 で割ろうとしました", span, "割る数が 0 にならない条件を先に確かめてください。")
        return Fraction(left) / Fraction(right)

    return divide
