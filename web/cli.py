"""The `jichi` command group (DESIGN.md, "The CLI contract"): the outermost layer of the project.

Exit codes: 0 success, 1 the input has errors (diagnostics were printed), 2 wrong usage or an unexpected
failure (a short Japanese message; the traceback only with JICHI_DEBUG=1).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from engine.db import (
    SCHEMA_BEHIND,
    SCHEMA_BEHIND_HINT,
    current_revision,
    database_url,
    display_url,
    make_engine,
    make_session_factory,
    schema_behind,
    upgrade,
)
from engine.demo import load_demo
from engine.paths import project_root
from standard_core.diagnostics import Diagnostic, DiagnosticError, Severity, Span, error
from web.cli_rules import rules_group

DEBUG_ENV = "JICHI_DEBUG"


class JichiGroup(click.Group):
    """A click group that turns any unexpected exception into a clean Japanese message and exit 2, a failure of
    the database into the diagnostic ENG540 and a schema behind this jichi (never upgraded) into ENG543, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            if os.environ.get(DEBUG_ENV):
                raise
            if isinstance(e, DBAPIError) and schema_behind(e):  # never upgraded, or to an older release (ENG543)
                click.echo(error("ENG543", f"{SCHEMA_BEHIND}（{_reason(e)}）", Span("<データベース>", 1, 1),
                                 f"{SCHEMA_BEHIND_HINT}。そのあと、もう一度実行してください"
                                 "（手順のトランザクションは取り消されています）。").format(), err=True)
                ctx.exit(1)
            if isinstance(e, (OperationalError, InterfaceError)):  # the database failed, not jichi (ENG540)
                click.echo(error("ENG540", f"データベースの一時的な障害で処理を完了できませんでした（{_reason(e)}）",
                                 Span("<データベース>", 1, 1),
                                 "JICHI_DATABASE_URL とデータベースの状態を確かめ、少し待ってからもう一度実行してください。"
                                 "実行中だった手順のトランザクションは取り消されています。").format(), err=True)
                ctx.exit(1)
            click.echo(
                f"jichi: 予期しないエラーのため処理を中止しました（{type(e).__name__}: {e}）。\n"
                f"入力や設定を確かめて、もう一度実行してください。繰り返す場合は、{DEBUG_ENV}=1 を付けて"
                "実行した出力を添えて開発チームに報告してください。",
                err=True,
            )
            ctx.exit(2)


def _reason(e: DBAPIError) -> str:
    return str(e.orig if e.orig is not None else e).strip().splitlines()[0][:300]


