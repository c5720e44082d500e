"""天草市's pack (local_rules/432156-amakusa): the 転入.記載後 hook asks the clerk to hand over the ゴミ出し
calendar of the new address's 地区 and to give the 区長's contact, and records what was done."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from engine import audit, clock
from engine.calendars import pack_for
from engine.cases import CaseError
from engine.check import check_paths
from engine.db import Municipality
from engine.registry import Registry
from tests.engine_support import ROOT, Env, environment
from web.cli import cli

AMAKUSA = "432156"
KAMIAMAKUSA = "432121"  # 上天草市, the neighbouring city: no pack of its own and no 熊本県 pack
PACK = ROOT / "local_rules" / "432156-amakusa"
TASK = "ごみ出しカレンダーと区長の案内"

HANDED = {"地区": "試験地区", "ゴミ出しカレンダーを渡した": True, "区長への連絡方法を案内した": True,
          "外国語のごみ分別の案内を渡した": False}


def _register(env: Env) -> None:
    """天草市 is a demo municipality; 上天草市 (no pack) is not: register it the way `jichi demo load` does."""
    with env.session() as s:
        for code, name in ((KAMIAMAKUSA, "上天草市"),):
            s.add(Municipality(code=code, name=name))
            audit.admin_event(s, action="municipality.registered", actor="test", detail={"code": code, "name": name})
        s.commit()


def _tennyu(env: Env, municipality: str) -> str:
    with env.session() as s:
        case_id: str = env.cases.start_case(s, process_id="Process_Tennyu", municipality=municipality, data={},
                                            actor="窓口").id
    env.complete(case_id, "受付", {"氏名": "天草 花子", "転入日": "2026-04-01", "届出日": "2026-04-03",
                                   "前住所": "熊本県熊本市", "世帯員数": 1})
    env.complete(case_id, "本人確認", {"本人確認済": True})
    env.complete(case_id, "住民票の記載", {"住民票コード": "12345678901"})
    return case_id


def _data(env: Env, case_id: str) -> dict[str, Any]:
    with env.session() as s:
        data: dict[str, Any] = env.cases.get_case(s, case_id).data
    return data


def _refusals(env: Env, case_id: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(CaseError) as caught:
        env.complete(case_id, TASK, data)
    return [(d.code, d.message) for d in caught.value.diagnostics]


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    with clock.frozen(dt.datetime(2026, 4, 3, 1, 0, tzinfo=dt.UTC)), \
            environment(database_url, Registry.load(ROOT)) as env:
        _register(env)
        yield env


def test_the_guidance_task_runs_for_amakusa_only(env: Env) -> None:
    amakusa = _tennyu(env, AMAKUSA)
    other = _tennyu(env, KAMIAMAKUSA)
    assert [t.name for t in env.ready(amakusa)] == [TASK]
    assert env.case(amakusa).status == "running"
    # 上天草市 has no pack: the core's default hook does nothing and the case is done after 記載.
    assert env.ready(other) == [] and env.case(other).status == "completed"
    assert env.case(amakusa).spec_hash != env.case(other).spec_hash


def test_the_recorded_guidance_lands_in_the_case(env: Env) -> None:
    case_id = _tennyu(env, AMAKUSA)
    env.complete(case_id, TASK, {**HANDED, "外国語のごみ分別の案内を渡した": True, "外国語のごみ分別の案内": "英語"})
    assert env.case(case_id).status == "completed"
    data = _data(env, case_id)
    assert (data["地区"], data["ゴミ出しカレンダーを渡した"], data["区長への連絡方法を案内した"]) == ("試験地区", True, True)
    assert data["外国語のごみ分別の案内"] == "英語" and data["記載済"] is True
    assert data["転入後の案内の記録"] == (
        "地区「試験地区」: ゴミ出しカレンダーを渡した、区長への連絡方法を案内した、外国語のごみ分別の案内（英語）を渡した")


def test_a_reason_is_recorded_when_the_calendar_is_not_handed_over(env: Env) -> None:
    case_id = _tennyu(env, AMAKUSA)
    not_handed = {**HANDED, "ゴミ出しカレンダーを渡した": False}
    version = env.case(case_id).version
    assert _refusals(env, case_id, not_handed) == [
        ("ENG518", "ゴミ出しカレンダーを渡さなかったときは、その理由を記録してください")]
    assert _refusals(env, case_id, {**HANDED, "区長への連絡方法を案内した": False, "案内しなかった理由": ""}) == [
        ("ENG518", "区長への連絡方法を案内しなかったときは、その理由を記録してください")]
    assert _refusals(env, case_id, {**HANDED, "外国語のごみ分別の案内を渡した": True}) == [
        ("ENG518", "外国語のごみ分別の案内を渡したときは、その言語を記録してください")]
    assert _refusals(env, case_id, {k: v for k, v in HANDED.items() if k != "地区"}) == [
        ("ENG518", "「新しい住所の地区（行政区）」は必須の項目です")]
    assert env.case(case_id).version == version  # nothing stored by a refused completion
    assert [t.name for t in env.ready(case_id)] == [TASK]

    env.complete(case_id, TASK, {**not_handed, "案内しなかった理由": "代理人の届出のため後日郵送する"})
    assert env.case(case_id).status == "completed"
    assert _data(env, case_id)["転入後の案内の記録"] == (
        "地区「試験地区」: ゴミ出しカレンダーを渡していない、区長への連絡方法を案内した（理由: 代理人の届出のため後日郵送する）")


def test_the_pack_checks_clean_and_declares_the_hook() -> None:
    assert [d.format() for d in check_paths([PACK], ROOT)] == []
    registry = Registry.load(ROOT)
    assert set(registry.hooks_for(AMAKUSA)) == {"Hook_Tennyu_AfterKisai"}
    assert registry.hooks_for(KAMIAMAKUSA) == {} and pack_for(KAMIAMAKUSA, registry.packs)[0] is None
    result = CliRunner().invoke(cli, ["pack", "diff", "432156-amakusa", "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)["items"]
    assert [i["hook"] for i in items if i["kind"] == "hook"] == ["転入.記載後"]
