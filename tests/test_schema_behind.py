"""A database that was never upgraded (or to an older release) is told apart from a passing database failure:
ENG543 naming `jichi db upgrade`, on the command line and on the pages and the API, never a stack trace and never
the 503 "try again" of ENG540 — retrying cannot help."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.exc import SQLAlchemyError

from engine import periodic
from engine.db import make_engine, make_session_factory
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


def test_a_worker_started_before_the_upgrade_says_so_each_round_and_goes_on_once_upgraded(
        blank_database_url: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    from engine.db import upgrade
    from tests.test_engine_cli import JICHI, ROOT

    def pruned() -> bool:  # the first round on the upgraded schema takes the periodic prune's turn
        engine = make_engine(blank_database_url)
        try:
            with make_session_factory(engine)() as s:
                return any(d.name == periodic.PRUNE and d.last_by for d in periodic.duties(s))
        except SQLAlchemyError:
            return False  # no schema yet
        finally:
            engine.dispose()

    def within(seconds: float, condition: Callable[[], bool]) -> bool:  # waits on state, not on a guessed time
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    env = {**os.environ, "JICHI_DATABASE_URL": blank_database_url}
    once = subprocess.run([JICHI, "worker", "--once"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert once.returncode == 1 and "ENG543" in once.stderr and "Traceback" not in once.stderr, once.stderr
    errors = tmp_path / "stderr.txt"
    with errors.open("w", encoding="utf-8") as sink:
        worker = subprocess.Popen([JICHI, "worker", "--interval", "0.2"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=sink, text=True)
        try:
            assert within(120, lambda: errors.read_text(encoding="utf-8").count("ENG543") >= 2)
            assert worker.poll() is None  # still running through the missing schema
            assert not pruned()
            upgrade(blank_database_url)
            assert within(120, pruned)  # its rounds ran on the upgraded schema
        finally:
            worker.send_signal(signal.SIGTERM)
            out, _ = worker.communicate(timeout=60)
    err = errors.read_text(encoding="utf-8")
    assert worker.returncode == 0, err
    assert "jichi db upgrade" in err and "ENG540" not in err and "Traceback" not in err + out, err
    assert "worker を終了しました。" in out