@click.group(cls=JichiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jichi", prog_name="jichi", message="%(prog)s %(version)s")
def cli() -> None:
    """jichi（自治）: 自治体向けローコード BPMN ワークフローエンジン。"""


# --- jichi db ------------------------------------------------------------------------------------------
@cli.group("db")
def db_group() -> None:
    """データベースの管理。"""


@db_group.command("upgrade")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def db_upgrade(actor: str | None) -> None:
    """スキーマを最新に作成・更新します（JICHI_DATABASE_URL、既定は var/ の SQLite）。

    リビジョンが変わったときは、その更新を監査イベント（db.upgraded）として記録します。
    """
    from engine import audit
    from web.cli_cases import _default_actor

    url = database_url()
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        revision = upgrade(url)
        if revision != before:
            with make_session_factory(engine)() as session:
                audit.admin_event(session, action="db.upgraded", actor=actor or _default_actor(),
                                  detail={"from_revision": before, "to_revision": revision})
                session.commit()
    finally:
        engine.dispose()
    click.echo(f"データベースを最新のスキーマに更新しました（リビジョン {revision}）: {display_url(url)}")


def _backup_report(done: Any, as_json: bool, verb: str) -> None:
    heads = {code: {"seq": seq, "hash": digest} for code, (seq, digest) in sorted(done.heads.items())}
    if as_json:
        click.echo(json.dumps({"file": str(done.path), "bytes": done.size, "sha256": done.sha256,
                               "revision": done.revision, "audit_heads": heads}, ensure_ascii=False))
        return
    click.echo(f"{verb}: {done.path}（{done.size:,} バイト、SHA-256 {done.sha256}）")
    for code, head in heads.items():
        click.echo(f"  監査ログ {code}: {head['seq']} 番まで（{head['hash'][:16]}…）")


@db_group.command("backup")
@click.option("--to", "target", required=True, type=click.Path(path_type=Path), help="書き出すファイル（新しい名前）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="結果を JSON で出力します。")
def db_backup(target: Path, actor: str | None, as_json: bool) -> None:
    """動いたままのデータベースの一貫したバックアップを書き出します（SQLite はオンラインバックアップ、
    PostgreSQL は pg_dump）。含まれる監査ログの末尾（団体ごとの番号とハッシュ）を表示します。"""
    from engine.backup import backup
    from web.cli_cases import _fail

    url = database_url()
    try:
        done = backup(url, target)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    _record_db_event(url, "db.backed_up", actor, {"sha256": done.sha256, "bytes": done.size}, done.heads)
    _backup_report(done, as_json, "バックアップを書き出しました")


@db_group.command("restore")
@click.option("--from", "source", required=True, type=click.Path(path_type=Path), help="jichi db backup のファイル。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="結果を JSON で出力します。")
def db_restore(source: Path, actor: str | None, as_json: bool) -> None:
    """バックアップを空のデータベース（JICHI_DATABASE_URL）に復元し、スキーマを最新に更新します。

    復元は監査イベント（db.restored、バックアップの SHA-256）として記録されます。続けて
    jichi audit verify --checkpoint でチェックポイントと照合すると、バックアップの後に失われたイベントがわかります。
    """
    from engine.backup import restore
    from web.cli_cases import _fail

    url = database_url()
    try:
        done = restore(url, source)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    _record_db_event(url, "db.restored", actor, {"sha256": done.sha256, "revision": done.revision}, done.heads)
    _backup_report(done, as_json, f"復元しました（リビジョン {done.revision}）")


def _record_db_event(url: str, action: str, actor: str | None, detail: dict[str, Any],
                     heads: Mapping[str, tuple[int, str]]) -> None:
    """The audit event of a backup or a restore, with the audit heads the file holds."""
    from engine import audit
    from web.cli_cases import _default_actor

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            audit.admin_event(session, action=action, actor=actor or _default_actor(),
                              detail={**detail, "audit_heads": {c: s for c, (s, _) in heads.items()}})
            session.commit()
    finally:
        engine.dispose()


# --- jichi status --------------------------------------------------------------------------------------
@cli.command("status")
@click.option("--lag", "lag_minutes", default=5.0, show_default=True, type=click.FloatRange(0.1, 1440),
              help="タイマー・ジョブの遅れ、続いているトランザクションの長さを問題とする分数。")
@click.option("--backup-age", "backup_hours", default=None, type=click.FloatRange(1, 24 * 366),
              envvar="JICHI_BACKUP_MAX_AGE_HOURS", show_envvar=True,
              help="jichi db backup のバックアップがこの時間数より古い（またはない）ことを問題とします。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します（監視の仕組みから読む）。")
def status_command(lag_minutes: float, backup_hours: float | None, as_json: bool) -> None:
    """運用の監視: 期限を過ぎたのに発火していないタイマー、待っている・止まった・失敗したジョブ、監査ログの長さ。

    問題があれば終了コード 1（監視の仕組みから定期的に実行する。docs/operations.md「監視」）。
    """
    import datetime as dt

    from engine.ops import status

    engine = make_engine(database_url())
    try:
        with make_session_factory(engine)() as session:
            found = status(session, lag=dt.timedelta(minutes=lag_minutes),
                           backup_age=dt.timedelta(hours=backup_hours) if backup_hours is not None else None)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(found.to_json(), ensure_ascii=False))
    else:
        shown = {"ok": "この版と同じ", "behind": "この版より古い", "newer": "この版より新しい: 入れ替えの途中"}
        click.echo(f"データベースのスキーマ: リビジョン {found.schema_revision}（{shown[found.schema]}）")
        click.echo(f"進行中の案件: {found.running_cases} 件")
        click.echo(f"期限を過ぎたタイマー: {found.overdue_timers} 件" + (
            f"（最も古い期限 {found.oldest_overdue_timer}）" if found.oldest_overdue_timer else ""))
        click.echo(f"待っているジョブ: {found.queued_jobs} 件、リースの切れたジョブ: {found.stalled_jobs} 件、"
                   f"24 時間以内に失敗したジョブ: {found.failed_jobs_24h} 件")
        click.echo(f"監査ログ: チェーン {found.audit_chains} 本、イベント {found.audit_events} 件")
        alive = [w for w in found.workers if not w["stale"]]
        click.echo(f"動いている worker: {len(alive)} つ" + "".join(
            f"\n  {w['owner']}（版 {w['version']}、{w['started_at']} から、最後の応答 {w['seen_at']}）" for w in alive))
        backup = found.last_backup
        click.echo("最後のバックアップ: " + (f"{backup['at']}（{backup['actor']}、{backup['bytes']:,} バイト、SHA-256 "
                                           f"{backup['sha256'][:16]}…）" if backup else "記録なし（jichi db backup）"))
        if found.clock_skew_seconds is not None:
            click.echo(f"時計: データベースのサーバーとの差 {found.clock_skew_seconds:+.3f} 秒")
        for duty in found.duties:
            click.echo(f"定期の仕事「{duty['label']}」: 最後 {duty['last_at'] or 'まだ'}"
                       + (f"（{duty['last_by']}）" if duty["last_by"] else "") + f"、次 {duty['next_at']} 以降")
        for problem in found.problems:
            click.echo(f"問題: {problem}", err=True)
        if not found.problems:
            click.echo("結果: 問題なし")
    if found.problems:
        raise SystemExit(1)


# --- jichi demo ----------------------------------------------------------------------------------------
@cli.group("demo")
def demo_group() -> None:
    """デモデータ。"""


@demo_group.command("load")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def demo_load(actor: str | None) -> None:
    """デモの団体を登録します。何度実行しても同じ結果になります（登録は監査イベントとして記録）。"""
    from web.cli_cases import _default_actor

    engine = make_engine(database_url())
    try:
        with make_session_factory(engine)() as session:
            added = load_demo(session, actor=actor or _default_actor())
            session.commit()
    finally:
        engine.dispose()
    if added:
        click.echo(f"デモデータを登録しました（団体 {added} 件を追加）。")
    else:
        click.echo("デモデータは登録済みです（追加なし）。")


# --- jichi serve ---------------------------------------------------------------------------------------
@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="待ち受けるアドレス。")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="ポート番号。")
def serve(host: str, port: int) -> None:
    """開発用サーバーで Web 画面を起動します（本番では gunicorn を使います）。"""
    from web import create_app

    app = create_app({"RUN_JOBS": True})  # no `jichi worker` in development: this process runs the jobs
    click.echo(f"jichi を http://{host}:{port}/ で起動します（終了は Ctrl+C）。")
    # debug stays off: the interactive debugger would show stack traces to whoever opens the page.
    app.run(host=host, port=port, debug=False, use_reloader=False)


