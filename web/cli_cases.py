"""`jichi case …`, `jichi task …` and `jichi worker`: the durable engine from the command line.

Each call is its own process with its own database connection; a case lives on in the database
between calls. Data printed with --json is the same shape the JSON API will use.
"""

from __future__ import annotations

import datetime as dt
import gc
import getpass
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session

from engine import accounts, clock, jobs, periodic, workers
from engine.cases import CaseError, Cases, CaseView, TaskView, list_tasks
from engine.db import (
    SCHEMA_BEHIND,
    SCHEMA_BEHIND_HINT,
    database_url,
    make_engine,
    make_session_factory,
    schema_behind,
)
from engine.models import CaseInstance, CaseTask
from engine.paths import project_root
from engine.registry import Registry
from engine.rule_versions import move_case
from standard_core.diagnostics import DiagnosticError, Span, error
from standard_core.wareki import INPUT_EXAMPLES, WarekiError, parse_date_input
from web import jichi_version


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(database_url())
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _cases() -> Cases:
    clock.install_spiff_clock()
    return Cases(Registry.load(project_root()))


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _read_data(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as e:
        raise DiagnosticError([error("ENG512", f"データファイル「{source}」を読めません: {e.strerror or e}",
                                     Span(source, 1, 1), "JSON ファイルのパスを確かめてください（- で標準入力）。")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DiagnosticError([error("ENG512", f"データが JSON として読めません: {e.msg}",
                                     Span(source, e.lineno, e.colno), '例: {"部数": 2}')]) from None


def _fail(e: DiagnosticError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"diagnostics": [d.to_json() for d in e.diagnostics]}, ensure_ascii=False, indent=2))
    else:
        for d in e.diagnostics:
            click.echo(d.format(), err=True)
    click.get_current_context().exit(1)


def _resolve(session: Session, model: type[CaseInstance] | type[CaseTask], given: str, what: str) -> str:
    """An id, or a unique prefix of one (at least 6 characters), as git does for commits."""
    if session.get(model, given) is not None or len(given) < 6:
        return given
    found = list(session.scalars(select(model.id).where(model.id.like(given.replace("%", "") + "%")).limit(2)))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise DiagnosticError([error("ENG514", f"{what}「{given}」に当てはまる ID が複数あります", Span("<入力>", 1, 1),
                                     "もっと長く指定してください。")])
    return given


def _print_case(view: CaseView) -> None:
    status = {"running": "進行中", "completed": "完了"}.get(view.status, view.status)
    click.echo(f"案件 {view.id}  {view.process_name}（{view.process_id}）  団体 {view.municipality}  {status}"
               f"  版 {view.version}")
    for task in view.tasks:
        if task.state in ("ready", "waiting"):
            _print_task(task)


def _print_task(task: TaskView) -> None:
    state = {"ready": "処理待ち", "waiting": "待機中", "completed": "完了", "cancelled": "取消"}.get(task.state, task.state)
    due = f"  期限 {task.due_at.astimezone(clock.TOKYO):%Y-%m-%d %H:%M}" if task.due_at else ""
    lane = f"  [{task.lane}]" if task.lane else ""
    lane += f"  宛先 {task.position}" if task.position else ""
    lane += f"  担当 {task.assignee}" if task.assignee else ""
    fields = f"  入力: {', '.join(f'{k}({v})' for k, v in task.fields.items())}" if task.fields else ""
    click.echo(f"  タスク {task.id}  {task.name}  {state}{lane}{due}{fields}")


# --- jichi case ------------------------------------------------------------------------------------------
@click.group("case")
def case_group() -> None:
    """案件の開始と参照。"""


@case_group.command("start")
@click.argument("procedure")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--data", "data_file", default=None, help="開始データの JSON ファイル（- で標準入力）。")
@click.option("--unit", default=None, help="案件の担当の組織（課・係の code）。タスクはその組織の職に宛てられます。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def case_start(procedure: str, municipality: str, data_file: str | None, unit: str | None, actor: str | None,
               as_json: bool) -> None:
    """手続き PROCEDURE（BPMN のプロセス id）の案件を開始します。"""
    try:
        data = _read_data(data_file) if data_file else {}
        with _session() as session:
            view = _cases().start_case(session, process_id=procedure, municipality=municipality, data=data,
                                       actor=actor or _default_actor(), unit=unit)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    click.echo(json.dumps(view.to_json(), ensure_ascii=False, indent=2)) if as_json else _print_case(view)


@case_group.command("withdraw")
@click.argument("case_id")
@click.option("--as", "actor", required=True, help="引き戻す人（最後の手順を完了した人）。")
@click.option("--reason", default="引戻し", help="理由（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def case_withdraw(case_id: str, actor: str, reason: str, as_json: bool) -> None:
    """引戻し: 最後に完了した手順を、次の処理者がまだ処理していない間に取り戻します。"""
    try:
        with _session() as session:
            resolved = _resolve(session, CaseInstance, case_id, "案件")
            view = _cases().withdraw(session, resolved, actor, reason)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    click.echo(json.dumps(view.to_json(), ensure_ascii=False, indent=2)) if as_json else _print_case(view)


@case_group.command("move-rules")
@click.argument("case_id")
@click.option("--to", "target", required=True, help="移す先の規則の版: PACK@VERSION（その団体で有効にした版）かハッシュ。")
@click.option("--reason", required=True, help="理由（監査ログに記録。例: 条例改正の遡及適用、決裁番号）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def case_move_rules(case_id: str, target: str, reason: str, actor: str | None, as_json: bool) -> None:
    """進行中の案件 CASE_ID が使う規則の版を、明示して移します（監査ログに記録）。"""
    try:
        with _session() as session:
            resolved = _resolve(session, CaseInstance, case_id, "案件")
            previous, digest = move_case(session, resolved, target, actor or _default_actor(), reason)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"case": resolved, "from": previous, "to": digest}, ensure_ascii=False))
        return
    click.echo(f"案件 {resolved} の規則の版を {(previous or 'なし')[:12]} から {digest[:12]} に移しました。")


