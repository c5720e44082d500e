"""Accounts: users, roles per municipality, argon2id passwords, server-side sessions, sign-in rate limits.

- Passwords are hashed with argon2id (argon2-cffi's PasswordHasher, its defaults or above); a hash made with
  weaker parameters is upgraded at the next successful sign-in. A password is 12 to 128 characters, any
  characters, and not the login name (OWASP ASVS 2.1: length, no composition rules).
- A session is a random token in the browser; the database keeps only its SHA-256, the user, a CSRF token,
  and three times: created, last seen (idle timeout) and expires (absolute timeout). Signing in always makes a
  new session (the id changes at login); signing out, disabling the user or a timeout revokes it for good.
- Sign-in failures are counted per login name and per client address over a sliding window; past the limit the
  answer is "try again in N seconds" (429), never a permanent lockout that an attacker could use against a clerk.
- Users are never deleted: a leaver (異動・退職) is disabled, their sessions end, and their history stays.
- Every change is an audit event in the deployment's chain (user.added, user.password_set, user.role_granted,
  user.role_revoked, user.disabled, user.signed_in, user.signed_out, user.sign_in_failed); login names of people
  other than the actor go in the erasable personal payload.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from engine import audit, clock
from engine.db import Municipality
from engine.models import ApiToken, IdempotencyRecord, LoginAttempt, UserAccount, UserRole, WebSession
from standard_core.diagnostics import DiagnosticError, Span, error

# role key → the label the UI shows
ROLES: dict[str, str] = {
    "clerk": "窓口",
    "approver": "係長・課長（決裁）",
    "analyst": "業務分析",
    "auditor": "監査",
    "admin": "管理者",
}

IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=10)  # one working day, whatever the activity
RATE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_LOGIN = 5
MAX_FAILURES_PER_REMOTE = 30
MIN_PASSWORD, MAX_PASSWORD = 12, 128
LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,99}")
# Housekeeping (`prune`, run by `jichi worker` every hour and by `jichi user prune`): ended sessions and sign-in
# attempts stay for investigation this long (their sign-in/out events stay in the audit chain for ever); a
# stored answer to an Idempotency-Key is replayed for at least a day.
SECURITY_RECORD_RETENTION = dt.timedelta(days=90)
IDEMPOTENCY_RETENTION = dt.timedelta(hours=24)
_TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen is written at most once a minute per session

_hasher = PasswordHasher()  # argon2id, time_cost=3, memory_cost=64 MiB, parallelism=4 (the library's defaults)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the login name is unknown, so that the answer takes as long as for a known one. Made on
    first use, not at import: every `jichi` command imports this module, and a hash costs ~0.1 s."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _fail(code: str, message: str, hint: str) -> DiagnosticError:
    return DiagnosticError([error(code, message, Span("<入力>", 1, 1), hint)])


@dataclass(frozen=True)
class RateLimited(Exception):
    """Too many failed sign-ins: try again after `retry_after` seconds."""

    retry_after: int


def _user(session: Session, login: str) -> UserAccount:
    user = session.scalar(select(UserAccount).where(UserAccount.login == login))
    if user is None:
        raise _fail("ACC705", f"利用者「{login}」はいません", "jichi user list で利用者を確かめてください。")
    return user


def add_user(session: Session, *, login: str, display_name: str, actor: str,
             person_code: str | None = None) -> UserAccount:
    """Register a user (no password yet: they cannot sign in until `set_password`). The caller commits."""
    if LOGIN.fullmatch(login) is None:
        raise _fail("ACC701", f"ログイン名「{login}」は使えません",
                    "半角の英小文字・数字で始まり、英小文字・数字・「.」「_」「-」の2〜100文字にしてください（例: yamada.taro）。")
    if session.scalar(select(UserAccount).where(UserAccount.login == login)) is not None:
        raise _fail("ACC701", f"ログイン名「{login}」はすでに使われています",
                    "異動で戻った人も、以前の利用者を使い続けます（jichi user enable）。別の人なら別の名前にしてください。")
    if not display_name.strip():
        raise _fail("ACC701", "氏名が空です", "--name で表示する氏名を指定してください。")
    user = UserAccount(login=login, display_name=display_name.strip(), person_code=person_code,
                       created_at=clock.now(), created_by=actor)
    session.add(user)
    session.flush()
    audit.admin_event(session, action="user.added", actor=actor, detail={"user_id": user.id},
                      personal={"login": login, "display_name": user.display_name})
    return user


def set_password(session: Session, *, login: str, password: str, actor: str) -> None:
    """Set a user's password (argon2id); every session of the user ends. The caller commits."""
    user = _user(session, login)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise _fail("ACC702", f"パスワードは{MIN_PASSWORD}文字以上{MAX_PASSWORD}文字以下にしてください",
                    "文字の種類の決まりはありません。覚えやすい長い文（パスフレーズ）を勧めます。")
    if password.strip().lower() == login.lower() or login.lower() in password.lower():
        raise _fail("ACC702", "パスワードにログイン名を含めることはできません", "ログイン名と関係のないパスワードにしてください。")
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = clock.now()
    _revoke_all(session, user.id, "password_changed")
    audit.admin_event(session, action="user.password_set", actor=actor, detail={"user_id": user.id})


