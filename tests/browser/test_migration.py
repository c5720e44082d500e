"""The migration team's page in a browser (issue 15): 管理者 signs in, opens データ移行 from the navigation, reads the
last dry run — the unmapped 外字 with its record and position, the duplicated 宛名番号, the households not imported —
downloads the CSV; the page passes axe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.db import make_engine, make_session_factory
from engine.migration import MappingSpec, read, save_report
from standard_core.gaiji import GaijiTable
from tests.browser.conftest import MUNICIPALITY, Live, sign_in
from tests.test_migration import CSV_MAPPING, GAIJI, legacy_csv


def test_the_migration_team_reads_the_last_report(page: Any, live: Live, axe: Callable[[Any, str], Any],
                                                   shot: Callable[[Any, str], Path], tmp_path: Path) -> None:
    table, problems = GaijiTable.parse(GAIJI)
    assert problems == []
    report, _ = read(MappingSpec.parse(CSV_MAPPING), table, legacy_csv(), "kyu-jukisys.csv")
    engine = make_engine(live.database_url)
    with make_session_factory(engine)() as s:
        save_report(s, MUNICIPALITY, "dry-run", report, "移行担当")
        s.commit()
    engine.dispose()
    sign_in(page, live, "kanri")
    page.get_by_role("link", name="データ移行").click()
    page.wait_for_url(live.url("/migration/"))
    section = page.get_by_role("region", name=MUNICIPALITY)
    assert "kyu-jukisys.csv" in section.inner_text()
    unmapped = page.get_by_role("table", name="対応のない文字（1 種類）")
    assert "U+E002" in unmapped.inner_text() and "記録 4 の氏名 2 文字目" in unmapped.inner_text()
    assert "7, 8" in page.get_by_role("table", name="重複した宛名番号（どの記録も取り込みません）").inner_text()
    axe(page, "migration")
    shot(page, "report")
    with page.expect_download() as download:
        page.get_by_role("link", name="理由をすべて CSV でダウンロード").click()
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    assert "4,1004,氏名,2,U+E002," in saved.read_text(encoding="utf-8-sig")