@case_group.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def case_show(case_id: str, as_json: bool) -> None:
    """案件 CASE_ID の状態・データ・タスクを表示します（閲覧として監査ログに記録）。"""
    from engine import access_log

    try:
        with _session() as session:
            view = _cases().get_case(session, _resolve(session, CaseInstance, case_id, "案件"))
            access_log.record(session, municipality=view.municipality, actor=_default_actor(), action="case.viewed",
                              screen="jichi case show", via="cli", address="local", case_id=view.id)
            session.commit()
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps(view.to_json(), ensure_ascii=False, indent=2))
        return
    _print_case(view)
    click.echo("  データ: " + json.dumps(view.data, ensure_ascii=False, sort_keys=True))


# --- jichi task ------------------------------------------------------------------------------------------
@click.group("task")
def task_group() -> None:
    """タスクの一覧・引受け・完了。"""


@task_group.command("list")
@click.option("--municipality", default=None, help="団体コードで絞り込みます。")
@click.option("--case", "case_id", default=None, help="案件 ID で絞り込みます。")
@click.option("--lane", default=None, help="レーン（役割）で絞り込みます。")
@click.option("--person", default=None, help="その人の受付箱: その日にその人が在職・代理・代決する職に宛てたタスク。")
@click.option("--on", "on_text", default=None, help="--person の日（既定: 今日）。")
@click.option("--assignee", default=None, help="その人が引き受けたタスクだけを表示します。")
@click.option("--all", "show_all", is_flag=True, help="完了・取消・待機中のタスクも表示します。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def task_list(municipality: str | None, case_id: str | None, lane: str | None, person: str | None,
              on_text: str | None, assignee: str | None, show_all: bool, as_json: bool) -> None:
    """処理待ちのタスクを期限順に表示します。"""
    states = ("ready", "waiting", "completed", "cancelled") if show_all else ("ready",)
    try:
        on = parse_date_input(on_text) if on_text else None
    except WarekiError as e:
        _fail(DiagnosticError([error("INP802", f"--on「{on_text}」を日付として読めません: {e}", Span("<入力>", 1, 1),
                                     f"例: {INPUT_EXAMPLES}")]), as_json)
        return
    with _session() as session:
        if case_id is not None:
            case_id = _resolve(session, CaseInstance, case_id, "案件")
        tasks = list_tasks(session, municipality=municipality, case_id=case_id, lane=lane, states=states,
                           person=person, on=on, assignee=assignee)
    if as_json:
        click.echo(json.dumps([t.to_json() for t in tasks], ensure_ascii=False, indent=2))
        return
    for task in tasks:
        _print_task(task)
    click.echo(f"{len(tasks)} 件")


