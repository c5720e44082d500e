"""The core 決裁 subprocess (processes/kessai/kessai.bpmn) on the durable engine: the route climbs from the
drafting unit to the 決裁権者 the rules name, each step lands on whoever acts for that position on the day,
差戻し returns to the drafter with the reason, 却下 ends the matter, a 代決 leaves a 後閲 for the absent holder,
and 重要・異例 matters are never decided by 代決. The workflow is reloaded from the database at every step."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.cases import CaseError, list_tasks
from engine.models import AuditEvent, AuditPersonal
from engine.organisation import import_chart, read_chart_file, record_absence
from engine.registry import Registry
from tests.engine_support import copy_core, environment
from tests.test_kessai import FIXTURES, KATEI, MUNI, TEATE

DAY = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)  # 10:00 in Tokyo


def _repository(tmp_path: Path) -> Path:
    """The core, and a pack for the municipality with the illustrative 専決 別表."""
    root = tmp_path / "repo"
    copy_core(root)
    pack = root / "local_rules" / "141305-example"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.toml").write_text('id = "141305-example"\nversion = "1.0.0"\nmunicipalities = ["141305"]\n',
                                    encoding="utf-8")
    shutil.copy(FIXTURES / "senketsu.rules", pack / "rules" / "senketsu.rules")
    return root


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Any:
    with clock.frozen(DAY), environment(database_url, Registry.load(_repository(tmp_path))) as e:
        with e.session() as s:
            import_chart(s, read_chart_file(FIXTURES / "chart_2024.toml"), "人事課")
        yield e


def _start(env: Any, unit: str = TEATE) -> str:
    with env.session() as s:
        case_id: str = env.cases.start_case(s, process_id="Process_Kessai", municipality=MUNI, data={},
                                            actor="起案者", unit=unit).id
        return case_id


def _step(env: Any, case_id: str, name: str, data: dict[str, Any], actor: str) -> None:
    env.cases._live.clear()  # every step restores the workflow from the database
    env.complete(case_id, name, data, actor=actor)


def _open(env: Any, case_id: str) -> list[tuple[str, str | None, str | None]]:
    return [(t.name, t.position, t.assignee) for t in env.ready(case_id)]


def _data(env: Any, case_id: str) -> dict[str, Any]:
    with env.session() as s:
        return env.cases.get_case(s, case_id).data


def _kian(amount: int, unusual: bool = False, bunai: list[str] | None = None,
          tabu: list[str] | None = None) -> dict[str, Any]:
    return {"件名": "児童手当システム用プリンタの購入", "事案の種別": "物品の購入", "決裁金額": amount,
            "重要異例": unusual, "起案の内容": "故障したプリンタの更新", "部内の合議先": bunai or [],
            "他部の合議先": tabu or []}


APPROVE = {"判断": "承認"}


def test_the_route_climbs_to_the_decider_and_ends_in_circulation(env: Any) -> None:
    case_id = _start(env)
    assert _open(env, case_id) == [("起案", None, None)]
    _step(env, case_id, "起案", _kian(120_000), "起案者")
    assert _data(env, case_id)["決裁権者"] == "課長" and _data(env, case_id)["最終段階"] == "課長"
    assert _open(env, case_id) == [("決裁", "kodomo.katei.teate.kakaricho", None)]
    _step(env, case_id, "決裁", APPROVE, "tanaka")
    assert _open(env, case_id) == [("決裁", "kodomo.katei.kacho", None)]
    with pytest.raises(CaseError) as caught:
        _step(env, case_id, "決裁", APPROVE, "tanaka")  # the 係長 cannot decide the 課長's step
    assert caught.value.diagnostics[0].code == "ENG519"
    _step(env, case_id, "決裁", APPROVE, "suzuki")
    assert _data(env, case_id)["決裁結果"] == "決裁" and _open(env, case_id) == [("回覧（供覧）", None, None)]
    _step(env, case_id, "回覧（供覧）", {"回覧済": True}, "起案者")
    assert env.case(case_id).status == "completed"


def test_sashimodoshi_returns_to_the_drafter_with_the_reason_and_the_route_starts_again(env: Any) -> None:
    case_id = _start(env)
    _step(env, case_id, "起案", _kian(800_000), "起案者")  # 部長 decides
    _step(env, case_id, "決裁", APPROVE, "tanaka")
    with pytest.raises(CaseError) as caught:
        _step(env, case_id, "決裁", {"判断": "差戻し"}, "suzuki")
    assert caught.value.diagnostics[0].message == "差戻し・却下では、意見に理由を書いてください"
    _step(env, case_id, "決裁", {"判断": "差戻し", "意見": "見積書を2者以上添付してください"}, "suzuki")
    assert _open(env, case_id) == [("起案", None, None)]
    assert _data(env, case_id)["差戻しの理由"] == "見積書を2者以上添付してください"
    _step(env, case_id, "起案", _kian(450_000), "起案者")  # a cheaper quote: now the 課長 decides
    assert _open(env, case_id) == [("決裁", "kodomo.katei.teate.kakaricho", None)]
    _step(env, case_id, "決裁", APPROVE, "tanaka")
    _step(env, case_id, "決裁", APPROVE, "suzuki")
    assert _data(env, case_id)["決裁結果"] == "決裁"


def test_kyakka_ends_the_matter(env: Any) -> None:
    case_id = _start(env, unit=KATEI)  # drafted in the 課: the route starts at the 課長
    _step(env, case_id, "起案", _kian(800_000), "起案者")
    assert _open(env, case_id) == [("決裁", "kodomo.katei.kacho", None)]
    _step(env, case_id, "決裁", {"判断": "却下", "意見": "予算がありません"}, "suzuki")
    assert env.case(case_id).status == "completed" and _data(env, case_id)["決裁結果"] == "却下"


def test_daiketsu_records_both_names_and_owes_a_post_review(env: Any) -> None:
    with env.session() as s:
        record_absence(s, municipality=MUNI, person="suzuki", start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 2),
                       reason="出張", substitute=None, actor="鈴木 一郎")
    case_id = _start(env, unit=KATEI)
    _step(env, case_id, "起案", _kian(120_000), "起案者")
    with env.session() as s:
        assert [t.name for t in list_tasks(s, person="sato")] == ["決裁"]  # the first 代決者 while away
    _step(env, case_id, "決裁", APPROVE, "sato")
    with env.session() as s:
        history = env.cases.get_case(s, case_id).history
    assert history is not None
    decided = next(t for t in history if t.name == "決裁")
    assert (decided.completed_by, decided.on_behalf_of) == ("sato", "suzuki")
    assert ("後閲: 決裁", None, "suzuki") in _open(env, case_id)
    with env.session() as s:  # the audit event says who acted, for whom and why
        event = s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.task_id == decided.id,
                                                   AuditEvent.action == "task.completed")).one()
        kept = s.get(AuditPersonal, (event.municipality_code, event.seq))
    assert event.actor == "sato" and json.loads(event.detail)["acting"]["mode"] == "代決"
    assert kept is not None and "鈴木 一郎は出張" in json.loads(kept.personal)["acting_reason"]
    with pytest.raises(CaseError):
        _step(env, case_id, "後閲: 決裁", {}, "sato")  # only the absent holder reviews
    with env.session() as s:
        assert "後閲: 決裁" in [t.name for t in list_tasks(s, person="suzuki", on=dt.date(2025, 6, 3))]
    _step(env, case_id, "後閲: 決裁", {"意見": "了"}, "suzuki")
    assert [name for name, _, _ in _open(env, case_id)] == ["回覧（供覧）"]


def test_an_unusual_matter_goes_up_and_is_never_decided_by_daiketsu(env: Any) -> None:
    with env.session() as s:
        record_absence(s, municipality=MUNI, person="yamada", start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 2),
                       reason="出張", substitute=None, actor="山田 部長")
    case_id = _start(env, unit=KATEI)
    _step(env, case_id, "起案", _kian(120_000, unusual=True), "起案者")
    assert (_data(env, case_id)["決裁権者"], _data(env, case_id)["代決できる"]) == ("部長", False)
    _step(env, case_id, "決裁", APPROVE, "suzuki")
    assert _open(env, case_id) == [("決裁", "kodomo.bucho", None)]
    with pytest.raises(CaseError) as caught:
        _step(env, case_id, "決裁", APPROVE, "ishii")  # the 部次長 would be the 代決者, but not for this
    assert caught.value.diagnostics[0].code == "ENG519" and "代決できません" in caught.value.diagnostics[0].hint


def test_hikimodoshi_takes_the_draft_back_before_the_next_approver_acts(env: Any) -> None:
    case_id = _start(env)
    _step(env, case_id, "起案", _kian(120_000), "起案者")
    with pytest.raises(CaseError) as caught, env.session() as s:
        env.cases.withdraw(s, case_id, "tanaka", "誤り")  # only the one who completed the last step
    assert caught.value.diagnostics[0].code == "ENG523"
    env.cases._live.clear()
    with env.session() as s:
        env.cases.withdraw(s, case_id, "起案者", "金額の誤り")
    assert _open(env, case_id) == [("起案", None, None)]
    assert _data(env, case_id)["決裁金額"] == 120_000  # the draft comes back as it was sent
    _step(env, case_id, "起案", _kian(130_000), "起案者")
    _step(env, case_id, "決裁", APPROVE, "tanaka")
    with pytest.raises(CaseError) as late, env.session() as s:
        env.cases.withdraw(s, case_id, "起案者", "遅すぎる")  # the 係長 has acted: no longer possible
    assert late.value.diagnostics[0].code == "ENG523"
    # Not yet: an approver taking back their own step inside the 決裁 loop (the loop reuses the task).
    with pytest.raises(CaseError) as looped, env.session() as s:
        env.cases.withdraw(s, case_id, "tanaka", "確認漏れ")
    assert looped.value.diagnostics[0].code == "ENG523"
    assert _open(env, case_id) == [("決裁", "kodomo.katei.kacho", None)]


BUNAI, TABU = ["kodomo.hoiku"], ["somu.zaisei"]
HOIKU, ZAISEI = ("合議", "kodomo.hoiku.kacho", None), ("合議", "somu.zaisei.kacho", None)


def test_aigi_follows_the_order_rules_and_all_must_consent(env: Any) -> None:
    # 部長 decides (800,000円): the 部内 合議 after the 主管課長, the 他部 合議 after the 主管部長 — which is
    # the 決裁権者 here, so the 他部 合議 comes before the 部長's decision.
    case_id = _start(env)
    _step(env, case_id, "起案", _kian(800_000, bunai=BUNAI, tabu=TABU), "起案者")
    assert _open(env, case_id) == [("決裁", "kodomo.katei.teate.kakaricho", None)]
    _step(env, case_id, "決裁", APPROVE, "tanaka")
    assert _open(env, case_id) == [("決裁", "kodomo.katei.kacho", None)]
    _step(env, case_id, "決裁", APPROVE, "suzuki")
    assert _open(env, case_id) == [HOIKU]  # after the 主管課長
    with pytest.raises(CaseError):
        _step(env, case_id, "合議", {"合議の回答": "異議なし"}, "ono")  # not the 保育課長
    _step(env, case_id, "合議", {"合議の回答": "異議なし"}, "kimura")
    assert _open(env, case_id) == [ZAISEI]  # before the 部長, who decides
    _step(env, case_id, "合議", {"合議の回答": "異議なし"}, "ono")
    assert _open(env, case_id) == [("決裁", "kodomo.bucho", None)]
    _step(env, case_id, "決裁", APPROVE, "yamada")
    assert _data(env, case_id)["決裁結果"] == "決裁"


def test_aigi_goes_to_every_unit_in_parallel_before_a_lower_decider(env: Any) -> None:
    # The 課長 decides (120,000円): both 合議 come before that decision, 部内 first, each in parallel.
    case_id = _start(env)
    _step(env, case_id, "起案", _kian(120_000, bunai=["kodomo.hoiku", "somu.zaisei"]), "起案者")
    _step(env, case_id, "決裁", APPROVE, "tanaka")
    assert sorted(_open(env, case_id)) == [HOIKU, ZAISEI]
    with env.session() as s:
        (mine,) = [t for t in list_tasks(s, person="ono") if t.name == "合議"]
    _step_task(env, mine.id, {"合議の回答": "異議なし"}, "ono")
    assert _open(env, case_id) == [HOIKU]  # the decision waits for everyone
    _step(env, case_id, "合議", {"合議の回答": "異議なし"}, "kimura")
    assert _open(env, case_id) == [("決裁", "kodomo.katei.kacho", None)]


def test_an_objection_in_aigi_cancels_the_rest_and_returns_to_the_drafter(env: Any) -> None:
    case_id = _start(env, unit=KATEI)  # the route starts at the 課長, who decides: 合議 first
    _step(env, case_id, "起案", _kian(120_000, bunai=["kodomo.hoiku", "somu.zaisei"]), "起案者")
    with env.session() as s:
        (zaisei,) = [t for t in list_tasks(s, person="ono") if t.name == "合議"]
    with pytest.raises(CaseError) as caught:
        _step_task(env, zaisei.id, {"合議の回答": "異議"}, "ono")
    assert caught.value.diagnostics[0].message == "異議には理由を意見に書いてください"
    _step_task(env, zaisei.id, {"合議の回答": "異議", "合議の意見": "予算の流用の協議が先です"}, "ono")
    assert _open(env, case_id) == [("起案", None, None)]  # the 保育課長's 合議 was cancelled
    assert _data(env, case_id)["差戻しの理由"] == "合議で異議: 予算の流用の協議が先です"
    with env.session() as s:
        history = env.cases.get_case(s, case_id).history
    assert history is not None
    assert sorted((t.name, t.state) for t in history if t.name == "合議") == [
        ("合議", "cancelled"), ("合議", "completed")]
    # Drafted again without 合議: straight to the 決裁.
    _step(env, case_id, "起案", _kian(120_000), "起案者")
    assert _open(env, case_id) == [("決裁", "kodomo.katei.kacho", None)]


def _step_task(env: Any, task_id: str, data: dict[str, Any], actor: str) -> None:
    env.cases._live.clear()
    with env.session() as s:
        env.cases.complete_task(s, task_id, data, actor)


def test_a_municipality_sets_its_own_aigi_order(database_url: str, tmp_path: Path) -> None:
    # The order is an open parameter: this municipality consults the 部内 課 right after the 係長.
    root = _repository(tmp_path)
    (root / "local_rules" / "141305-example" / "rules" / "aigi.rules").write_text(
        "追加 パラメータ 部内の合議の段階 {\n  2020-04-01 から 係長 出典「例示: 部内の合議は係長の後」;\n}\n",
        encoding="utf-8")
    with clock.frozen(DAY), environment(database_url, Registry.load(root)) as e:
        with e.session() as s:
            import_chart(s, read_chart_file(FIXTURES / "chart_2024.toml"), "人事課")
        case_id = _start(e)
        _step(e, case_id, "起案", _kian(800_000, bunai=BUNAI), "起案者")
        _step(e, case_id, "決裁", APPROVE, "tanaka")
        assert _open(e, case_id) == [HOIKU]  # before the 課長 now, right after the 係長
        _step(e, case_id, "合議", {"合議の回答": "異議なし"}, "kimura")
        assert _open(e, case_id) == [("決裁", "kodomo.katei.kacho", None)]
