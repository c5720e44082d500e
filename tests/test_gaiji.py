"""外字 (standard_core/gaiji.py): the municipality's table read with every problem reported, legacy characters
mapped to their Unicode sequences byte for byte, and every unmapped private-use or undeclared character reported
with its position — never replaced, never dropped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from standard_core.gaiji import GaijiTable, decode_cp932, in_jis_x_0213

TABLE = """旧コード,文字,MJ文字図形名,備考
U+E000,U+8FBA U+E0100,MJ028227,辺の異体
0xF041,U+9AD9,,髙（はしごだか）
U+E002,𠮷,,つちよし
,U+845B U+E0100,,宣言だけ: 葛の異体字シーケンス
"""
BEN_IVS = "\u8fba\U000e0100"  # 辺 + VS17


def table() -> GaijiTable:
    found, problems = GaijiTable.parse(TABLE)
    assert problems == []
    return found


def test_the_table_reads_code_points_cp932_bytes_characters_and_declarations() -> None:
    t = table()
    assert len(t) == 3
    assert t.entries["\ue000"].target == BEN_IVS and t.entries["\ue000"].mj == "MJ028227"
    assert t.entries["\ue001"].target == "髙"  # 0xF041 is the second code of the user-defined area
    assert t.entries["\ue002"].target == "\U00020bb7"
    assert "\u845b\U000e0100" in t.declared and t.entries["\ue000"].line == 2


def test_mapped_gaiji_land_as_the_intended_sequence_and_nothing_else_changes() -> None:
    legacy = "渡\ue000 \ue001橋　塚\ufa10神\ufa19"
    done = table().convert(legacy)
    assert done.findings == ()
    assert done.text == f"渡{BEN_IVS} 髙橋　塚\ufa10神\ufa19"
    assert done.text.encode("utf-8") == ("渡" + BEN_IVS + " 髙橋　塚\ufa10神\ufa19").encode("utf-8")  # no NFC: FA10, FA19 kept
    assert [(position, entry.line) for position, entry in done.mapped] == [(2, 2), (4, 3)]


def test_unmapped_gaiji_and_undeclared_characters_are_reported_where_they_are_never_replaced() -> None:
    legacy = "山\ue003田\u663b\u845b\U000e0101\U000e0100"
    done = table().convert(legacy)
    assert done.text == legacy  # nothing replaced, nothing dropped
    assert [(f.position, f.code, f.kind) for f in done.findings] == [
        (2, "U+E003", "gaiji"),  # private use, not in the table
        (4, "U+663B", "outside"),  # 昻 is not in JIS X 0213:2004, and the table does not declare it
        (5, "U+845B U+E0101", "sequence"),  # an IVS the municipality did not declare
        (7, "U+E0100", "sequence"),  # a selector with no character before it
    ]
    assert "対応表にない" in done.findings[0].reason and "JIS X 0213:2004" in done.findings[1].reason


def test_declared_and_mapped_sequences_are_accepted_as_they_are() -> None:
    t = table()
    for text in (BEN_IVS, "\u845b\U000e0100", "\U00020bb7", "か\u309a"):  # か゚: JIS X 0213 has it as a pair
        assert t.convert(text).findings == (), text
    assert t.convert("\u8fba\U000e0101").findings[0].kind == "sequence"  # another 辺 sequence: not declared
    assert t.convert("髙").findings == ()  # outside JIS X 0213:2004, but a target of the table: declared


def test_cp932_decodes_the_user_defined_area_and_wave_dash_as_windows_does() -> None:
    assert decode_cp932(b"\xf0\x40\xf9\xfc") == ("\ue000\ue757", "")
    assert decode_cp932(b"\x81\x60") == ("\uff5e", "")  # not U+301C as in shift_jis
    assert b"\x81\x60".decode("shift_jis") == "\u301c"
    text, where = decode_cp932(b"\x82\xa0\x85\x40")  # 0x8540 is not a CP932 character
    assert text is None and where == "3 バイト目: 0x85 0x40"
    assert in_jis_x_0213("\uff5e") and not in_jis_x_0213("\ue000")


def test_every_problem_of_the_table_is_reported_at_once() -> None:
    broken = """旧コード,文字,MJ文字図形名
U+E000,
U+E001,U+E010
U+E002,辺,MJ12
U+E000,辺
U+E003,辺
U+E003,邊
0x8540,辺
E0GG,辺
"""
    found, problems = GaijiTable.parse(broken, "gaiji.csv")
    assert [(d.code, d.span.line) for d in problems] == [
        ("MIG102", 2), ("MIG103", 3), ("MIG104", 4), ("MIG105", 7), ("MIG106", 8), ("MIG106", 9)]
    assert "0x85 0x40" in problems[4].message
    assert set(found.entries) == {"\ue000", "\ue003"}
    assert GaijiTable.parse("U+E000,辺\n")[1][0].code == "MIG101"


@given(st.text(alphabet=st.sampled_from("山田太郎かなカナｶﾅ \uff5e〜\u3000\ufa10\ufa19辺\ue000\ue005\U000e0100髙𠮷\u309a\n"),
               max_size=30))
@settings(max_examples=200, deadline=None)
def test_nothing_but_table_sources_ever_changes(text: str) -> None:
    empty = GaijiTable()
    done = empty.convert(text)
    assert done.text == text and done.mapped == ()
    private = {i + 1 for i, c in enumerate(text) if 0xE000 <= ord(c) <= 0xF8FF}
    assert private <= {f.position for f in done.findings if f.kind == "gaiji"}  # every 外字 reported where it is
    mapped = table().convert(text)
    assert mapped.text.replace(BEN_IVS, "\ue000") == text.replace(BEN_IVS, "\ue000")
