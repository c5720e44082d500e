"""A clerk's day in a real browser (chromium): sign in, the inbox, take a 住民票 request, fill its forms with 和暦
and full-width input, see inline errors (422) with the focus on the first one, complete, and read the case.
axe-core runs on each page and after each htmx swap; screenshots go to var/test-artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from engine.db import make_engine
from tests.browser.conftest import NANTO, sign_in


def test_a_clerk_takes_a_juminhyo_request(page: Any, live: Any, axe: Any, shot: Any) -> None:
    sign_in(page, live, "madoguchi")
    assert page.get_by_role("heading", name="受付箱").is_visible()
    axe(page, "inbox-empty")
    page.get_by_role("link", name="新しい受付").click()
    axe(page, "new-case")
    page.get_by_role("region", name=f"団体 {NANTO}").get_by_role("button", name="住民票の写し等交付請求を受け付ける").click()
    page.wait_for_url("**/tasks/*")
    assert page.get_by_role("heading", name="受付").is_visible()
    axe(page, "intake-form")

    # an impossible 和暦 date and a missing field: inline errors, swapped by htmx, focus on the first
    page.get_by_label("受付日").fill("令和8年2月30日")
    page.get_by_role("button", name="完了する").click()
    page.locator("#problems").wait_for()
    assert "存在しない日付" in page.locator("#problems").inner_text()
    assert page.evaluate("() => document.activeElement.name") == "受付日"
    assert page.get_by_label("受付日").get_attribute("aria-invalid") == "true"
    assert "必須" in page.locator("#problems").inner_text()
    axe(page, "intake-errors")
    shot(page, "intake-errors")

    page.get_by_label("受付日").fill("Ｒ８．４．１")  # full-width, as a Japanese IME types it
    page.get_by_label("請求者（本人・代理人・第三者）").fill("本人")
    page.get_by_role("group", name="郵送による請求").get_by_label("いいえ").check()
    page.get_by_label("請求通数（通）").fill("２")
    intake = page.url
    page.get_by_role("button", name="完了して次の手順へ").click()
    page.wait_for_url(lambda url: url != intake and "/tasks/" in url)
    assert page.get_by_role("heading", name="本人確認").is_visible()
    axe(page, "identity-form")

    # a list of records: add a row, fill it (和暦 again), complete
    page.get_by_role("button", name="提示された本人確認書類（種別・有効期限）を追加").click()
    page.get_by_label("種別").wait_for()
    page.get_by_label("種別").fill("マイナンバーカード")
    page.get_by_label("有効期限").fill("令和12年1月1日")
    shot(page, "identity-form")
    page.get_by_role("button", name="完了する").click()
    page.wait_for_url("**/cases/*")
    assert "「本人確認」を完了しました" in page.locator("main").inner_text()
    data = page.locator("table.data").inner_text()
    assert "令和8年4月1日" in data and "マイナンバーカード" in data
    # the fee decision of 南砺市's pack, with "なぜ？" opening its explanation and its sources
    decisions = page.locator("ul.decisions")
    assert "住民票の写しの手数料" in decisions.inner_text()
    fee = decisions.locator("li", has_text="住民票の写しの手数料")
    fee.get_by_text("なぜ？").click()
    why = fee.locator("pre.explain").inner_text()
    assert "住民票の写しの手数料単価" in why and "出典" in why, why  # the pack's parameter and its source
    # the diagram, with the current position marked; the timeline from the audit log
    page.locator('#diagram[data-ready="true"]').wait_for()
    assert page.locator("#diagram .jichi-current").count() >= 1
    assert page.locator("#diagram .bjs-powered-by").count() == 1  # bpmn.io's watermark stays
    timeline = page.locator("ol.timeline").inner_text()
    assert "受付（案件の開始）" in timeline and "完了: 本人確認" in timeline
    axe(page, "case")
    shot(page, "case")


def test_claim_and_release_from_the_inbox(page: Any, live: Any, axe: Any) -> None:
    sign_in(page, live, "madoguchi")
    for _ in range(2):
        page.goto(live.url("/cases/new"))
        page.get_by_role("region", name=f"団体 {NANTO}").get_by_role("button", name="住民票の写し等交付請求を受け付ける").click()
        page.wait_for_url("**/tasks/*")
    page.goto(live.url("/inbox"))
    tabs = page.get_by_role("navigation", name="一覧")
    assert tabs.get_by_role("link", name="自分の担当 2").is_visible()
    page.get_by_role("button", name="戻す: 受付").first.click()
    page.wait_for_load_state("networkidle")
    assert tabs.get_by_role("link", name="自分の担当 1").is_visible()
    assert tabs.get_by_role("link", name="共有の受付箱 1").is_visible()
    tabs.get_by_role("link", name="共有の受付箱 1").click()
    page.get_by_role("button", name="引き受ける: 受付").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("navigation", name="一覧").get_by_role("link", name="自分の担当 2").is_visible()
    # filters swap the list in place (htmx) and keep the URL
    page.get_by_label("期限").select_option("none")
    page.wait_for_url("**due=none*")
    axe(page, "inbox-filtered")


def test_tasks_of_one_step_completed_together(page: Any, live: Any, axe: Any, shot: Any) -> None:
    # 一括処理: tick two 受付 in the inbox, fill the step's form once, read each case's result
    sign_in(page, live, "madoguchi")
    for _ in range(2):
        page.goto(live.url("/cases/new"))
        page.get_by_role("region", name=f"団体 {NANTO}").get_by_role("button", name="住民票の写し等交付請求を受け付ける").click()
        page.wait_for_url("**/tasks/*")
    page.goto(live.url("/inbox"))
    boxes = page.get_by_role("checkbox", name="選ぶ: 受付（住民票の写し等交付請求）")
    assert boxes.count() == 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    axe(page, "inbox-chosen")
    page.get_by_role("button", name="選んだタスクをまとめて処理").click()
    page.wait_for_url("**/tasks/batch")
    assert page.get_by_role("heading", name="一括処理: 受付（2 件）").is_visible()
    axe(page, "batch-form")
    page.get_by_label("受付日").fill("令和8年4月1日")
    page.get_by_label("請求者（本人・代理人・第三者）").fill("本人")
    page.get_by_role("group", name="郵送による請求").get_by_label("いいえ").check()
    page.get_by_label("請求通数（通）").fill("1")
    page.get_by_role("button", name="2 件をまとめて完了する").click()
    page.get_by_role("heading", name="一括処理の結果: 受付").wait_for()
    assert "完了 2 件、受け付けられなかったもの 0 件" in page.locator("p.notice").inner_text()
    assert page.get_by_role("cell", name="完了（次: 本人確認）").count() == 2
    axe(page, "batch-results")
    shot(page, "batch-results")


def test_resident_search_as_you_type(page: Any, live: Any, axe: Any, shot: Any) -> None:
    sign_in(page, live, "madoguchi")
    page.get_by_role("link", name="住民の検索").click()
    page.get_by_label("氏名・カナの一部").type("たかはし", delay=30)  # hiragana for a name written 髙橋
    page.locator("#results td.name").first.wait_for()
    assert page.locator("#results td.name").all_inner_texts() == ["髙橋 一郎"]
    assert "q=" in page.url  # the search is in the address, so 戻る and reload keep it
    page.get_by_label("氏名・カナの一部").fill("渡辺")
    page.get_by_role("button", name="探す").click()
    page.wait_for_function("() => document.querySelector('#results td.name')?.textContent.startsWith('渡邉')")
    axe(page, "residents")
    shot(page, "residents")


def test_a_draft_survives_an_expired_session(page: Any, live: Any, console: Any) -> None:
    console.expected += ["status of 403", "Response Status Error Code 403"]  # the refused post, on purpose
    sign_in(page, live, "madoguchi")
    page.goto(live.url("/cases/new"))
    page.get_by_role("region", name=f"団体 {NANTO}").get_by_role("button", name="住民票の写し等交付請求を受け付ける").click()
    page.wait_for_url("**/tasks/*")
    form = page.url
    page.get_by_label("受付日").fill("令和8年4月1日")
    page.get_by_label("請求通数（通）").fill("3")
    # the session ends on the server (idle timeout, or signed out elsewhere): the post is refused, the typing kept
    engine = make_engine(live.database_url)
    with engine.begin() as c:
        c.execute(text("UPDATE web_session SET revoked_at = CURRENT_TIMESTAMP, revoked_reason = 'idle'"))
    engine.dispose()
    page.get_by_role("button", name="完了する").click()
    page.locator("#status").filter(has_text="下書き").wait_for()
    sign_in(page, live, "madoguchi", then=form.removeprefix(live.base))
    page.locator("#draft-note").filter(has_text="下書き").wait_for()
    assert page.get_by_label("受付日").input_value() == "令和8年4月1日"
    assert page.get_by_label("請求通数（通）").input_value() == "3"


def _tab_to(page: Any, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element's accessible text is `name` (keyboard only, as a clerk would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => (document.activeElement.labels?.[0]?.innerText"
                                " || document.activeElement.innerText || '').trim()")
        if focused.startswith(name):
            return
    raise AssertionError(f"「{name}」に Tab で届きません")


def test_the_keyboard_alone_takes_a_request(page: Any, live: Any) -> None:
    sign_in(page, live, "madoguchi")
    _tab_to(page, "新しい受付")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/new")
    _tab_to(page, "住民票の写し等交付請求を受け付ける")
    page.keyboard.press("Enter")
    page.wait_for_url("**/tasks/*")
    _tab_to(page, "受付日")
    page.keyboard.type("R8.4.1")
    _tab_to(page, "請求者")
    page.keyboard.type("本人")
    page.keyboard.press("Tab")  # the first radio of 郵送による請求; arrows move within the group
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("group", name="郵送による請求").get_by_label("いいえ").is_checked()
    _tab_to(page, "請求通数")
    page.keyboard.type("1")
    before = page.url
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_url(lambda url: url != before)
    assert "「受付」を完了しました" in page.locator("main").inner_text()
