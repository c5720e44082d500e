"""Request ids (web/request_id.py): every answer has one in X-Request-Id; an error page shows it as 問い合わせ番号 and
the JSON API's error carries it; the app's log lines of that request begin with it, so an operator finds the
traceback of the failure a user reports. A proxy's id is kept only behind trusted proxies and only as a plain token."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from web import create_app

HTTPS = "https://localhost"


def _app(tmp_path: Path, **config: Any) -> Flask:
    from engine.db import upgrade

    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, **config})
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the error handlers answer

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("something the code did not expect")

    @app.get("/api/boom")
    def api_boom() -> str:
        raise OperationalError("UPDATE case_instance …", {}, Exception("server closed the connection"))

    return app


def test_a_failed_request_s_id_is_on_its_page_and_on_its_log_lines(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    app = _app(tmp_path)
    with caplog.at_level(logging.ERROR):
        page = app.test_client().get("/boom", base_url=HTTPS)
    shown = page.headers["X-Request-Id"]
    text = page.get_data(as_text=True)
    assert page.status_code == 500 and f"問い合わせ番号: <span class=\"request-id\">{shown}</span>" in text
    assert "Traceback" not in text and "something the code did not expect" not in text
    (logged,) = [r for r in caplog.records if r.exc_info]
    assert logged.getMessage() == f"[{shown}] unhandled error" and "RuntimeError" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.ERROR):
        answer = app.test_client().get("/api/boom", base_url=HTTPS)
    error = answer.get_json()["error"]
    assert answer.status_code == 503 and error["code"] == "ENG540"
    assert error["request_id"] == answer.headers["X-Request-Id"] != shown  # each request its own
    assert caplog.records[0].getMessage() == f"[{error['request_id']}] database error"


def test_every_answer_has_an_id_and_a_proxy_s_is_kept_only_behind_trusted_proxies(tmp_path: Path) -> None:
    given = "0f3c9a7e5b1d4c2a8e6f0a1b2c3d4e5f"  # nginx's $request_id
    alone = _app(tmp_path).test_client()
    first, second = alone.get("/healthz").headers["X-Request-Id"], alone.get("/healthz").headers["X-Request-Id"]
    assert len(first) == 16 and first != second
    missing = alone.get("/no-such-page")  # a refusal: the id in its header only, its page the same for everyone
    assert len(missing.headers["X-Request-Id"]) == 16 and "問い合わせ番号" not in missing.get_data(as_text=True)
    assert alone.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"] != given  # no proxy: ignored
    behind = _app(tmp_path, TRUSTED_PROXIES="1").test_client()
    assert behind.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"] == given
    for hostile in ("abc", "x" * 65, "id with spaces", "id\\nforged log line", "<script>"):
        kept = behind.get("/healthz", headers={"X-Request-Id": hostile}).headers["X-Request-Id"]
        assert kept != hostile and len(kept) == 16
