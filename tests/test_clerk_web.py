"""The clerk's pages without a browser (Flask's test client): sign-in required, htmx fragments and 422 answers,
rows added and removed without JavaScript, read-only roles, claimed tasks, hostile posts, the case timeline."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api_support import HTTPS, api_app

A = "162108"  # 南砺市: its pack sets the 住民票 fee
PASSWORD = "窓口の長いパスフレーズです"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    users = {"clerk": ("madoguchi", f"{A}:clerk"), "other": ("tonari", f"{A}:clerk"), "audit": ("kansa", f"{A}:auditor"),
             "analyst": ("bunseki", f"{A}:analyst")}
    for flask_app, _ in api_app(database_url, users, password=PASSWORD):
        flask_app.extensions.pop("jichi.cases")  # the project's procedures and packs, not the test fixtures
        yield flask_app


def signed_in(app: Flask, login: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    page = client.get("/login", base_url=HTTPS).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    assert client.post("/login", base_url=HTTPS, data={"login": login, "password": PASSWORD,
                                                      "csrf_token": token.group(1)}).status_code == 302
    inbox = client.get("/inbox", base_url=HTTPS).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', inbox)
    assert csrf is not None
    return client, csrf.group(1)


def _start(client: FlaskClient, csrf: str) -> str:
    answer = client.post("/cases/new", base_url=HTTPS, data={"csrf_token": csrf, "municipality": A,
                                                             "process": "Process_JuminhyoKofu"})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return str(answer.headers["Location"])


def test_pages_need_sign_in(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/inbox?list=group", base_url=HTTPS)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=/inbox")
    fragment = client.get("/inbox", base_url=HTTPS, headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith("/login")


def test_htmx_gets_fragments_and_422_inline_errors(app: Flask) -> None:
    client, csrf = signed_in(app, "madoguchi")
    task = _start(client, csrf)
    answer = client.post(task, base_url=HTTPS, headers={"HX-Request": "true"},
                         data={"csrf_token": csrf, "受付日": "R8.2.30", "請求通数": "x"})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "<html" not in body and 'id="task-form"' in body
    assert 'aria-invalid="true"' in body and "存在しない日付" in body and 'value="R8.2.30"' in body
    done = client.post(task, base_url=HTTPS, headers={"HX-Request": "true"},
                       data={"csrf_token": csrf, "受付日": "R8.4.1", "請求者区分": "本人", "郵送請求": "false",
                             "請求通数": "1", "then": "next"})
    assert done.status_code == 204 and done.headers["HX-Redirect"].startswith("/tasks/")
    inbox = client.get("/inbox", base_url=HTTPS, headers={"HX-Request": "true", "HX-Target": "inbox"})
    assert inbox.get_data(as_text=True).lstrip().startswith("<section id=\"inbox\"")


def test_rows_are_added_and_removed_without_javascript(app: Flask) -> None:
    client, csrf = signed_in(app, "madoguchi")
    task = _start(client, csrf)
    client.post(task, base_url=HTTPS, data={"csrf_token": csrf, "受付日": "R8.4.1", "請求者区分": "本人",
                                           "郵送請求": "false", "請求通数": "1", "then": "next"})
    identity = client.get("/inbox?list=group", base_url=HTTPS).get_data(as_text=True)
    link = re.search(r'href="(/tasks/[^"]+)">本人確認<', identity)
    assert link is not None
    path = link.group(1)
    added = client.post(path, base_url=HTTPS, data={"csrf_token": csrf, "_add": "本人確認書類"}).get_data(as_text=True)
    assert 'name="本人確認書類/0/種別"' in added and 'name="本人確認書類/1/種別"' not in added
    two = client.post(path, base_url=HTTPS, data={"csrf_token": csrf, "_add": "本人確認書類",
                                                 "本人確認書類/0/種別": "旅券"}).get_data(as_text=True)
    assert 'name="本人確認書類/1/種別"' in two and 'value="旅券"' in two
    one = client.post(path, base_url=HTTPS, data={"csrf_token": csrf, "_remove": "本人確認書類/0",
                                                 "本人確認書類/0/種別": "旅券", "本人確認書類/1/種別": "在留カード"})
    assert 'value="在留カード"' in one.get_data(as_text=True) and 'value="旅券"' not in one.get_data(as_text=True)


def test_a_task_claimed_by_another_and_a_reading_role(app: Flask) -> None:
    client, csrf = signed_in(app, "madoguchi")
    task = _start(client, csrf)  # the one who starts it claims its first task
    other, other_csrf = signed_in(app, "tonari")
    page = other.get(task, base_url=HTTPS).get_data(as_text=True)
    assert "madoguchi が担当しています" in page and "完了する" not in page
    refused = other.post(task, base_url=HTTPS, data={"csrf_token": other_csrf, "受付日": "R8.4.1"})
    assert refused.status_code == 409
    auditor, audit_csrf = signed_in(app, "kansa")
    assert "閲覧だけ" in auditor.get(task, base_url=HTTPS).get_data(as_text=True)
    assert auditor.post(task, base_url=HTTPS, data={"csrf_token": audit_csrf, "受付日": "R8.4.1"}).status_code == 403
    assert auditor.post("/cases/new", base_url=HTTPS, data={"csrf_token": audit_csrf, "municipality": A,
                                                            "process": "Process_JuminhyoKofu"}).status_code == 404


def test_hostile_posts_change_nothing_and_show_no_trace(app: Flask) -> None:
    client, csrf = signed_in(app, "madoguchi")
    task = _start(client, csrf)
    for data in ({"受付日": "{{7*7}}", "請求通数": "__import__('os')"}, {"受付日/0/1/2/3/4/5/6": "x"},
                 {"受付日": "R8.4.1" * 1000}, {"請求通数": "9" * 400}):
        answer = client.post(task, base_url=HTTPS, data={"csrf_token": csrf, **data})
        body = answer.get_data(as_text=True)
        assert answer.status_code == 422 and "Traceback" not in body
        assert "受付日" not in data or data["受付日"][:20] in body  # shown back as typed, never evaluated
    assert client.post("/inbox/tasks/nope/claim", base_url=HTTPS, data={"csrf_token": csrf}).status_code == 404
    assert client.post("/inbox/tasks/nope/delete", base_url=HTTPS, data={"csrf_token": csrf}).status_code == 404
    assert client.post("/cases/new", base_url=HTTPS, data={"csrf_token": csrf, "municipality": A,
                                                           "process": "Process_Nothing"}).status_code == 404


def test_the_case_page_shows_the_timeline_and_the_diagram_source(app: Flask) -> None:
    client, csrf = signed_in(app, "madoguchi")
    task = _start(client, csrf)
    done = client.post(task, base_url=HTTPS, data={"csrf_token": csrf, "受付日": "R8.4.1", "請求者区分": "本人",
                                                   "郵送請求": "false", "請求通数": "1"})
    case = done.headers["Location"]
    page = client.get(case, base_url=HTTPS).get_data(as_text=True)
    assert "受付（案件の開始）" in page and "完了: 受付" in page and "令和8年4月1日" in page
    diagram = client.get(case.split("?")[0] + "/diagram.bpmn", base_url=HTTPS)
    assert diagram.status_code == 200 and 'id="Process_JuminhyoKofu"' in diagram.get_data(as_text=True)


def test_the_studio_is_for_analysts_only(app: Flask) -> None:
    client, csrf = signed_in(app, "madoguchi")  # a clerk of A, not an analyst
    for path in (f"/studio/{A}/simulate", f"/studio/{A}/fitgap/162108-nanto"):
        assert client.get(path, base_url=HTTPS).status_code == 404, path
    assert client.post(f"/studio/{A}/simulate", base_url=HTTPS, data={"csrf_token": csrf}).status_code == 404
    assert "業務分析" in client.get("/studio/", base_url=HTTPS).get_data(as_text=True)  # says who may use it


def test_the_simulation_form_reads_lists_and_refuses_what_it_cannot_read(app: Flask) -> None:
    """The standard data of 児童手当の月額 is a list of 児童情報: rows are added and removed on the server, each row's
    fields are typed (和暦 dates, yes/no), and a hostile or unreadable post is a diagnostic, never an evaluation."""
    client, csrf = signed_in(app, "bunseki")
    url = f"/studio/{A}/simulate"
    base = {"csrf_token": csrf, "procedure": "児童手当の月額", "on": "R8.4.1", "mode": "form"}
    shown = client.post(url, base_url=HTTPS, data={**base, "_show": "1"}).get_data(as_text=True)
    assert "「児童手当の月額」が読む標準のデータ" in shown and 'name="_add" value="児童"' in shown
    added = client.post(url, base_url=HTTPS, data={**base, "_add": "児童"}).get_data(as_text=True)
    assert 'name="児童/0/生年月日"' in added and 'name="児童/0/監護"' in added
    row = {"児童/0/名前": "一郎", "児童/0/生年月日": "R5.5.1", "児童/0/監護": "true", "児童/0/生計費負担": "false"}
    two = client.post(url, base_url=HTTPS, data={**base, **row, "_add": "児童"}).get_data(as_text=True)
    assert 'name="児童/1/生年月日"' in two and 'value="R5.5.1"' in two  # kept as typed
    removed = client.post(url, base_url=HTTPS, data={**base, **row, "_remove": "児童/0"}).get_data(as_text=True)
    assert 'name="児童/0/生年月日"' not in removed
    evaluated = client.post(url, base_url=HTTPS, data={**base, **row})
    page = html.unescape(evaluated.get_data(as_text=True))
    assert evaluated.status_code == 200 and "<output>" in page and '"生年月日": "2023-05-01"' in page
    bad = client.post(url, base_url=HTTPS, data={**base, **row, "児童/0/生年月日": "令和5年13月1日",
                                                  "児童/99999/名前": "x", "<script>": "1"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "INP809" in text and "<output>" not in text and "Traceback" not in text
    assert client.post(url, base_url=HTTPS, data={**base, "mode": "json", "input": "[" * 200_001}).status_code == 422


def test_a_database_failure_under_a_page_is_the_japanese_503_page(app: Flask) -> None:
    """The clerk's page when the database fails mid-request (tests/test_fault_injection.py injects the same
    error into the API): ENG540's message, Retry-After, no trace; the next request works again."""
    from tests.test_fault_injection import Injector
    from web.db import get_engine

    client, _ = signed_in(app, "madoguchi")
    with app.app_context():
        injector = Injector(get_engine())
    for n in (1, 2, 3):  # the session check, and the statements after it
        injector.arm(n)
        page = client.get("/inbox", base_url=HTTPS)
        injector.disarm()
        text = page.get_data(as_text=True)
        assert injector.fired == n and page.status_code == 503 and page.headers["Retry-After"] == "5", text
        assert "データベースの一時的な障害で処理を完了できませんでした" in text and "Traceback" not in text
    assert client.get("/inbox", base_url=HTTPS).status_code == 200


