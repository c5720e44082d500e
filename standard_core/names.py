"""Personal names (氏名): stored byte-exact, checked for characters that cannot be kept, searched by a key.

A name is stored exactly as given. No Unicode normalisation is applied to it: NFC alone turns some CJK
compatibility ideographs into a different unified ideograph (U+F929 朗 → U+6717 朗), and a careless
pipeline drops an ideographic variation selector (葛 + U+E0100), which changes the registered 字形. Both are
changes to a person's legal name (住民基本台帳法7条1号).

Matching is done on a separate search key (`search_key`), never on the stored name. What it folds is
listed in SEARCH_KEY_FOLDS and in docs/data-dictionary.md; the fold is lossy by design (髙橋 and 高橋 get
the same key), so a search returns candidates for a clerk to confirm, not an identity.
"""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources

import jaconv

from standard_core.diagnostics import Diagnostic, Span, error, warning

CHARACTER_STANDARD = "「地方公共団体情報システムデータ要件・連携要件標準仕様書」（文字要件: 行政事務標準文字）"
# Where the 外字 → 行政事務標準文字 mapping is documented (the table itself: standard_core/gaiji.py).
GAIJI_MAPPING = "docs/migration.md の「外字の対応表」"

# Old and variant forms (旧字・異体字) folded together in search keys. Two sources, joined into classes of characters
# that find each other (a character pair of either source puts both in one class):
# - joyokanji (pinned): the 旧字体 → 新字体 pairs of the 常用漢字表 (内閣告示, 2010; 359 pairs) and its common
#   variants of names (髙, 𠮷, 﨑 …);
# - NAME_VARIANTS: forms met in surnames that are not 旧字体 of the 常用漢字表 (嶋・嶌 → 島, 邉 → 辺, 槇 → 槙 …).
NAME_VARIANTS: tuple[tuple[str, str], ...] = (
    ("髙", "高"), ("﨑", "崎"), ("嵜", "崎"), ("濵", "浜"), ("濱", "浜"), ("邉", "辺"), ("邊", "辺"), ("齋", "斎"),
    ("齊", "斎"), ("齊", "斉"), ("德", "徳"), ("澤", "沢"), ("櫻", "桜"), ("廣", "広"), ("國", "国"), ("嶋", "島"),
    ("嶌", "島"), ("冨", "富"), ("槗", "橋"), ("桒", "桑"), ("瀨", "瀬"), ("眞", "真"), ("來", "来"), ("龍", "竜"),
    ("篭", "籠"), ("惠", "恵"), ("槇", "槙"), ("曻", "昇"), ("彌", "弥"), ("藏", "蔵"), ("榮", "栄"), ("淺", "浅"),
    ("增", "増"), ("栁", "柳"), ("舘", "館"), ("恆", "恒"), ("條", "条"), ("實", "実"), ("壽", "寿"), ("禮", "礼"),
    ("蘆", "芦"), ("萬", "万"), ("滿", "満"), ("淵", "渕"),
)


def _variant_classes() -> dict[str, str]:
    """character → the one its class folds to: union of the pairs of both sources; the class's character is a
    target of NAME_VARIANTS if it has one, else a 新字体 of the 常用漢字表, else the lowest code point."""
    pairs: list[tuple[str, str]] = []
    for name in ("kanji.json", "variants.json"):
        data = json.loads((resources.files("joyokanji") / "config" / name).read_text(encoding="utf-8"))
        pairs += [(k, v) for k, v in data.items() if len(k) == 1 and len(v) == 1 and k != v
                  and unicodedata.normalize("NFKC", k) == k]  # NFKC runs first: compatibility forms never reach here
    pairs += NAME_VARIANTS
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.setdefault(c, c) != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for a, b in pairs:
        parent[find(a)] = find(b)
    ours, targets = {b for _, b in NAME_VARIANTS}, {b for _, b in pairs}
    members: dict[str, list[str]] = {}
    for c in list(parent):
        members.setdefault(find(c), []).append(c)
    folded: dict[str, str] = {}
    for group in members.values():
        canonical = min(group, key=lambda c: (c not in ours, c not in targets, ord(c)))
        folded.update({c: canonical for c in group if c != canonical})
    return folded


KANJI_VARIANTS: dict[str, str] = _variant_classes()
_SMALL_KANA = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_VARIANTS = str.maketrans(KANJI_VARIANTS)
_SEPARATORS = re.compile(r"[\s・]+")

