"""The shapes of the standard data model: code lists, items and the entities (records) that group them.

Every item has three names, each with one job:

- `id` (ASCII, `person.birth_date`): the stable key. Stored data, packs and APIs refer to an item by it; it
  never changes within a major version of the core.
- `name` (a DSL identifier, 生年月日): how rules and BPMN write the item. Fixed one-to-one to the id, so it
  is as stable as the id.
- `label` (生年月日): what a screen or a notice shows. Display only: a form may relabel a field without
  breaking a rule.

`type` is spelled as the DSL spells it, so dsl/ can map it without standard_core importing dsl: a scalar
type name (文字列, 日付, 整数, 金額, 真偽 …), the name of a code list (an enumeration), or the name of an
entity (a record), with 「の一覧」 for a list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class Kind(StrEnum):
    """How an item's `type` is to be read."""

    SCALAR = "scalar"  # a DSL scalar type name: 文字列, 日付, 整数 …
    CODE = "code"  # a code list (DSL 列挙): the value is one of its value names
    RECORD = "record"  # another entity (DSL 型), or a list of them when `many`


@dataclass(frozen=True, slots=True)
class CodeList:
    """A closed list of values (DSL 列挙). Values are DSL names, so a rule can compare with them directly."""

    id: str
    name: str  # the enumeration's DSL name: 男女の別
    label: str
    values: tuple[str, ...]
    reference: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """One data item of the standard, with its constraints. Build with `item()`; `Entity` fills in the id."""

    id: str
    name: str
    label: str
    type: str
    reference: str
    kind: Kind = Kind.SCALAR
    required: bool = False
    max_length: int | None = None  # characters (code points, a variation selector not counted)
    pattern: str | None = None  # the whole value must match (re.fullmatch)
    code_list: str | None = None  # CodeList.id when kind is CODE
    record: str | None = None  # Entity.id when kind is RECORD
    many: bool = False  # a list of `record` values
    personal_name: bool = False  # stored byte-exact; validate_name() applies; searched through search_key()
    description: str = ""
    # 特定個人情報 (個人番号): shown only to the roles that need it, masked elsewhere, never logged (engine/restricted.py)
    restricted: bool = False


@dataclass(frozen=True, slots=True)
class Entity:
    """A group of items: a record of the standard (個人, 世帯, 案件) or of one procedure (転入届)."""

    id: str
    name: str  # the record type's DSL name: 個人
    label: str
    group: str  # the area of administration it belongs to: 共通, 住民記録, 児童手当
    reference: str
    items: tuple[Item, ...] = field(default=())
    description: str = ""

    def item(self, key: str) -> Item | None:
        """The item whose id is `<entity id>.<key>`, or whose DSL name is `key`."""
        for candidate in self.items:
            if candidate.id == f"{self.id}.{key}" or candidate.name == key:
                return candidate
        return None


def item(
    key: str,
    name: str,
    type_: str,
    reference: str,
    *,
    label: str | None = None,
    required: bool = False,
    max_length: int | None = None,
    pattern: str | None = None,
    personal_name: bool = False,
    description: str = "",
    restricted: bool = False,
) -> Item:
    """A scalar item; `key` is the last part of its id, `label` defaults to the DSL name."""
    return Item(key, name, label or name, type_, reference, required=required, max_length=max_length,
                pattern=pattern, personal_name=personal_name, description=description, restricted=restricted)


def coded(key: str, name: str, codes: CodeList, reference: str, *, label: str | None = None,
          required: bool = False, description: str = "") -> Item:
    """An item whose value is one of a code list's values."""
    return Item(key, name, label or name, codes.name, reference, kind=Kind.CODE, required=required,
                code_list=codes.id, description=description)


def record(key: str, name: str, target: Entity, reference: str, *, label: str | None = None,
           many: bool = False, required: bool = False, description: str = "") -> Item:
    """An item holding a record of another entity (or, with `many`, a list of them)."""
    type_ = f"{target.name}の一覧" if many else target.name
    return Item(key, name, label or name, type_, reference, kind=Kind.RECORD, required=required,
                record=target.id, many=many, description=description)


def entity(id_: str, name: str, label: str, group: str, reference: str, items: tuple[Item, ...],
           description: str = "") -> Entity:
    """An entity whose items get their full ids (`<id>.<key>`) from it."""
    return Entity(id_, name, label, group, reference, tuple(replace(i, id=f"{id_}.{i.id}") for i in items),
                  description)
