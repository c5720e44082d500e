"""Items shared by every procedure: persons (宛名), addresses, households and cases.

References name the article of law that makes an item part of the record (住民基本台帳法7条 lists what a
住民票 records) or the standard specification that defines it. Maximum lengths are jichi's storage limits,
not digit counts of a specification; fixed formats that a law or a national code fixes are patterns.
"""

from __future__ import annotations

from standard_core.data_model.schema import CodeList, Entity, coded, entity, item, record

JUKI = "住民基本台帳法"
JUKI_SPEC = "「住民記録システム標準仕様書」（総務省）"
DATA_SPEC = "「地方公共団体情報システムデータ要件・連携要件標準仕様書」"
MUNICIPALITY_CODE = "全国地方公共団体コード（総務省。JIS X 0401・X 0402、5桁＋検査数字）"

# --- code lists -------------------------------------------------------------------------------------------
SEX = CodeList(
    "sex", "男女の別", "男女の別", ("男", "女"), f"{JUKI}7条3号",
    "住民票に記載する男女の別。",
)
RELATIONSHIP = CodeList(
    "relationship", "続柄区分", "世帯主との続柄",
    ("世帯主", "妻", "夫", "未届の妻", "未届の夫", "子", "妻の子", "夫の子", "子の妻", "子の夫",
     "父", "母", "妻の父", "妻の母", "夫の父", "夫の母", "孫", "祖父", "祖母",
     "兄", "姉", "弟", "妹", "縁故者", "同居人"),
    f"{JUKI}7条4号、「住民基本台帳事務処理要領」（続柄の記載）",
    "世帯主との続柄。嫡出子・養子の別なく「子」と記載する（事務処理要領）。",
)

# --- entities ---------------------------------------------------------------------------------------------
ADDRESS = entity(
    "address", "住所情報", "住所", "共通", f"{JUKI}7条7号、{DATA_SPEC}（住所）",
    (
        item("municipality_code", "団体コード", "文字列", MUNICIPALITY_CODE, label="市区町村の団体コード",
             pattern="[0-9]{6}", description="住所のある市区町村。国外の住所では空。"),
        item("postal_code", "郵便番号", "文字列", f"{DATA_SPEC}（郵便番号）", pattern="[0-9]{7}",
             description="ハイフンなしの半角数字7桁。"),
        item("text", "所在地", "文字列", f"{JUKI}7条7号", label="住所（都道府県から番地まで）",
             required=True, max_length=200, description="国外の住所は国名から書く。"),
        item("katagaki", "方書", "文字列", f"{DATA_SPEC}（方書）", label="方書（建物名・部屋番号）",
             max_length=100),
    ),
    "住民票の住所。前住所・返送先など、住所を表すすべての項目がこの形を使う。",
)