@task_group.command("complete")
@click.argument("task_ids", metavar="TASK_ID...", nargs=-1, required=True)
@click.option("--data", "data_file", default=None, help="入力データの JSON ファイル（- で標準入力）。")
@click.option("--as", "actor", required=True, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def task_complete(task_ids: tuple[str, ...], data_file: str | None, actor: str, as_json: bool) -> None:
    """タスク TASK_ID を入力データで完了し、次の手順へ進めます。

    複数の TASK_ID を並べると一括処理です（同じ入力データで 1 件ずつの手順を、1 回のコミットで。最大 100 件）。
    受け付けられない 1 件はその 1 件だけが取り消され、ほかは完了します（1 件でも拒まれたら終了コード 1）。
    """
    try:
        data = _read_data(data_file) if data_file else {}
        with _session() as session:
            resolved = [_resolve(session, CaseTask, task_id, "タスク") for task_id in task_ids]
            if len(resolved) == 1:
                view = _cases().complete_task(session, resolved[0], data, actor)
            else:
                _print_batch(_cases().complete_tasks(session, [(t, data) for t in resolved], actor), as_json)
                return
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    click.echo(json.dumps(view.to_json(), ensure_ascii=False, indent=2)) if as_json else _print_case(view)


def _print_batch(results: list[CaseView | CaseError], as_json: bool) -> None:
    refused = [r for r in results if isinstance(r, CaseError)]
    if as_json:
        click.echo(json.dumps([{"diagnostics": [d.to_json() for d in r.diagnostics]} if isinstance(r, CaseError)
                               else r.to_json() for r in results], ensure_ascii=False, indent=2))
    else:
        for n, result in enumerate(results, 1):
            click.echo(f"[{n}/{len(results)}]")
            if isinstance(result, CaseError):
                for d in result.diagnostics:
                    click.echo(d.format(), err=True)
            else:
                _print_case(result)
        click.echo(f"完了 {len(results) - len(refused)} 件、受け付けられなかったもの {len(refused)} 件")
    if refused:
        click.get_current_context().exit(1)


@task_group.command("claim")
@click.argument("task_id")
@click.option("--as", "actor", required=True, help="引き受ける人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def task_claim(task_id: str, actor: str, as_json: bool) -> None:
    """共有の受付箱のタスク TASK_ID を引き受けます（担当者のほかは完了できなくなります）。"""
    try:
        with _session() as session:
            task = _cases().claim(session, _resolve(session, CaseTask, task_id, "タスク"), actor)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    click.echo(json.dumps(task.to_json(), ensure_ascii=False, indent=2)) if as_json else _print_task(task)


@task_group.command("release")
@click.argument("task_id")
@click.option("--as", "actor", required=True, help="操作する人（監査ログに記録）。")
@click.option("--force", is_flag=True, help="ほかの人の担当を外します（異動・休暇など。--reason が必要）。")
@click.option("--reason", default=None, help="--force の理由（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def task_release(task_id: str, actor: str, force: bool, reason: str | None, as_json: bool) -> None:
    """引き受けたタスク TASK_ID を共有の受付箱に戻します。"""
    try:
        with _session() as session:
            task = _cases().release(session, _resolve(session, CaseTask, task_id, "タスク"), actor, reason=reason,
                                    force=force)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    click.echo(json.dumps(task.to_json(), ensure_ascii=False, indent=2)) if as_json else _print_task(task)


# --- jichi worker ----------------------------------------------------------------------------------------
PRUNE_EVERY = 3600.0  # seconds between the worker's housekeeping rounds (engine.accounts.prune)
JOBS_PER_ROUND = 10  # jobs a worker runs before it looks at the timers again


@click.command("worker")
@click.option("--once", is_flag=True, help="期限の来たタイマーを一度処理して終了します。")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.1, 3600), help="確認の間隔（秒）。")
@click.option("--checkpoint-every", "checkpoint_minutes", default=0.0, show_default=True, type=click.FloatRange(0),
              envvar="JICHI_AUDIT_CHECKPOINT_MINUTES",
              help="監査ログのチェックポイントを書き出す間隔（分）。0 で書き出しません。")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), default=None, envvar="JICHI_AUDIT_CHECKPOINT_DIR",
              help="チェックポイントの書き出し先（既定: var/audit/checkpoints）。")
@click.option("--key", "key_path", type=click.Path(path_type=Path), default=None, envvar="JICHI_AUDIT_KEY",
              help="チェックポイントに署名する秘密鍵（既定: var/audit/signing.key）。")
