"""A database that was never upgraded (or to an older release) is told apart from a passing database failure:
ENG543 naming `jichi db upgrade`, on the command line and on the pages and the API, never a stack trace and never
the 503 "try again" of ENG540 — retrying cannot help."""

from __future__ import annotations

from click.testing import CliRunner

from web import create_app
from web.cli import cli
from web.security import cookie_names


def test_a_command_on_a_database_without_the_schema_says_to_upgrade(blank_database_url: str) -> None:
    result = CliRunner().invoke(cli, ["task", "list"], env={"JICHI_DATABASE_URL": blank_database_url})
    assert result.exit_code == 1, result.output
    assert "ENG543" in result.output and "jichi db upgrade" in result.output
    assert "ENG540" not in result.output and "Traceback" not in result.output


def test_pages_and_the_api_on_a_database_without_the_schema_answer_eng543(blank_database_url: str) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": blank_database_url})
    client = app.test_client()
    try:
        api = client.get("/api/tasks", base_url="https://localhost", headers={"Authorization": "Bearer jichi_x"})
        assert api.status_code == 500 and api.get_json()["error"]["code"] == "ENG543"
        assert "Retry-After" not in api.headers
        client.set_cookie(cookie_names(app)[0], "x", domain="localhost")
        page = client.get("/inbox", base_url="https://localhost")
        text = page.get_data(as_text=True)
        assert page.status_code == 500 and "システムで問題が発生しました" in text and "Traceback" not in text
    finally:
        with app.app_context():
            from web.db import get_engine

            get_engine().dispose()
