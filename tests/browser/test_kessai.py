"""A 児童手当 claim in a real browser, with 決裁: the 課長 is away (recorded on the 不在と代理 page), so the
課長補佐 decides by 代決 and the 課長 finds the 後閲 in their inbox; the case page shows each decision with its
explanation and the timeline records who acted for whom. axe-core on each page; screenshots as artefacts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from engine import clock
from tests.browser.conftest import MUNICIPALITY, sign_in

DAY = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Tokyo


def _complete(page: Any, button: str = "完了する") -> None:
    before = page.url
    page.get_by_role("button", name=button).click()
    page.wait_for_url(lambda url: url != before)


def _open_from_inbox(page: Any, live: Any, task: str) -> None:
    page.goto(live.url("/inbox"))
    page.get_by_role("link", name=task).first.click()
    page.wait_for_url("**/tasks/*")


def fill_jido_teate_intake(page: Any, live: Any) -> None:
    """A 児童手当 claim for 川崎 たろう (born R5.4.1), filed R7.6.2 at 川崎市's こども家庭課: the intake filled in,
    not yet completed."""
    page.goto(live.url("/cases/new"))
    region = page.get_by_role("region", name=f"団体 {MUNICIPALITY}")
    region.get_by_label("担当の組織").select_option("kodomo.katei.teate")
    region.get_by_role("button", name="児童手当 認定請求を受け付ける").click()
    page.wait_for_url("**/tasks/*")
    page.get_by_label("認定請求日").fill("令和7年6月2日")
    page.get_by_role("button", name="養育している子（全員）を追加").click()
    page.get_by_label("名前").wait_for()
    page.get_by_label("名前").fill("川崎 たろう")
    page.get_by_label("生年月日").fill("R5.4.1")
    page.get_by_role("group", name="監護").get_by_label("はい").check()
    page.get_by_role("group", name="生計費負担").get_by_label("いいえ").check()
    page.get_by_role("group", name="小児医療費助成の申請も同時に受け付けた").get_by_label("はい").check()
    page.get_by_role("group", name="請求者が公務員である").get_by_label("いいえ").check()
    page.get_by_label("15日特例の事由（出生・転入・特例なし）").select_option("特例なし")


def test_a_jido_teate_claim_decided_by_daiketsu(page: Any, live: Any, axe: Any, shot: Any) -> None:
    with clock.frozen(DAY):
        # the 課長 records a business trip without naming a substitute: the 代決者 order applies
        sign_in(page, live, "suzuki", then="/absence")
        page.get_by_label("最初の日").fill("令和7年6月2日")
        page.get_by_label("最後の日（その日を含む）").fill("R7.6.3")
        page.get_by_label("理由").fill("出張")
        axe(page, "absence")
        page.get_by_role("button", name="登録する").click()
        page.wait_for_load_state("networkidle")
        assert "出張" in page.locator("table").inner_text()
        page.context.clear_cookies()

        # the 児童手当係長 takes the claim: intake with a child and 川崎市's own field, then the 起案
        sign_in(page, live, "tanaka")
        fill_jido_teate_intake(page, live)
        axe(page, "jido-teate-intake")
        _complete(page, "完了して次の手順へ")
        page.get_by_label("件名").fill("児童手当の認定（川崎 たろう）")
        page.get_by_label("事案の種別（別表の区分）").fill("児童手当の認定")
        page.get_by_label("金額（円。金額のない事案は 0）").fill("0")
        page.get_by_role("group", name="重要・異例な事案（先例となる、疑義がある）").get_by_label("いいえ").check()
        _complete(page)
        case_url = page.url.split("?")[0]
        # the route starts at the 係長 — that is tanaka — who decides first
        _open_from_inbox(page, live, "決裁")
        page.get_by_label("判断（承認・差戻し・却下）").fill("承認")
        _complete(page)
        page.context.clear_cookies()

        # the 課長 is away: the 課長補佐 finds the 決裁 in their inbox and decides by 代決
        sign_in(page, live, "sato")
        assert page.get_by_role("link", name="決裁").count() == 1
        axe(page, "inbox-daiketsu")
        # the child's name was typed 川崎 たろう: katakana finds it, another name does not
        page.get_by_label("氏名・カナ").fill("タロウ")
        page.wait_for_url("**who=*")
        assert page.get_by_role("link", name="決裁").count() == 1
        page.get_by_label("氏名・カナ").fill("はなこ")
        page.locator("p.empty").wait_for()
        _open_from_inbox(page, live, "決裁")
        page.get_by_label("判断（承認・差戻し・却下）").fill("承認")
        _complete(page)
        page.context.clear_cookies()

        # back from the trip, the 課長 reads what was decided in their name (後閲)
        sign_in(page, live, "suzuki")
        _open_from_inbox(page, live, "後閲: 決裁")
        page.get_by_label("意見（任意）").fill("了")
        _complete(page)

        page.goto(case_url)
        timeline = page.locator("ol.timeline").inner_text()
        assert "完了: 決裁 sato（代決）" in timeline and "後閲" in timeline
        decisions = page.locator("ul.decisions")
        total = decisions.locator("li", has_text="児童手当の月額合計")
        total.get_by_text("なぜ？").click()
        why = total.locator("pre.explain").inner_text()
        assert "児童手当の3歳未満の月額" in why and "出典" in why, why
        page.locator('#diagram[data-ready="true"]').wait_for()
        axe(page, "case-kessai")
        shot(page, "case-kessai")

        # the notice, in 川崎市's wording (its pack replaces the standard one), printable on one A4 sheet
        page.get_by_role("link", name="児童手当 認定通知書（川崎市）").click()
        page.wait_for_url("**/notices/*")
        sheet = page.locator("main.sheet").inner_text()
        for expected in ("令和7年6月2日に請求のあった児童手当", "小児医療費助成の同時申請: はい", "令和7年7月",
                         "15,000円", "川崎 たろう", "令和5年4月1日", "令和7年8月8日"):
            assert expected in sheet, expected
        axe(page, "notice")
        shot(page, "notice")
        pdf = page.pdf(format="A4", print_background=False)
        assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1  # one A4 sheet

