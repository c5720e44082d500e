"""Search keys tolerant of 異体字 (standard_core.names.search_key, issue 15): the 常用漢字表's 旧字体 → 新字体 pairs
(joyokanji) and common name variants fold together, kana of any width or kind match, the stored name never changes;
migration 0021 recomputes the stored keys, and a key of the previous folding refolds to the key of the name."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.db import alembic_config, make_engine, make_session_factory, upgrade
from engine.models import Resident
from standard_core.names import KANJI_VARIANTS, NAME_VARIANTS, search_key

# The folding of release 0.1.0 (engine/residents.py then), kept to prove that migration 0021 may refold old keys.
_OLD_VARIANTS = str.maketrans({
    "髙": "高", "﨑": "崎", "嵜": "崎", "邉": "辺", "邊": "辺", "澤": "沢", "齋": "斎", "齊": "斎", "濵": "浜",
    "濱": "浜", "德": "徳", "廣": "広", "國": "国", "櫻": "桜", "嶋": "島", "嶌": "島", "冨": "富", "眞": "真",
    "惠": "恵", "瀨": "瀬", "籠": "篭", "槇": "槙", "曻": "昇", "彌": "弥", "龍": "竜", "藏": "蔵", "榮": "栄",
    "淺": "浅", "增": "増", "桒": "桑", "栁": "柳", "舘": "館", "恆": "恒", "條": "条", "實": "実", "壽": "寿",
    "禮": "礼", "蘆": "芦", "萬": "万", "滿": "満", "淵": "渕",
})
_KATA_TO_HIRA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)} | {0x30FD: 0x309D, 0x30FE: 0x309E}


def old_key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", re.sub("[\ufe00-\ufe0f\U000e0100-\U000e01ef]", "", text))
    return re.sub(r"\s+", "", folded.translate(_KATA_TO_HIRA).translate(_OLD_VARIANTS).casefold())


def test_over_three_hundred_variants_from_the_joyo_kanji_table_and_names() -> None:
    assert len(KANJI_VARIANTS) >= 300
    assert search_key("鹽田") == search_key("塩田")  # 旧字体 of the 常用漢字表 (joyokanji)
    assert search_key("髙橋") == search_key("高橋") and search_key("𠮷田") == search_key("吉田")
    assert search_key("嶋田") == search_key("島田") == search_key("嶌田")  # NAME_VARIANTS
    assert search_key("齋藤") == search_key("齊藤") == search_key("斎藤") == search_key("斉藤")
    assert search_key("渡邉") == search_key("渡邊") == search_key("渡辺")
    assert search_key("ﾜﾀﾅﾍﾞ　ﾀﾛｳ") == search_key("わたなべ たろう") == search_key("ワタナベタロウ")
    assert search_key("葛\U000e0100城") == search_key("葛城") and search_key("塚\ufa10") == search_key("塚塚")
    assert search_key("佐藤") != search_key("加藤")  # folding is by variants, not by sound
    for old, new in NAME_VARIANTS:
        assert search_key(old) == search_key(new), (old, new)


_ALPHABET = "".join(sorted(set(KANJI_VARIANTS) | set(KANJI_VARIANTS.values())))[:400] + \
    "やまだヤマダｬﾏﾀﾞぁァゝヽゔヴ 　・ABcd\ufa10\U000e0100"


@given(st.text(alphabet=st.sampled_from(_ALPHABET), max_size=20))
@settings(max_examples=400, deadline=None)
def test_a_key_of_the_old_folding_refolds_to_the_key_of_the_name(text: str) -> None:
    assert search_key(old_key(text)) == search_key(text)
    assert search_key(search_key(text)) == search_key(text)  # a key is its own key


def test_migration_0021_recomputes_the_stored_keys(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    name, kana = "渡邉　鹽太郎", "ワタナベ エンタロウ"
    try:
        with sessions() as s:  # a resident as release 0.1.0 stored it: the old keys
            s.add(Resident(municipality_code="141305", atena_number="1", name=name, name_kana=kana,
                           birth_date=dt.date(1980, 4, 1), address="川崎市", name_key=old_key(name),
                           kana_key=old_key(kana), updated_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC)))
            s.commit()
        command.downgrade(alembic_config(database_url), "0020")
        upgrade(database_url)
        with sessions() as s:
            row = s.scalars(select(Resident)).one()
            assert (row.name, row.name_kana) == (name, kana)  # the name itself is never touched
            assert (row.name_key, row.kana_key) == (search_key("渡辺塩太郎"), search_key("わたなべえんたろう"))
            assert row.name_key != old_key(name)
    finally:
        engine.dispose()
