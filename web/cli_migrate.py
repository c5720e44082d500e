"""`jichi migrate dry-run` / `jichi migrate import`: residents from a legacy export (engine/migration.py,
docs/migration.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy.orm import Session

from engine.db import Municipality, database_url, make_engine, make_session_factory
from engine.migration import Record, Report, import_records, load_inputs, read, save_report
from engine.packs import is_valid_code
from standard_core.diagnostics import DiagnosticError, Span, error
from web.cli_cases import _default_actor, _fail


@click.group("migrate")
def migrate_group() -> None:
    """旧システムからのデータ移行（住民、外字の対応表）。まず dry-run、それから import。"""


def _options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed([
        click.argument("export", type=click.Path(path_type=Path, dir_okay=False)),
        click.option("--municipality", required=True, help="取り込む団体のコード（6桁）。"),
        click.option("--mapping", required=True, type=click.Path(path_type=Path, dir_okay=False),
                     help="列の対応のファイル（TOML。docs/migration.md）。"),
        click.option("--gaiji", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="外字の対応表（CSV）。ないときは外字をひとつも対応づけません。"),
        click.option("--report-csv", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="報告（はじかれた記録と理由）を CSV で書き出すファイル。"),
        click.option("--report-html", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="報告を、印刷できる HTML（A4）で書き出すファイル。"),
        click.option("--json", "as_json", is_flag=True, help="報告を JSON で出力します。"),
    ]):
        f = option(f)
    return f


def _read(export: Path, municipality: str, mapping: Path, gaiji: Path | None) -> tuple[Report, list[Record]]:
    if not is_valid_code(municipality):
        raise DiagnosticError([error("INP801", f"団体コード「{municipality}」は正しくありません", Span("--municipality", 1, 1),
                                     "6桁の全国地方公共団体コード（検査数字つき）を指定してください。")])
    spec, table = load_inputs(mapping, gaiji)
    try:
        data = export.read_bytes()
    except OSError as e:
        raise DiagnosticError([error("MIG111", f"旧システムの書き出しを読めません（{e.strerror or e}）",
                                     Span(str(export), 1, 1), "ファイルの場所を確かめてください。")]) from None
    return read(spec, table, data, export.name)


def _html(report: Report, municipality: str, kind: str, actor: str, extra: dict[str, object]) -> str:
    """The report as a self-contained, printable page (autoescaped: the export's text is data)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from engine import clock

    shown = report.to_json() | extra
    shown["problems_total"] = len(shown["problems"])
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]))
    meta = {"kind": kind, "file": report.file, "sha256": report.sha256, "by": actor,
            "when": f"{clock.now().astimezone(clock.TOKYO):%Y-%m-%d %H:%M}"}
    return env.get_template("reports/migration.html").render(report=shown, meta=meta, municipality=municipality,
                                                             shown_problems=len(shown["problems"]))


def _show(report: Report, as_json: bool, report_csv: Path | None, extra: dict[str, object] | None = None) -> None:
    if report_csv is not None:
        report_csv.write_text(report.csv(), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(report.to_json() | (extra or {}), ensure_ascii=False, indent=1))
        return
    click.echo(f"{report.file}（SHA-256 {report.sha256[:16]}…）: 記録 {report.records} 件、取り込める記録 {report.clean} 件、"
               f"はじかれた記録 {len(report.rejected)} 件、対応表で置き換えた外字 {report.mapped} 字")
    if report.gaiji:
        click.echo("対応のない文字（コード: 記録数、最初の場所）:")
        for code, info in sorted(report.gaiji.items()):
            record, item, position = info["first"]
            click.echo(f"  {code}: {len(info['records'])} 件（記録 {record} の{item} {position} 文字目）")
    if report.duplicates:
        click.echo(f"重複した宛名番号: {len(report.duplicates)} 件（いずれの記録も取り込みません）")
    if report.households_seen:
        click.echo(f"世帯: {len(report.households_seen)} 世帯、取り込まない世帯 {len(report.households_rejected)} 世帯")
        for reason in list(report.households_rejected.values())[:20]:
            click.echo(f"  {reason}")
    shown = 0
    for problems in report.rejected.values():
        for p in problems:
            if shown < 20:
                where = f" {p.field}" + (f" {p.position} 文字目" if p.position else "") if p.field else ""
                click.echo(f"  記録 {p.record}{where}: {p.message}")
            shown += 1
    if shown > 20:
        click.echo(f"  … ほか {shown - 20} 件（--report-csv ですべて書き出せます）")


