"""How DSL values leave the language: the JSON form (CLI, API, traces) and exact decimals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from fractions import Fraction

from standard_core.dates import YearMonth


def exact_decimal(value: Fraction) -> str:
    """A fraction as an exact decimal when it has one ("0.125"), else as "n/d" ("1/3").

    >>> exact_decimal(Fraction(1, 10)), exact_decimal(Fraction(-5, 4)), exact_decimal(Fraction(1, 3))
    ('0.1', '-1.25', '1/3')
    """
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = abs(value.numerator) * 10**places // value.denominator
    whole, fraction = divmod(scaled, 10**places) if places else (scaled, 0)
    sign = "-" if value < 0 else ""
    if not places:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{places}d}".rstrip("0").rstrip(".")


_AS_IS = frozenset({str, int, bool, float})


def json_value(value: object) -> object:
    """The JSON form of a DSL value: 日付 "YYYY-MM-DD", 整数・金額 numbers, 割合 and 端数つき金額 exact
    strings ("0.1", "1/3"), 真偽 true/false, 文字列・列挙 strings, 年月 "YYYY-MM", 年度 the number of the
    year it starts in (令和7年度 → 2025), 一覧 arrays, レコード objects."""
    if value is None or type(value) in _AS_IS:  # most values: no ABC check needed
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Fraction):
        return exact_decimal(value)
    if isinstance(value, YearMonth):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    return value