@click.option("--json", "as_json", is_flag=True, help="処理した案件を JSON で出力します（--once のとき）。")
def worker(once: bool, interval: float, checkpoint_minutes: float, checkpoint_dir: Path | None,
           key_path: Path | None, as_json: bool) -> None:
    """期限の来たタイマーを発火させ、案件を進め、待っているジョブ（影響分析）を実行します（Ctrl+C か SIGTERM で、
    処理中の回を終えてから終了）。

    データベースの障害（ENG540）では止まらず、--interval 秒ごとに試み直します（--once では終了コード 1）。

    1 時間ごとに、終わったセッションなどの古い記録を削除します（jichi user prune と同じ）。

    --checkpoint-every を指定すると、その間隔で、前回から進んだ団体のチェーンのチェックポイントに署名して
    書き出します（起動直後に 1 回目）。

    worker をいくつ動かしても、削除とチェックポイントは間隔ごとにそのうち 1 つだけが行います（jichi status に
    最後に行った worker と時刻）。
    """
    from engine.audit_checkpoint import AuditError, default_checkpoint_dir, default_key_path, export

    cases = _cases()
    engine = make_engine(database_url(), application_name="jichi worker")
    sessions = make_session_factory(engine)
    if not once:
        # the registered municipalities' rules, before the first due timer needs them; when the database is not
        # reachable yet, the rounds below say so and retry, and the rules load on use
        with sessions() as session, suppress(SQLAlchemyError):
            cases.warm(session)
        gc.freeze()  # the procedures and rules loaded above live as long as the process: out of the collector's scans
    stopping = threading.Event()  # SIGTERM (systemctl stop, a container's stop): end after the current round
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    owner = jobs.owner_name()
    started_at = clock.now()
    beaten: dt.datetime | None = None  # when this worker last said it is alive (engine.workers)

    def turn(name: str, every: float) -> bool:  # one worker per interval, however many run (engine.periodic)
        with sessions() as session:
            return periodic.take_turn(session, name, dt.timedelta(seconds=every), owner)

    def one_round() -> list[str]:
        nonlocal beaten
        if not once and (beaten is None or clock.now() - beaten >= workers.HEARTBEAT):
            with sessions() as session:
                workers.beat(session, owner, jichi_version(), started_at)
            beaten = clock.now()
        with sessions() as session:
            moved = cases.fire_due_timers(session)
        for _ in range(JOBS_PER_ROUND):  # queued jobs (impact analyses), each claimed under a lease
            try:
                ran = jobs.run_next(sessions, project_root(), owner)
            except (OperationalError, InterfaceError):
                raise
            except Exception as e:  # the job is marked failed on its row; the worker goes on
                click.echo(f"{clock.now().astimezone(clock.TOKYO):%Y-%m-%d %H:%M:%S} ジョブが失敗しました: "
                           f"{type(e).__name__}: {e}", err=True)
                continue
            if ran is None:
                break
            click.echo(f"{clock.now().astimezone(clock.TOKYO):%Y-%m-%d %H:%M:%S} ジョブ {ran.job_id}（{ran.kind}）を"
                       f"実行しました", err=as_json)
        if turn(periodic.PRUNE, PRUNE_EVERY):  # ended sessions, old sign-in attempts and idempotency answers
            with sessions() as session:
                accounts.prune(session)
                workers.forget(session, clock.now())  # workers that died an hour ago and more
                session.commit()
        if checkpoint_minutes > 0 and turn(periodic.CHECKPOINT, checkpoint_minutes * 60):
            try:
                with sessions() as session:
                    written = export(session, checkpoint_dir or default_checkpoint_dir(),
                                     key_path or default_key_path(), actor="system:worker", only_changed=True)
                if written:
                    click.echo(f"{clock.now().astimezone(clock.TOKYO):%Y-%m-%d %H:%M:%S} 監査ログのチェックポイント: "
                               f"{len(written)} 件")
            except AuditError as e:  # the worker keeps firing timers; the problem is reported each round
                for d in e.diagnostics:
                    click.echo(d.format(), err=True)
                for f in e.findings:
                    click.echo(f.format(), err=True)
        return moved

    try:
        while not stopping.is_set():
            try:
                moved = one_round()
            except (OperationalError, InterfaceError, ProgrammingError) as e:
                behind = schema_behind(e)
                if once or not (behind or isinstance(e, (OperationalError, InterfaceError))):
                    raise  # ENG540 or ENG543 from the command group, exit 1 (a ProgrammingError of jichi's: exit 2)
                # The database is away (restarting, failing over), or not yet upgraded to this jichi's schema: what
                # this round was doing was rolled back; timers still due are fired by a later round, once.
                why = (f"ENG543 {SCHEMA_BEHIND}（{SCHEMA_BEHIND_HINT}）。" if behind
                       else "ENG540 データベースの障害のため、")
                click.echo(f"{clock.now().astimezone(clock.TOKYO):%Y-%m-%d %H:%M:%S} {why}"
                           f"{interval:g} 秒後にもう一度試みます（{type(e.orig or e).__name__}）", err=True)
                stopping.wait(interval)
                continue
            if once:
                if as_json:
                    click.echo(json.dumps({"moved": moved}, ensure_ascii=False))
                else:
                    click.echo(f"タイマーで進んだ案件: {len(moved)} 件")
                return
            for case_id in moved:
                click.echo(f"{clock.now().astimezone(clock.TOKYO):%Y-%m-%d %H:%M:%S} タイマー発火: 案件 {case_id}")
            stopping.wait(interval)
        click.echo("worker を終了しました。")
    except KeyboardInterrupt:
        click.echo("worker を終了しました。")
    except CaseError as e:
        _fail(e, as_json)
    finally:
        if beaten is not None:  # stopping cleanly: no longer among the running workers
            with suppress(SQLAlchemyError), sessions() as session:
                workers.stopped(session, owner)
        engine.dispose()


COMMANDS = (case_group, task_group, worker)
