"""`jichi user …`: accounts for clerks, approvers, analysts, auditors and administrators (engine/accounts.py).

Passwords are never taken as command arguments (they would stay in the shell history and the process list):
they are read from the terminal, or from the first line of standard input with --password-stdin.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.orm import Session

from engine import accounts
from engine.models import UserAccount, UserRole
from standard_core.diagnostics import DiagnosticError, Span, error
from web.cli_cases import _default_actor, _fail, _session

T = TypeVar("T")


@click.group("user")
def user_group() -> None:
    """利用者（ログインする職員）の管理。"""


def _act(action: Callable[[Session], T]) -> T:
    """Run one account change in its own transaction; a refusal is printed as its diagnostic (exit 1)."""
    try:
        with _session() as session:
            result = action(session)
            session.commit()
            return result
    except DiagnosticError as e:
        _fail(e, False)
        raise click.exceptions.Exit(1) from None  # _fail has exited already; this tells the type checker


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("パスワード", hide_input=True, confirmation_prompt="確認のためもう一度")
    return value


@user_group.command("add")
@click.argument("login")
@click.option("--name", "display_name", required=True, help="表示する氏名。")
@click.option("--person", "person_code", default=None, help="組織図（jichi org import）の人のコード。職は組織図から決まります。")
@click.option("--municipality", default=None, help="役割を与える団体コード（--role と一緒に）。")
@click.option("--role", "roles", multiple=True, type=click.Choice(sorted(accounts.ROLES)),
              help="役割（clerk 窓口、approver 係長・課長、analyst 業務分析、auditor 監査、admin 管理者）。複数可。")
@click.option("--password-stdin", is_flag=True, help="パスワードを標準入力の1行目から読みます（省略すると端末で尋ねます）。")
@click.option("--no-password", is_flag=True, help="パスワードを設定しません（後で jichi user passwd）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_add(login: str, display_name: str, person_code: str | None, municipality: str | None, roles: tuple[str, ...],
             password_stdin: bool, no_password: bool, actor: str | None) -> None:
    """利用者 LOGIN を登録します（監査ログに記録）。"""
    if roles and municipality is None:
        raise click.UsageError("--role には --municipality（団体コード）が必要です。")
    who = actor or _default_actor()
    password = None if no_password else _password(password_stdin)
    def add(session: Session) -> None:
        accounts.add_user(session, login=login, display_name=display_name, person_code=person_code, actor=who)
        if password is not None:
            accounts.set_password(session, login=login, password=password, actor=who)
        for role in roles:
            assert municipality is not None
            accounts.grant(session, login=login, municipality=municipality, role=role, actor=who)

    _act(add)
    click.echo(f"利用者 {login}（{display_name}）を登録しました。")


@user_group.command("passwd")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="パスワードを標準入力の1行目から読みます。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_passwd(login: str, password_stdin: bool, actor: str | None) -> None:
    """利用者のパスワードを設定します。その人のログイン中のセッションはすべて終わります。"""
    password = _password(password_stdin)
    _act(lambda session: accounts.set_password(session, login=login, password=password, actor=actor or _default_actor()))
    click.echo(f"利用者 {login} のパスワードを設定しました。")


@user_group.command("grant")
@click.argument("login")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--role", required=True, type=click.Choice(sorted(accounts.ROLES)))
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_grant(login: str, municipality: str, role: str, actor: str | None) -> None:
    """利用者に団体での役割を与えます。利用者が見られるのは、役割のある団体のものだけです。"""
    added = _act(lambda session: accounts.grant(session, login=login, municipality=municipality, role=role,
                                                actor=actor or _default_actor()))
    label = accounts.ROLES[role]
    click.echo(f"{login} に団体 {municipality} の役割「{label}」を" + ("与えました。" if added else "すでに与えています。"))


@user_group.command("revoke")
@click.argument("login")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--role", required=True, type=click.Choice(sorted(accounts.ROLES)))
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_revoke(login: str, municipality: str, role: str, actor: str | None) -> None:
    """利用者から団体での役割を外します。"""
    removed = _act(lambda session: accounts.revoke_role(session, login=login, municipality=municipality, role=role,
                                                        actor=actor or _default_actor()))
    click.echo(f"{login} の団体 {municipality} の役割「{accounts.ROLES[role]}」を" + ("外しました。" if removed else "持っていません。"))


@user_group.command("disable")
@click.argument("login")
@click.option("--reason", required=True, help="理由（例: 令和8年4月1日 人事異動）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_disable(login: str, reason: str, actor: str | None) -> None:
    """異動・退職: 利用者を無効にします（ログインできず、セッションはすぐ終わる。履歴はそのまま残る）。"""
    _act(lambda session: accounts.disable(session, login=login, reason=reason, actor=actor or _default_actor()))
    click.echo(f"利用者 {login} を無効にしました。")


@user_group.command("enable")
@click.argument("login")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_enable(login: str, actor: str | None) -> None:
    """無効にした利用者を、また使えるようにします（異動で戻ったときなど）。"""
    _act(lambda session: accounts.enable(session, login=login, actor=actor or _default_actor()))
    click.echo(f"利用者 {login} を有効にしました。")


@user_group.command("list")
@click.option("--municipality", default=None, help="この団体に役割のある利用者だけ。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def user_list(municipality: str | None, as_json: bool) -> None:
    """利用者の一覧（役割、無効にした日と理由）。パスワードのハッシュは表示しません。"""
    from sqlalchemy import select

    with _session() as session:
        users = list(session.scalars(select(UserAccount).order_by(UserAccount.login)))
        roles: dict[int, list[tuple[str, str]]] = {}
        for row in session.scalars(select(UserRole).order_by(UserRole.municipality_code, UserRole.role)):
            roles.setdefault(row.user_id, []).append((row.municipality_code, row.role))
    rows = [{"login": u.login, "name": u.display_name, "person": u.person_code,
             "roles": [{"municipality": m, "role": r} for m, r in roles.get(u.id, [])],
             "password_set": u.password_hash is not None,
             "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None, "disabled_reason": u.disabled_reason}
            for u in users if municipality is None or any(m == municipality for m, _ in roles.get(u.id, []))]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        held = "、".join(f"{r['municipality']} {accounts.ROLES.get(r['role'], r['role'])}" for r in row["roles"]) or "役割なし"
        state = f"  無効（{row['disabled_at'][:10]} {row['disabled_reason']}）" if row["disabled_at"] else ""
        click.echo(f"{row['login']}  {row['name']}  {held}{'' if row['password_set'] else '  パスワード未設定'}{state}")


@user_group.command("token")
@click.argument("login")
@click.option("--name", required=True, help="トークンの名前（使う仕組みの名前など）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_token(login: str, name: str, actor: str | None) -> None:
    """JSON API のトークンを作り、一度だけ表示します（保存されるのはハッシュだけ）。`Authorization: Bearer トークン` で使います。"""
    token = _act(lambda session: accounts.create_token(session, login=login, name=name, actor=actor or _default_actor()))
    click.echo(token)
    click.echo("このトークンは二度と表示されません。安全な場所に保管してください。", err=True)


@user_group.command("token-revoke")
@click.argument("login")
@click.option("--name", default=None, help="この名前のトークンだけ（省略するとすべて）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def user_token_revoke(login: str, name: str | None, actor: str | None) -> None:
    """利用者の API トークンを取り消します。"""
    count = _act(lambda session: accounts.revoke_tokens(session, login=login, name=name, actor=actor or _default_actor()))
    click.echo(f"{login} の API トークンを {count} 件取り消しました。")


@user_group.command("prune")
@click.option("--json", "as_json", is_flag=True, help="削除した件数を JSON で出力します。")
def user_prune(as_json: bool) -> None:
    """終わって 90 日を過ぎたセッション・ログインの試行と、24 時間を過ぎた Idempotency-Key の答えを削除します
    （jichi worker も 1 時間ごとに行います）。"""
    counts = _act(lambda session: accounts.prune(session))
    if as_json:
        click.echo(json.dumps(counts, ensure_ascii=False))
        return
    click.echo(f"セッション {counts['sessions']} 件、ログインの試行 {counts['login_attempts']} 件、"
               f"Idempotency-Key の答え {counts['idempotency_records']} 件を削除しました。")


# --- jichi resident ----------------------------------------------------------------------------------------
@click.group("resident")
def resident_group() -> None:
    """住民（宛名）の取り込みと検索。"""


@resident_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def resident_import(path: Path, municipality: str, actor: str | None) -> None:
    """CSV（UTF-8、見出し 宛名番号,氏名,氏名カナ,生年月日,住所）から住民を追加・更新します。一行でも誤りがあれば何も取り込みません。"""
    from engine.residents import import_csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        _fail(DiagnosticError([error("INP810", f"「{path}」を UTF-8 の CSV として読めません: {e}", Span(str(path), 1, 1),
                                     "UTF-8 で保存した CSV を指定してください。")]), False)
        return
    count = _act(lambda session: import_csv(session, municipality, text, path.name, actor or _default_actor()))
    click.echo(f"団体 {municipality} の住民を {count} 件取り込みました。")


@resident_group.command("search")
@click.argument("query")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def resident_search(query: str, municipality: str, as_json: bool) -> None:
    """氏名・カナで住民を探します（ひらがな・カタカナ、全角・半角、よくある異体字を区別しません）。"""
    from engine.residents import search

    with _session() as session:
        found = search(session, query, [municipality])
    if as_json:
        click.echo(json.dumps([{"atena_number": f.atena_number, "name": f.name, "name_kana": f.name_kana,
                                "birth_date": f.birth_date.isoformat(), "address": f.address} for f in found],
                              ensure_ascii=False, indent=2))
        return
    for f in found:
        click.echo(f"{f.atena_number}  {f.name}（{f.name_kana or ''}）  {f.birth_date.isoformat()}  {f.address}")
    click.echo(f"{len(found)} 件")
