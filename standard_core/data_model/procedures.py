"""Items of the three core procedures: 児童手当 認定請求, 住民票の写し等交付請求 and 転入届.

Only what the request or notification itself carries is here; what the rules compute from it (eligibility,
amounts, 本人確認 categories, due dates) lives in standard_core/rules/. The A/B classes of 本人確認書類 in
particular are a rule, not a property of the code list, so a pack can add a narrow exception to it.
"""

from __future__ import annotations

from standard_core.data_model.common import ADDRESS, DATA_SPEC, JUKI, JUKI_SPEC, PERSON
from standard_core.data_model.schema import CodeList, coded, entity, item, record

JIDO = "児童手当法"
JIDO_SPEC = "「児童手当システム標準仕様書」（こども家庭庁）"
FEE = "地方自治法227条・228条1項、各団体の手数料条例"

# --- code lists -------------------------------------------------------------------------------------------
EVENT_KIND = CodeList(
    "jido_teate_event", "十五日特例の事由", "15日特例の事由", ("出生", "転入", "特例なし"), f"{JIDO}8条3項",
    "出生・転入の日の翌日から15日以内の請求は、異動の月に請求したものとみなす。",
)
REQUESTER_KIND = CodeList(
    "requester_kind", "請求者の種類", "請求者区分", ("本人", "同一世帯員", "代理人", "第三者"),
    f"{JUKI}12条1項（本人等の請求）・12条の3（本人等以外の者の申出）",
    "同一世帯員は本人と同じ扱い（本人等）。代理人は委任状、第三者は正当な理由が要る。",
)
REQUEST_METHOD = CodeList(
    "request_method", "請求方法の種類", "請求方法", ("窓口", "郵送"), f"{JUKI}12条",
    "郵送では、写しは住民票の住所にだけ返送する。",
)
DOCUMENT_KIND = CodeList(
    "identity_document_kind", "本人確認書類の種類", "本人確認書類の種類",
    ("マイナンバーカード", "運転免許証", "運転経歴証明書", "旅券", "在留カード", "特別永住者証明書",
     "身体障害者手帳", "精神障害者保健福祉手帳", "療育手帳",
     "健康保険資格確認書", "健康保険被保険者証", "年金手帳", "年金証書", "介護保険被保険者証",
     "学生証", "社員証", "キャッシュカード", "診察券"),
    f"{JUKI}12条3項（総務省令で定める方法による本人確認）",
    "1点で足りる書類か、2点（A+A・A+B、B+B は不可）が要るかは標準の規則が決める。",
)
CERTIFICATE_KIND = CodeList(
    "move_out_certificate", "転出証明の種類", "転出の証明", ("転出証明書", "特例転入"),
    f"{JUKI}22条2項（転出証明書の添付）・24条の2（マイナンバーカードによる転入届の特例）",
)

# --- 児童手当 認定請求 -----------------------------------------------------------------------------------
JIDO_TEATE_CHILD = entity(
    "jido_teate_child", "児童情報", "児童（認定請求の対象の子）", "児童手当", f"{JIDO}3条・4条・6条",
    (
        item("atena_number", "宛名番号", "文字列", f"{DATA_SPEC}（宛名番号）",
             pattern="[0-9]{1,15}", description="住登外の子は住登外者の宛名番号。"),
        item("name", "氏名", "文字列", f"{JIDO}7条1項（認定請求書の記載事項）", required=True,
             max_length=100, personal_name=True),
        item("birth_date", "生年月日", "日付", f"{JIDO}3条1項（18歳に達する日以後の最初の3月31日）",
             required=True),
        item("kango", "監護", "真偽", f"{JIDO}4条1項", label="請求者が監護している", required=True),
        item("seikei_doitsu", "生計同一", "真偽", f"{JIDO}4条1項", label="請求者と生計を同じくする",
             required=True),
        item("seikeihi_futan", "生計費負担", "真偽", f"{JIDO}6条（22歳年度末までの子の算定）、同法施行規則（確認書）",
             label="請求者が生計費を負担している（19〜22歳年代の子）",
             description="大学生年代の子を多子の数に入れるのは、監護相当・生計費の負担があるときだけ。"),
    ),
    "請求者が監護する子と、多子の数に入る22歳年度末までの子。",
)

JIDO_TEATE_CLAIM = entity(
    "jido_teate_claim", "児童手当認定請求", "児童手当 認定請求", "児童手当", f"{JIDO}7条、{JIDO_SPEC}",
    (
        item("claimed_on", "認定請求日", "日付", f"{JIDO}7条1項・8条2項", label="認定請求日", required=True,
             description="支給は認定請求日の属する月の翌月から。"),
        record("claimant", "請求者", PERSON, f"{JIDO}4条1項・7条1項", required=True),
        item("civil_servant", "請求者が公務員", "真偽", f"{JIDO}17条1項", label="請求者が公務員である",
             required=True, description="公務員には所属庁が支給するため、市区町村では受け付けない。"),
        record("children", "児童", JIDO_TEATE_CHILD, f"{JIDO}4条・6条", many=True, required=True,
               label="監護・生計費を負担する子（22歳年度末まで）"),
        coded("event_kind", "特例の事由", EVENT_KIND, f"{JIDO}8条3項", label="15日特例の事由"),
        item("birth_event_date", "出生日", "日付", f"{JIDO}8条3項", label="出生日（事由が出生のとき）"),
        item("planned_move_out_on", "転出予定日", "日付", f"{JIDO}8条3項",
             label="前住所地の転出予定日（事由が転入のとき）", description="転入届の日ではない。"),
    ),
)

