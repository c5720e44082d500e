"""The typed AST of the DSL: frozen dataclasses, each carrying the span it was parsed from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

from standard_core.dates import YearMonth
from standard_core.diagnostics import Span


@dataclass(frozen=True, slots=True)
class Node:
    span: Span


@dataclass(frozen=True, slots=True)
class IntLit(Node):
    value: int


@dataclass(frozen=True, slots=True)
class MoneyLit(Node):
    value: int  # whole yen


@dataclass(frozen=True, slots=True)
class RateLit(Node):
    """A percentage (10%) or a decimal (1.5); held exactly, never as a float."""

    value: Fraction


@dataclass(frozen=True, slots=True)
class DateLit(Node):
    value: dt.date


@dataclass(frozen=True, slots=True)
class TextLit(Node):
    value: str


@dataclass(frozen=True, slots=True)
class BoolLit(Node):
    value: bool


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Field(Node):
    target: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Call(Node):
    function: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Negate(Node):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Arithmetic: op is one of + - * / (× and ÷ are normalised to * and /)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """op is one of = != < <= > >= (== ≠ ≤ ≥ are normalised)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Member(Node):
    negated: bool
    item: Expr
    container: Expr


@dataclass(frozen=True, slots=True)
class Logical(Node):
    """op is 'and' or 'or' (かつ / または are normalised); evaluation short-circuits."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Expr


@dataclass(frozen=True, slots=True)
class If(Node):
    condition: Expr
    then: Expr
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class DurationLit(Node):
    """14日, 3か月, 2年: durations in days, months and years are separate types and never mix."""

    unit: str  # days | months | years
    amount: int


@dataclass(frozen=True, slots=True)
class YearMonthLit(Node):
    value: YearMonth


@dataclass(frozen=True, slots=True)
class FiscalYearLit(Node):
    """A 年度 (fiscal year April–March), held as the Gregorian year it starts in: 令和7年度 → 2025."""

    value: int


@dataclass(frozen=True, slots=True)
class RecordLit(Node):
    fields: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class Where(Node):
    """`一覧 のうち 条件`: the elements for which the condition holds (fields of each are plain names)."""

    items: Expr
    condition: Expr


@dataclass(frozen=True, slots=True)
class Each(Node):
    """`一覧 ごとの 式`: the expression's value for each element, as a list."""

    items: Expr
    value: Expr


Expr = (
    IntLit | MoneyLit | RateLit | DateLit | TextLit | BoolLit | ListLit | Name | Field | Call | Negate
    | Binary | Compare | Member | Logical | Not | If | DurationLit | RecordLit | Where | Each | YearMonthLit
    | FiscalYearLit
)


@dataclass(frozen=True, slots=True)
class Assign(Node):
    target: tuple[str, ...]  # 申請.判定 → ("申請", "判定")
    value: Expr


@dataclass(frozen=True, slots=True)
class Script(Node):
    statements: tuple[Assign, ...]
