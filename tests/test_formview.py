"""Forms generated from the data model and the municipality's variation (web/formview.py): widgets by type,
和暦 and full-width input normalised, typed text kept, inline errors per field, hostile posts bounded."""

from __future__ import annotations

from dsl.types import BOOL, DATE, INT, TEXT, EnumType, list_of, record
from engine.forms import Form, FormField
from web.formview import MAX_ROWS, posted_values, read_post, widgets

DOCUMENT = record("提示書類", {"種別": TEXT, "有効期限": DATE})
KIND = EnumType("enum", "請求者区分", ("本人", "代理人", "第三者"))
FORM = Form("Process_X", "UserTask_X", "受付", (
    FormField("受付日", DATE, "受付日", required=True),
    FormField("請求通数", INT, "請求通数（通）", required=True),
    FormField("郵送請求", BOOL, "郵送による請求"),
    FormField("区分", KIND, "請求者"),
    FormField("書類", list_of(DOCUMENT), "本人確認書類"),
    FormField("氏名カナ", TEXT, "氏名（カナ）"),
    FormField("独自.同時申請", BOOL, "同時に申請", local=True),
))


def test_wareki_full_width_and_typed_text() -> None:
    data, errors = read_post(FORM, {"受付日": "Ｒ８．４．１", "請求通数": "１,２００", "郵送請求": "false", "区分": "本人",
                                    "書類/0/種別": "運転免許証", "書類/0/有効期限": "令和12年1月1日",
                                    "氏名カナ": "ﾔﾏﾀﾞ ﾊﾅｺ", "独自.同時申請": "true"})
    assert errors == {}
    assert data == {"受付日": "2026-04-01", "請求通数": 1200, "郵送請求": False, "区分": "本人",
                    "書類": [{"種別": "運転免許証", "有効期限": "2030-01-01"}], "氏名カナ": "ﾔﾏﾀﾞ ﾊﾅｺ",
                    "独自": {"同時申請": True}}


def test_each_field_gets_its_own_message() -> None:
    _, errors = read_post(FORM, {"受付日": "令和8年2月30日", "請求通数": "たくさん", "区分": "その他",
                                    "書類/0/有効期限": "きのう"})
    assert set(errors) == {"受付日", "請求通数", "区分", "書類/0/有効期限"}
    assert "存在しない日付" in errors["受付日"] and "数字" in errors["請求通数"]
    _, missing = read_post(FORM, {})
    assert missing == {"受付日": "「受付日」は必須の項目です", "請求通数": "「請求通数（通）」は必須の項目です"}


def test_a_hostile_post_is_bounded_and_unknown_names_are_ignored() -> None:
    posted = {f"書類/{i}/種別": "x" for i in range(MAX_ROWS + 100)}
    posted.update({"受付日": "2026-04-01", "請求通数": "1", "__class__": "x", "a/b/c/d/e/f/g/h": "deep",
                   "請求通数/0": "nested"})
    data, errors = read_post(FORM, posted)
    assert errors == {} and len(data["書類"]) == MAX_ROWS and "__class__" not in data


def test_widgets_follow_the_form_and_show_dates_in_wareki() -> None:
    shown = widgets(FORM, {"受付日": "2026-04-01", "書類": [{"種別": "旅券"}], "独自": {"同時申請": True}})
    assert [w.kind for w in shown] == ["date", "number", "bool", "enum", "list", "text", "bool"]
    assert shown[0].value == "令和8年4月1日" and shown[0].required
    documents = shown[4]
    assert [c.path for c in documents.children[0].children] == ["書類/0/有効期限", "書類/0/種別"]
    assert documents.item is not None and documents.item.path == "書類/1"
    assert shown[6].path == "独自.同時申請" and shown[6].value == "true"
    assert shown[0].id.startswith("f-") and all(c.isascii() for c in shown[0].id)


def test_what_was_typed_is_shown_again_with_the_errors() -> None:
    posted = {"受付日": "R8.2.30", "書類/0/種別": "旅券", "独自.同時申請": "true"}
    again = widgets(FORM, posted_values(FORM, posted), {"受付日": "…"})
    assert again[0].value == "R8.2.30" and again[0].error == "…"
    assert again[4].children[0].children[1].value == "旅券" and again[6].value == "true"