# --- jichi check ---------------------------------------------------------------------------------------
@cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="診断を JSON の一覧で出力します。")
def check(paths: tuple[Path, ...], as_json: bool) -> None:
    """手続き（BPMN）とパックを検査し、file:line:col: CODE の形で診断を出力します。

    PATH を省略するとリポジトリの processes/ と local_rules/ を検査します。
    エラーが一件でもあれば終了コード 1 を返します。
    """
    from engine.check import check_paths

    root = project_root()
    diagnostics: list[Diagnostic] = []
    targets: list[Path] = []
    for path in paths:
        if path.exists():
            targets.append(path.resolve())
        else:
            diagnostics.append(_missing_path(path))
    # check_paths([]) means the whole repository: core processes and every pack (pack.toml included).
    if targets or not paths:
        diagnostics.extend(check_paths(targets, root))

    cwd = Path.cwd().resolve()
    diagnostics = [_shown_from(d, root.resolve(), cwd) for d in diagnostics]
    if as_json:
        click.echo(json.dumps([d.to_json() for d in diagnostics], ensure_ascii=False, indent=2))
    else:
        for d in diagnostics:
            click.echo(d.format())
        click.echo(summary(diagnostics))
    click.get_current_context().exit(1 if any(d.is_error for d in diagnostics) else 0)


def summary(diagnostics: list[Diagnostic]) -> str:
    """The closing line of `jichi check`, e.g. 'エラー 2 件、警告 1 件'."""
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    return f"エラー {errors} 件、警告 {warnings} 件"


def _missing_path(path: Path) -> Diagnostic:
    return error(
        "CHK701",
        f"検査対象「{path}」が見つかりません。",
        Span(str(path.absolute()), 1, 1),
        hint="パスの綴りと、今いるフォルダ（相対パスの起点）を確かめてください。"
        "リポジトリ全体を検査するときは PATH を省略します。",
    )


def _shown_from(diagnostic: Diagnostic, root: Path, cwd: Path) -> Diagnostic:
    """Show the file relative to the working directory when it lies inside it.

    check_paths names files relative to the repository root (or absolute when outside it).
    """
    file = Path(diagnostic.span.file)
    if not file.is_absolute():
        file = root / file
    try:
        shown = file.relative_to(cwd).as_posix()
    except ValueError:
        shown = str(file)
    return replace(diagnostic, span=replace(diagnostic.span, file=shown))


from web.cli_cases import COMMANDS as _CASE_COMMANDS  # noqa: E402 - registered after the group exists

for _command in _CASE_COMMANDS:
    cli.add_command(_command)

from web.cli_packs import pack_group  # noqa: E402 - registered after the group exists

cli.add_command(pack_group)


cli.add_command(rules_group)

from web.cli_audit import audit_group  # noqa: E402 - registered after the group exists

cli.add_command(audit_group)

from web.cli_forms import form_group  # noqa: E402 - registered after the group exists

cli.add_command(form_group)

from web.cli_org import kessai_group, org_group  # noqa: E402 - registered after the group exists

cli.add_command(org_group)
cli.add_command(kessai_group)

from web.cli_migrate import migrate_group  # noqa: E402 - registered after the group exists

cli.add_command(migrate_group)

from web.cli_schema import schema as schema_command  # noqa: E402 - registered after the group exists

cli.add_command(schema_command)


def main() -> None:
    """Console-script entry point (`jichi`)."""
    cli(prog_name="jichi")

from web.cli_users import resident_group, user_group  # noqa: E402 - registered after the group exists

cli.add_command(user_group)
cli.add_command(resident_group)
