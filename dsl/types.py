"""Static types of the DSL. Runtime values are plain Python values chosen per type (see VALUE_CLASSES)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Type:
    """A DSL type. `name` is the Japanese name shown to users; `key` is the ASCII alias."""

    key: str
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ListType(Type):
    item: Type

    def __str__(self) -> str:
        return f"{self.item.name}の一覧"


@dataclass(frozen=True, slots=True)
class RecordType(Type):
    """A record with named, typed fields (e.g. 申請者 with 生年月日). Fields are sorted by name."""

    fields: tuple[tuple[str, Type], ...]

    def field(self, name: str) -> Type | None:
        return dict(self.fields).get(name)

    def __str__(self) -> str:
        return self.name or "レコード"


@dataclass(frozen=True, slots=True)
class EnumType(Type):
    """A closed set of named values (列挙). Runtime values are the value names (str)."""

    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CountingType(Type):
    """A named counting rule over lists of `item` (数え方): who counts, in which order."""

    item: Type


INT = Type("int", "整数")
MONEY = Type("money", "金額")
# Money that went through a rate or a division and still carries a fraction of a yen:
# it must pass through 切り捨て/四捨五入/切り上げ before it can be used as 金額.
UNROUNDED_MONEY = Type("unrounded_money", "端数つき金額")
RATE = Type("rate", "割合")
DATE = Type("date", "日付")
DURATION = Type("duration", "期間")
TEXT = Type("text", "文字列")
BOOL = Type("bool", "真偽")
# Durations are kept apart by unit: 14日 + 1か月 is a type error, and only days add to a date.
DAYS = Type("days", "日数")
MONTHS = Type("months", "月数")
YEARS = Type("years", "年数")
# A calendar month (2026-09, 令和8年9月) and a fiscal year (2025年度, 令和7年度: April to March).
YEAR_MONTH = Type("year_month", "年月")
FISCAL_YEAR = Type("fiscal_year", "年度")
# The type of an empty list literal before its use fixes the item type.
NOTHING = Type("nothing", "不定")

SCALARS: tuple[Type, ...] = (INT, MONEY, RATE, DATE, DURATION, TEXT, BOOL, DAYS, MONTHS, YEARS, YEAR_MONTH, FISCAL_YEAR)

_BY_NAME: dict[str, Type] = {}
for _t in SCALARS:
    _BY_NAME[_t.key] = _t
    _BY_NAME[_t.name] = _t
_BY_NAME.update({"整数値": INT, "円": MONEY, "日": DATE, "文字": TEXT, "boolean": BOOL, "string": TEXT,
                 "integer": INT, "decimal": RATE})


def type_named(name: str) -> Type | None:
    """Resolve a declared type name: '整数', '金額', '日付', ... or an ASCII alias ('int', 'date', ...).

    A trailing 'の一覧' (or '[]') makes a list type: '文字列の一覧', 'text[]'.
    """
    name = name.strip()
    for suffix in ("の一覧", "[]"):
        if name.endswith(suffix):
            item = type_named(name[: -len(suffix)])
            return list_of(item) if item is not None else None
    return _BY_NAME.get(name)


def list_of(item: Type) -> ListType:
    return ListType("list", f"{item.name}の一覧", item)


def record(name: str, fields: dict[str, Type]) -> RecordType:
    return RecordType("record", name, tuple(sorted(fields.items())))


def is_numeric(t: Type) -> bool:
    return t in (INT, RATE)


def type_names() -> list[str]:
    """The declarable scalar type names, Japanese first, for diagnostics and docs."""
    return [t.name for t in SCALARS]