SEARCH_KEY_FOLDS: tuple[str, ...] = (
    "異体字セレクタ（U+FE00〜U+FE0F、U+E0100〜U+E01EF）を取り除く",
    "Unicode NFKC で正規化する（全角英数字 → 半角、半角カナ → 全角カナ（濁点・半濁点は結合）、"
    "互換漢字 → 統合漢字、全角空白 → 半角空白）",
    "ラテン文字の大文字・小文字を区別しない（casefold）",
    "ひらがなをカタカナにする（ゝゞ → ヽヾ を含む）",
    "小書きのカナを並字にする（ァィゥェォッャュョヮヵヶ → アイウエオツヤユヨワカケ）",
    f"旧字・異体字の {len(KANJI_VARIANTS)} 字を通用字にする（常用漢字表の旧字体 → 新字体と、人名によくある異体字。"
    "髙 → 高、﨑 → 崎、邉 → 辺、國 → 国 など。出典は下記）",
    "空白（全角・半角・タブ）と中黒「・」を取り除き、もう一度 NFKC で結合する（カ゛ → ガ）",
)


def is_variation_selector(ch: str) -> bool:
    """Standardized (U+FE00–FE0F) or ideographic (U+E0100–E01EF) variation selector."""
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def search_key(name: str) -> str:
    """The key names are matched on; the stored name is never changed. Folds, in order: SEARCH_KEY_FOLDS.

    >>> search_key("髙橋　ﾀﾛｳ") == search_key("高橋タロウ")
    True
    >>> search_key("葛\U000e0100城") == search_key("葛城")
    True
    >>> search_key("きょうこ"), search_key("Smith ジョン・")
    ('キヨウコ', 'smithジヨン')
    """
    text = "".join(ch for ch in name if not is_variation_selector(ch))
    text = unicodedata.normalize("NFKC", text).casefold()
    text = jaconv.hira2kata(text).translate(_SMALL_KANA).translate(_VARIANTS)
    # Removing a space can join a base and a combining mark (カ゛ is カ, space, U+3099 after NFKC):
    # compose once more so that the key of a key is the key itself.
    return unicodedata.normalize("NFKC", _SEPARATORS.sub("", text))


def character_count(text: str) -> int:
    """Characters as a clerk counts them: a variation selector belongs to the character before it.

    >>> character_count("葛\U000e0100城"), len("葛\U000e0100城")
    (2, 3)
    """
    return sum(1 for ch in text if not is_variation_selector(ch))


def validate_name(name: str, where: str = "氏名", label: str = "氏名") -> list[Diagnostic]:
    """Diagnostics for characters a name cannot be stored with; [] when it can be stored as given.

    `where` is the span's file part (the field or item id); the column is the offending code point
    (1-based). Errors: control characters (STD381), unpaired surrogates (STD382), private-use characters,
    i.e. 外字 (STD383), invisible format characters (STD384). A variation selector that follows no
    character gets a warning (STD385). The name itself is never changed.

    >>> [d.code for d in validate_name("山田\\t太郎")]
    ['STD381']
    >>> validate_name("葛\U000e0100城")
    []
    """
    found: list[Diagnostic] = []
    previous = ""
    for column, ch in enumerate(name, start=1):
        category = unicodedata.category(ch)
        span = Span(where, 1, column)
        position = f"{label}の{column}文字目（U+{ord(ch):04X}）"
        if category == "Cc":
            found.append(error("STD381", f"{position}は制御文字（改行・タブなど）です。",
                               span, "コピー元の改行やタブを削除して入力し直してください。", CHARACTER_STANDARD))
        elif category == "Cs":
            found.append(error("STD382", f"{position}は対になっていないサロゲートで、文字として読めません。",
                               span, "文字化けしたデータです。元の資料（届出書・住民票）を見て入力し直してください。",
                               CHARACTER_STANDARD))
        elif category == "Co":
            found.append(error(
                "STD383", f"{position}は私用領域の文字（外字）です。外字は団体ごとに意味が違い、そのままでは保存・連携できません。",
                span, f"外字の対応表（{GAIJI_MAPPING}）で行政事務標準文字（文字情報基盤 MJ）の文字に置き換えて"
                "入力してください。対応する文字がないときは、外字の担当者に登録を依頼してください。",
                CHARACTER_STANDARD))
        elif category == "Cf":
            found.append(error("STD384", f"{position}は見えない書式文字（ゼロ幅空白・方向制御など）です。",
                               span, "画面では見えない文字です。その位置の文字を削除して入力し直してください。",
                               CHARACTER_STANDARD))
        elif is_variation_selector(ch) and (not previous or is_variation_selector(previous)
                                            or previous.isspace()):
            found.append(warning("STD385", f"{position}は異体字セレクタですが、前に対象の文字がありません。",
                                 span, "異体字セレクタは漢字の直後にだけ置けます。前の漢字が欠けていないか確かめてください。",
                                 CHARACTER_STANDARD))
        previous = ch
    return found
