"""Signing in and out (engine/accounts.py): a new server-side session at every sign-in, revoked at sign-out."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine import accounts
from web.db import get_session
from web.security import cookie_names, set_cookie

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme), so the sign-in page is no open redirect; by default
    the inbox, where a clerk starts the day."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("clerk.inbox_page")


@bp.get("/login")
def login() -> ResponseReturnValue:
    return render_template("login.html", next=_safe_next(request.args.get("next")), failed=False)


@bp.post("/login")
def login_post() -> ResponseReturnValue:
    name = request.form.get("login", "")
    password = request.form.get("password", "")
    target = _safe_next(request.form.get("next"))
    db = get_session()
    try:
        user = accounts.authenticate(db, login=name, password=password, remote=request.remote_addr or "unknown")
    except accounts.RateLimited as limited:
        db.rollback()
        page = render_template("login.html", next=target, failed=False, retry_after=limited.retry_after)
        return page, 429, {"Retry-After": str(limited.retry_after)}
    if user is None:
        db.commit()  # the failed attempt counts
        return render_template("login.html", next=target, failed=True, login=name[:100]), 401
    session_cookie, _ = cookie_names(current_app)
    accounts.end_session(db, request.cookies.get(session_cookie), reason="replaced")  # never reuse an old id
    token, _row = accounts.start_session(db, user)
    db.commit()
    response = redirect(target)
    set_cookie(response, session_cookie, token, max_age=int(accounts.ABSOLUTE_TIMEOUT.total_seconds()))
    return response


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session_cookie, _ = cookie_names(current_app)
    db = get_session()
    accounts.end_session(db, request.cookies.get(session_cookie))
    db.commit()
    g.user = g.web_session = None
    response = redirect(url_for("auth.login"))
    response.delete_cookie(session_cookie, path="/", secure=current_app.config.get("SECURE_COOKIES", True),
                           httponly=True, samesite="Lax")
    return response
