"""`jichi user …`: add (password from stdin, never an argument), grant/revoke, disable/enable, list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from engine.db import DATABASE_URL_ENV, make_engine, make_session_factory, upgrade
from engine.demo import load_demo
from engine.models import AuditEvent
from web.cli import cli

PASSWORD = "窓口の長いパスフレーズです"


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'jichi.sqlite3'}"
    upgrade(database)
    engine = make_engine(database)
    with make_session_factory(engine)() as s:
        load_demo(s)
        s.commit()
    engine.dispose()
    return database


def jichi(url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["user", *args], input=stdin, env={DATABASE_URL_ENV: url})


def test_add_grant_disable_and_list(url: str) -> None:
    added = jichi(url, "add", "yamada", "--name", "山田 花子", "--municipality", "141305", "--role", "clerk",
                  "--password-stdin", "--as", "情報政策課", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    assert jichi(url, "grant", "yamada", "--municipality", "272078", "--role", "approver").exit_code == 0
    again = jichi(url, "grant", "yamada", "--municipality", "272078", "--role", "approver")
    assert "すでに与えています" in again.output
    rows = json.loads(jichi(url, "list", "--json").output)
    assert rows == [{"login": "yamada", "name": "山田 花子", "person": None, "password_set": True,
                     "roles": [{"municipality": "141305", "role": "clerk"}, {"municipality": "272078", "role": "approver"}],
                     "disabled_at": None, "disabled_reason": None}]
    assert json.loads(jichi(url, "list", "--json", "--municipality", "472018").output) == []
    assert jichi(url, "disable", "yamada", "--reason", "令和8年4月1日 人事異動").exit_code == 0
    text = jichi(url, "list").output
    assert "無効" in text and "人事異動" in text and "141305 窓口" in text
    engine = make_engine(url)
    with engine.connect() as c:
        actions = [a for (a,) in c.execute(select(AuditEvent.action))]
    engine.dispose()
    assert actions.count("user.role_granted") == 2 and "user.disabled" in actions and "user.password_set" in actions


@pytest.mark.parametrize(("args", "stdin", "code"), [
    (("add", "Yamada", "--name", "山田", "--no-password"), None, "ACC701"),
    (("add", "suzuki", "--name", "鈴木", "--password-stdin"), "short\n", "ACC702"),
    (("grant", "nobody", "--municipality", "141305", "--role", "clerk"), None, "ACC705"),
    (("disable", "nobody", "--reason", "退職"), None, "ACC705"),
])
def test_refusals_are_diagnostics(url: str, args: tuple[str, ...], stdin: str | None, code: str) -> None:
    result = jichi(url, *args, stdin=stdin)
    assert result.exit_code == 1 and code in result.output and "Traceback" not in result.output


def test_a_password_is_never_an_argument(url: str) -> None:
    assert jichi(url, "add", "yamada", "--name", "山田", "--password", PASSWORD).exit_code == 2
    assert jichi(url, "add", "yamada", "--name", "山田", "--role", "clerk", "--no-password").exit_code == 2  # role needs municipality


def test_api_tokens_are_shown_once_and_revocable(url: str) -> None:
    from engine import accounts

    assert jichi(url, "add", "yamada", "--name", "山田", "--no-password").exit_code == 0
    created = jichi(url, "token", "yamada", "--name", "連携システム")
    assert created.exit_code == 0
    token = created.output.splitlines()[0]
    assert token.startswith("jichi_") and len(token) > 40
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        assert accounts.token_user(s, token) is not None
        assert accounts.token_user(s, token + "x") is None
    assert "1 件取り消しました" in jichi(url, "token-revoke", "yamada").output
    with sessions() as s:
        assert accounts.token_user(s, token) is None
    assert jichi(url, "disable", "yamada", "--reason", "退職").exit_code == 0
    refused = jichi(url, "token", "yamada", "--name", "x")
    engine.dispose()
    assert refused.exit_code == 1 and "ACC707" in refused.output
