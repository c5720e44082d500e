"""A loaded rule set: every definition checked and compiled, ready for the runtime (dsl.rules.runtime)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dsl.compiler import Fn
from dsl.rules import nodes as r
from dsl.types import Type
from standard_core.diagnostics import Span


@dataclass(frozen=True)
class CompiledCase:
    case: r.Case
    condition: Fn | None  # None for それ以外
    value: Fn
    file: str
    period: r.Period | None = None  # an exception a pack added with its own 適用期間

    @property
    def where(self) -> str:
        return f"{self.file}:{self.case.span.line}"

    def describe(self) -> str:
        name = f"「{self.case.label}」" if self.case.label else "（名前なし）"
        if self.case.otherwise:
            name = "「それ以外」"
        return f"{name}（{self.where}）"


@dataclass
class DecisionVersion:
    """One effective-dated version of a decision with its cases, extensions from packs included."""

    name: str
    type: Type
    decl: r.Decision
    file: str
    period: r.Period | None
    reference: str | None
    cases: list[CompiledCase] = field(default_factory=list)
    plan: Any = None  # dsl.rules.runtime._Plan, made on first evaluation (after every extension loaded)

    def applies_on(self, day: dt.date) -> bool:
        return self.period is None or self.period.contains(day)


@dataclass(frozen=True)
class CompiledParameterValue:
    period: r.Period
    value: Fn
    cite: str
    span: Span
    layer: str = ""  # the file's layer ("core", a pack); a later layer's values take precedence


@dataclass(frozen=True)
class CompiledParameter:
    name: str
    type: Type
    values: tuple[CompiledParameterValue, ...]  # in precedence order: the most specific layer first
    file: str
    open: bool = False


@dataclass(frozen=True)
class CompiledCell:
    kind: str  # any | compare | range | values
    op: str
    values: tuple[Fn, ...]
    low_open: bool
    high_open: bool


@dataclass(frozen=True)
class CompiledRow:
    row: r.Row
    cells: tuple[CompiledCell, ...]
    output: Fn


@dataclass
class TableVersion:
    name: str
    type: Type
    decl: r.Table
    file: str
    period: r.Period | None
    reference: str | None
    columns: tuple[Fn, ...]
    rows: tuple[CompiledRow, ...]
    priority: tuple[Fn, ...]
    inputs: tuple[str, ...] | None = None  # the inputs its columns read, for the explanation

    def applies_on(self, day: dt.date) -> bool:
        return self.period is None or self.period.contains(day)


@dataclass(frozen=True)
class CompiledCounting:
    name: str
    item: Type
    subject: Fn | None
    order: Fn | None
    descending: bool
    cite: str
    file: str


@dataclass(frozen=True)
class CompiledTest:
    test: r.Test
    file: str
    given: tuple[tuple[str, Fn], ...]
    expects: tuple[tuple[r.Expect, Fn | None], ...]


@dataclass
class RuleSet:
    """Everything the rule files of one scope (core → prefecture → municipality) define."""

    inputs: dict[str, Type] = field(default_factory=dict)
    types: dict[str, Type] = field(default_factory=dict)
    enum_values: dict[str, Type] = field(default_factory=dict)
    parameters: dict[str, CompiledParameter] = field(default_factory=dict)
    decisions: dict[str, list[DecisionVersion]] = field(default_factory=dict)
    tables: dict[str, list[TableVersion]] = field(default_factory=dict)
    countings: dict[str, CompiledCounting] = field(default_factory=dict)
    tests: list[CompiledTest] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # decision/table → the names its cases, columns and rows read (inputs and other definitions; not the
    # fields of a list's elements), extensions from packs included: see dsl.rules.analysis.inputs_read
    reads: dict[str, set[str]] = field(default_factory=dict)

    def definition_type(self, name: str) -> Type | None:
        if name in self.parameters:
            return self.parameters[name].type
        if name in self.decisions:
            return self.decisions[name][0].type
        if name in self.tables:
            return self.tables[name][0].type
        return None

    def evaluable(self) -> list[str]:
        """The names `jichi rules eval --procedure` accepts: decisions and tables."""
        return sorted({*self.decisions, *self.tables})


Value = Any
