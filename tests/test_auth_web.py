"""Signing in on the web: the session id changes at login, a logged-out session cannot be reused, CSRF on every
non-GET (403 without a token), the security headers on every response (pages, errors, static), 429 with
Retry-After when sign-ins are rate limited, and no open redirect after signing in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import accounts
from engine.db import make_engine, make_session_factory, upgrade
from engine.demo import load_demo
from engine.models import LoginAttempt, WebSession
from web import create_app

PASSWORD = "窓口の長いパスフレーズです"
HTTPS = "https://localhost"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'jichi.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        load_demo(s)
        accounts.add_user(s, login="yamada", display_name="山田 花子", actor="admin")
        accounts.set_password(s, login="yamada", password=PASSWORD, actor="admin")
        accounts.grant(s, login="yamada", municipality="141305", role="clerk", actor="admin")
        s.commit()
    engine.dispose()
    yield create_app({"TESTING": True, "DATABASE_URL": url})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path, base_url=HTTPS).get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m is not None, page
    return m.group(1)


def _login(client: FlaskClient, password: str = PASSWORD, next_: str = "/") -> object:
    return client.post("/login", base_url=HTTPS, data={"login": "yamada", "password": password, "next": next_,
                                                        "csrf_token": _csrf(client)})


def _session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("__Host-jichi_session", domain="localhost")
    return cookie.value if cookie is not None else None


def test_session_id_changes_at_login_and_is_httponly_secure(client: FlaskClient) -> None:
    response = _login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    first = _session_cookie(client)
    set_cookie = response.headers["Set-Cookie"]
    assert "__Host-jichi_session=" in set_cookie and "Secure" in set_cookie and "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie and "Path=/" in set_cookie and "Domain" not in set_cookie
    page = client.get("/", base_url=HTTPS).get_data(as_text=True)
    assert "山田 花子" in page and "ログアウト" in page
    _login(client)  # signing in again, even while signed in, gives a new session and ends the old one
    second = _session_cookie(client)
    assert first and second and first != second
    with client.application.app_context():
        from web.db import get_session
        rows = get_session().scalars(select(WebSession).order_by(WebSession.created_at)).all()
        assert [r.revoked_reason for r in rows] == ["replaced", None]


def test_a_logged_out_session_cannot_be_reused(client: FlaskClient) -> None:
    _login(client)
    token = _session_cookie(client)
    csrf = _csrf(client, "/")
    assert client.post("/logout", base_url=HTTPS, data={"csrf_token": csrf}).status_code == 302
    assert _session_cookie(client) is None
    client.set_cookie("__Host-jichi_session", token or "", domain="localhost", secure=True)  # replay the old cookie
    page = client.get("/", base_url=HTTPS).get_data(as_text=True)
    assert "山田 花子" not in page and "ログイン" in page


def test_wrong_password_is_401_without_saying_which_part_was_wrong(client: FlaskClient) -> None:
    response = _login(client, password="まちがったパスワードです")
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "ログイン名またはパスワードが違います" in page and "まちがったパスワード" not in page
    assert _session_cookie(client) is None


def test_rate_limited_sign_in_is_429_with_retry_after(client: FlaskClient) -> None:
    for _ in range(accounts.MAX_FAILURES_PER_LOGIN):
        assert _login(client, password="まちがったパスワードです").status_code == 401
    response = _login(client)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert "秒後にもう一度" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/login", "/logout"])
def test_csrf_is_required_for_every_post(client: FlaskClient, path: str) -> None:
    assert client.post(path, base_url=HTTPS, data={"login": "yamada", "password": PASSWORD}).status_code == 403
    _csrf(client)  # a pre-sign-in token cookie now exists, but the form must still carry it
    assert client.post(path, base_url=HTTPS, data={"login": "yamada", "password": PASSWORD,
                                                   "csrf_token": "forged"}).status_code == 403
    assert _session_cookie(client) is None


def test_signed_in_posts_need_the_sessions_token(client: FlaskClient) -> None:
    pre = _csrf(client)
    _login(client)
    assert client.post("/logout", base_url=HTTPS, data={"csrf_token": pre}).status_code == 403  # not the session's
    assert client.post("/logout", base_url=HTTPS, headers={"X-CSRF-Token": _csrf(client, "/")}).status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_no_open_redirect_after_sign_in(client: FlaskClient, target: str) -> None:
    assert _login(client, next_=target).headers["Location"] == "/inbox"


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/login"), ("GET", "/no-such-page"),
                                              ("GET", "/static/jichi.css"), ("POST", "/logout"), ("GET", "/healthz")])
def test_security_headers_on_every_response(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method, base_url=HTTPS)
    csp = response.headers["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'"):
        assert directive in csp
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp and re.search(r"'nonce-[\w-]{16,}'", csp)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    response.close()  # a static file's response holds the file open


def test_each_response_has_its_own_nonce(client: FlaskClient) -> None:
    nonces = {client.get("/login", base_url=HTTPS).headers["Content-Security-Policy"] for _ in range(3)}
    assert len(nonces) == 3


def test_pages_are_not_cached(client: FlaskClient) -> None:
    _login(client)
    assert client.get("/", base_url=HTTPS).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("proxies", "recorded"), [(None, "127.0.0.1"), (1, "203.0.113.7")])
def test_the_client_address_comes_from_a_proxy_only_when_trusted(app: Flask, proxies: int | None,
                                                                 recorded: str) -> None:
    if proxies is not None:
        app = create_app({**app.config, "TRUSTED_PROXIES": proxies})
    client = app.test_client()
    response = client.post("/login", base_url=HTTPS, environ_base={"REMOTE_ADDR": "127.0.0.1"},
                           headers={"X-Forwarded-For": "203.0.113.7"},
                           data={"login": "yamada", "password": "まちがったパスワードです", "csrf_token": _csrf(client)})
    assert response.status_code == 401
    engine = make_engine(app.config["DATABASE_URL"])
    with make_session_factory(engine)() as s:
        assert s.scalars(select(LoginAttempt.remote)).all() == [recorded]  # the rate limit counts this address
    engine.dispose()


@pytest.mark.parametrize("value", ["-1", "many", "6"])
def test_a_wrong_number_of_proxies_is_refused_at_start(app: Flask, value: str) -> None:
    with pytest.raises(ValueError, match="JICHI_TRUSTED_PROXIES"):
        create_app({**app.config, "TRUSTED_PROXIES": value})
