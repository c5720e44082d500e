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

from dsl.types import (
    BOOL,
    DATE,
    DURATION,
    INT,
    MONEY,
    NOTHING,
    RATE,
    TEXT,
    UNROUNDED_MONEY,
    ListType,
    Type,
    list_of,
)
from standard_core import calendar

Impl = Callable[..., object]


class FunctionDomainError(ValueError):
    """The arguments are well typed but outside the function's domain; message in Japanese."""


@dataclass(frozen=True)
class Signature:
    params: tuple[Type, ...]
    result: Type
    variadic: bool = False  # the last parameter may repeat (at least once)


@dataclass(frozen=True)
class Function:
    name: str
    aliases: tuple[str, ...]
    signatures: tuple[Signature, ...]
    impl: Impl
    doc: str

    def match(self, args: Sequence[Type]) -> Signature | None:
        for sig in self.signatures:
            if sig.variadic:
                fixed = sig.params[:-1]
                if len(args) < len(sig.params):
                    continue
                wanted = list(fixed) + [sig.params[-1]] * (len(args) - len(fixed))
            else:
                if len(args) != len(sig.params):
                    continue
                wanted = list(sig.params)
            if all(_accepts(w, a) for w, a in zip(wanted, args, strict=True)):
                return sig
        return None

    def describe(self) -> str:
        return " / ".join(
            f"{self.name}({', '.join(p.name for p in s.params)}{', …' if s.variadic else ''}) → {s.result.name}"
            for s in self.signatures
        )


def _accepts(wanted: Type, actual: Type) -> bool:
    if wanted == actual:
        return True
    if wanted == RATE and actual == INT:
        return True
    if isinstance(wanted, ListType) and isinstance(actual, ListType):
        return wanted.item == NOTHING or actual.item == NOTHING or _accepts(wanted.item, actual.item)
    return False


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


def _age(birth: dt.date, on: dt.date) -> int:
    try:
        return calendar.age_on(birth, on)
    except ValueError as e:
        raise FunctionDomainError("基準日が生年月日より前です") from e


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


def _duration(text: str) -> str:
    if not DURATION_PATTERN.fullmatch(text):
        raise FunctionDomainError(f"「{text}」は ISO 8601 の期間ではありません（例: P14D、PT1H）")
    return text


FUNCTIONS: tuple[Function, ...] = (
    Function("切り捨て", ("floor",), ROUNDABLE, _round("floor"), "端数を切り捨てます（金額は1円未満、割合は整数未満）。"),
    Function("切り上げ", ("ceil",), ROUNDABLE, _round("ceil"), "端数を切り上げます。"),
    Function("四捨五入", ("round",), ROUNDABLE, _round("half_up"), "端数を四捨五入します（0.5は0から遠い方へ）。"),
    Function("最大", ("max",), ORDERED, lambda *xs: max(xs), "引数のうち最も大きい値（同じ型どうし）。"),
    Function("最小", ("min",), ORDERED, lambda *xs: min(xs), "引数のうち最も小さい値（同じ型どうし）。"),
    Function("年齢", ("age",), (Signature((DATE, DATE), INT),), _age,
             "基準日における満年齢（年齢計算ニ関スル法律・民法143条: 誕生日の前日に加齢）。"),
    Function("年度", ("fiscal_year",), (Signature((DATE,), INT),), calendar.fiscal_year,
             "日付の属する年度（4月始まり）を西暦の年で返します。"),
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
    Function("含む", ("contains",), (Signature((TEXT, TEXT), BOOL),), lambda a, b: b in a,
             "第1引数の文字列が第2引数を含むか。"),
    Function("期間", ("duration",), (Signature((TEXT,), DURATION),), _duration,
             "ISO 8601 の期間（例: 「P14D」）。文字列は読み込み時に検査されます。"),
)

_BY_NAME: dict[str, Function] = {}
for _f in FUNCTIONS:
    for _n in (_f.name, *_f.aliases):
        _BY_NAME[_n] = _f


def lookup(name: str) -> Function | None:
    return _BY_NAME.get(name)


def names() -> list[str]:
    return sorted(_BY_NAME)
