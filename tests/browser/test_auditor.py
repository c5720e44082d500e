"""Forensics in a real browser (issue 13's scenario): a clerk finds a resident, takes a 児童手当 claim for the
resident's child and prints the notice; the auditor finds those accesses by resident, by clerk and by time, checks
the log, exports the evidence bundle, and the bundle's own verify.py (run alone, isolated) accepts it — and rejects
it once one byte is changed."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

from engine import accounts, clock
from engine.audit_checkpoint import keygen
from engine.db import make_engine, make_session_factory
from engine.residents import import_csv
from tests.audit_support import run_bundle_verifier
from tests.browser.conftest import MUNICIPALITY, PASSWORD, sign_in
from tests.browser.test_kessai import fill_jido_teate_intake

DAY = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Tokyo
CHILD = "宛名番号,氏名,氏名カナ,生年月日,住所\n9001,川崎 たろう,カワサキ タロウ,2023-04-01,神奈川県川崎市川崎区宮本町1番地\n"


def _claim_and_print(page: Any, live: Any) -> None:
    """The 児童手当係長 finds the child among the residents, takes the claim and prints the notice."""
    sign_in(page, live, "tanaka", then="/residents")
    page.get_by_label("氏名・カナ").fill("かわさき")
    page.get_by_text("9001").first.wait_for()
    fill_jido_teate_intake(page, live)
    before = page.url
    page.get_by_role("button", name="完了して次の手順へ").click()
    page.wait_for_url(lambda url: url != before)
    page.locator("p.crumbs a").nth(1).click()  # the case, from the task page's breadcrumbs
    page.wait_for_url("**/cases/*")
    page.get_by_role("link", name="児童手当 認定通知書（川崎市）").click()
    page.wait_for_url("**/notices/*")
    assert "川崎 たろう" in page.locator("main.sheet").inner_text()
    page.context.clear_cookies()


def _search(page: Any, **given: str) -> str:
    """Search from an empty form; the text of the results."""
    page.goto(page.url.split("?")[0])
    for label, value in given.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="検索する").click()
    page.locator("#r-h").wait_for()
    return str(page.locator("main").inner_text())


def test_the_auditor_finds_a_residents_accesses_and_exports_verifiable_evidence(
        page: Any, live: Any, axe: Any, shot: Any, tmp_path: Path) -> None:
    engine = make_engine(live.database_url)
    key = tmp_path / "keys" / "signing.key"
    with make_session_factory(engine)() as s:
        import_csv(s, MUNICIPALITY, CHILD, "child.csv", "admin")
        accounts.add_user(s, login="kansa", display_name="監査 五郎", actor="admin")
        accounts.set_password(s, login="kansa", password=PASSWORD, actor="admin")
        accounts.grant(s, login="kansa", municipality=MUNICIPALITY, role="auditor", actor="admin")
        keygen(s, key, actor="admin")
        s.commit()
    engine.dispose()
    live.app.config.update(AUDIT_KEY=str(key), AUDIT_CHECKPOINT_DIR=str(tmp_path / "checkpoints"))

    with clock.frozen(DAY):
        _claim_and_print(page, live)

        sign_in(page, live, "kansa", then="/audit/")
        assert page.get_by_role("link", name="監査").count() == 1
        page.get_by_role("button", name="いま検証する（すべてのハッシュを計算し直す）").click()
        page.wait_for_load_state("networkidle")
        status = page.locator("table.audit-status").inner_text()
        assert "問題なし" in status and "kansa" in status

        # the auditor knows the name, not the 宛名番号: the matching residents first, then their accesses
        page.get_by_label("住民（宛名番号、または氏名・カナ）").fill("カワサキ")
        page.get_by_role("button", name="検索する").click()
        page.get_by_role("link", name="川崎 たろう（カワサキ タロウ、宛名番号 9001、団体 141305）").click()
        page.locator("#r-h").wait_for()
        by_resident = str(page.locator("main").inner_text())
        assert "川崎 たろう" in page.locator("#r-h").inner_text()
        for expected in ("resident.searched", "case.viewed", "notice.printed", "tanaka", "宛名番号", "氏名"):
            assert expected in by_resident, expected
        axe(page, "auditor-resident")
        shot(page, "auditor-resident")
        by_clerk = _search(page, **{"操作した人（ログイン名）": "tanaka"})
        assert "notice.printed" in by_clerk and "resident.searched" in by_clerk
        by_time = _search(page, **{"開始日": "令和7年6月2日", "終了日（その日を含む）": "R7.6.2"})
        assert "notice.printed" in by_time
        assert "条件に合うイベントはありません" in _search(page, **{"開始日": "令和7年6月3日",
                                                               "終了日（その日を含む）": "令和7年6月30日"})

        _search(page, **{"住民（宛名番号、または氏名・カナ）": "9001"})
        with page.expect_download() as download:
            page.get_by_role("button", name="この条件で証拠の束を書き出す（zip）").click()
        bundle = tmp_path / "evidence" / "bundle.zip"
        bundle.parent.mkdir()
        download.value.save_as(bundle)
        # the export is in the log too (the session is signed in at the frozen time: looked up inside it)
        page.goto(live.url("/audit/?action=audit.exported"))
        assert "kansa" in page.locator("table.audit-events").inner_text()

    accepted = run_bundle_verifier(bundle)
    assert accepted.returncode == 0 and "合格" in accepted.stdout, accepted.stdout + accepted.stderr
    with zipfile.ZipFile(bundle) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    events = files[f"events/{MUNICIPALITY}.jsonl"]
    position = events.index(b"notice.printed")
    changed = bytearray(events)
    changed[position] = ord("N")  # one byte: notice.printed → Notice.printed
    tampered = tmp_path / "evidence" / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, bytes(changed) if name == f"events/{MUNICIPALITY}.jsonl" else data)
    rejected = run_bundle_verifier(tampered, source=bundle)
    assert rejected.returncode == 1 and "不合格" in rejected.stdout, rejected.stdout
