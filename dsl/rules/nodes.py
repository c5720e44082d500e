"""The AST of a rule file: frozen dataclasses with the span of each item (expressions are dsl.nodes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dsl import nodes
from standard_core.diagnostics import Span


@dataclass(frozen=True, slots=True)
class Period:
    """Valid from `start` (inclusive) until `end` (inclusive), or open-ended."""

    start: dt.date
    end: dt.date | None

    def contains(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)

    def overlaps(self, other: Period) -> bool:
        return (self.end is None or other.start <= self.end) and (other.end is None or self.start <= other.end)

    def label(self) -> str:
        return f"{self.start.isoformat()} から" + (f" {self.end.isoformat()} まで" if self.end else "")


@dataclass(frozen=True, slots=True)
class TypeRef:
    span: Span
    name: str


@dataclass(frozen=True, slots=True)
class ParameterValue:
    span: Span
    period: Period
    value: nodes.Expr
    cite: str


@dataclass(frozen=True, slots=True)
class Parameter:
    """`[開放] パラメータ 名前: 型 { … }`, or a layer's values for an open one: `追加 パラメータ 名前 { … }`."""

    span: Span
    name: str
    type: TypeRef | None  # None for 追加 パラメータ
    values: tuple[ParameterValue, ...]
    open: bool = False
    setting: bool = False


@dataclass(frozen=True, slots=True)
class FieldDecl:
    span: Span
    name: str
    type: TypeRef


@dataclass(frozen=True, slots=True)
class RecordTypeDecl:
    span: Span
    name: str
    fields: tuple[FieldDecl, ...]


@dataclass(frozen=True, slots=True)
class EnumDecl:
    span: Span
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Inputs:
    span: Span
    fields: tuple[FieldDecl, ...]


@dataclass(frozen=True, slots=True)
class Case:
    """`[label:] [例外 target:] 条件 のとき 値 [出典];` — or `それ以外 値;` (condition None, otherwise)."""

    span: Span
    label: str | None
    exception_to: str | None  # "" for 例外 without a target: an exception to every base case
    condition: nodes.Expr | None
    value: nodes.Expr
    cite: str
    otherwise: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    span: Span
    name: str
    type: TypeRef | None  # None for an extension (追加 決定)
    open: bool
    extension: bool
    reference: str | None  # the input whose date decides (基準 診療日)
    period: Period | None
    cite: str
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: kind any / compare / range / values."""

    span: Span
    kind: str
    op: str = ""
    values: tuple[nodes.Expr, ...] = ()
    low_open: bool = False
    high_open: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    span: Span
    cells: tuple[Cell, ...]
    output: nodes.Expr
    cite: str


@dataclass(frozen=True, slots=True)
class Table:
    span: Span
    name: str
    type: TypeRef
    policy: str
    aggregate: str | None
    priority: tuple[nodes.Expr, ...]
    reference: str | None
    period: Period | None
    cite: str
    columns: tuple[nodes.Expr, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Counting:
    span: Span
    name: str
    type: TypeRef
    subject: nodes.Expr | None
    order: nodes.Expr | None
    descending: bool
    cite: str


@dataclass(frozen=True, slots=True)
class Given:
    span: Span
    name: str
    value: nodes.Expr


@dataclass(frozen=True, slots=True)
class Expect:
    span: Span
    condition: nodes.Expr | None  # a boolean expression, or None with error_of/error_kind
    error_of: str = ""
    error_kind: str = ""
    error_code: str = ""  # `期待 X は エラー DSL314;`: only this diagnostic code passes


@dataclass(frozen=True, slots=True)
class Test:
    span: Span
    title: str
    on: dt.date | None
    given: tuple[Given, ...]
    expects: tuple[Expect, ...]


Item = Parameter | RecordTypeDecl | EnumDecl | Inputs | Decision | Table | Counting | Test


@dataclass(frozen=True, slots=True)
class RuleFile:
    span: Span
    items: tuple[Item, ...]
