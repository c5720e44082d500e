"""`jichi audit …`: signing keys, signed checkpoints, verification and erasure (docs/audit.md).

Exit codes as for every jichi command: 0 success (verify: no finding), 1 a finding or a refused request
(printed in Japanese with its AUD9xx code), 2 wrong usage or an unexpected failure.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from engine.audit_chain import DEPLOYMENT
from engine.audit_checkpoint import (
    AuditError,
    default_checkpoint_dir,
    default_key_path,
    export,
    keygen,
    load_public_key,
    public_path,
    read_checkpoints,
)
from engine.audit_erase import erase_case, erase_completed_before, erase_reads_before
from engine.audit_verify import Finding, Report, verify
from engine.db import database_url, display_url
from web.cli_cases import _default_actor, _session

PATH = click.Path(path_type=Path)


def _refused(e: AuditError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"diagnostics": [d.to_json() for d in e.diagnostics],
                               "findings": [f.to_json() for f in e.findings]}, ensure_ascii=False, indent=2))
    else:
        for d in e.diagnostics:
            click.echo(d.format(), err=True)
        for f in e.findings:
            click.echo(f.format(), err=True)
    click.get_current_context().exit(1)


def _label(code: str) -> str:
    return f"{code}（配備全体）" if code == DEPLOYMENT else code


@click.group("audit")
def audit_group() -> None:
    """監査ログ: 署名鍵、チェックポイント、検証、保存年限後の消去。"""


@audit_group.command("keygen")
@click.option("--key", "key_path", type=PATH, default=None,
              help="秘密鍵のファイル（既定: JICHI_AUDIT_KEY、なければ var/audit/signing.key）。公開鍵は .pub を付けた名前。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def audit_keygen(key_path: Path | None, actor: str | None, as_json: bool) -> None:
    """チェックポイントに署名する ed25519 の鍵を作ります（作成は監査イベントとして記録）。"""
    key_path = key_path or default_key_path()
    try:
        with _session() as session:
            kid = keygen(session, key_path, actor=actor or _default_actor())
    except AuditError as e:
        _refused(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"key": str(key_path), "public_key": str(public_path(key_path)), "key_id": kid},
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"署名鍵を作りました: {key_path}（所有者だけが読めます）")
    click.echo(f"公開鍵: {public_path(key_path)}  鍵 ID: {kid}")
    click.echo("公開鍵は、検証する人（監査担当）にデータベースとは別の経路で渡してください。")


@audit_group.command("checkpoint")
@click.option("--out", "folder", type=PATH, default=None,
              help="書き出すフォルダ（既定: JICHI_AUDIT_CHECKPOINT_DIR、なければ var/audit/checkpoints）。")
@click.option("--key", "key_path", type=PATH, default=None, help="署名する秘密鍵（既定: JICHI_AUDIT_KEY）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def audit_checkpoint(folder: Path | None, key_path: Path | None, actor: str | None, as_json: bool) -> None:
    """各団体のチェーンの長さと先頭ハッシュに署名し、データベースの外のファイルに書き出します。"""
    folder = folder or default_checkpoint_dir()
    try:
        with _session() as session:
            written = export(session, folder, key_path or default_key_path(), actor=actor or _default_actor())
    except AuditError as e:
        _refused(e, as_json)
        return
    if as_json:
        click.echo(json.dumps([{"municipality": w.municipality, "seq": w.seq, "head_hash": w.head_hash,
                                "file": str(w.path)} for w in written], ensure_ascii=False, indent=2))
        return
    for w in written:
        click.echo(f"  {_label(w.municipality)}  {w.seq} 件  先頭 {w.head_hash[:16]}…  {w.path}")
    click.echo(f"チェックポイントを {len(written)} 件書き出しました: {folder}")


@audit_group.command("verify")
@click.option("--checkpoint", "checkpoints", type=PATH, multiple=True,
              help="照合するチェックポイントのファイルかフォルダ（複数可）。切り詰めと分岐を検出します。")
@click.option("--public-key", "public_keys", type=PATH, multiple=True,
              help="チェックポイントの署名を確かめる公開鍵（複数可。既定: 署名鍵の .pub）。")
@click.option("--municipality", default=None, help="この団体コードのチェーンだけを検証します（配備全体は 000000）。")
@click.option("--json", "as_json", is_flag=True, help="結果を JSON で出力します（docs/audit.md）。")
def audit_verify(checkpoints: tuple[Path, ...], public_keys: tuple[Path, ...], municipality: str | None,
                 as_json: bool) -> None:
    """監査ログのハッシュをすべて計算し直し、最初の改ざん（変更・削除・挿入・入替え）の位置を報告します。

    問題が一つでもあれば終了コード 1 を返します。
    """
    problems: list[Finding] = []
    found = []
    if checkpoints:
        try:
            keys = [load_public_key(p) for p in public_keys or (public_path(default_key_path()),)]
        except AuditError as e:
            _refused(e, as_json)
            return
        found, problems = read_checkpoints(checkpoints, keys)
    with _session() as session:
        report = verify(session.connection(), municipality=municipality, checkpoints=found)
        session.rollback()
    report = Report(report.chains, problems + report.findings)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report, len(found))
    click.get_current_context().exit(0 if report.ok else 1)


def _print_report(report: Report, checkpoints: int) -> None:
    click.echo(f"監査ログを検証しました: {display_url(database_url())}")
    for chain in report.chains:
        matched = f"  チェックポイント {chain.checkpoints} 件と一致" if chain.checkpoints else ""
        click.echo(f"  {_label(chain.municipality)}  {chain.events} 件を確認  先頭 {chain.head_hash[:16]}…{matched}")
    for finding in report.findings:
        click.echo(finding.format())
    events = sum(c.events for c in report.chains)
    if report.ok:
        used = f"、チェックポイント {checkpoints} 件" if checkpoints else ""
        click.echo(f"結果: 問題なし（{len(report.chains)} チェーン、{events} 件{used}）")
    else:
        first = report.findings[0]
        where = f"団体 {first.municipality} の {first.seq} 番" if first.seq is not None else f"団体 {first.municipality}"
        click.echo(f"結果: 問題 {len(report.findings)} 件（最初の問題: {where}、{first.code}）")


@audit_group.command("erase")
@click.option("--case", "case_id", default=None, help="個人データを消去する案件の ID。")
@click.option("--municipality", default=None, help="--completed-before と組み合わせる団体コード。")
@click.option("--completed-before", "before", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="この日（東京時間）より前に完了した案件をまとめて消去します（YYYY-MM-DD）。")
@click.option("--reads-before", "reads_before", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="--municipality と組み合わせ、この日より前の、案件に属さない閲覧の記録（住民の検索など）の"
                   "個人データ（表示した宛名番号・検索語）を消去します。")
@click.option("--reason", default="保存年限の経過", show_default=True, help="消去の理由（監査ログに記録）。")
@click.option("--dry-run", is_flag=True, help="消去せず、対象の案件だけを表示します。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def audit_erase(case_id: str | None, municipality: str | None, before: dt.datetime | None,
                reads_before: dt.datetime | None, reason: str, dry_run: bool, actor: str | None, as_json: bool) -> None:
    """保存年限を過ぎた案件の個人データ（案件のデータと監査イベントの個人データ）を消去します。

    監査ログのチェーンは消去後も検証できます。消去そのものも監査イベント（case.erased）になります。
    """
    actor = actor or _default_actor()
    if reads_before is not None:
        if municipality is None or case_id is not None or before is not None:
            raise click.UsageError("--reads-before は --municipality とだけ組み合わせてください。")
        try:
            with _session() as session:
                seqs = erase_reads_before(session, municipality, reads_before.date(), actor=actor, reason=reason,
                                          dry_run=dry_run)
        except AuditError as e:
            _refused(e, as_json)
            return
        if as_json:
            click.echo(json.dumps({"dry_run": dry_run, "reads": seqs}, ensure_ascii=False))
        else:
            verb = "消去の対象です（--dry-run のため消去していません）" if dry_run else "の個人データを消去しました"
            click.echo(f"閲覧の記録 {len(seqs)} 件{verb}。")
        return
    if (case_id is None) == (municipality is None or before is None):
        raise click.UsageError("--case か、--municipality と --completed-before の組のどちらか一方を指定してください。")
    try:
        with _session() as session:
            if case_id is not None:
                if dry_run:
                    ids = [case_id]
                else:
                    erased = erase_case(session, case_id, actor=actor, reason=reason)
                    ids = [erased.case_id]
            else:
                assert municipality is not None and before is not None
                ids = erase_completed_before(session, municipality, before.date(), actor=actor, reason=reason,
                                             dry_run=dry_run)
    except AuditError as e:
        _refused(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "cases": ids}, ensure_ascii=False, indent=2))
        return
    for erased_id in ids:
        click.echo(f"  案件 {erased_id}")
    verb = "消去の対象です（--dry-run のため消去していません）" if dry_run else "の個人データを消去しました"
    click.echo(f"案件 {len(ids)} 件{verb}。")


def _moment(text: str | None, what: str, end: bool = False) -> dt.datetime | None:
    """--since / --until (engine.audit_search.moment); a usage error when unreadable."""
    from engine.audit_search import moment
    from standard_core.wareki import WarekiError

    if not text:
        return None
    try:
        return moment(text, end)
    except WarekiError as e:
        raise click.UsageError(f"{what}「{text}」を日付として読めません: {e.message}") from None


def _criteria(command: Any) -> Any:
    """The options that choose events, shared by search and export."""
    for option in reversed((
        click.option("--municipality", "municipalities", multiple=True, required=True, help="団体コード（複数可）。"),
        click.option("--actor", default=None, help="操作した人（ログイン名）。"),
        click.option("--resident", default=None,
                     help="住民の宛名番号: その住民を表示した閲覧と、氏名・カナが一致する案件のイベント。"),
        click.option("--case", "case_id", default=None, help="案件の id。"),
        click.option("--since", default=None, help="この日時から（2026-04-01、令和8年4月1日、2026-04-01T09:00）。"),
        click.option("--until", default=None, help="この日まで（その日を含む）、または日時の直前まで。"),
        click.option("--address", default=None, help="操作した端末のアドレス（閲覧の記録の address）。"),
        click.option("--action", default=None, help="操作の種類（case.viewed、resident.searched、task.completed など）。"),
    )):
        command = option(command)
    return command


@audit_group.command("search")
@_criteria
@click.option("--limit", default=200, show_default=True, help="表示する件数の上限（1000 まで）。")
@click.option("--as", "actor_name", default=None, help="検索する人（この検索も監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def audit_search(municipalities: tuple[str, ...], actor: str | None, resident: str | None, case_id: str | None,
                 since: str | None, until: str | None, address: str | None, action: str | None, limit: int,
                 actor_name: str | None, as_json: bool) -> None:
    """監査ログを、人・住民・案件・期間・端末で検索します（新しい順）。検索したこと自体も記録されます。"""
    from engine import access_log
    from engine.audit_search import Query, inert, search

    query = Query(municipalities, actor=actor, resident=resident, case_id=case_id, address=address, action=action,
                  since=_moment(since, "--since"), until=_moment(until, "--until", end=True),
                  limit=limit)
    with _session() as session:
        result = search(session, query)
        who = actor_name or _default_actor()
        for code in municipalities:
            access_log.record(session, municipality=code, actor=who, action="audit.searched", screen="jichi audit search",
                              via="cli", address="local", query=_described(query),
                              extra={"found": len(result.events)})
        session.commit()
    if as_json:
        click.echo(json.dumps({"truncated": result.truncated, "resident": result.resident, "events": [
            {"municipality": e.municipality, "seq": e.seq, "at": e.occurred_at.isoformat(), "actor": e.actor,
             "action": e.action, "case": e.case_id, "task": e.task_id, "detail": e.detail, "personal": e.personal,
             "matched_by": e.why or None, "hash": e.hash} for e in result.events]}, ensure_ascii=False, indent=2))
        return
    for e in result.events:
        where = e.detail.get("address", "")
        residents = ",".join((e.personal or {}).get("personal", {}).get("residents", []))
        click.echo(inert(f"{e.occurred_at.astimezone(dt.UTC).isoformat(timespec='seconds')}  {e.municipality}#{e.seq}  "
                         f"{e.actor}  {e.action}  {e.case_id or ''}  {where}  {residents}"
                         + (f"  （{e.why}で一致）" if e.why else "")))
    more = "（上限に達したため、ほかにもあります）" if result.truncated else ""
    click.echo(f"{len(result.events)} 件{more}")


def _described(query: object) -> str:
    """The search as recorded: its criteria, without the municipalities (the event's own)."""
    fields = {k: v for k, v in vars(query).items() if k != "municipalities" and v not in (None, "")}
    return json.dumps(fields, ensure_ascii=False, default=str, sort_keys=True)


@audit_group.command("export")
@_criteria
@click.option("--out", "out", type=PATH, required=True, help="書き出す束（.zip）。")
@click.option("--checkpoint-dir", "folder", type=PATH, default=None, help="チェックポイントのフォルダ（既定: JICHI_AUDIT_CHECKPOINT_DIR）。")
@click.option("--key", "key_path", type=PATH, default=None, help="署名鍵（既定: JICHI_AUDIT_KEY）。")
@click.option("--as", "actor_name", default=None, help="書き出す人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="結果を JSON で出力します。")
def audit_export(municipalities: tuple[str, ...], actor: str | None, resident: str | None, case_id: str | None,
                 since: str | None, until: str | None, address: str | None, action: str | None, out: Path,
                 folder: Path | None, key_path: Path | None, actor_name: str | None, as_json: bool) -> None:
    """条件に合うイベントを、オフラインで検証できる証拠の束（zip）に書き出します（docs/audit.md「証拠の束」）。

    束には、イベントとそれが監査ログの一部である証明（署名つきチェックポイントまでの連続したイベント）、
    検証のスクリプト verify.py（Python と cryptography だけで動く）、README が入ります。書き出しも記録されます。
    """
    from engine.audit_bundle import export_bundle
    from engine.audit_search import Query

    query = Query(municipalities, actor=actor, resident=resident, case_id=case_id, address=address, action=action,
                  since=_moment(since, "--since"), until=_moment(until, "--until", end=True))
    scope = {k: v for k, v in {"municipalities": list(municipalities), "actor": actor, "resident": resident,
                               "case": case_id, "since": since, "until": until, "address": address,
                               "action": action}.items() if v}
    try:
        with _session() as session:
            done = export_bundle(session, query, out, checkpoint_dir=folder or default_checkpoint_dir(),
                                 key_path=key_path or default_key_path(), actor=actor_name or _default_actor(),
                                 scope=scope)
    except AuditError as e:
        _refused(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"bundle": str(done.path), "sha256": done.sha256, "selected": done.selected,
                               "included": done.included, "municipalities": done.municipalities}, ensure_ascii=False))
        return
    click.echo(f"証拠の束を書き出しました: {done.path}（選ばれたイベント {done.selected} 件、含むイベント {done.included} 件、"
               f"sha256 {done.sha256}）")
    click.echo(f"検証: unzip -p {done.path.name} verify.py > verify.py && python3 verify.py {done.path.name}")