@migrate_group.command("dry-run")
@_options
@click.option("--as", "actor", default=None, help="試行する人（報告と監査ログに記録）。")
def dry_run(export: Path, municipality: str, mapping: Path, gaiji: Path | None, report_csv: Path | None,
            report_html: Path | None, as_json: bool, actor: str | None) -> None:
    """旧システムの書き出しを読んで確かめ、取り込んだら何が起きるかを報告します（住民は変えません。報告は移行の
    画面 /migration/ で見られるように残します）。

    記録の数、はじかれた記録とその理由（記録・項目・位置・コード）、対応のない外字ごとの記録数、重複した宛名番号。
    はじかれた記録があれば終了コード 1。
    """
    try:
        report, _ = _read(export, municipality, mapping, gaiji)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    _keep(municipality, "dry-run", report, actor or _default_actor(), {}, as_json)
    if report_html is not None:
        report_html.write_text(_html(report, municipality, "dry-run", actor or _default_actor(), {}), encoding="utf-8")
    _show(report, as_json, report_csv)
    if report.rejected:
        sys.exit(1)


def _registered(session: Session, municipality: str, as_json: bool) -> None:
    """Exit with ENG512 unless the municipality is registered (its code is valid: checked by _read)."""
    if session.get(Municipality, municipality) is None:
        _fail(DiagnosticError([error("ENG512", f"団体コード「{municipality}」の団体は登録されていません",
                                     Span("--municipality", 1, 1),
                                     "jichi demo load で登録するか、団体コードを確かめてください。")]), as_json)


def _keep(municipality: str, kind: str, report: Report, actor: str, extra: dict[str, object], as_json: bool) -> None:
    """The report, for the migration team's page (/migration/); the residents are not touched by this."""
    engine = make_engine(database_url())
    try:
        with make_session_factory(engine)() as session:
            _registered(session, municipality, as_json)
            save_report(session, municipality, kind, report, actor, extra)
            session.commit()
    finally:
        engine.dispose()


@migrate_group.command("import")
@_options
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="1 つのトランザクションで取り込む記録の数。")
@click.option("--as", "actor", default=None, help="取り込む人（監査ログに記録）。")
def import_command(export: Path, municipality: str, mapping: Path, gaiji: Path | None, report_csv: Path | None,
                   report_html: Path | None, as_json: bool, batch: int, actor: str | None) -> None:
    """試行と同じ検査をして、取り込める記録を住民として取り込みます（はじかれた記録は取り込みません）。

    記録は --batch 件ずつ、それぞれ全部か何もないかで取り込み、宛名番号で同じ人を見分けるので、途中で止まっても
    もう一度実行すれば、各人がちょうど 1 度ずつ入ります。バッチごとに監査イベント resident.migrated を残します。
    """
    try:
        report, records = _read(export, municipality, mapping, gaiji)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    engine = make_engine(database_url())
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            _registered(session, municipality, as_json)

        def progress(done: int, total: int) -> None:
            if not as_json:
                width = 30
                filled = width * done // max(total, 1)
                click.echo(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", nl=done == total, err=True)

        result = import_records(sessions, municipality, records, report, actor or _default_actor(), batch=batch,
                                progress=progress)
    finally:
        engine.dispose()
    extra = {"added": result.added, "updated": result.updated, "unchanged": result.unchanged,
             "batches": result.batches}
    _keep(municipality, "import", report, actor or _default_actor(), extra, as_json)
    if report_html is not None:
        report_html.write_text(_html(report, municipality, "import", actor or _default_actor(), extra),
                               encoding="utf-8")
    _show(report, as_json, report_csv, extra)
    if not as_json:
        click.echo(f"取り込みました: 追加 {result.added} 人、更新 {result.updated} 人、変更なし {result.unchanged} 人"
                   f"（{result.batches} バッチ）")
