"""Static analysis of rule files: which definitions an expression uses, and whether two conditions or
two table rows can hold at the same time (for overlap warnings and the `一意` hit policy).

Only simple shapes are analysed: comparisons of one input with literals, ranges, lists of literals,
booleans, and conjunctions of those on one input. Anything else is "unknown", and unknown never produces
a diagnostic: a warning must be true, not merely possible.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from dsl import nodes
from dsl.rules.model import RuleSet
from dsl.types import Type

Scalar = int | Fraction | dt.date | str | bool


def walk(node: object) -> Iterator[nodes.Node]:
    """Every expression node below (and including) node — inside rule-file items too — without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, nodes.Node):
            yield current
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            stack.extend(getattr(current, f.name) for f in dataclasses.fields(current) if f.name != "span")
        elif isinstance(current, tuple):
            stack.extend(current)


def names_used(node: object) -> set[str]:
    """Names read by an expression (as names or called with a counting rule)."""
    return {n.name for n in walk(node) if isinstance(n, nodes.Name)}


def literal(node: nodes.Expr) -> Scalar | None:
    """The value of a literal (or of a negated number), else None."""
    match node:
        case nodes.IntLit(value=v) | nodes.MoneyLit(value=v) | nodes.DurationLit(amount=v):
            return v
        case nodes.RateLit(value=v):
            return v
        case nodes.DateLit(value=v):
            return v
        case nodes.TextLit(value=v):
            return v
        case nodes.BoolLit(value=v):
            return v
        case nodes.Negate(operand=operand):
            inner = literal(operand)
            return -inner if isinstance(inner, (int, Fraction)) and not isinstance(inner, bool) else None
    return None


@dataclass(frozen=True)
class Interval:
    """A set of values: an interval (bounds None = unbounded) or a finite set of points."""

    low: Scalar | None = None
    high: Scalar | None = None
    low_open: bool = False
    high_open: bool = False
    points: frozenset[Scalar] | None = None

    def intersects(self, other: Interval) -> bool:
        try:
            if self.points is not None and other.points is not None:
                return bool(self.points & other.points)
            if self.points is not None:
                return any(other.contains(p) for p in self.points)
            if other.points is not None:
                return any(self.contains(p) for p in other.points)
            return _below(self, other) and _below(other, self)
        except TypeError:  # values of different kinds never meet
            return False

    def contains(self, value: Scalar) -> bool:
        if self.points is not None:
            return value in self.points
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):  # type: ignore[operator]
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))  # type: ignore[operator]

    def meet(self, other: Interval) -> Interval | None:
        """The intersection of two intervals (None when it cannot be expressed: points with a range)."""
        if self.points is not None or other.points is not None:
            if self.points is not None and other.points is not None:
                return Interval(points=self.points & other.points)
            return None
        low, low_open = self.low, self.low_open
        if other.low is not None and (low is None or other.low > low or (other.low == low and other.low_open)):  # type: ignore[operator]
            low, low_open = other.low, other.low_open
        high, high_open = self.high, self.high_open
        if other.high is not None and (high is None or other.high < high or (other.high == high and other.high_open)):  # type: ignore[operator]
            high, high_open = other.high, other.high_open
        return Interval(low, high, low_open, high_open)


def _below(a: Interval, b: Interval) -> bool:
    """a's low end is at or below b's high end (so the two may share a value)."""
    if a.low is None or b.high is None:
        return True
    if a.low < b.high:  # type: ignore[operator]
        return True
    return a.low == b.high and not a.low_open and not b.high_open


def comparison(op: str, value: Scalar, flipped: bool = False) -> Interval | None:
    if flipped:
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    match op:
        case "=":
            return Interval(points=frozenset({value}))
        case "<":
            return Interval(high=value, high_open=True)
        case "<=":
            return Interval(high=value)
        case ">":
            return Interval(low=value, low_open=True)
        case ">=":
            return Interval(low=value)
    return None


def condition_set(node: nodes.Expr) -> tuple[str, Interval] | None:
    """(input name, the values of it for which the condition holds), when that is knowable."""
    match node:
        case nodes.Name(name=name):
            return name, Interval(points=frozenset({True}))
        case nodes.Not(operand=nodes.Name(name=name)):
            return name, Interval(points=frozenset({False}))
        case nodes.Compare(op=op, left=nodes.Name(name=name), right=right) if (v := literal(right)) is not None:
            interval = comparison(op, v)
            return (name, interval) if interval is not None else None
        case nodes.Compare(op=op, left=left, right=nodes.Name(name=name)) if (v := literal(left)) is not None:
            interval = comparison(op, v, flipped=True)
            return (name, interval) if interval is not None else None
        case nodes.Member(negated=False, item=nodes.Name(name=name), container=nodes.ListLit(items=items)):
            values = [literal(i) for i in items]
            if all(v is not None for v in values):
                return name, Interval(points=frozenset(v for v in values if v is not None))
        case nodes.Logical(op="and", left=left, right=right):
            a, b = condition_set(left), condition_set(right)
            if a is not None and b is not None and a[0] == b[0]:
                met = a[1].meet(b[1])
                return (a[0], met) if met is not None else None
    return None


def may_overlap(a: nodes.Expr, b: nodes.Expr) -> bool | None:
    """True/False when both conditions constrain the same one input and we can tell; None otherwise."""
    sa, sb = condition_set(a), condition_set(b)
    if sa is None or sb is None or sa[0] != sb[0]:
        return None
    return sa[1].intersects(sb[1])


def inputs_read(rules: RuleSet, name: str) -> dict[str, Type]:
    """The inputs a decision or table may read, following the definitions it uses (every version and every
    exception a pack added), with their types: what a BPMN process must declare before it calls `name`.

    An over-approximation: an input read only in a case that never applies still counts.
    """
    found: dict[str, Type] = {}
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for used in sorted(rules.reads.get(current, ())):
            if used in rules.inputs:
                found[used] = rules.inputs[used]
            elif used in rules.decisions or used in rules.tables:
                todo.append(used)
    return dict(sorted(found.items()))
