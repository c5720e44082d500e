"""The web layer: Flask app factory, pages and the `jichi` command group (web/cli.py).

The outermost layer: it may import every other layer; nothing imports it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask
from htmx_flask import Htmx
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.db import database_url


@functools.cache
def jichi_version() -> str:
    """The installed distribution's version (pyproject.toml is the single source); read once per process (an
    upgrade restarts it), not on every /healthz — reading it parses the distribution's metadata file."""
    try:
        return version("jichi")
    except PackageNotFoundError:
        return "0+unknown"


def trusted_proxies(value: object) -> int:
    """The number of reverse proxies in front of the app (JICHI_TRUSTED_PROXIES), 0 to 5."""
    try:
        count = int(str(value))
    except ValueError:
        count = -1
    if not 0 <= count <= 5:
        raise ValueError(f"JICHI_TRUSTED_PROXIES「{value}」は 0〜5 の整数にしてください（アプリの前にあるリバースプロキシの数）")
    return count


def _seconds_between(name: str, value: object, low: float, high: float, advice: str) -> float:
    """A setting of seconds from the environment: a number from low to high, else the app does not start."""
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1
    if not low <= seconds <= high:
        raise ValueError(f"{name}「{value}」は {low:g}〜{high:g} の秒数にしてください（{advice}）")
    return seconds


def stale_seconds(value: object) -> float:
    """How long an Idempotency-Key's request may go unanswered before a retry acts (JICHI_IDEMPOTENCY_STALE_SECONDS,
    web/api.py), 1 to 86,400 seconds."""
    return _seconds_between("JICHI_IDEMPOTENCY_STALE_SECONDS", value, 1, 86_400, "アプリサーバーの要求のタイムアウトより長く")


# The app server's limits on PostgreSQL (engine.db.make_engine): a request waits this long for a lock held elsewhere,
# and a statement runs this long, before it fails cleanly (ENG540, rolled back). Below gunicorn's --timeout (30 s),
# which would kill the worker instead.
DB_TIMEOUTS = {"DB_LOCK_TIMEOUT": ("JICHI_DB_LOCK_TIMEOUT", "5"), "DB_STATEMENT_TIMEOUT": ("JICHI_DB_STATEMENT_TIMEOUT", "20")}


def db_timeout(name: str, value: object) -> float:
    """A limit of DB_TIMEOUTS: 0.1 to 3,600 seconds."""
    return _seconds_between(name, value, 0.1, 3_600, "gunicorn の --timeout より短く")


def metrics_token(value: str) -> str:
    """The secret GET /metrics asks for (JICHI_METRICS_TOKEN, web/metrics.py): at least 24 characters, none of them
    blank (a bearer token's characters)."""
    if len(value) < 24 or any(c.isspace() for c in value):
        raise ValueError("JICHI_METRICS_TOKEN は空白のない 24 文字以上にしてください"
                         "（例: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'）")
    return value


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. Configuration: JICHI_DATABASE_URL from the environment, or `test_config`.

    Tests pass e.g. {"TESTING": True, "DATABASE_URL": "sqlite:///<tmp>/t.sqlite3"}.
    """
    app = Flask(__name__)
    app.config.from_mapping(DATABASE_URL=database_url(),
                            # cookies only over https (`__Host-` names); JICHI_INSECURE_COOKIES=1 for plain http in development
                            SECURE_COOKIES=os.environ.get("JICHI_INSECURE_COOKIES") != "1")
    # GET /metrics for Prometheus, with this secret as its bearer token (web/metrics.py); unset: no such page
    if os.environ.get("JICHI_METRICS_TOKEN"):
        app.config["METRICS_TOKEN"] = metrics_token(os.environ["JICHI_METRICS_TOKEN"])
    if test_config is not None:
        app.config.from_mapping(test_config)
    proxies = trusted_proxies(app.config.get("TRUSTED_PROXIES", os.environ.get("JICHI_TRUSTED_PROXIES", "0")))
    app.config["TRUSTED_PROXIES"] = proxies
    app.config["IDEMPOTENCY_STALE_SECONDS"] = stale_seconds(
        app.config.get("IDEMPOTENCY_STALE_SECONDS", os.environ.get("JICHI_IDEMPOTENCY_STALE_SECONDS", "120")))
    for key, (variable, default) in DB_TIMEOUTS.items():
        app.config[key] = db_timeout(variable, app.config.get(key, os.environ.get(variable, default)))
    if proxies:
        # Behind N reverse proxies, the client's address (sign-in rate limits, audit) and scheme come from the
        # last N X-Forwarded-For / X-Forwarded-Proto entries; without proxies those headers are ignored, since
        # a client could forge them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    # JSON answers keep Japanese readable instead of \uXXXX escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # set on DefaultJSONProvider, the one in use

    Htmx(app)

    from web import (
        api,
        auditor,
        auth,
        clerk,
        db,
        errors,
        metrics,
        migration,
        request_id,
        security,
        studio,
        views,
    )

    request_id.init_app(app)  # first: every answer, a refused sign-in's too, has its id
    db.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(clerk.bp)
    app.register_blueprint(studio.bp)
    app.register_blueprint(auditor.bp)
    app.register_blueprint(migration.bp)
    app.register_blueprint(metrics.bp)
    app.jinja_env.globals["jichi_version"] = jichi_version()
    if app.config.get("RUN_JOBS", os.environ.get("JICHI_RUN_JOBS") == "1"):
        from web import jobs_runner

        jobs_runner.start(app)  # background jobs in this process too (docs/operations.md「ジョブ」)
    return app
