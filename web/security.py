"""The web security baseline, applied once for every request and every response (pages, fragments, errors,
static files): who is signed in (a server-side session, engine/accounts.py), CSRF on every non-GET request,
and the response headers (CSP with a per-response nonce, no-sniff, referrer policy, framing, caching).

Routes never do any of this themselves, so none can forget it.
"""

from __future__ import annotations

import secrets

from flask import Flask, abort, current_app, g, request
from werkzeug.wrappers import Response

from engine import accounts, tenancy
from engine.db import reads_without_transaction
from web.db import get_session
from web.metrics import ENDPOINT as METRICS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def cookie_names(app: Flask) -> tuple[str, str]:
    """(session cookie, pre-sign-in CSRF cookie). `__Host-` binds them to this host, path / and https."""
    secure = app.config.get("SECURE_COOKIES", True)
    prefix = "__Host-" if secure else ""
    return f"{prefix}jichi_session", f"{prefix}jichi_csrf"


def init_app(app: Flask) -> None:
    app.config.setdefault("SECURE_COOKIES", True)
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csp_nonce"] = lambda: g.get("csp_nonce", "")
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = lambda: g.get("user")


def _load_user() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)
    g.user = g.web_session = None
    g.roles = {}
    if request.endpoint in ("static", METRICS):  # the metrics' scraper is not a user (its own secret: web/metrics.py)
        return
    db = get_session()
    g.bearer = False
    authorization = request.headers.get("Authorization", "")
    session_cookie, _ = cookie_names(current_app)
    token = request.cookies.get(session_cookie)
    if authorization.startswith("Bearer "):  # the JSON API: a per-user token instead of the cookie
        g.bearer = True
        # A request of the API reads without a transaction until it writes (PostgreSQL; engine.db): no BEGIN for
        # the token's lookup and the step's read, and a task completion's one statement commits itself.
        reads_without_transaction(db)
        login = accounts.token_login(db, authorization[len("Bearer "):].strip())
        if login is not None:
            if login.touched:
                db.commit()  # the token's last use, at most once a minute
            g.user, g.roles = login.user, login.roles
    elif token:
        found = accounts.current_session(db, token)
        db.commit()  # touches last_seen, or records that the session timed out
        if found is not None:
            g.web_session, g.user = found
            g.roles = accounts.roles_of(db, g.user.id)
    # Isolation, once for every route: this request's session sees only the user's municipalities
    # (nothing at all when nobody is signed in).
    tenancy.scope(db, g.roles.keys())


def csrf_token() -> str:
    """The token forms must send back: the session's when signed in, else a pre-sign-in cookie's."""
    if g.get("web_session") is not None:
        token: str = g.web_session.csrf_token
        return token
    if "pre_csrf" not in g:
        _, csrf_cookie = cookie_names(current_app)
        g.pre_csrf = request.cookies.get(csrf_cookie) or secrets.token_urlsafe(32)
        g.set_pre_csrf = csrf_cookie not in request.cookies
    value: str = g.pre_csrf
    return value


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return  # no view runs for an unknown path or method (404, 405): nothing to protect
    if g.get("bearer"):
        return  # a token in a header is not sent by the browser on its own: no cross-site forgery
    given = request.form.get(CSRF_FIELD) if request.form else None
    given = given or request.headers.get(CSRF_HEADER)
    if g.get("web_session") is not None:
        expected = g.web_session.csrf_token
    else:
        _, csrf_cookie = cookie_names(current_app)
        expected = request.cookies.get(csrf_cookie)
    if not expected or not accounts.same_token(expected, given):
        abort(403)


def _headers(response: Response) -> Response:
    nonce = g.get("csp_nonce", "")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "form-action 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        # bpmn-js's modeler writes style attributes into its markup (its label editor, the properties panel):
        # the studio's modeler page alone allows style attributes, never style elements or scripts.
        + ("; style-src-attr 'unsafe-inline'" if g.get("csp_style_attributes") else "")
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if current_app.config.get("SECURE_COOKIES", True):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"  # pages may show residents' data: never cached
    if g.get("set_pre_csrf"):
        _, csrf_cookie = cookie_names(current_app)
        set_cookie(response, csrf_cookie, g.pre_csrf, max_age=None)
    return response


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=current_app.config.get("SECURE_COOKIES", True),
                        httponly=True, samesite="Lax")
