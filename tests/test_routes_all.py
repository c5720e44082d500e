"""Every route of the app, found in its URL map (so a route added later is covered without editing this file):

- GET, HEAD and OPTIONS change nothing, signed in by token or by browser session; only the audit log may grow
  and the session's own bookkeeping (last seen, last use of a token) may move;
- as a user of municipality A, every route and method given municipality B's ids answers 404, exactly like an
  id that does not exist, and names nothing of B.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import MetaData, select

from engine import accounts
from engine.db import make_engine, make_session_factory
from tests.api_support import HTTPS, api_app, call

A, B = "141305", "272078"
NOBODY = "00000000-0000-0000-0000-000000000000"
PASSWORD = "窓口の長いパスフレーズです"
SAFE = ("GET", "HEAD", "OPTIONS")
# tables of the audit log, which reads may append to; columns that only record that a session was used
AUDIT_TABLES = {"audit_event", "audit_personal", "audit_head"}
BOOKKEEPING = {("web_session", "last_seen_at"), ("api_token", "last_used_at")}
ID_PARAMETERS = {"case_id", "task_id"}


@pytest.fixture
def seeded(database_url: str) -> Iterator[tuple[Flask, dict[str, str], dict[str, dict[str, str]]]]:
    for app, tokens in api_app(database_url, {A: ("a-clerk", f"{A}:clerk"), B: ("b-clerk", f"{B}:clerk")}):
        ids = {}
        for code in (A, B):
            case = call(app, tokens[code], "POST", "/api/cases", {"process_id": "Process_Deadline",
                                                                   "municipality": code}).get_json()
            ids[code] = {"case_id": case["id"], "task_id": case["tasks"][0]["id"]}
        engine = make_engine(database_url)
        with make_session_factory(engine)() as s:
            accounts.set_password(s, login="a-clerk", password=PASSWORD, actor="admin")
            s.commit()
        engine.dispose()
        yield app, tokens, ids


def _routes(app: Flask) -> list[tuple[str, str, set[str]]]:
    """(method, rule, its parameters) for every rule and method of the app."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods or ()):
            found.append((method, rule.rule, set(rule.arguments)))
    return found


OTHER_PARAMETERS = {"action": "claim", "filename": "jichi.css", "notice_id": "jido_teate.nintei_tsuchi",
                    "code": "141305", "pack_id": "141305-kawasaki", "run_id": "1"}


def _path(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: {**OTHER_PARAMETERS, **values}[m.group(1)], rule)


def _comparable(text: str) -> str:
    """A page without its per-request tokens (CSRF, CSP nonce), which differ between any two answers."""
    return re.sub(r'("X-CSRF-Token": "|name="csrf_token" value="|nonce=")[^"]*', r"\1…", text)


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as c:
        for name, table in metadata.tables.items():
            if name in AUDIT_TABLES:
                continue
            columns = [col for col in table.columns if (name, col.name) not in BOOKKEEPING]
            tables[name] = sorted(tuple(str(v) for v in row) for row in c.execute(select(*columns)))
    engine.dispose()
    return tables


def _signed_in_browser(app: Flask) -> Any:
    client = app.test_client()
    page = client.get("/login", base_url=HTTPS).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    answer = client.post("/login", base_url=HTTPS, data={"login": "a-clerk", "password": PASSWORD,
                                                         "csrf_token": token.group(1)})
    assert answer.status_code == 302
    return client


def test_safe_methods_change_nothing_but_the_audit_log(seeded: Any, database_url: str) -> None:
    app, tokens, ids = seeded
    browser = _signed_in_browser(app)
    before = _snapshot(database_url)
    answered = []
    for method, rule, _ in _routes(app):
        if method not in SAFE:
            continue
        for values in (ids[A], ids[B], {"case_id": NOBODY, "task_id": NOBODY}):
            path = _path(rule, values)
            by_token = app.test_client().open(path, method=method, base_url=HTTPS,
                                              headers={"Authorization": f"Bearer {tokens[A]}"})
            by_session = browser.open(path, method=method, base_url=HTTPS)
            assert by_token.status_code < 500 and by_session.status_code < 500, (method, path)
            answered.append((method, path, by_token.status_code))
            by_token.close()
            by_session.close()
    assert any(status == 200 and "/api/cases/" in path for _, path, status in answered)  # reads did happen
    assert _snapshot(database_url) == before


def test_bs_ids_are_404_on_every_route_and_method(seeded: Any) -> None:
    app, tokens, ids = seeded
    with_ids = [(m, rule, params) for m, rule, params in _routes(app) if params & ID_PARAMETERS and m != "OPTIONS"]
    assert {rule for _, rule, _ in with_ids} >= {"/api/cases/<case_id>", "/api/tasks/<task_id>/complete"}
    for method, rule, _ in with_ids:
        body = {"data": {}} if method not in SAFE else None
        theirs = call(app, tokens[A], method, _path(rule, ids[B]), body)
        missing = call(app, tokens[A], method, _path(rule, {"case_id": NOBODY, "task_id": NOBODY}), body)
        assert theirs.status_code == missing.status_code == 404, (method, rule, theirs.get_data(as_text=True))
        text = _comparable(theirs.get_data(as_text=True))
        for value in ids[B].values():
            text = text.replace(value, NOBODY)
        assert text == _comparable(missing.get_data(as_text=True)), (method, rule)
        assert B not in text
    # B's own user still sees its objects untouched
    assert call(app, tokens[B], "GET", f"/api/cases/{ids[B]['case_id']}").get_json()["version"] == 1
