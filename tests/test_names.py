"""Names are stored byte-exact and searched by a derived key; characters that cannot be stored are diagnosed."""

from __future__ import annotations

import doctest
import json
import sqlite3
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standard_core import names
from standard_core.data_model import check_value, item_by_id
from standard_core.names import character_count, search_key, validate_name
from tests.engine_support import environment

KATSURAGI_IVS = "葛\U000e0100城"  # 葛 with the ideographic variation selector of the 葛飾 form
COMPAT_RO = "\uf929"  # CJK compatibility ideograph 朗; NFC alone turns it into U+6717
# Full-width Latin (as typed on a Japanese keyboard), spelled by code point (ruff flags the letters as confusables).
ZENKAKU_SMITH = "".join(chr(ord(c) + 0xFEE0) for c in "Smith") + "\u3000" + "".join(chr(ord(c) + 0xFEE0) for c in "John")
EXACT_NAMES = [
    KATSURAGI_IVS,
    "髙橋\u3000一郎",
    "渡邊" + "\U000e0101",
    COMPAT_RO + "子",
    "ﾔﾏﾀﾞ ﾀﾛｳ",
    ZENKAKU_SMITH,
    "辻\U000e0100",
]


def test_doctests_pass() -> None:
    result = doctest.testmod(names)
    assert result.attempted > 0
    assert result.failed == 0


def test_normalising_would_change_these_names() -> None:
    # Why names are never normalised: NFC alone changes a kanji, NFKC turns 半角 into 全角.
    assert unicodedata.normalize("NFC", COMPAT_RO) != COMPAT_RO
    assert unicodedata.normalize("NFKC", "ﾔﾏﾀﾞ") != "ﾔﾏﾀﾞ"


@pytest.mark.parametrize("name", EXACT_NAMES, ids=["ivs", "taka", "watanabe-ivs", "compat", "hankaku", "zenkaku", "tsuji"])
def test_a_valid_name_is_checked_without_being_changed(name: str) -> None:
    before = name.encode("utf-8")
    assert check_value(item_by_id("person.name"), name) == []  # type: ignore[arg-type]
    assert name.encode("utf-8") == before
    assert json.loads(json.dumps(name)).encode("utf-8") == before
    assert json.loads(json.dumps(name, ensure_ascii=False)).encode("utf-8") == before


@pytest.mark.parametrize("name", EXACT_NAMES, ids=["ivs", "taka", "watanabe-ivs", "compat", "hankaku", "zenkaku", "tsuji"])
def test_sqlite_keeps_the_bytes(name: str) -> None:
    with sqlite3.connect(":memory:") as db:
        db.execute("create table t (name text)")
        db.execute("insert into t values (?)", (name,))
        (stored,) = db.execute("select name from t").fetchone()
    assert stored.encode("utf-8") == name.encode("utf-8")


def test_a_case_stores_the_name_byte_exact(database_url: str) -> None:
    """Through the engine: JSON state, the database (SQLite and PostgreSQL) and back."""
    subject = KATSURAGI_IVS + "　" + COMPAT_RO + "子"
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": subject})
        with env.session() as s:
            data = env.cases.get_case(s, case_id).data
    assert data["件名"].encode("utf-8") == subject.encode("utf-8")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("髙橋", "高橋"),
        (KATSURAGI_IVS, "葛城"),
        ("渡邊\U000e0101", "渡辺"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ"),
        ("やまだ　たろう", "ヤマダ タロウ"),
        ("キョウコ", "キヨウコ"),
        (ZENKAKU_SMITH, "smith john"),
        ("ジョン・スミス", "ジョン スミス"),
        (COMPAT_RO + "子", "\u6717子"),
        ("山﨑", "山崎"),
    ],
    ids=["taka", "ivs", "watanabe", "hankaku-kana", "hiragana", "small-kana", "fullwidth-latin", "nakaguro",
         "compat", "saki"],
)
def test_search_key_folds(a: str, b: str) -> None:
    assert search_key(a) == search_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("ガク", "カク"), ("ヴィ", "ビ"), ("佐藤", "斉藤"), ("大野", "小野"), ("サトー", "サトウ")],
    ids=["dakuten", "vu", "different-name", "different-kanji", "long-vowel"],
)
def test_search_key_keeps_apart(a: str, b: str) -> None:
    assert search_key(a) != search_key(b)


def test_search_key_is_idempotent() -> None:
    for name in EXACT_NAMES:
        assert search_key(search_key(name)) == search_key(name)


@pytest.mark.parametrize(
    ("name", "code", "column"),
    [
        ("山田\n太郎", "STD381", 3),
        ("山田\x00", "STD381", 3),
        ("山\ud800田", "STD382", 2),
        ("山\ue000", "STD383", 2),
        ("\U000f0001田", "STD383", 1),
        ("山\u200b田", "STD384", 2),
        ("\u202e田中", "STD384", 1),
        ("\ufeff田中", "STD384", 1),
        ("\U000e0100葛", "STD385", 1),
        ("葛\U000e0100\U000e0101", "STD385", 3),
    ],
    ids=["newline", "nul", "lone-surrogate", "gaiji-bmp", "gaiji-plane15", "zwsp", "bidi", "bom",
         "leading-selector", "double-selector"],
)
def test_bad_characters_are_diagnosed_at_their_position(name: str, code: str, column: int) -> None:
    found = validate_name(name, where="person.name")
    assert [(d.code, d.span.file, d.span.column) for d in found] == [(code, "person.name", column)]
    assert found[0].hint and found[0].reference


def test_gaiji_points_to_the_mapping() -> None:
    (d,) = validate_name("山\ue000", label="氏名")
    assert d.is_error
    assert "外字" in d.message and "U+E000" in d.message and "2文字目" in d.message
    assert names.GAIJI_MAPPING in d.hint


def test_every_problem_is_reported_not_just_the_first() -> None:
    assert [d.code for d in validate_name("\ue000\t\u200b")] == ["STD383", "STD381", "STD384"]


def test_a_variation_selector_counts_with_its_character() -> None:
    assert character_count(KATSURAGI_IVS) == 2
    limit = item_by_id("person.name")
    assert limit is not None and limit.max_length is not None
    assert check_value(limit, "葛\U000e0100" * limit.max_length) == []
    assert [d.code for d in check_value(limit, "葛" * (limit.max_length + 1))] == ["STD387"]


def test_a_separate_voiced_sound_mark_joins_its_kana() -> None:
    assert search_key("カ゛ク") == search_key("ガク")


NAME_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("葛髙高山田崎﨑邊辺ぁあァアｱｶﾞ゛゜ー・ 　\t\u3099\u0301\ufe00\U000e0100\ue000\u200bAa\uff21ß"),
        st.characters(),
    ),
    max_size=12,
)


@given(NAME_TEXT)
def test_search_key_is_stable_and_never_raises(name: str) -> None:
    key = search_key(name)
    assert search_key(key) == key
    assert not any(ch.isspace() or names.is_variation_selector(ch) for ch in key)


@given(NAME_TEXT)
def test_validate_name_never_raises_nor_changes_the_name(name: str) -> None:
    before = name
    found = validate_name(name)
    assert name == before
    assert all(1 <= d.span.column <= len(name) for d in found)
