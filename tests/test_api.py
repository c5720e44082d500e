"""The JSON API (web/api.py): tokens, one error shape, isolation between municipalities (B's ids answer 404 to
a user of A and nothing of B appears), decisions with explanations, the OpenAPI document, and completions with an
Idempotency-Key that act exactly once — retried 200 times, and raced."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import accounts, clock
from engine.models import ApiToken, AuditEvent, CaseInstance, CaseTask, UserAccount
from tests.api_support import HTTPS, api_app

A, B = "141305", "272078"
NOBODY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[Flask, dict[str, str]]]:
    yield from _api(database_url)


def _api(database_url: str) -> Iterator[tuple[Flask, dict[str, str]]]:
    return api_app(database_url, {A: ("a-clerk", f"{A}:clerk"), B: ("b-clerk", f"{B}:clerk")})


def call(client: FlaskClient, token: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    return client.open(path, method=method, json=body, base_url=HTTPS,
                       headers={"Authorization": f"Bearer {token}", **headers})


def _start(client: FlaskClient, token: str, code: str) -> dict[str, Any]:
    response = call(client, token, "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": code})
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_no_token_is_401_in_the_error_shape(api: Any) -> None:
    app, _ = api
    response = app.test_client().get("/api/tasks", base_url="https://localhost")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "HTTP401" and set(response.get_json()["error"]) == {
        "status", "code", "message", "hint", "where"}
    assert len(response.headers["X-Request-Id"]) == 16  # a refused sign-in's answer has its id too (in the header)
    assert call(app.test_client(), "jichi_forged", "GET", "/api/tasks").status_code == 401


def test_a_user_of_a_gets_404_for_every_operation_on_bs_objects(api: Any) -> None:
    app, tokens = api
    client = app.test_client()
    mine, theirs = _start(client, tokens[A], A), _start(client, tokens[B], B)
    their_task = theirs["tasks"][0]["id"]
    # each of B's ids answers exactly like an id that does not exist (the body names only the id that was sent)
    pairs = [(("GET", f"/api/cases/{theirs['id']}", None), ("GET", f"/api/cases/{NOBODY}", None), theirs["id"]),
             (("POST", f"/api/tasks/{their_task}/complete", {"data": {"異動日": "2026-06-09"}}),
              ("POST", f"/api/tasks/{NOBODY}/complete", {"data": {"異動日": "2026-06-09"}}), their_task),
             (("POST", f"/api/tasks/{their_task}/claim", None), ("POST", f"/api/tasks/{NOBODY}/claim", None),
              their_task),
             (("POST", f"/api/tasks/{their_task}/release", None), ("POST", f"/api/tasks/{NOBODY}/release", None),
              their_task)]
    for (method, path, body), (_, nobody_path, _), sent in pairs:
        response = call(client, tokens[A], method, path, body)
        missing = call(client, tokens[A], method, nobody_path, body)
        assert response.status_code == missing.status_code == 404, (path, response.get_json())
        assert response.get_data(as_text=True).replace(sent, NOBODY) == missing.get_data(as_text=True)
        others = {theirs["id"], their_task} - {sent}
        assert not any(value in response.get_data(as_text=True) for value in others)
    rules = call(client, tokens[A], "POST", "/api/decisions/evaluate",
                 {"municipality": B, "procedure": "一日負担額", "input": {}})
    assert rules.status_code == 404
    listed = call(client, tokens[A], "GET", "/api/tasks").get_data(as_text=True)
    assert mine["id"] in listed and theirs["id"] not in listed
    assert call(client, tokens[A], "GET", f"/api/tasks?municipality={B}").get_json() == {"tasks": []}
    assert call(client, tokens[A], "GET", f"/api/tasks?case_id={theirs['id']}").get_json() == {"tasks": []}
    refused = call(client, tokens[A], "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": B})
    unknown = call(client, tokens[A], "POST", "/api/cases", {"process_id": "Process_Deadline", "municipality": "999999"})
    assert refused.status_code == unknown.status_code == 404
    assert refused.get_data(as_text=True) == unknown.get_data(as_text=True)
    with app.app_context():  # nothing of B changed
        from web.db import get_session
        assert get_session().get(CaseInstance, theirs["id"]).version == 1
        assert get_session().get(CaseTask, their_task).assignee is None


def _token_row(app: Flask, login: str) -> tuple[Any, Any]:
    with app.app_context():
        from web.db import get_session
        s = get_session()
        row = s.execute(select(ApiToken.last_used_at, ApiToken.revoked_at).join(
            UserAccount, UserAccount.id == ApiToken.user_id).where(UserAccount.login == login)).one()
        s.rollback()
        # SQLite gives back naive UTC
        return tuple(v.replace(tzinfo=dt.UTC) if v is not None and v.tzinfo is None else v for v in row)


def test_a_token_is_touched_at_most_once_a_minute_and_refused_once_revoked_or_its_user_disabled(api: Any) -> None:
    app, tokens = api
    client = app.test_client()
    start = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)
    with clock.frozen(start) as now:
        assert call(client, tokens[A], "GET", "/api/tasks").status_code == 200
        assert _token_row(app, "a-clerk")[0] == start  # the first use is written
        now.advance(seconds=59)
        assert call(client, tokens[A], "GET", "/api/tasks").status_code == 200
        assert _token_row(app, "a-clerk")[0] == start  # not again within the minute
        now.advance(seconds=2)
        assert call(client, tokens[A], "GET", "/api/tasks").status_code == 200
        assert _token_row(app, "a-clerk")[0] == start + dt.timedelta(seconds=61)
        with app.app_context():
            from web.db import get_session
            s = get_session()
            assert accounts.revoke_tokens(s, login="a-clerk", actor="admin") == 1
            accounts.disable(s, login="b-clerk", reason="異動", actor="admin")
            s.commit()
        for token in (tokens[A], tokens[B]):
            response = call(client, token, "GET", "/api/tasks")
            assert response.status_code == 401 and response.get_json()["error"]["code"] == "HTTP401"
        assert _token_row(app, "a-clerk") == (start + dt.timedelta(seconds=61), start + dt.timedelta(seconds=61))


def test_errors_carry_the_diagnostic(api: Any) -> None:
    app, tokens = api
    client = app.test_client()
    case = _start(client, tokens[A], A)
    response = call(client, tokens[A], "POST", f"/api/tasks/{case['tasks'][0]['id']}/complete",
                    {"data": {"異動日": "きのう"}})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"].startswith("ENG") and error["message"] and "where" in error
    assert response.get_json()["diagnostics"][0]["code"] == error["code"]
    assert call(client, tokens[A], "POST", "/api/cases", ["not", "an", "object"]).get_json()["error"]["code"] == "INP806"


def test_decisions_with_explanations(api: Any) -> None:
    app, tokens = api
    response = call(app.test_client(), tokens[A], "POST", "/api/decisions/evaluate", {
        "municipality": A, "procedure": "窓口負担額", "input": {
            "診療日": "2025-06-02", "生年月日": "2015-06-01", "区分": "通院", "所得割非課税世帯": False,
            "保険診療の自己負担額": 1260}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["value"], body["type"]) == (500, "金額") and body["trace"]["name"] == "窓口負担額"


def _transitions(app: Flask, case_id: str) -> tuple[int, int]:
    with app.app_context():
        from web.db import get_session
        s = get_session()
        version = s.scalar(select(CaseInstance.version).where(CaseInstance.id == case_id))
        completed = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == "task.completed"))
        return int(version or 0), int(completed or 0)


def test_200_retries_with_one_idempotency_key_act_once(api: Any) -> None:
    app, tokens = api
    client = app.test_client()
    case = _start(client, tokens[A], A)
    task = case["tasks"][0]["id"]
    answers = [call(client, tokens[A], "POST", f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-09"}},
                    **{"Idempotency-Key": "retry-1"}) for _ in range(200)]
    assert {r.status_code for r in answers} == {200}
    assert [r.headers.get("Idempotent-Replayed") for r in answers].count("true") == 199
    assert len({json.dumps(r.get_json(), sort_keys=True) for r in answers}) == 1  # the same answer each time
    assert _transitions(app, case["id"]) == (2, 1)
    other = call(client, tokens[A], "POST", f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-08"}},
                 **{"Idempotency-Key": "retry-1"})
    assert other.status_code == 422 and _transitions(app, case["id"]) == (2, 1)
    # another user's identical key is theirs alone, and without a key a second completion is refused
    again = call(client, tokens[A], "POST", f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-09"}})
    assert again.status_code == 409 and _transitions(app, case["id"]) == (2, 1)


def test_a_start_retried_with_its_idempotency_key_starts_one_case(api: Any) -> None:
    app, tokens = api
    client = app.test_client()
    body = {"process_id": "Process_Deadline", "municipality": A}
    answers = [call(client, tokens[A], "POST", "/api/cases", body, **{"Idempotency-Key": "start-1"}) for _ in range(5)]
    assert {r.status_code for r in answers} == {201}, answers[0].get_json()
    assert [r.headers.get("Idempotent-Replayed") for r in answers].count("true") == 4
    assert len({r.get_json()["id"] for r in answers}) == 1
    with app.app_context():
        from web.db import get_session
        assert get_session().scalar(select(func.count()).select_from(CaseInstance)) == 1
    # a refusal is kept as well: the same key and body answer the same 404 (no such process) without acting
    wrong = {"process_id": "Process_Nai", "municipality": A}
    refused = [call(client, tokens[A], "POST", "/api/cases", wrong, **{"Idempotency-Key": "start-2"}) for _ in range(2)]
    assert [r.status_code for r in refused] == [404, 404] and refused[1].headers.get("Idempotent-Replayed") == "true"
    assert call(client, tokens[A], "POST", "/api/cases", body).status_code == 201  # without a key: a new case


@pytest.mark.postgres
def test_concurrent_duplicates_act_once(postgres_url: str) -> None:
    # on PostgreSQL, where requests really run at once (SQLite serialises writers)
    setup = _api(postgres_url)
    app, tokens = next(setup)
    case = _start(app.test_client(), tokens[A], A)
    task = case["tasks"][0]["id"]
    barrier = threading.Barrier(8)
    results: list[tuple[int, str | None]] = []

    def contender() -> None:
        client = app.test_client()
        barrier.wait()
        response = call(client, tokens[A], "POST", f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-09"}},
                        **{"Idempotency-Key": "race-1"})
        results.append((response.status_code, response.headers.get("Idempotent-Replayed")))

    threads = [threading.Thread(target=contender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r for r in results if r == (200, None)] == [(200, None)]  # exactly one acted
    assert all(status in (200, 409) for status, _ in results)
    assert _transitions(app, case["id"]) == (2, 1)
    setup.close()


def test_the_openapi_document_covers_every_api_route(api: Any) -> None:
    app, _ = api
    response = app.test_client().get("/api/openapi.json", base_url="https://localhost")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0" and "bearer" in doc["components"]["securitySchemes"]
    routes = {(rule.rule.replace("<", "{").replace(">", "}"), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented


def test_claim_release_and_the_inbox_of_mine(database_url: str) -> None:
    users = {"one": ("a-one", f"{A}:clerk"), "two": ("a-two", f"{A}:clerk"), "audit": ("a-audit", f"{A}:auditor")}
    for app, tokens in api_app(database_url, users):
        client = app.test_client()
        task = _start(client, tokens["one"], A)["tasks"][0]["id"]
        claimed = call(client, tokens["one"], "POST", f"/api/tasks/{task}/claim")
        assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "a-one"
        assert call(client, tokens["one"], "POST", f"/api/tasks/{task}/claim").status_code == 200  # again: same
        mine = call(client, tokens["one"], "GET", "/api/tasks?mine=true").get_json()["tasks"]
        assert [t["id"] for t in mine] == [task]
        assert call(client, tokens["two"], "GET", "/api/tasks?mine=true").get_json() == {"tasks": []}
        for path, body in ((f"/api/tasks/{task}/claim", None), (f"/api/tasks/{task}/release", None),
                           (f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-09"}})):
            taken = call(client, tokens["two"], "POST", path, body)
            assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "ENG524", path
        assert call(client, tokens["audit"], "POST", f"/api/tasks/{task}/claim").status_code == 403  # reads only
        released = call(client, tokens["one"], "POST", f"/api/tasks/{task}/release")
        assert released.status_code == 200 and released.get_json()["assignee"] is None
        done = call(client, tokens["two"], "POST", f"/api/tasks/{task}/complete", {"data": {"異動日": "2026-06-09"}})
        assert done.status_code == 200, done.get_json()
        assert call(client, tokens["one"], "GET", "/api/tasks?mine=maybe").status_code == 422


def test_a_linked_account_acts_as_its_person_in_the_organisation(org: Any, database_url: str) -> None:
    """`jichi user add --person`: the positions (職) come from the organisation chart, so the inbox of mine
    holds what is addressed to the position this person holds that day, and nobody else may claim it."""
    from engine import clock
    from engine.models import UserAccount
    from tests.test_positions import _start as start_shokui

    def day() -> Any:
        return clock.frozen(dt.datetime(2026, 3, 30, 1, tzinfo=dt.UTC))

    with day():
        case_id = start_shokui(org)
    users = {"kacho": ("suzuki-i", f"{A}:approver"), "clerk": ("a-clerk", f"{A}:clerk")}
    for app, tokens in api_app(database_url, users):
        with app.app_context():
            from web.db import get_session
            s = get_session()
            s.scalars(select(UserAccount).where(UserAccount.login == "suzuki-i")).one().person_code = "suzuki"
            s.commit()
        client = app.test_client()
        with day():
            (task,) = call(client, tokens["kacho"], "GET", "/api/tasks?mine=true").get_json()["tasks"]
            assert (task["case_id"], task["position"]) == (case_id, "kodomo.katei.kacho")
            assert call(client, tokens["clerk"], "GET", "/api/tasks?mine=true").get_json() == {"tasks": []}
            refused = call(client, tokens["clerk"], "POST", f"/api/tasks/{task['id']}/claim")
            assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "ENG519"
            claimed = call(client, tokens["kacho"], "POST", f"/api/tasks/{task['id']}/claim")
            assert claimed.get_json()["assignee"] == "suzuki"
