"""The app factory, the home page, the health check and the error pages (flaskr-style tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from engine.db import DATABASE_URL_ENV, alembic_config, upgrade
from web import create_app
from web.cli import cli


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'jichi.sqlite3'}"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    upgrade(database_url)
    yield create_app({"TESTING": True, "DATABASE_URL": database_url})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def run_cli(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={DATABASE_URL_ENV: database_url})
    assert result.exit_code == 0, result.output
    return result.output


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, database_url)
    assert create_app().config["DATABASE_URL"] == database_url
    assert create_app({"DATABASE_URL": "sqlite://"}).config["DATABASE_URL"] == "sqlite://"


def test_home_page_before_demo(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="ja">' in page
    assert "団体が登録されていません" in page
    assert "jichi demo load" in page


def test_home_page_lists_demo_municipalities(client: FlaskClient, database_url: str) -> None:
    run_cli(database_url, "demo", "load")
    page = client.get("/").get_data(as_text=True)
    for code, name in [
        ("141305", "川崎市"),
        ("272183", "大東市"),
        ("272078", "高槻市"),
        ("261009", "京都市"),
    ]:
        assert code in page
        assert name in page
    assert "バージョン" in page


def test_demo_load_is_idempotent(client: FlaskClient, database_url: str) -> None:
    assert "追加" in run_cli(database_url, "demo", "load")
    first = client.get("/").get_data(as_text=True)
    assert "追加なし" in run_cli(database_url, "demo", "load")
    assert client.get("/").get_data(as_text=True) == first


def test_home_page_without_schema(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert "jichi db upgrade" in response.get_data(as_text=True)


def test_db_upgrade_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'jichi.sqlite3'}"
    output = run_cli(url, "db", "upgrade")
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert f"リビジョン {head}" in output
    assert (tmp_path / "new" / "jichi.sqlite3").is_file()


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
    assert response.get_json()["database"] == "ok" and response.get_json()["schema"] == "ok"
    assert response.get_json()["version"]


def test_healthz_keeps_an_app_server_out_of_rotation_until_the_schema_is_upgraded(blank_database_url: str) -> None:
    """Behind (never migrated, or at an older revision): 503. Newer (a newer release upgraded it while this app
    server still runs): served, said in `schema`."""
    from sqlalchemy import text

    from engine.db import make_engine

    app = create_app({"TESTING": True, "DATABASE_URL": blank_database_url})
    client = app.test_client()
    try:
        blank = client.get("/healthz")
        assert blank.status_code == 503 and blank.get_json() | {"version": None} == {
            "status": "error", "database": "ok", "schema": "behind", "version": None}
        upgrade(blank_database_url, "0002")
        older = client.get("/healthz")
        assert older.status_code == 503 and older.get_json()["schema"] == "behind"
        upgrade(blank_database_url)
        assert client.get("/healthz").get_json()["schema"] == "ok"
        engine = make_engine(blank_database_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0099'"))
        engine.dispose()
        newer = client.get("/healthz")
        assert newer.status_code == 200 and newer.get_json()["schema"] == "newer"
    finally:
        with app.app_context():
            from web.db import get_engine

            get_engine().dispose()


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [
        ("get", "/no-such-page", 404, "ページが見つかりません"),
        ("post", "/healthz", 405, "この方法ではアクセスできません"),
    ],
    ids=["404", "405"],
)
def test_error_pages_are_japanese(
    client: FlaskClient, method: str, path: str, status: int, title: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert '<html lang="ja">' in page
    assert title in page
    assert "Traceback" not in page


def test_unexpected_error_shows_no_traceback(database_url: str) -> None:
    app = create_app({"DATABASE_URL": database_url, "PROPAGATE_EXCEPTIONS": False})

    def boom() -> str:
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "システムで問題が発生しました" in page
    assert "secret internal detail" not in page
    assert "Traceback" not in page
