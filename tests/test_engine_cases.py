"""The durable engine on SQLite and PostgreSQL: starting, completing, data checks, rollback, audit events."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine.cases import CaseError
from engine.models import AuditEvent, AuditPersonal, CaseTask, ProcessSpec
from tests.engine_support import environment


def test_parallel_branches_and_call_activity_complete(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Parallel")
        assert sorted(t.name for t in env.ready(case_id)) == ["書類の確認", "照会の回答"]
        env.complete(case_id, "照会の回答", {"照会結果": "該当なし"})
        assert env.case(case_id).status == "running"
        env.complete(case_id, "書類の確認", {"書類OK": True})
        case = env.case(case_id)
        assert case.status == "completed" and case.completed_at is not None
        assert env.ready(case_id) == []
        with env.session() as s:
            last = s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                             .order_by(AuditEvent.seq.desc())).first()
        assert last is not None
        assert json.loads(last.detail)["decisions"] == [{"gateway": "Gateway_Result", "name": "", "chosen": ["End_OK"]}]
        assert json.loads(last.detail)["status"] == "completed"


def test_every_state_change_writes_exactly_one_audit_event(database_url: str) -> None:
    """One step, one event: the gateway decision and the tasks it opened are in that event's detail."""
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": "備品購入"})
        env.complete(case_id, "起案", {"起案回数": 1}, actor="担当A")
        env.complete(case_id, "審査", {"承認": True}, actor="係長B")
        with env.session() as s:
            events = s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                               .order_by(AuditEvent.seq)).all()
        assert [(e.action, e.actor) for e in events] == [
            ("case.started", "tester"), ("task.completed", "担当A"), ("task.completed", "係長B")]
        assert [t["name"] for t in json.loads(events[0].detail)["opened"]] == ["起案"]
        assert [t["name"] for t in json.loads(events[1].detail)["opened"]] == ["審査"]
        review = events[2]
        personal = s.get(AuditPersonal, (review.municipality_code, review.seq))
        assert personal is not None and json.loads(personal.data_after) == {"承認": True}
        assert json.loads(personal.personal) == {"input": {"承認": True}}
        detail = json.loads(review.detail)
        assert "input" not in detail and detail["status"] == "completed"
        assert detail["decisions"] == [{"gateway": "Gateway_Shonin", "name": "承認？", "chosen": ["End_Kessai"]}]
        assert events[1].occurred_at is not None and events[1].municipality_code == "141305"


