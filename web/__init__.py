"""The web layer: Flask app factory, pages and the `jichi` command group (web/cli.py).

The outermost layer: it may import every other layer; nothing imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask
from htmx_flask import Htmx

from engine.db import database_url


def jichi_version() -> str:
    """The installed distribution's version (pyproject.toml is the single source)."""
    try:
        return version("jichi")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. Configuration: JICHI_DATABASE_URL from the environment, or `test_config`.

    Tests pass e.g. {"TESTING": True, "DATABASE_URL": "sqlite:///<tmp>/t.sqlite3"}.
    """
    app = Flask(__name__)
    app.config.from_mapping(DATABASE_URL=database_url(),
                            # cookies only over https (`__Host-` names); JICHI_INSECURE_COOKIES=1 for plain http in development
                            SECURE_COOKIES=os.environ.get("JICHI_INSECURE_COOKIES") != "1")
    if test_config is not None:
        app.config.from_mapping(test_config)
    # JSON answers keep Japanese readable instead of \uXXXX escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # set on DefaultJSONProvider, the one in use

    Htmx(app)

    from web import api, auth, db, errors, security, views

    db.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.jinja_env.globals["jichi_version"] = jichi_version()
    return app
