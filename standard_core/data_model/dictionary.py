"""docs/data-dictionary.md, rendered from the model. Never edited by hand: the model is the source."""

from __future__ import annotations

from collections.abc import Sequence

from standard_core.data_model.schema import CodeList, Entity, Item
from standard_core.names import CHARACTER_STANDARD, KANJI_VARIANTS, NAME_VARIANTS, SEARCH_KEY_FOLDS

REGENERATE = "jichi schema --markdown > docs/data-dictionary.md"


def constraints_text(target: Item, markdown: bool = False) -> str:
    """The constraints of an item in one short Japanese phrase ('' when it has none).

    With `markdown`, the pattern is written as code so that `_` and `*` are not read as emphasis.
    """
    parts: list[str] = []
    if target.max_length is not None:
        parts.append(f"最大{target.max_length}文字")
    if target.pattern is not None:
        parts.append(f"形式 `{target.pattern}`" if markdown else f"形式 {target.pattern}")
    if target.code_list is not None:
        parts.append(f"コード表 {target.type}")
    if target.many:
        parts.append("複数")
    if target.personal_name:
        parts.append("入力どおりに保存（正規化しない）、検索はキーで")
    if target.restricted:
        parts.append("特定個人情報（必要な役割にだけ表示、ほかは伏せ字、ログに残さない）")
    return "、".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(entities: Sequence[Entity], code_lists: Sequence[CodeList]) -> str:
    """The Markdown data dictionary: reading guide, name handling, 外字, every entity, every code list."""
    out: list[str] = [
        "# 標準データ辞書",
        "",
        "<!-- 生成物です。直接編集しないでください。 -->",
        "",
        "jichi の標準データモデル（`standard_core/data_model/`）から生成した一覧です。直接編集せず、モデルを直してから",
        f"`{REGENERATE}` で作り直してください（`tests/test_data_model.py` が、このファイルとモデルの違いを検出します）。",
        "同じ内容は `jichi schema`（表）と `jichi schema --json`（すべての項目）でも見られます。",
        "",
        "## 読み方",
        "",
        "- **ID**: 半角英小文字の変わらない識別子（`person.birth_date`）。保存データ・パック・API は項目を ID で指します。",
        "- **DSL 名**: 規則と BPMN が項目を書く名前（`生年月日`）。ID と一対一に固定され、ID と同じく変わりません。"
        "レコードの項目は `請求者.生年月日` のように読みます。",
        "- **表示名**: 画面・帳票に出す名前。表示のためだけのもので、様式が表示名を変えても規則は壊れません。",
        "- **型**: DSL の型名（文字列・日付・整数・金額・真偽 …）、コード表（列挙）の名前、またはレコード（別の表の DSL 名。"
        "「…の一覧」は複数）。",
        "- **制約**: 必須、最大文字数、形式（値の全体が一致すべき正規表現）、コード表。最大文字数は標準仕様書の桁数では"
        "なく jichi の保存上の上限で、異体字セレクタは前の字と合わせて1字と数えます。",
        "- **根拠**: その項目を定める法令の条項、または標準仕様書。",
        "",
        "## 氏名の扱い",
        "",
        "氏名などの名前（制約に「入力どおりに保存」とある項目）は、入力されたバイト列のまま保存します。Unicode の正規化"
        "（NFC・NFKC）はしません。NFC だけでも互換漢字が別の字に変わり（U+F929 → U+6717）、異体字セレクタ"
        "（葛 + U+E0100）を落とす処理は登録された字形を変えてしまうからです。",
        "",
        "検索には、保存した名前から別に作る検索キー（`standard_core.names.search_key`）を使います。検索キーは次の順に"
        "寄せます。寄せは意図して粗く、検索結果は候補です（同一人かどうかは職員が確かめます）。",
        "",
    ]
    out += [f"{n}. {fold}" for n, fold in enumerate(SEARCH_KEY_FOLDS, start=1)]
    out += [
        "",
        f"寄せる旧字・異体字（{len(KANJI_VARIANTS)} 字）: 常用漢字表（平成22年内閣告示第2号）の旧字体と新字体の組"
        "（鹽 → 塩、國 → 国 など。ライブラリ joyokanji 1.1.0 の表）と、人名によくある異体字（"
        + "、".join(f"{old} → {new}" for old, new in NAME_VARIANTS) + "）。組でつながる字はすべて同じ字に寄せます"
        "（齋・齊・斎・斉 はどれでも同じ検索キー）。",
        "",
        "濁点・半濁点（ガ と カ）、長音「ー」、ヴ と ブ は寄せません。",
        "",
        "名前を保存する前に `validate_name` が次の文字を診断します（位置は文字の番号）: 制御文字（STD381）、"
        "対になっていないサロゲート（STD382）、私用領域の文字＝外字（STD383）、見えない書式文字（STD384）、"
        "前に字のない異体字セレクタ（STD385、警告）。",
        "",
        "## 外字",
        "",
        "私用領域（U+E000〜U+F8FF、U+F0000〜U+10FFFF）の文字は、団体ごとに別の字を割り当てた外字です。"
        f"標準準拠システムは行政事務標準文字で連携するため（{CHARACTER_STANDARD}）、外字はそのままでは保存しません"
        "（STD383）。",
        "団体の外字を行政事務標準文字（文字情報基盤 MJ）に対応づける**外字の対応表**と、その読み方・変換の決まり"
        "（対応のない外字と宣言した範囲の外の文字は、置き換えずに位置とコードを報告する）は [migration.md](migration.md)"
        " にあります。画面で入力するときは、外字を含む名前は対応する標準の文字に置き換えて入力してください。",
        "",
        "## 一覧",
        "",
        "| ID | DSL 名 | 表示名 | 分野 | 項目数 |",
        "|---|---|---|---|---|",
    ]
    out += [f"| `{e.id}` | {e.name} | {e.label} | {e.group} | {len(e.items)} |" for e in entities]
    for e in entities:
        out += [
            "",
            f"## {e.label}（`{e.id}`）",
            "",
            f"DSL 名: `{e.name}`　分野: {e.group}　根拠: {e.reference}",
            "",
        ]
        if e.description:
            out += [e.description, ""]
        out += [
            "| ID | DSL 名 | 表示名 | 型 | 必須 | 制約 | 根拠 | 説明 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for i in e.items:
            out.append(
                f"| `{i.id}` | {i.name} | {_cell(i.label)} | {i.type} | {'必須' if i.required else ''} "
                f"| {_cell(constraints_text(i, markdown=True))} | {_cell(i.reference)} | {_cell(i.description)} |"
            )
    out += ["", "## コード表", "", "| ID | DSL 名（列挙） | 表示名 | 値 | 根拠 | 説明 |", "|---|---|---|---|---|---|"]
    out += [
        f"| `{c.id}` | {c.name} | {_cell(c.label)} | {'、'.join(c.values)} | {_cell(c.reference)} | {_cell(c.description)} |"
        for c in code_lists
    ]
    return "\n".join(out) + "\n"
