"""A jichi app for API tests: demo municipalities, users with roles and API tokens, the fixture procedures."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from flask import Flask

from engine import accounts
from engine.cases import Cases
from engine.db import make_engine, make_session_factory
from engine.demo import load_demo
from tests.engine_support import fixture_registry
from web import create_app

HTTPS = "https://localhost"


def api_app(database_url: str, users: dict[str, tuple[str, str]], password: str | None = None,
            config: dict[str, Any] | None = None) -> Generator[tuple[Flask, dict[str, str]]]:
    """Yield (app, tokens) for users {key: (login, "municipality:role")}: tokens by key; with `password`, each user
    can also sign in to the pages with it; `config`: more of the app's configuration. Disposes the engine after."""
    engine = make_engine(database_url)
    tokens = {}
    with make_session_factory(engine)() as s:
        load_demo(s)
        for key, (login, grant) in users.items():
            municipality, role = grant.split(":")
            accounts.add_user(s, login=login, display_name=login, actor="admin")
            accounts.grant(s, login=login, municipality=municipality, role=role, actor="admin")
            tokens[key] = accounts.create_token(s, login=login, name="test", actor="admin")
            if password is not None:
                accounts.set_password(s, login=login, password=password, actor="admin")
        s.commit()
    engine.dispose()
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, **(config or {})})
    app.extensions["jichi.cases"] = Cases(fixture_registry())
    try:
        yield app, tokens
    finally:
        from web.db import get_engine

        with app.app_context():
            get_engine().dispose()


def call(app: Flask, token: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    return app.test_client().open(path, method=method, json=body, base_url=HTTPS,
                                  headers={"Authorization": f"Bearer {token}", **headers})