PERSON = entity(
    "person", "個人", "個人（宛名）", "共通", f"{JUKI}7条、{DATA_SPEC}（宛名）",
    (
        item("atena_number", "宛名番号", "文字列", f"{DATA_SPEC}（宛名番号）", required=True,
             pattern="[0-9]{1,15}", description="団体の中で個人を一意に識別する番号（半角数字）。"),
        item("resident_code", "住民票コード", "文字列", f"{JUKI}7条13号", pattern="[0-9]{11}",
             description="半角数字11桁。"),
        item("individual_number", "個人番号", "文字列", "番号法2条5項、" + f"{JUKI}7条8号の2",
             pattern="[0-9]{12}", description="半角数字12桁。特定個人情報: 利用は番号法の事務に限る。",
             restricted=True),
        item("name", "氏名", "文字列", f"{JUKI}7条1号", required=True, max_length=100, personal_name=True,
             description="入力されたとおりに保存する（異体字セレクタを含め、正規化しない）。検索には検索キーを使う。"),
        item("name_kana", "氏名カナ", "文字列",
             f"{JUKI}7条1号（氏名の振り仮名。令和5年法律第48号による改正、令和7年5月26日施行）、{JUKI_SPEC}",
             label="氏名（カナ）", max_length=100, pattern="[ァ-ヺー 　]+",
             description="全角カタカナ。姓と名の間は空白。"),
        item("birth_date", "生年月日", "日付", f"{JUKI}7条2号", required=True),
        coded("sex", "性別", SEX, f"{JUKI}7条3号", label="男女の別"),
        item("household_number", "世帯番号", "文字列", JUKI_SPEC, pattern="[0-9]{1,15}"),
        coded("relationship", "続柄", RELATIONSHIP, f"{JUKI}7条4号", label="世帯主との続柄"),
        item("head_name", "世帯主の氏名", "文字列", f"{JUKI}7条4号", max_length=100, personal_name=True),
        item("honseki", "本籍", "文字列", f"{JUKI}7条5号", label="本籍（戸籍の表示）", max_length=200),
        item("resident_since", "住民となった日", "日付", f"{JUKI}7条6号", label="住民となった年月日"),
        record("address", "住所", ADDRESS, f"{JUKI}7条7号", required=True),
        item("address_since", "住所を定めた日", "日付", f"{JUKI}7条7号", label="住所を定めた年月日",
             description="転入では転入した日（転入日）、転居では転居した日。"),
        item("notified_on", "住所の届出日", "日付", f"{JUKI}7条8号", label="住所を定めた旨の届出の年月日"),
        record("previous_address", "従前の住所", ADDRESS, f"{JUKI}7条8号"),
    ),
    "住民・住登外者を問わず、宛名番号で識別される個人。",
)

HOUSEHOLD_MEMBER = entity(
    "household_member", "世帯員情報", "世帯員", "共通", f"{JUKI}6条・7条4号",
    (
        item("atena_number", "宛名番号", "文字列", f"{DATA_SPEC}（宛名番号）", required=True,
             pattern="[0-9]{1,15}"),
        coded("relationship", "続柄", RELATIONSHIP, f"{JUKI}7条4号", label="世帯主との続柄", required=True),
    ),
)

HOUSEHOLD = entity(
    "household", "世帯", "世帯", "共通", f"{JUKI}6条（住民票を世帯ごとに編成）、{JUKI_SPEC}",
    (
        item("household_number", "世帯番号", "文字列", JUKI_SPEC, required=True, pattern="[0-9]{1,15}"),
        item("head_atena_number", "世帯主の宛名番号", "文字列", f"{JUKI}7条4号", label="世帯主",
             required=True, pattern="[0-9]{1,15}"),
        record("members", "世帯員", HOUSEHOLD_MEMBER, f"{JUKI}6条", label="世帯員（世帯主を含む）",
               many=True, required=True),
    ),
)

CASE = entity(
    "case", "案件", "案件", "共通", DATA_SPEC,
    (
        item("receipt_number", "受付番号", "文字列", "jichi（団体の受付簿）", required=True, max_length=40,
             pattern="[0-9A-Za-z-]+", description="団体の中で一意。半角英数字とハイフン。"),
        item("procedure", "手続き", "文字列", "jichi（processes/ の BPMN プロセス id）", required=True,
             max_length=100, pattern="[A-Za-z_][A-Za-z0-9_]*", description="例: Process_Tennyu。"),
        item("received_on", "受付日", "日付", "行政手続法7条（申請の到達）", required=True),
        item("municipality_code", "団体コード", "文字列", MUNICIPALITY_CODE, required=True,
             pattern="[0-9]{6}", description="案件を受け付けた団体。6桁目は検査数字。"),
    ),
    "一つの申請・届出・請求の受付から完結まで。",
)

CODE_LISTS: tuple[CodeList, ...] = (SEX, RELATIONSHIP)
ENTITIES: tuple[Entity, ...] = (PERSON, ADDRESS, HOUSEHOLD, HOUSEHOLD_MEMBER, CASE)
