"""The whitelist of functions a rule may call, each with typed signatures.

A call to anything not listed here is a type error (DSL203); there is no other way to reach
Python from the DSL. Domain functions delegate to standard_core so their legal meaning lives in
one place.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from dsl.date_functions import DATE_FUNCTIONS
from dsl.signatures import Function, FunctionDomainError, Impl, Signature
from dsl.types import (
    BOOL,
    DATE,
    DAYS,
    DURATION,
    INT,
    MONEY,
    MONTHS,
    NOTHING,
    RATE,
    TEXT,
    UNROUNDED_MONEY,
    YEARS,
    Type,
    list_of,
)

__all__ = ["BUILTINS", "BUILTIN_NAMES", "FUNCTIONS", "Builtin", "Function", "FunctionDomainError", "Signature", "lookup", "names"]


def _round(mode: str) -> Impl:
    def apply(x: Fraction | int) -> int:
        if isinstance(x, int):
            return x
        if mode == "floor":
            return math.floor(x)
        if mode == "ceil":
            return math.ceil(x)
        # 四捨五入: half away from zero, as in Japanese administrative practice (not banker's rounding).
        return math.floor(abs(x) + Fraction(1, 2)) * (1 if x >= 0 else -1)

    return apply


def _days_after(date: dt.date, days: int) -> dt.date:
    try:
        return date + dt.timedelta(days=days)
    except OverflowError as e:
        raise FunctionDomainError("日付が扱える範囲を超えました") from e


def _sum(items: Sequence[int]) -> int:
    return sum(items)


ROUNDABLE = (
    Signature((UNROUNDED_MONEY,), MONEY),
    Signature((MONEY,), MONEY),
    Signature((RATE,), INT),
)


ORDERED = tuple(Signature((t,), t, variadic=True) for t in (INT, RATE, MONEY, DATE))

# ISO 8601 durations as timers use them: P1Y2M3D, P2W, PT1H30M, P1DT12H (no fractions).
DURATION_PATTERN = re.compile(r"P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?)?")


def _check_duration(index: int, text: str) -> None:
    _duration(text)


def _duration(text: str) -> str:
    if not DURATION_PATTERN.fullmatch(text):
        raise FunctionDomainError(f"「{text}」は ISO 8601 の期間ではありません（例: P14D、PT1H）",
                                  "例: 期間(「P14D」)、期間(「PT1H」)")
    return text


_SORTABLE = (INT, RATE, MONEY, DATE, DAYS, MONTHS, YEARS, TEXT)
_LIST_ORDERED = tuple(Signature((list_of(t),), t) for t in _SORTABLE if t != TEXT)
_LIST_SORT = tuple(Signature((list_of(t),), list_of(t)) for t in _SORTABLE)


def _list_extreme(pick: Callable[..., object]) -> Impl:
    def apply(items: Sequence[object]) -> object:
        if not items:
            raise FunctionDomainError("空の一覧には最大値・最小値がありません", "一覧が空でないことを先に確かめてください。")
        return pick(items)

    return apply


FUNCTIONS: tuple[Function, ...] = (
    Function("切り捨て", ("floor",), ROUNDABLE, _round("floor"), "端数を切り捨てます（金額は1円未満、割合は整数未満）。"),
    Function("切り上げ", ("ceil",), ROUNDABLE, _round("ceil"), "端数を切り上げます。"),
    Function("四捨五入", ("round",), ROUNDABLE, _round("half_up"), "端数を四捨五入します（0.5は0から遠い方へ）。"),
    Function("最大", ("max",), ORDERED, lambda *xs: max(xs), "引数のうち最も大きい値（同じ型どうし）。"),
    Function("最小", ("min",), ORDERED, lambda *xs: min(xs), "引数のうち最も小さい値（同じ型どうし）。"),
    Function("日数", ("days_between",), (Signature((DATE, DATE), INT),), lambda a, b: (b - a).days,
             "開始日から終了日までの日数（終了日 − 開始日）。"),
    Function("日後", ("days_after",), (Signature((DATE, INT), DATE),), _days_after,
             "日付の n 日後（負の数なら n 日前）。"),
    Function("年", ("year",), (Signature((DATE,), INT),), lambda d: d.year, "日付の西暦年。"),
    Function("月", ("month",), (Signature((DATE,), INT),), lambda d: d.month, "日付の月。"),
    Function("日", ("day",), (Signature((DATE,), INT),), lambda d: d.day, "日付の日。"),
    Function("長さ", ("length",), (Signature((TEXT,), INT),), len, "文字列の文字数。"),
    Function("件数", ("count",), (Signature((list_of(NOTHING),), INT),), len,
             "一覧の件数。"),
    Function("合計", ("sum",), (Signature((list_of(MONEY),), MONEY),
                               Signature((list_of(INT),), INT)), _sum, "一覧の合計。"),
    Function("いずれか", ("any",), (Signature((list_of(BOOL),), BOOL),), any,
             "一覧の中に真が一つでもあるか（空の一覧は偽）。例: いずれか(書類 ごとの 有効)"),
    Function("すべて", ("all",), (Signature((list_of(BOOL),), BOOL),), all,
             "一覧がすべて真か（空の一覧は真）。例: すべて(書類 ごとの 有効期限 >= 受付日)"),
    Function("最大値", ("max_of",), _LIST_ORDERED, _list_extreme(max), "一覧の最大値（空の一覧はエラー）。"),
    Function("最小値", ("min_of",), _LIST_ORDERED, _list_extreme(min), "一覧の最小値（空の一覧はエラー）。"),
    Function("並べ替え", ("sorted",), _LIST_SORT, lambda xs: tuple(sorted(xs)), "一覧を小さい順（古い順）に並べます。"),
    Function("並べ替え降順", ("sorted_desc",), _LIST_SORT, lambda xs: tuple(sorted(xs, reverse=True)),
             "一覧を大きい順（新しい順）に並べます。"),
    Function("含む", ("contains",), (Signature((TEXT, TEXT), BOOL),), lambda a, b: b in a,
             "第1引数の文字列が第2引数を含むか。"),
    Function("期間", ("duration",), (Signature((TEXT,), DURATION),), _duration,
             "ISO 8601 の期間（例: 「P14D」）。文字列は読み込み時に検査されます。", check_literal=_check_duration),
    *DATE_FUNCTIONS,
)


@dataclass(frozen=True)
class Builtin:
    """A name every expression can read without declaring it, bound from the evaluation context."""

    name: str
    aliases: tuple[str, ...]
    type: Type
    doc: str


# A declared data item of the same name wins over a built-in (the procedure chose its own reference date).
BUILTINS: tuple[Builtin, ...] = (
    Builtin("基準日", ("reference_date",), DATE,
            "評価の基準日（jichi rules eval の --on。省略時は東京の今日）。"),
)
BUILTIN_NAMES: dict[str, Builtin] = {n: b for b in BUILTINS for n in (b.name, *b.aliases)}

_BY_NAME: dict[str, Function] = {}
for _f in FUNCTIONS:
    for _n in (_f.name, *_f.aliases):
        _BY_NAME[_n] = _f


def lookup(name: str) -> Function | None:
    return _BY_NAME.get(name)


def names() -> list[str]:
    return sorted(_BY_NAME)
