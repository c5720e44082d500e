"""`jichi pack diff`: fit & gap of a pack against the standard, each item with its cite and position."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from web.cli import cli


def _diff(pack: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["pack", "diff", pack, "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def _kinds(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in report["items"] if i["kind"] == kind]


def test_a_parameter_the_pack_sets_with_its_value_cite_and_line() -> None:
    report = _diff("162108-nanto")
    (fee,) = _kinds(report, "parameter")
    assert fee["name"] == "住民票の写しの手数料単価"
    assert fee["values"] == [{"period": "2020-04-01 から", "value": "300円", "cite": "南砺市手数料条例（住民票の写し 1通300円）"}]
    assert fee["where"] == "local_rules/162108-nanto/rules/tesuryo.rules:4"
    assert report["tests"] == 3 and report["core_version"] == "0.2.0" and report["core_range"] == ">=0.2.0,<0.3.0"


def test_an_exception_added_to_an_open_decision() -> None:
    report = _diff("272078-takatsuki")
    per_visit, per_month = _kinds(report, "exception")
    assert (per_visit["decision"], per_visit["label"], per_visit["value"]) == ("一日負担額", "高槻無償化", "0円")
    assert per_visit["condition"] == "助成対象 かつ 診療日 >= 2025-04-01"
    assert (per_month["decision"], per_month["exception_to"], per_month["value"]) == ("月の窓口負担がある", "府の基準", "偽")
    assert per_month["condition"] == "診療月の初日 >= 2025-04-01"
    assert "令和7年4月" in per_visit["cite"] and "令和7年4月" in per_month["cite"] and report["base"] == "270008-osaka"


def test_local_rules_hooks_and_forms() -> None:
    report = _diff("141305-kawasaki")
    assert [h["hook"] for h in _kinds(report, "hook")] == ["転入.記載後"]
    (form,) = _kinds(report, "form")
    assert (form["process_id"], form["task_id"]) == ("Process_JidoTeateNintei", "UserTask_Uketsuke")
    assert any(d.startswith("独自の項目 独自.小児医療費助成も申請: 真偽、必須") for d in form["details"])
    decisions = [d["name"] for d in _kinds(report, "definition") if d["what"] == "決定"]
    assert "窓口負担額" in decisions and _kinds(report, "parameter") == []


def test_the_calendar_only_where_the_pack_changes_it() -> None:
    (calendar,) = _kinds(_diff("470007-okinawa"), "calendar")
    assert any("6月23日 慰霊の日" in d for d in calendar["details"])
    assert _kinds(_diff("472018-naha"), "calendar") == []  # inherits the prefecture's, sets nothing


def test_text_report_and_unknown_pack() -> None:
    text = CliRunner().invoke(cli, ["pack", "diff", "162108-nanto"])
    assert text.exit_code == 0
    assert "■ 開放パラメータの設定（1）" in text.output and "住民票の写しの手数料単価: 2020-04-01 から 300円" in text.output
    missing = CliRunner().invoke(cli, ["pack", "diff", "999999-nai"])
    assert missing.exit_code == 1 and "PCK630" in missing.output


def test_printable_html_report_is_escaped() -> None:
    result = CliRunner().invoke(cli, ["pack", "diff", "272078-takatsuki", "--html"])
    assert result.exit_code == 0
    html = result.output
    assert html.startswith("<!doctype html>") and "@page { size: A4" in html
    assert "<h2>開放決定への例外（2）</h2>" in html
    assert "診療日 &gt;= 2025-04-01" in html and "診療日 >= 2025-04-01" not in html  # pack text is escaped
