"""Residents (engine/residents.py): names kept byte for byte (異体字 and variation selectors included), found
however they are typed — hiragana or katakana, full or half width, 異体字 or the usual form; CSV import all or
nothing with the line of each problem; another municipality's residents are not found."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import Resident
from engine.residents import import_csv, search, search_key
from engine.tenancy import scope
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import environment
from tests.test_engine_cli import jichi

CSV = Path(__file__).parent / "fixtures" / "residents" / "kawasaki.csv"
A, B = "141305", "272078"
WATANABE_IVS = "渡邉\U000e0102 次郎"  # 邉 with an Ideographic Variation Sequence selector, as typed in the CSV


@pytest.mark.parametrize(("typed", "stored"), [
    ("たかはし", "タカハシ イチロウ"), ("高橋", "髙橋 一郎"), ("ﾀｶﾊｼ", "タカハシ"), ("山崎", "山﨑 花子"),
    ("わたなべ じろう", "ワタナベ ジロウ"), ("渡辺", WATANABE_IVS), ("\uff33\uff21\uff29", "sai"), ("さいとう", "ｻｲﾄｳ ｻﾌﾞﾛｳ"),
])
def test_search_keys_fold_what_people_type(typed: str, stored: str) -> None:
    assert search_key(typed) in search_key(stored)


def test_import_keeps_names_exactly_and_search_finds_them(database_url: str) -> None:
    with environment(database_url) as env, env.session() as s:
        assert import_csv(s, A, CSV.read_text(encoding="utf-8"), CSV.name, "tester") == 4
        s.commit()
        names = set(s.scalars(select(Resident.name)))
        assert {"髙橋 一郎", "山﨑 花子", WATANABE_IVS} <= names  # byte for byte
        assert [f.name for f in search(s, "たかはし", [A])] == ["髙橋 一郎"]
        assert [f.name for f in search(s, "渡辺", [A])] == [WATANABE_IVS]
        assert [f.name_kana for f in search(s, "サイトウ", [A])] == ["サイトウ サブロウ"]  # kana stored NFKC
        assert search(s, "高橋", [B]) == [] and search(s, "  ", [A]) == [] and search(s, "%", [A]) == []
        scope(s, [B])  # a session scoped to another municipality finds nothing of A even when asked for A
        assert search(s, "高橋", [A]) == []


def test_a_bad_row_stops_the_whole_import(database_url: str) -> None:
    bad = "宛名番号,氏名,氏名カナ,生年月日,住所\n1,正しい 行,タダシイ ギョウ,2000-01-01,川崎市\nx2,誤り,ごかな,平成32年1月1日,川崎市\n"
    with environment(database_url) as env, env.session() as s:
        with pytest.raises(DiagnosticError) as caught:
            import_csv(s, A, bad, "bad.csv", "tester")
        found = [(d.code, d.span.line, d.message.split("「")[0].split("は")[0]) for d in caught.value.diagnostics]
        assert found == [("INP810", 3, "宛名番号"), ("INP810", 3, "氏名カナ"), ("INP810", 3, "生年月日")]  # all, at once
        s.rollback()
        assert s.scalars(select(Resident)).all() == []
        with pytest.raises(DiagnosticError):
            import_csv(s, A, "name,kana\n", "bad.csv", "tester")


def test_jichi_resident_import_and_search(database_url: str) -> None:
    jichi(database_url, "demo", "load")
    done = jichi(database_url, "resident", "import", str(CSV), "--municipality", A)
    assert "4 件" in done.stdout
    found = jichi(database_url, "resident", "search", "やまざき", "--municipality", A).stdout
    assert "山﨑 花子" in found and "1 件" in found