# --- 住民票の写し等交付請求 -------------------------------------------------------------------------------
IDENTITY_DOCUMENT = entity(
    "identity_document", "本人確認書類情報", "本人確認書類", "住民記録", f"{JUKI}12条3項",
    (
        coded("kind", "種別", DOCUMENT_KIND, f"{JUKI}12条3項", label="書類の種類", required=True),
        item("expires_on", "有効期限", "日付", f"{JUKI}12条3項", description="期限のある書類だけ。期限切れは使えない。"),
        item("copy", "写し", "真偽", "各団体の郵送請求の取扱い", label="写しである（郵送で同封されたもの）"),
    ),
)

JUMINHYO_REQUEST = entity(
    "juminhyo_request", "住民票交付請求", "住民票の写し等交付請求", "住民記録",
    f"{JUKI}12条・12条の3、{JUKI_SPEC}",
    (
        coded("requester_kind", "請求者区分", REQUESTER_KIND, f"{JUKI}12条1項・12条の3", required=True),
        coded("method", "請求方法", REQUEST_METHOD, f"{JUKI}12条", required=True),
        item("requester_name", "請求者氏名", "文字列", f"{JUKI}12条2項（請求者の氏名・住所を明らかにする）",
             label="請求者の氏名", required=True, max_length=100, personal_name=True),
        record("requester_address", "請求者住所", ADDRESS, f"{JUKI}12条2項", label="請求者の住所"),
        item("subject_atena_number", "対象者の宛名番号", "文字列", f"{JUKI}12条1項",
             label="写しを請求される人", required=True, pattern="[0-9]{1,15}"),
        item("copies", "請求通数", "整数", FEE, label="請求通数（通）", required=True),
        item("whole_household", "世帯全員", "真偽", f"{JUKI}12条1項", label="世帯全員の写し"),
        item("with_honseki", "本籍の記載", "真偽", f"{JUKI}12条（本籍・続柄等を省略しない特別の請求）",
             label="本籍・筆頭者を記載する"),
        item("with_relationship", "続柄の記載", "真偽", f"{JUKI}12条（本籍・続柄等を省略しない特別の請求）",
             label="世帯主・続柄を記載する"),
        item("with_individual_number", "個人番号の記載", "真偽", f"{JUKI}12条（本籍・続柄等を省略しない特別の請求）",
             label="個人番号を記載する", description="本人・同一世帯員の請求に限る。"),
        record("documents", "本人確認書類", IDENTITY_DOCUMENT, f"{JUKI}12条3項", many=True, required=True),
        item("power_of_attorney", "委任状あり", "真偽", f"{JUKI}12条3項（請求の任に当たる者の権限の確認）",
             label="委任状がある（代理人のとき）"),
        item("legitimate_reason", "正当な理由", "文字列", f"{JUKI}12条の3第1項", max_length=1000,
             label="利用目的・正当な理由（第三者のとき）"),
        record("return_address", "返送先", ADDRESS, "各団体の郵送請求の取扱い（宝塚市・南砺市など）",
               label="返送先（郵送のとき。住民票の住所に限る）"),
        item("fee", "手数料", "金額", FEE, description="1通あたりの額は各団体の手数料条例が定める（開放パラメータ）。"),
    ),
)

# --- 転入届 -----------------------------------------------------------------------------------------------
TENNYU = entity(
    "tennyu", "転入届", "転入届", "住民記録", f"{JUKI}22条、{JUKI_SPEC}",
    (
        item("notified_on", "届出日", "日付", f"{JUKI}22条1項", required=True),
        item("moved_in_on", "転入日", "日付", f"{JUKI}22条1項3号", label="転入した日（住所を定めた日）",
             required=True, description="届出の期限は転入した日から14日（初日不算入、閉庁日なら翌開庁日）。"),
        record("new_address", "新住所", ADDRESS, f"{JUKI}22条1項2号", label="住所", required=True),
        record("previous_address", "前住所", ADDRESS, f"{JUKI}22条1項4号", label="従前の住所", required=True),
        item("planned_move_out_on", "転出予定日", "日付", f"{JUKI}24条（転出の予定年月日）",
             description="転出証明書（特例転入では転出届）に記載された日。児童手当の15日特例の起点。"),
        coded("certificate", "転出証明", CERTIFICATE_KIND, f"{JUKI}22条2項・24条の2", required=True),
        item("notifier_name", "届出人氏名", "文字列", f"{JUKI}22条1項・26条（世帯主による届出）",
             label="届出人の氏名", required=True, max_length=100, personal_name=True),
        record("movers", "異動者", PERSON, f"{JUKI}22条1項1号・5号", label="転入する人（世帯員を含む）",
               many=True, required=True),
    ),
)

CODE_LISTS: tuple[CodeList, ...] = (EVENT_KIND, REQUESTER_KIND, REQUEST_METHOD, DOCUMENT_KIND, CERTIFICATE_KIND)
ENTITIES = (JIDO_TEATE_CLAIM, JIDO_TEATE_CHILD, JUMINHYO_REQUEST, IDENTITY_DOCUMENT, TENNYU)
