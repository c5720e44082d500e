"""Read access in the audit log (engine/access_log.py, web/access.py) and the auditor's questions of it
(engine/audit_search.py, `jichi audit search`): a clerk searches residents, opens a case and its diagram, prints
nothing yet; the auditor finds it all by resident, by clerk, by time and by address, and the chain still verifies."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from engine import clock
from engine.audit_search import Query, inert, search
from engine.audit_verify import verify
from engine.db import make_engine, make_session_factory
from engine.models import AuditAccessSubject
from engine.residents import import_csv
from tests.api_support import HTTPS
from tests.test_clerk_web import A, app, signed_in  # noqa: F401  (app is a fixture)

RESIDENTS = """宛名番号,氏名,氏名カナ,生年月日,住所
2001,山田 太郎,ヤマダ タロウ,1980-04-01,富山県南砺市福光1番地
2002,山田 花子,ヤマダ ハナコ,1982-05-03,富山県南砺市福光1番地
2003,佐藤 次郎,サトウ ジロウ,1975-01-10,富山県南砺市城端2番地
"""


def _tennyu(client: object, csrf: str, name: str) -> str:
    started = client.post("/cases/new", base_url=HTTPS,  # type: ignore[attr-defined]
                          data={"csrf_token": csrf, "municipality": A, "process": "Process_Tennyu"})
    task = started.headers["Location"]
    done = client.post(task, base_url=HTTPS, data={  # type: ignore[attr-defined]
        "csrf_token": csrf, "氏名": name, "転入日": "R8.4.1", "届出日": "R8.4.3", "前住所": "東京都",
        "世帯員数": "1"})
    assert done.status_code in (302, 303), done.get_data(as_text=True)
    case = re.search(r"/cases/([0-9a-f-]{36})", task + done.headers.get("Location", ""))
    if case is None:
        page = client.get(task, base_url=HTTPS).get_data(as_text=True)  # type: ignore[attr-defined]
        case = re.search(r"/cases/([0-9a-f-]{36})", page)
    assert case is not None
    return case.group(1)


def test_reads_are_recorded_and_the_auditor_finds_them(app: Flask, database_url: str) -> None:  # noqa: F811
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        import_csv(s, A, RESIDENTS, "residents.csv", "admin")
        s.commit()
    start = clock.now()
    client, csrf = signed_in(app, "madoguchi")
    assert client.get("/residents?q=やまだ", base_url=HTTPS).status_code == 200
    case_id = _tennyu(client, csrf, "山田 太郎")
    assert client.get(f"/cases/{case_id}", base_url=HTTPS).status_code == 200
    assert client.get(f"/cases/{case_id}/diagram.bpmn", base_url=HTTPS).status_code == 200
    other = _tennyu(client, csrf, "佐藤 次郎")

    with sessions() as s:
        by_resident = search(s, Query([A], resident="2001"))
        assert by_resident.resident == "山田 太郎"
        found = {(e.action, e.case_id, e.why) for e in by_resident.events}
        assert ("resident.searched", None, "宛名番号") in found
        assert ("case.viewed", case_id, "氏名") in found and ("case.diagram_downloaded", case_id, "氏名") in found
        assert ("task.completed", case_id, "氏名") in found
        assert all(e.case_id != other for e in by_resident.events)  # 佐藤 次郎's case is not his
        searched = next(e for e in by_resident.events if e.action == "resident.searched")
        assert searched.detail == {"screen": "clerk.residents_page", "via": "web", "address": "127.0.0.1",
                                   "residents": 2}
        assert searched.personal == {"personal": {"residents": ["2001", "2002"], "query": "やまだ"}}
        viewed = next(e for e in by_resident.events if e.action == "case.viewed")
        assert viewed.actor == "madoguchi" and viewed.detail["screen"] == "clerk.case_page"

        mine = search(s, Query([A], actor="madoguchi", action="case.viewed"))
        assert [e.case_id for e in mine.events] == [case_id]
        window = search(s, Query([A], actor="madoguchi", since=start, until=clock.now() + dt.timedelta(seconds=1)))
        assert {"resident.searched", "case.viewed", "case.diagram_downloaded"} <= {e.action for e in window.events}
        assert search(s, Query([A], actor="madoguchi", until=start)).events == []
        assert search(s, Query([A], address="127.0.0.1")).events
        assert search(s, Query([A], address="10.0.0.9")).events == []
        assert search(s, Query(["472018"], actor="madoguchi")).events == []  # another municipality's log
        subjects = s.scalars(select(AuditAccessSubject.atena_number).where(
            AuditAccessSubject.municipality_code == A).order_by(AuditAccessSubject.atena_number)).all()
        assert subjects == ["2001", "2002"]
        assert verify(s.connection(), municipality=A).ok  # the read events are in the chain like any other
    engine.dispose()


def test_the_api_records_reads_too(app: Flask, database_url: str) -> None:  # noqa: F811
    client, csrf = signed_in(app, "madoguchi")
    case_id = _tennyu(client, csrf, "山田 太郎")
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        from engine import accounts

        token = accounts.create_token(s, login="madoguchi", name="test", actor="admin")
        s.commit()
    answer = app.test_client().get(f"/api/cases/{case_id}", base_url=HTTPS,
                                   headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    with make_session_factory(engine)() as s:
        (event,) = search(s, Query([A], case_id=case_id, action="case.viewed")).events
        assert event.detail["via"] == "api" and event.detail["screen"] == "GET /api/cases/<case_id>"
    engine.dispose()


def test_hostile_text_stays_one_inert_record(app: Flask, database_url: str) -> None:  # noqa: F811
    """CR/LF, U+2028 and a bidi override typed into a search are stored as typed, shown inert, one line each."""
    client, _ = signed_in(app, "madoguchi")
    typed = "やま\r\nだ\u2028\u202eevil"
    assert client.get("/residents", query_string={"q": typed}, base_url=HTTPS).status_code == 200
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        (event,) = search(s, Query([A], action="resident.searched")).events
        assert event.personal == {"personal": {"query": typed[:50]}}
        shown = inert(json.dumps(event.personal, ensure_ascii=False))
        assert "\n" not in shown and "\u2028" not in shown and "\u202e" not in shown and "\\u202e" in shown
    engine.dispose()


def test_jichi_audit_search_is_itself_recorded(app: Flask, database_url: str,  # noqa: F811
                                                monkeypatch: object) -> None:
    from web.cli import cli

    client, _ = signed_in(app, "madoguchi")
    client.get("/residents?q=さとう", base_url=HTTPS)
    env = {"JICHI_DATABASE_URL": database_url}
    shown = CliRunner().invoke(cli, ["audit", "search", "--municipality", A, "--resident", "2003", "--json",
                                     "--as", "kansa"], env=env)
    assert shown.exit_code == 0, shown.output
    assert [e["action"] for e in json.loads(shown.output)["events"]] == []  # no residents imported in this test
    again = CliRunner().invoke(cli, ["audit", "search", "--municipality", A, "--action", "audit.searched",
                                     "--since", "令和8年1月1日"], env=env)
    assert again.exit_code == 0 and "kansa  audit.searched" in again.output, again.output


def test_the_auditor_view_is_for_auditors_and_records_its_searches(app: Flask, database_url: str) -> None:  # noqa: F811
    clerk, csrf = signed_in(app, "madoguchi")
    assert clerk.get("/audit/?actor=madoguchi", base_url=HTTPS).status_code == 404
    assert clerk.post("/audit/export", base_url=HTTPS, data={"csrf_token": csrf, "actor": "x"}).status_code == 404
    clerk.get("/residents?q=やまだ", base_url=HTTPS)
    auditor, token = signed_in(app, "kansa")
    page = auditor.get("/audit/?actor=madoguchi", base_url=HTTPS)
    assert page.status_code == 200 and "resident.searched" in page.get_data(as_text=True)
    hostile = auditor.get("/audit/", query_string={"actor": "x\u202e\r\n", "since": "R8.13.1"}, base_url=HTTPS)
    assert hostile.status_code == 422 and "INP802" in hostile.get_data(as_text=True)
    empty = auditor.post("/audit/export", base_url=HTTPS, data={"csrf_token": token})
    assert empty.status_code == 422  # no criterion: nothing exported
    assert auditor.post("/audit/verify", base_url=HTTPS, data={"csrf_token": token}).status_code == 303
    shown = auditor.get("/audit/", base_url=HTTPS).get_data(as_text=True)
    assert "問題なし" in shown and "kansa" in shown  # kept in the database: any app server shows it
    other, _ = signed_in(app, "kansa")
    assert "問題なし" in other.get("/audit/", base_url=HTTPS).get_data(as_text=True)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        (event,) = search(s, Query([A], action="audit.searched")).events
        assert event.actor == "kansa" and event.personal == {"personal": {"query": '{"actor": "madoguchi"}'}}
    engine.dispose()


def test_jichi_case_show_is_a_recorded_read(app: Flask, database_url: str) -> None:  # noqa: F811
    from web.cli import cli

    client, csrf = signed_in(app, "madoguchi")
    case_id = _tennyu(client, csrf, "山田 太郎")
    shown = CliRunner().invoke(cli, ["case", "show", case_id, "--json"], env={"JICHI_DATABASE_URL": database_url})
    assert shown.exit_code == 0, shown.output
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        (event,) = search(s, Query([A], case_id=case_id, action="case.viewed")).events
        assert event.detail["via"] == "cli" and event.detail["screen"] == "jichi case show"
    engine.dispose()


def test_old_resident_searches_are_erased_and_the_chain_still_verifies(app: Flask, database_url: str) -> None:  # noqa: F811
    from web.cli import cli

    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        import_csv(s, A, RESIDENTS, "residents.csv", "admin")
        s.commit()
    client, csrf = signed_in(app, "madoguchi")
    client.get("/residents?q=やまだ", base_url=HTTPS)
    case_id = _tennyu(client, csrf, "山田 太郎")
    client.get(f"/cases/{case_id}", base_url=HTTPS)
    env = {"JICHI_DATABASE_URL": database_url}
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    dry = CliRunner().invoke(cli, ["audit", "erase", "--municipality", A, "--reads-before", tomorrow, "--dry-run",
                                   "--json"], env=env)
    assert dry.exit_code == 0 and len(json.loads(dry.output)["reads"]) == 1, dry.output
    done = CliRunner().invoke(cli, ["audit", "erase", "--municipality", A, "--reads-before", tomorrow], env=env)
    assert done.exit_code == 0 and "閲覧の記録 1 件の個人データを消去しました" in done.output, done.output
    with sessions() as s:
        (searched,) = search(s, Query([A], action="resident.searched")).events
        assert searched.personal is None and searched.detail["residents"] == 2  # the fact stays, the names go
        assert s.scalars(select(AuditAccessSubject)).all() == []
        assert [e.case_id for e in search(s, Query([A], resident="2001")).events if e.action == "case.viewed"] \
            == [case_id]  # the case's own reads are kept with the case
        assert verify(s.connection(), municipality=A).ok
        assert search(s, Query([A], action="reads.erased")).events[0].detail["erased"] == [searched.seq]
    engine.dispose()


def test_time_bounds_take_dates_in_wareki_and_date_times() -> None:
    from engine.audit_search import moment
    from standard_core.wareki import WarekiError

    utc = dt.UTC
    assert moment("2026-04-01T09:00") == dt.datetime(2026, 4, 1, 0, 0, tzinfo=utc)  # Tokyo time without a zone
    assert moment("2026-04-01T09:00+00:00") == dt.datetime(2026, 4, 1, 9, 0, tzinfo=utc)
    assert moment("令和8年4月1日") == dt.datetime(2026, 3, 31, 15, 0, tzinfo=utc)  # the day starts in Tokyo
    assert moment("2026-04-01", end=True) == moment("R8.4.2")  # an end date includes its day
    with pytest.raises(WarekiError):
        moment("令和8年13月1日")
