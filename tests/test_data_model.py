"""The standard data model: ids, names, labels, references, DSL types, constraints and the generated dictionary."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from dsl import types as dsl_types
from dsl.rules.load import load_rules
from standard_core import data_model
from standard_core.data_model import CODE_LISTS, ENTITIES, Item, Kind, check_value, item_by_id, items
from standard_core.data_model.dictionary import REGENERATE

ROOT = Path(__file__).resolve().parent.parent
DICTIONARY = ROOT / "docs" / "data-dictionary.md"
ASCII_ID = re.compile(r"[a-z_.]+")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# A reference names a law and article, a standard specification or the national code it follows.
REFERENCE = re.compile(r"法\d|条|仕様書|コード|条例|取扱い|jichi")
CORE_PROCEDURE_ENTITIES = ("jido_teate_claim", "juminhyo_request", "tennyu")
ITEM_IDS = [i.id for i in items()]


def test_every_id_is_unique_lowercase_ascii() -> None:
    ids = [e.id for e in ENTITIES] + ITEM_IDS + [c.id for c in CODE_LISTS]
    assert [i for i in ids if not ASCII_ID.fullmatch(i)] == []
    assert len(set(ITEM_IDS)) == len(ITEM_IDS)
    assert len({e.id for e in ENTITIES}) == len(ENTITIES)
    assert len({c.id for c in CODE_LISTS}) == len(CODE_LISTS)


def test_item_ids_are_entity_id_dot_key() -> None:
    assert [i.id for e in ENTITIES for i in e.items if not re.fullmatch(re.escape(e.id) + r"\.[a-z_]+", i.id)] == []


@pytest.mark.parametrize("target", items(), ids=ITEM_IDS)
def test_item_has_japanese_label_name_and_a_reference(target: Item) -> None:
    assert JAPANESE.search(target.label)
    assert JAPANESE.search(target.name)
    assert REFERENCE.search(target.reference), target.reference


def test_entities_and_code_lists_have_japanese_names_and_references() -> None:
    for e in ENTITIES:
        assert JAPANESE.search(e.name) and JAPANESE.search(e.label) and REFERENCE.search(e.reference), e.id
        assert e.items, e.id
    for c in CODE_LISTS:
        assert JAPANESE.search(c.name) and REFERENCE.search(c.reference), c.id
        assert c.values and len(set(c.values)) == len(c.values), c.id


def test_dsl_names_are_unique_within_an_entity() -> None:
    for e in ENTITIES:
        names = [i.name for i in e.items]
        assert len(set(names)) == len(names), e.id


def test_global_dsl_names_do_not_collide() -> None:
    """Record, enumeration and value names live in one DSL namespace with the items read as inputs (DSL220)."""
    global_names = [e.name for e in ENTITIES] + [c.name for c in CODE_LISTS] + [v for c in CODE_LISTS for v in c.values]
    assert len(set(global_names)) == len(global_names)
    assert set(global_names) & {i.name for i in items()} == set()


def dsl_type(target: Item) -> dsl_types.Type:
    """What dsl/ makes of an item's type: a scalar, an enumeration or a record (list) type."""
    if target.kind is Kind.CODE:
        codes = data_model.code_list(target.code_list or "")
        assert codes is not None and target.type == codes.name
        return dsl_types.EnumType("enum", codes.name, codes.values)
    if target.kind is Kind.RECORD:
        referenced = next(e for e in ENTITIES if e.id == target.record)
        record = dsl_types.record(referenced.name, {i.name: dsl_type(i) for i in referenced.items})
        return dsl_types.list_of(record) if target.many else record
    found = dsl_types.type_named(target.type)
    assert found is not None, f"{target.id}: 「{target.type}」は DSL の型ではありません"
    return found


@pytest.mark.parametrize("target", items(), ids=ITEM_IDS)
def test_every_type_is_a_real_dsl_type(target: Item) -> None:
    t = dsl_type(target)
    assert str(t) == target.type
    if target.kind is Kind.SCALAR:
        assert t in dsl_types.SCALARS
    assert (target.kind is Kind.RECORD) == (target.record is not None)
    assert (target.kind is Kind.CODE) == (target.code_list is not None)
    assert target.many <= (target.kind is Kind.RECORD)


def declarations() -> str:
    """The model as a rule file: every code list a 列挙, every entity a 型 (referenced ones first)."""
    lines = [f"列挙 {c.name} {{ {', '.join(c.values)} }}" for c in CODE_LISTS]
    done: set[str] = set()

    def declare(entity_id: str) -> None:
        e = next(x for x in ENTITIES if x.id == entity_id)
        if e.id in done:
            return
        for i in e.items:
            if i.record is not None:
                declare(i.record)
        lines.append(f"型 {e.name} {{ " + " ".join(f"{i.name}: {i.type};" for i in e.items) + " }")
        done.add(e.id)

    for e in ENTITIES:
        declare(e.id)
    inputs = [f"{i.name}: {i.type};" for e in ENTITIES if e.id in CORE_PROCEDURE_ENTITIES for i in e.items]
    lines.append("入力 { " + " ".join(dict.fromkeys(inputs)) + " }")
    return "\n".join(lines) + "\n"


