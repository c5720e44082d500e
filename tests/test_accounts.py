"""Accounts (engine/accounts.py): argon2id passwords, roles per municipality, server-side sessions with idle and
absolute timeouts, sign-in rate limits without permanent lockout, leavers disabled with their history kept."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from engine import accounts, clock
from engine.models import AuditEvent, AuditPersonal, IdempotencyRecord, LoginAttempt, UserAccount, WebSession
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import environment

NOW = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
PASSWORD = "川崎の窓口で使う長いパスフレーズ"


@pytest.fixture
def env(database_url: str) -> Any:
    with clock.frozen(NOW) as fake, environment(database_url) as e:
        with e.session() as s:
            accounts.add_user(s, login="yamada", display_name="山田 花子", actor="admin")
            accounts.set_password(s, login="yamada", password=PASSWORD, actor="admin")
            accounts.grant(s, login="yamada", municipality="141305", role="clerk", actor="admin")
            s.commit()
        yield e, fake


def _code(call: Any) -> str:
    with pytest.raises(DiagnosticError) as caught:
        call()
    return caught.value.diagnostics[0].code


def test_password_hash_is_argon2id_at_the_library_defaults(env: Any) -> None:
    e, _ = env
    with e.session() as s:
        user = s.scalars(select(UserAccount)).one()
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        defaults = PasswordHasher()
        params = dict(part.split("=") for part in user.password_hash.split("$")[3].split(","))
        # each parameter at or above the default (a tuple comparison would let a smaller one pass)
        assert int(params["m"]) >= defaults.memory_cost and int(params["t"]) >= defaults.time_cost
        assert int(params["p"]) >= defaults.parallelism
        assert PASSWORD not in json.dumps([r.detail for r in s.scalars(select(AuditEvent))], ensure_ascii=False)


@pytest.mark.parametrize(("login", "password", "code"), [
    ("Yamada", PASSWORD, "ACC701"),          # upper case
    ("yamada", PASSWORD, "ACC701"),          # taken
    ("suzuki", "みじかい", "ACC702"),          # too short
    ("suzuki", "suzuki-1234567890", "ACC702"),  # contains the login name
])
def test_bad_accounts_are_refused(env: Any, login: str, password: str, code: str) -> None:
    e, _ = env
    with e.session() as s:
        def create() -> None:
            accounts.add_user(s, login=login, display_name="鈴木 一郎", actor="admin")
            accounts.set_password(s, login=login, password=password, actor="admin")
        assert _code(create) == code
        s.rollback()
        assert _code(lambda: accounts.grant(s, login="yamada", municipality="141305", role="root", actor="a")) == "ACC703"
        assert _code(lambda: accounts.grant(s, login="yamada", municipality="999999", role="clerk", actor="a")) == "ACC704"


def test_sign_in_and_roles(env: Any) -> None:
    e, _ = env
    with e.session() as s:
        user = accounts.authenticate(s, login="yamada", password=PASSWORD, remote="10.0.0.1")
        assert user is not None and accounts.roles_of(s, user.id) == {"141305": {"clerk"}}
        assert accounts.authenticate(s, login="yamada", password=PASSWORD + "x", remote="10.0.0.1") is None
        assert accounts.authenticate(s, login="nobody", password=PASSWORD, remote="10.0.0.1") is None
        s.commit()
        actions = [a for (a,) in s.execute(select(AuditEvent.action))]
        assert actions.count("user.sign_in_failed") == 2
        # the attempted login names are personal (erasable), not in the event detail
        failed = s.scalars(select(AuditEvent).where(AuditEvent.action == "user.sign_in_failed")).all()
        assert all("nobody" not in e.detail for e in failed)
        assert s.scalars(select(AuditPersonal)).first() is not None


def test_failures_are_rate_limited_then_allowed_again(env: Any) -> None:
    e, fake = env
    with e.session() as s:
        for _ in range(accounts.MAX_FAILURES_PER_LOGIN):
            assert accounts.authenticate(s, login="yamada", password="まちがい" * 4, remote="10.0.0.9") is None
        s.commit()
        with pytest.raises(accounts.RateLimited) as limited:
            accounts.authenticate(s, login="yamada", password=PASSWORD, remote="10.0.0.9")  # even the right one
        assert 0 < limited.value.retry_after <= accounts.RATE_WINDOW.total_seconds() + 1
        fake.advance(seconds=limited.value.retry_after)
        assert accounts.authenticate(s, login="yamada", password=PASSWORD, remote="10.0.0.9") is not None  # no lockout
        assert s.scalar(select(LoginAttempt).where(LoginAttempt.succeeded.is_(True))) is not None


def test_one_address_trying_many_logins_is_limited(env: Any) -> None:
    e, _ = env
    with e.session() as s:
        for n in range(accounts.MAX_FAILURES_PER_REMOTE):
            assert accounts.authenticate(s, login=f"guess{n}", password="x" * 12, remote="203.0.113.5") is None
        with pytest.raises(accounts.RateLimited):
            accounts.authenticate(s, login="yamada", password=PASSWORD, remote="203.0.113.5")
        assert accounts.authenticate(s, login="yamada", password=PASSWORD, remote="10.0.0.1") is not None


def _signed_in(s: Any) -> str:
    user = accounts.authenticate(s, login="yamada", password=PASSWORD, remote="10.0.0.1")
    assert user is not None
    token, row = accounts.start_session(s, user)
    s.commit()
    assert row.id != token and len(row.id) == 64  # only the digest is stored
    return token


def test_idle_timeout(env: Any) -> None:
    e, fake = env
    with e.session() as s:
        token = _signed_in(s)
        fake.advance(minutes=29)
        assert accounts.current_session(s, token) is not None
        fake.advance(minutes=29)  # active again within 30 minutes: still alive
        assert accounts.current_session(s, token) is not None
        fake.advance(minutes=31)
        assert accounts.current_session(s, token) is None
        assert s.get(WebSession, s.scalars(select(WebSession.id)).one()).revoked_reason == "idle"


def test_absolute_timeout_even_when_active(env: Any) -> None:
    e, fake = env
    with e.session() as s:
        token = _signed_in(s)
        for _ in range(int(accounts.ABSOLUTE_TIMEOUT / dt.timedelta(minutes=20))):
            fake.advance(minutes=20)
            alive = accounts.current_session(s, token)
        assert alive is None
        assert s.scalars(select(WebSession)).one().revoked_reason == "expired"


def test_sign_out_disable_and_new_password_end_sessions(env: Any) -> None:
    e, _ = env
    with e.session() as s:
        token = _signed_in(s)
        assert accounts.end_session(s, token) and accounts.current_session(s, token) is None
        assert not accounts.end_session(s, token)  # a logged-out session cannot be reused or ended twice
        token = _signed_in(s)
        accounts.set_password(s, login="yamada", password=PASSWORD + "改", actor="admin")
        assert accounts.current_session(s, token) is None
        token = _signed_in_with(s, PASSWORD + "改")
        accounts.disable(s, login="yamada", reason="令和8年4月1日 人事異動", actor="admin")
        s.commit()
        assert accounts.current_session(s, token) is None
        assert accounts.authenticate(s, login="yamada", password=PASSWORD + "改", remote="10.0.0.1") is None
        user = s.scalars(select(UserAccount)).one()  # kept, with its roles and history
        assert user.disabled_reason == "令和8年4月1日 人事異動" and accounts.roles_of(s, user.id) == {"141305": {"clerk"}}
        assert _code(lambda: accounts.disable(s, login="yamada", reason=" ", actor="admin")) == "ACC706"


def _signed_in_with(s: Any, password: str) -> str:
    user = accounts.authenticate(s, login="yamada", password=password, remote="10.0.0.1")
    assert user is not None
    token, _ = accounts.start_session(s, user)
    s.commit()
    return token


def test_a_weaker_hash_is_upgraded_at_sign_in(env: Any) -> None:
    e, _ = env
    with e.session() as s:
        user = s.scalars(select(UserAccount)).one()
        user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
        s.commit()
        assert accounts.authenticate(s, login="yamada", password=PASSWORD, remote="10.0.0.1") is not None
        assert not PasswordHasher().check_needs_rehash(s.scalars(select(UserAccount)).one().password_hash or "")


def test_prune_deletes_only_what_has_served_its_purpose(env: Any) -> None:
    e, fake = env
    with e.session() as s:
        old_token = _signed_in(s)  # ends at most 10 h later
        accounts.authenticate(s, login="yamada", password="まちがったパスワードです", remote="10.0.0.1")
        user = s.scalars(select(UserAccount)).one()
        s.add(IdempotencyRecord(user_id=user.id, key="old", request_hash="0" * 64, created_at=clock.now()))
        s.commit()
        fake.advance(days=90)  # the session ended less than 90 days ago; the idempotency answer is a day old
        s.add(IdempotencyRecord(user_id=user.id, key="young", request_hash="0" * 64, created_at=clock.now()))
        assert accounts.prune(s) == {"sessions": 0, "login_attempts": 0, "idempotency_records": 1}
        fake.advance(hours=11)  # now it ended more than 90 days ago, and the attempts are older than that
        young = _signed_in(s)
        assert accounts.prune(s) == {"sessions": 1, "login_attempts": 2, "idempotency_records": 0}
        s.commit()
        assert accounts.current_session(s, old_token) is None and accounts.current_session(s, young) is not None
        assert s.scalars(select(IdempotencyRecord.key)).all() == ["young"]
        assert s.scalars(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "user.signed_in")).one() == 2  # the audit chain keeps every sign-in