def grant(session: Session, *, login: str, municipality: str, role: str, actor: str) -> bool:
    """Give a user a role in a municipality (False if they already had it). The caller commits."""
    user = _user(session, login)
    if role not in ROLES:
        raise _fail("ACC703", f"役割「{role}」はありません",
                    "役割: " + "、".join(f"{k}（{v}）" for k, v in ROLES.items()))
    if session.get(Municipality, municipality) is None:
        raise _fail("ACC704", f"団体「{municipality}」は登録されていません", "jichi demo load などで団体を登録してください。")
    exists = session.scalar(select(UserRole).where(UserRole.user_id == user.id, UserRole.municipality_code == municipality,
                                                    UserRole.role == role))
    if exists is not None:
        return False
    session.add(UserRole(user_id=user.id, municipality_code=municipality, role=role, granted_at=clock.now(),
                         granted_by=actor))
    audit.admin_event(session, action="user.role_granted", actor=actor, municipality=municipality,
                      detail={"user_id": user.id, "role": role}, personal={"login": login})
    return True


def revoke_role(session: Session, *, login: str, municipality: str, role: str, actor: str) -> bool:
    user = _user(session, login)
    row = session.scalar(select(UserRole).where(
        UserRole.user_id == user.id, UserRole.municipality_code == municipality, UserRole.role == role))
    if row is not None:
        session.delete(row)
        audit.admin_event(session, action="user.role_revoked", actor=actor, municipality=municipality,
                          detail={"user_id": user.id, "role": role}, personal={"login": login})
    return row is not None


def disable(session: Session, *, login: str, reason: str, actor: str) -> None:
    """A leaver (異動・退職): cannot sign in, sessions end now, history and roles stay on record."""
    user = _user(session, login)
    if not reason.strip():
        raise _fail("ACC706", "無効にする理由が空です", "--reason に理由（例: 令和8年4月1日 人事異動）を書いてください。")
    if user.disabled_at is None:
        user.disabled_at, user.disabled_by, user.disabled_reason = clock.now(), actor, reason.strip()
        _revoke_all(session, user.id, "disabled")
        audit.admin_event(session, action="user.disabled", actor=actor, detail={"user_id": user.id, "reason": reason},
                          personal={"login": login})


def enable(session: Session, *, login: str, actor: str) -> None:
    user = _user(session, login)
    if user.disabled_at is not None:
        user.disabled_at = user.disabled_by = user.disabled_reason = None
        audit.admin_event(session, action="user.enabled", actor=actor, detail={"user_id": user.id},
                          personal={"login": login})


def roles_of(session: Session, user_id: int) -> dict[str, set[str]]:
    """municipality → the user's roles there."""
    found: dict[str, set[str]] = {}
    for row in session.scalars(select(UserRole).where(UserRole.user_id == user_id)):
        found.setdefault(row.municipality_code, set()).add(row.role)
    return found


# --- signing in ------------------------------------------------------------------------------------------