def test_the_model_loads_as_dsl_declarations() -> None:
    """Names are DSL identifiers (no keywords), types resolve and nothing collides, as the rule loader sees it."""
    rules, diagnostics = load_rules([("data_model.rules", declarations())])
    assert [d.format() for d in diagnostics] == []
    assert rules is not None


def test_personal_names_are_text() -> None:
    flagged = [i for i in items() if i.personal_name]
    assert {i.id for i in flagged} >= {"person.name", "person.head_name", "jido_teate_child.name"}
    assert all(i.type == "文字列" for i in flagged)


def test_patterns_compile_and_apply_to_text_only() -> None:
    for i in items():
        if i.pattern is not None:
            re.compile(i.pattern)
            assert i.type == "文字列", i.id


@pytest.mark.parametrize(
    "item_id",
    ["person.atena_number", "person.name", "person.name_kana", "person.birth_date", "person.sex", "person.address",
     "person.household_number", "person.relationship", "household.head_atena_number", "household.members",
     "case.receipt_number", "case.procedure", "case.received_on", "case.municipality_code",
     "jido_teate_claim.claimant", "jido_teate_claim.children", "jido_teate_claim.civil_servant",
     "jido_teate_child.kango", "jido_teate_child.seikeihi_futan", "jido_teate_claim.planned_move_out_on",
     "juminhyo_request.requester_kind", "juminhyo_request.copies", "juminhyo_request.documents",
     "identity_document.expires_on", "tennyu.moved_in_on", "tennyu.previous_address", "tennyu.planned_move_out_on"],
)
def test_the_items_the_core_procedures_need_exist(item_id: str) -> None:
    assert item_by_id(item_id) is not None


@pytest.mark.parametrize(
    ("item_id", "value", "codes"),
    [
        ("person.name", "山田 太郎", []),
        ("person.name", "", ["STD386"]),
        ("person.name", None, ["STD386"]),
        ("person.honseki", None, []),
        ("person.name", "山田\ue000", ["STD383"]),
        ("person.name_kana", "ヤマダ　タロウ", []),
        ("person.name_kana", "やまだ", ["STD388"]),
        ("case.municipality_code", "141305", []),
        ("case.municipality_code", "14130", ["STD388"]),
        ("case.municipality_code", "１４１３０５", ["STD388"]),
        ("address.postal_code", "210-0007", ["STD388"]),
        ("person.sex", "女", []),
        ("person.sex", "不明", ["STD389"]),
        ("juminhyo_request.requester_kind", "第三者", []),
        ("identity_document.kind", "図書館カード", ["STD389"]),
        ("jido_teate_claim.children", [], ["STD386"]),
        ("address.text", "川" * 201, ["STD387"]),
    ],
    ids=["name", "name-empty", "name-none", "optional-none", "name-gaiji", "kana", "kana-hiragana", "code",
         "code-5-digits", "code-fullwidth", "postal-hyphen", "sex", "sex-unknown", "requester", "document-unknown",
         "children-empty", "too-long"],
)
def test_check_value(item_id: str, value: object, codes: list[str]) -> None:
    target = item_by_id(item_id)
    assert target is not None
    found = check_value(target, value)
    assert [d.code for d in found] == codes
    assert all(d.span.file == item_id and d.hint for d in found)


def test_json_has_every_field_of_every_item() -> None:
    whole = data_model.to_json()
    fields = {f.name for f in dataclasses.fields(Item)}
    assert [e["id"] for e in whole["entities"]] == [e.id for e in ENTITIES]
    for e in whole["entities"]:
        for i in e["items"]:
            assert set(i) == fields | {"values"}
    assert {c["id"] for c in whole["code_lists"]} == {c.id for c in CODE_LISTS}


def test_entity_named_accepts_id_dsl_name_and_label() -> None:
    assert data_model.entity_named("person") is data_model.entity_named("個人") is data_model.entity_named("個人（宛名）")
    assert data_model.entity_named("nobody") is None


def test_the_committed_dictionary_is_generated_from_the_model() -> None:
    assert DICTIONARY.read_text(encoding="utf-8") == data_model.markdown(), (
        f"docs/data-dictionary.md がモデルと違います。`{REGENERATE}` で作り直してください。"
    )


def test_the_dictionary_shows_every_item() -> None:
    text = data_model.markdown()
    assert [i for i in ITEM_IDS if f"`{i}`" not in text] == []