def test_a_list_longer_than_the_count_limit_says_so(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.inbox

    monkeypatch.setattr(engine.inbox, "PAGE_SIZE", 1)
    monkeypatch.setattr(engine.inbox, "COUNT_LIMIT", 2)
    client, csrf = signed_in(app, "madoguchi")
    for _ in range(3):
        _start(client, csrf)
    first = html.unescape(client.get("/inbox?list=mine", base_url=HTTPS).get_data(as_text=True))
    assert '<span class="count">2+</span>' in first and "2 件以上（期限の近い順）" in first
    assert "1 / 2+ ページ" in first and "件より先は表示しません" not in first
    last = html.unescape(client.get("/inbox?list=mine&page=2", base_url=HTTPS).get_data(as_text=True))
    assert "2 件より先は表示しません。手続き・期限・氏名で絞り込んでください。" in last


def test_tasks_of_one_step_are_completed_together_from_the_inbox(app: Flask) -> None:
    # 一括処理: choose in the inbox, fill the step's form once, every case advances as its own audited step
    client, csrf = signed_in(app, "madoguchi")
    tasks = [_start(client, csrf).rsplit("/", 1)[1] for _ in range(3)]
    inbox = client.get("/inbox", base_url=HTTPS).get_data(as_text=True)  # the starter's own 受付
    assert 'id="batch"' in inbox and all(f'form="batch" name="task" value="{t}"' in inbox for t in tasks)
    chosen = {"csrf_token": csrf, "task": tasks}
    page = client.post("/tasks/batch", base_url=HTTPS, data=chosen)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "一括処理: 受付（3 件）" in body and 'name="受付日"' in body
    assert all(f'name="task" value="{t}"' in body for t in tasks)
    wrong = client.post("/tasks/batch", base_url=HTTPS, data={**chosen, "_confirm": "1", "受付日": "R8.2.30",
                                                              "請求者区分": "本人", "郵送請求": "false", "請求通数": "1"})
    assert wrong.status_code == 422 and "存在しない日付" in wrong.get_data(as_text=True)
    assert client.post("/tasks/batch", base_url=HTTPS, data=chosen).status_code == 200  # nothing was completed
    done = client.post("/tasks/batch", base_url=HTTPS, data={**chosen, "_confirm": "1", "受付日": "R8.4.1",
                                                             "請求者区分": "本人", "郵送請求": "false", "請求通数": "2"})
    result = done.get_data(as_text=True)
    assert done.status_code == 200 and "完了 3 件、受け付けられなかったもの 0 件" in result, result
    assert result.count("完了（次: 本人確認）") == 3
    again = client.post("/tasks/batch", base_url=HTTPS, data={**chosen, "_confirm": "1", "受付日": "R8.4.1",
                                                              "請求者区分": "本人", "郵送請求": "false", "請求通数": "2"})
    assert "完了 0 件、受け付けられなかったもの 3 件" in again.get_data(as_text=True)  # each was done once
    inbox = client.get("/inbox?list=group", base_url=HTTPS).get_data(as_text=True)
    assert inbox.count(">本人確認<") == 3


def test_a_batch_of_different_steps_or_unknown_tasks_is_refused(app: Flask) -> None:
    client, csrf = signed_in(app, "madoguchi")
    first = _start(client, csrf)
    second = _start(client, csrf).rsplit("/", 1)[1]
    client.post(first, base_url=HTTPS, data={"csrf_token": csrf, "受付日": "R8.4.1", "請求者区分": "本人",
                                            "郵送請求": "false", "請求通数": "1", "then": "next"})
    inbox = client.get("/inbox?list=group", base_url=HTTPS).get_data(as_text=True)
    identity = re.search(r'href="/tasks/([^"]+)">本人確認<', inbox)
    assert identity is not None
    for tasks, message in (([], "選んでください"), ([identity.group(1), second], "同じ手続きの同じ手順"),
                           ([second, "00000000-0000-0000-0000-000000000000"], "一部が見つかりません"),
                           ([f"{n:036d}" for n in range(101)], "100 件まで")):
        answer = client.post("/tasks/batch", base_url=HTTPS, data={"csrf_token": csrf, "task": tasks, "_confirm": "1"})
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), message
    assert client.post("/tasks/batch", base_url=HTTPS, data={"task": [second]}).status_code == 403  # no CSRF token