def _failures(session: Session, column: object, value: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    count, oldest = session.execute(select(func.count(), func.min(LoginAttempt.at)).where(
        column == value, LoginAttempt.at > since, LoginAttempt.succeeded.is_(False))).one()  # type: ignore[arg-type]
    return int(count), oldest


def _check_rate(session: Session, login: str, remote: str, now: dt.datetime) -> None:
    since = now - RATE_WINDOW
    for column, value, limit in ((LoginAttempt.login, login, MAX_FAILURES_PER_LOGIN),
                                 (LoginAttempt.remote, remote, MAX_FAILURES_PER_REMOTE)):
        count, oldest = _failures(session, column, value, since)
        if count >= limit and oldest is not None:
            oldest = clock.as_utc(oldest)
            raise RateLimited(max(1, int((oldest + RATE_WINDOW - now).total_seconds()) + 1))


def authenticate(session: Session, *, login: str, password: str, remote: str) -> UserAccount | None:
    """The user if the password is right and the account enabled, else None; RateLimited past the limit.

    Every attempt is recorded (and committed by the caller, so that a failure counts even though nothing
    else changes). The answer does not say whether the login exists.
    """
    now = clock.now()
    login = login.strip()[:100]
    _check_rate(session, login, remote[:64], now)
    user = session.scalar(select(UserAccount).where(UserAccount.login == login))
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user is not None and user.password_hash else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and user.password_hash is not None and user.disabled_at is None
    session.add(LoginAttempt(login=login, remote=remote[:64], at=now, succeeded=ok))
    if not ok or user is None:
        audit.admin_event(session, action="user.sign_in_failed", actor="anonymous", detail={"remote": remote[:64]},
                          personal={"login": login})
        return None
    if user.password_hash is not None and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, user: UserAccount) -> tuple[str, WebSession]:
    """A new session for a user who just signed in: (token for the cookie, the stored row). Audited."""
    now = clock.now()
    token = secrets.token_urlsafe(32)
    row = WebSession(id=_digest(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32), created_at=now,
                     last_seen_at=now, expires_at=now + ABSOLUTE_TIMEOUT)
    session.add(row)
    audit.admin_event(session, action="user.signed_in", actor=user.login, detail={"user_id": user.id})
    return token, row


def current_session(session: Session, token: str | None) -> tuple[WebSession, UserAccount] | None:
    """The live session of a cookie token (not revoked, not idle too long, not past its absolute end, user
    enabled), touching its last-seen time; None otherwise. An expired session is revoked on the way."""
    if not token or len(token) > 200:
        return None
    row = session.get(WebSession, _digest(token))
    if row is None or row.revoked_at is not None:
        return None
    now = clock.now()
    user = session.get(UserAccount, row.user_id)
    reason = ("expired" if now >= clock.as_utc(row.expires_at) else "idle" if now - clock.as_utc(row.last_seen_at) >= IDLE_TIMEOUT
              else "disabled" if user is None or user.disabled_at is not None else None)
    if reason is not None:
        row.revoked_at, row.revoked_reason = now, reason
        return None
    if now - clock.as_utc(row.last_seen_at) >= _TOUCH_EVERY:
        row.last_seen_at = now
    assert user is not None
    return row, user


def end_session(session: Session, token: str | None, *, reason: str = "signed_out") -> bool:
    """Revoke the session of a token for good (sign-out). Audited when a live session ended."""
    if not token:
        return False
    row = session.get(WebSession, _digest(token))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at, row.revoked_reason = clock.now(), reason
    user = session.get(UserAccount, row.user_id)
    audit.admin_event(session, action="user.signed_out", actor=user.login if user else "unknown",
                      detail={"user_id": row.user_id, "reason": reason})
    return True