@audit_group.command("feed")
@click.option("--municipality", "municipalities", multiple=True, required=True, help="団体コード（複数可）。")
@click.option("--state", "state", type=PATH, default=None,
              help="送った位置（団体ごとの最後の番号）を記録するファイル。次回はその続きから送ります。")
@click.option("--after", "after", multiple=True, help="この位置の後から（団体コード:番号。--state より優先）。")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "syslog"]), default="jsonl", show_default=True,
              help="JSON Lines か syslog（RFC 5424）。")
@click.option("--send", default=None, help="標準出力ではなく TCP で送る先（tcp://host:port、RFC 6587 の octet counting）。")
@click.option("--follow", is_flag=True, help="新しいイベントを待って送り続けます（Ctrl-C で止めます）。")
@click.option("--interval", default=5.0, show_default=True, help="--follow で確かめる間隔（秒）。")
@click.option("--max", "most", default=0, help="この件数を送ったら終わります（0: 制限なし）。")
def audit_feed(municipalities: tuple[str, ...], state: Path | None, after: tuple[str, ...], fmt: str,
               send: str | None, follow: bool, interval: float, most: int) -> None:
    """監査ログを、団体のセキュリティ監視（SIEM）へ送る形（JSON Lines・syslog）で順に出力します（個人データなし）。

    --state のファイルに送った位置を残すので、止めても次に続きから送れます（最後の一束が重なることはあります。
    団体と番号で重複を除けます）。
    """
    import time

    from engine.audit_feed import jsonl, load_positions, octet_counted, read_after, save_positions, syslog
    from engine.db import make_engine, make_session_factory

    positions = load_positions(state)
    for given in after:
        code, _, seq = given.partition(":")
        if not seq.isdigit():
            raise click.UsageError(f"--after「{given}」は 団体コード:番号 の形で指定してください（例: 141305:120）。")
        positions[code] = int(seq)
    sink = None
    if send:
        host, _, port = send.removeprefix("tcp://").rpartition(":")
        if not send.startswith("tcp://") or not host or not port.isdigit():
            raise click.UsageError("--send は tcp://host:port の形で指定してください。")
        import socket

        try:
            sink = socket.create_connection((host, int(port)), timeout=10)
        except OSError as e:
            click.echo(f"jichi: {send} に接続できません: {e}", err=True)
            click.get_current_context().exit(1)
            return
    engine = make_engine(database_url())
    sessions = make_session_factory(engine)
    sent = 0
    try:
        while True:
            with sessions() as session:
                batch = list(read_after(session.connection(), positions, municipalities))
                session.rollback()
            for event in batch:
                line = jsonl(event) if fmt == "jsonl" else syslog(event)
                if sink is not None:
                    sink.sendall(octet_counted(line))
                else:
                    click.echo(line)
                positions[str(event["municipality"])] = int(event["seq"])  # type: ignore[call-overload]
                sent += 1
                if most and sent >= most:
                    break
            if state is not None and batch:
                save_positions(state, positions)  # only after the lines went out
            if (most and sent >= most) or (not batch and not follow):
                break
            if not batch:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        if sink is not None:
            sink.close()
        engine.dispose()