@pytest.mark.parametrize(("data", "message"), [
    ({"承認": "はい"}, "真偽として読めません"),
    ({"承認": True, "金額": 100}, "項目「金額」はありません"),
    ({"承認": None}, "値がありません"),
], ids=["wrong-type", "unknown-field", "null"])
def test_bad_form_data_is_refused_and_changes_nothing(database_url: str, data: dict[str, object],
                                                      message: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi")
        env.complete(case_id, "起案")
        version, events = env.case(case_id).version, env.audit_count(case_id)
        task = env.ready(case_id)[0]
        with env.session() as s, pytest.raises(CaseError) as e:
            env.cases.complete_task(s, task.id, data, "clerk")
        assert e.value.code == "ENG512" and message in e.value.diagnostics[0].message
        assert env.case(case_id).version == version and env.audit_count(case_id) == events
        assert [t.id for t in env.ready(case_id)] == [task.id]


def test_runtime_failure_rolls_back_the_whole_step(database_url: str) -> None:
    """A condition reading a value nobody entered fails (ENG504); the task stays ready, nothing is written."""
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi")
        env.complete(case_id, "起案")
        version, events = env.case(case_id).version, env.audit_count(case_id)
        with env.session() as s, pytest.raises(CaseError) as e:
            env.cases.complete_task(s, env.ready(case_id)[0].id, {}, "clerk")
        assert e.value.diagnostics[0].code == "ENG504"
        assert env.case(case_id).version == version and env.audit_count(case_id) == events
        assert [t.name for t in env.ready(case_id)] == ["審査"]


def test_completing_twice_is_a_conflict(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi")
        task = env.ready(case_id)[0]
        with env.session() as s:
            env.cases.complete_task(s, task.id, {}, "担当A")
        with env.session() as s, pytest.raises(CaseError) as e:
            env.cases.complete_task(s, task.id, {}, "担当B")
        assert e.value.code == "ENG511" and "担当A" in e.value.diagnostics[0].message
        assert env.audit_count(case_id, "task.completed") == 1


@pytest.mark.parametrize(("process_id", "municipality", "code"), [
    ("Process_Nothing", "141305", "ENG510"),
    ("Process_Sashimodoshi", "141306", "ENG512"),
    ("Process_Sashimodoshi", "131016", "ENG512"),
], ids=["unknown-procedure", "bad-check-digit", "unregistered-municipality"])
def test_start_refuses_unknown_procedures_and_municipalities(database_url: str, process_id: str,
                                                             municipality: str, code: str) -> None:
    with environment(database_url) as env, env.session() as s:
        with pytest.raises(CaseError if code != "ENG510" else Exception) as e:
            env.cases.start_case(s, process_id=process_id, municipality=municipality, data={}, actor="x")
        assert e.value.diagnostics[0].code == code  # type: ignore[attr-defined]


def test_spec_is_stored_once_per_content_hash(database_url: str) -> None:
    with environment(database_url) as env:
        first, second = env.start("Process_Sashimodoshi"), env.start("Process_Sashimodoshi")
        assert env.case(first).spec_hash == env.case(second).spec_hash
        with env.session() as s:
            assert s.scalar(select(func.count()).select_from(ProcessSpec)) == 1
            rows = s.scalars(select(CaseTask).where(CaseTask.case_id == first)).all()
        assert [(r.name, r.lane, r.state) for r in rows] == [("起案", "担当", "ready")]


def test_case_runs_on_the_spec_it_pinned_even_in_a_new_process(database_url: str) -> None:
    """A fresh registry (another process) rebuilds the pinned spec from the stored files."""
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi")
    from engine.registry import Registry

    with environment(database_url, Registry([])) as env:  # knows no files at all
        env.complete(case_id, "起案")
        env.complete(case_id, "審査", {"承認": True})
        assert env.case(case_id).status == "completed"


def test_send_back_carries_the_reason_to_the_drafter(database_url: str) -> None:
    with environment(database_url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": "備品購入"})
        env.complete(case_id, "起案", {"起案回数": 1})
        env.complete(case_id, "審査", {"承認": False, "差戻し理由": "見積書が1社分しかありません"})
        assert [t.name for t in env.ready(case_id)] == ["起案"]
        with env.session() as s:
            data = env.cases.get_case(s, case_id).data
        assert data["差戻し理由"] == "見積書が1社分しかありません" and data["件名"] == "備品購入"
        assert data["起案回数"] == 1


def test_a_step_that_lost_the_version_race_is_retried_from_scratch(database_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel branches of one case completed at once: the loser's write fails, its retry succeeds."""
    from engine import store

    with environment(database_url) as env:
        case_id = env.start("Process_Parallel")
        real, calls = store.update_case, []

        def lose_first(*args: object, **kwargs: object) -> bool:
            calls.append(1)
            return False if len(calls) == 1 else real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "update_case", lose_first)
        env.complete(case_id, "書類の確認", {"書類OK": True})
        assert len(calls) == 2
        assert env.audit_count(case_id, "task.completed") == 1
        assert [t.name for t in env.ready(case_id)] == ["照会の回答"]


@pytest.mark.parametrize(("municipality", "deadline"), [
    ("141305", "2026-06-23"),  # 川崎市: an ordinary Tuesday
    ("472018", "2026-06-24"),  # 那覇市: 6月23日 慰霊の日 is closed (沖縄県の休日条例), so the next open day
], ids=["kawasaki", "naha"])
def test_bpmn_expressions_use_the_case_municipality_calendar(database_url: str, municipality: str,
                                                             deadline: str) -> None:
    import datetime as dt

    from engine import clock
    from engine.packs import discover_packs
    from engine.registry import Registry
    from tests.engine_support import ROOT, fixture_registry

    packs, _ = discover_packs(ROOT / "local_rules")
    registry = Registry(fixture_registry().models, packs)
    with clock.frozen(dt.datetime(2026, 6, 10, 1, 0, tzinfo=dt.UTC)), environment(database_url, registry) as env:
        with env.session() as s:
            case_id = env.cases.start_case(s, process_id="Process_Deadline", municipality=municipality, data={},
                                           actor="窓口").id
        env.complete(case_id, "受付", {"異動日": "2026-06-09"})
        with env.session() as s:
            data = env.cases.get_case(s, case_id).data
        assert data["期限"] == deadline and data["処理日"] == "2026-06-10"