def _revoke_all(session: Session, user_id: int, reason: str) -> None:
    now = clock.now()
    for row in session.scalars(select(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))):
        row.revoked_at, row.revoked_reason = now, reason


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens."""
    return bool(given) and hmac.compare_digest(expected.encode("utf-8"), (given or "").encode("utf-8"))


# --- API tokens --------------------------------------------------------------------------------------------

def create_token(session: Session, *, login: str, name: str, actor: str) -> str:
    """A new API token for a user (returned once; only its digest is kept). Audited. The caller commits."""
    user = _user(session, login)
    if user.disabled_at is not None:
        raise _fail("ACC707", f"無効にした利用者「{login}」には API トークンを作れません", "jichi user enable で有効にしてから作ります。")
    token = "jichi_" + secrets.token_urlsafe(32)
    session.add(ApiToken(id=_digest(token), user_id=user.id, name=name.strip()[:100] or "API", created_at=clock.now()))
    audit.admin_event(session, action="user.token_created", actor=actor, detail={"user_id": user.id, "name": name})
    return token


def revoke_tokens(session: Session, *, login: str, actor: str, name: str | None = None) -> int:
    """Revoke a user's API tokens (all, or those with this name). Audited. The caller commits."""
    user = _user(session, login)
    rows = [r for r in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
            if name is None or r.name == name]
    for row in rows:
        row.revoked_at = clock.now()
    if rows:
        audit.admin_event(session, action="user.token_revoked", actor=actor,
                          detail={"user_id": user.id, "count": len(rows), "name": name})
    return len(rows)


def token_user(session: Session, token: str | None) -> UserAccount | None:
    """The enabled user of a live API token, touching its last use; None otherwise."""
    found = token_login(session, token)
    return found.user if found is not None else None


class TokenLogin(NamedTuple):
    user: UserAccount  # transient (not in the session): its columns, never its password hash
    roles: dict[str, set[str]]  # municipality → roles
    touched: bool  # the token's last use was written: the caller commits


# Built once: composing the statement on every request costs more than running it. Columns, not entities:
# every API request runs it, and loading two ORM entities costs more than the query's round trip.
_TOKEN_LOGIN = (select(ApiToken.last_used_at, UserAccount.id, UserAccount.login, UserAccount.display_name,
                       UserAccount.person_code, UserAccount.created_at, UserAccount.created_by,
                       UserRole.municipality_code, UserRole.role)
                .join(UserAccount, UserAccount.id == ApiToken.user_id)
                .outerjoin(UserRole, UserRole.user_id == UserAccount.id)
                .where(ApiToken.id == bindparam("digest"), ApiToken.revoked_at.is_(None),
                       UserAccount.disabled_at.is_(None)))
_TOUCH_TOKEN = update(ApiToken).where(ApiToken.id == bindparam("digest")).values(last_used_at=bindparam("now"))


def token_login(session: Session, token: str | None) -> TokenLogin | None:
    """`token_user` and `roles_of` in one query (every API request asks both): the enabled user of a live token
    with municipality → roles, touching the token's last use at most once a minute; None otherwise."""
    if not token or len(token) > 200:
        return None
    digest = _digest(token)
    # On the session's connection (Core): the ORM's execution path costs about 0.1 ms more per request, and
    # nothing here is an entity. The api_token and user tables belong to no municipality (no tenancy criteria).
    rows = session.connection().execute(_TOKEN_LOGIN, {"digest": digest}).all()
    if not rows:
        return None
    first = rows[0]
    user = UserAccount(id=first.id, login=first.login, display_name=first.display_name,
                       person_code=first.person_code, created_at=first.created_at, created_by=first.created_by)
    roles: dict[str, set[str]] = {}
    for row in rows:
        if row.municipality_code is not None:
            roles.setdefault(row.municipality_code, set()).add(row.role)
    now = clock.now()
    touched = first.last_used_at is None or now - clock.as_utc(first.last_used_at) >= _TOUCH_EVERY
    if touched:
        session.connection().execute(_TOUCH_TOKEN, {"digest": digest, "now": now})
    return TokenLogin(user, roles, touched)


# --- housekeeping ------------------------------------------------------------------------------------------

def prune(session: Session, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what has served its purpose: sessions ended (revoked, idle or past their absolute end: every
    session ends by `expires_at`) and sign-in attempts older than SECURITY_RECORD_RETENTION, and stored
    Idempotency-Key answers older than IDEMPOTENCY_RETENTION. Returns the counts; the caller commits."""
    now = now or clock.now()
    kept = now - SECURITY_RECORD_RETENTION
    statements = {
        "sessions": delete(WebSession).where(WebSession.expires_at < kept),
        "login_attempts": delete(LoginAttempt).where(LoginAttempt.at < kept),
        "idempotency_records": delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < now - IDEMPOTENCY_RETENTION),
    }
    return {name: int(getattr(session.execute(statement), "rowcount", 0)) for name, statement in statements.items()}
