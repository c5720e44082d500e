"""`jichi pack …`: what vendors and municipalities run on rule packs: `test`, `activate`, `diff` (fit & gap)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from packaging.specifiers import SpecifierSet

from dsl.rules.testing import TestResult, run_tests
from engine.calendars import calendar_for
from engine.packs import Pack
from engine.paths import project_root
from engine.rulesets import RuleSets, core_rule_files, pack_rule_files
from standard_core.diagnostics import Diagnostic, DiagnosticError
from standard_core.municipal_calendar import MunicipalCalendar
from web.cli_cases import _fail


@click.group("pack")
def pack_group() -> None:
    """規則パックの管理（テスト）。"""


@pack_group.command("test")
@click.argument("packs", nargs=-1)
@click.option("--municipality", "only", default=None, help="この団体（6桁のコード）のテストだけを実行します。")
@click.option("--core", "cores", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              help="別の版の標準（standard_core フォルダ。VERSION と rules/ を持つ）でも実行します。複数指定できます。")
def pack_test(packs: tuple[str, ...], only: str | None, cores: tuple[Path, ...]) -> None:
    """規則ファイルのテスト（テスト 「…」 { … }）を実行し、最後に「N passed, N failed」と出力します。

    PACK（パックの id）を省略すると、標準の規則とすべてのパックのテストを実行します。
    パックのテストは、パックが受け持つ団体ごとに、標準の規則と base のパックの規則、その団体の規則
    （rules/団体コード/）を重ねて実行します。--core で、パックが対応すると書いた（pack.toml の core）別の版の
    標準でも確かめられます。
    """
    root = project_root()
    sets = RuleSets(root)
    known = {p.id: p for p in sets.packs}
    unknown = [p for p in packs if p not in known]
    for pack_id in unknown:
        click.echo(f"jichi: パック「{pack_id}」はありません（あるもの: {'、'.join(sorted(known)) or 'なし'}）。", err=True)
    if unknown:
        click.get_current_context().exit(2)
    standards: list[tuple[str | None, list[Path]]] = [(_installed_core(root), core_rule_files(root))]
    for directory in cores:
        version_file, rules_dir = directory / "VERSION", directory / "rules"
        if not version_file.is_file() or not rules_dir.is_dir():
            raise click.UsageError(f"--core「{directory}」は標準のフォルダではありません（VERSION と rules/ が必要です）。")
        standards.append((version_file.read_text(encoding="utf-8").strip(), sorted(rules_dir.glob("*.rules"))))
    chosen = sorted((known[p] for p in packs) if packs else sets.packs, key=lambda p: p.id)
    if only is not None and not any(p.serves(only) for p in chosen):
        raise click.UsageError(f"--municipality「{only}」を受け持つパックがありません。")
    passed = failed = 0
    seen: set[tuple[str, int, str | None, str | None]] = set()
    for core_version, core_files in standards:
        scopes: list[tuple[str, list[Path], str | None, Pack | None]] = []
        if not packs and only is None:
            scopes.append((f"標準 {core_version or ''}".strip(), core_files, None, None))
        for pack in chosen:
            if not any(known[layer].all_rule_files for layer in pack.layers if layer in known):
                continue
            if pack.core and core_version and not SpecifierSet(pack.core).contains(core_version, prereleases=True):
                click.echo(f"対象外 {pack.id}: 標準 {core_version} は、パックが対応する版（core = \"{pack.core}\"）に入りません")
                continue
            for code in pack.municipalities:
                if only is not None and only != code:
                    continue
                title = f"{pack.id} {pack.version}・団体 {code}・標準 {core_version or '（版不明）'}"
                scopes.append((title, core_files + pack_rule_files(pack, sets.packs, code), code, pack))
            if only is not None and only not in pack.municipalities and pack.serves(only):
                title = f"{pack.id} {pack.version}・団体 {only}・標準 {core_version or '（版不明）'}"
                scopes.append((title, core_files + pack_rule_files(pack, sets.packs, only), only, pack))
        for title, files, municipality, pack in scopes:
            click.echo(f"== {title}")
            rules, diagnostics = sets.load(files)
            errors = [d for d in diagnostics if d.is_error]
            if rules is None:
                _print_load_errors(title, errors)
                failed += 1
                continue
            own = {f.resolve().relative_to(root.resolve()).as_posix() for f in pack.all_rule_files} if pack else set()
            # The core's own tests use the standard calendar (土日・祝日・年末年始), which every pack starts from.
            calendar = calendar_for(municipality, sets.packs)[0] if municipality else MunicipalCalendar(name="標準の暦")
            for result in run_tests(rules, calendar):
                # A pack's own tests run for each municipality it serves; the core's and a base pack's run
                # once per standard version, with the first scope that includes them.
                key = (result.file, result.line, core_version, municipality if result.file in own else None)
                if key in seen:
                    continue
                seen.add(key)
                _print_result(result)
                passed += result.passed
                failed += not result.passed
    click.echo(f"{passed} passed, {failed} failed")
    click.get_current_context().exit(1 if failed else 0)


def _installed_core(root: Path) -> str | None:
    """The version in standard_core/VERSION, or None where there is none (a bare project of packs)."""
    from engine.manifest import core_version

    try:
        return core_version(root)
    except (OSError, UnicodeDecodeError):
        return None


@pack_group.command("activate")
@click.argument("target", metavar="PACK@VERSION")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--from", "from_text", required=True, help="有効にする日（2026-04-01、令和8年4月1日 など）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def pack_activate(target: str, municipality: str, from_text: str, actor: str | None, as_json: bool) -> None:
    """パックの版を、団体の規則として指定した日から有効にします。

    その日以後に始まる案件は、この版の規則（標準と上位のパックを含む）に固定されます。進行中の案件は、
    始まったときの版のままです。
    """
    from engine.db import database_url, make_engine, make_session_factory
    from engine.rule_versions import activate
    from standard_core.wareki import WarekiError, parse_date_input
    from web.cli_cases import _default_actor

    pack_id, _, version = target.partition("@")
    if not pack_id or not version:
        raise click.UsageError("PACK@VERSION の形で指定してください（例: 141305-kawasaki@0.2.0）。")
    try:
        effective = parse_date_input(from_text)
    except WarekiError as e:
        raise click.UsageError(f"--from の「{from_text}」を日付として読めません: {e.message}") from None
    engine = make_engine(database_url())
    try:
        with make_session_factory(engine)() as session:
            digest = activate(session, project_root(), pack_id=pack_id, version=version, municipality=municipality,
                              effective_from=effective, actor=actor or _default_actor())
    except DiagnosticError as e:
        for d in e.diagnostics:
            click.echo(d.format(), err=True)
        click.get_current_context().exit(1)
        return
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({"pack": pack_id, "version": version, "municipality": municipality,
                               "from": effective.isoformat(), "rule_set": digest}, ensure_ascii=False))
    else:
        click.echo(f"{pack_id}@{version} を団体 {municipality} の規則として {effective.isoformat()} から有効にしました"
                   f"（規則の版 {digest[:12]}）。")


def _print_result(result: TestResult) -> None:
    mark = "成功" if result.passed else "失敗"
    click.echo(f"{mark} {result.file}:{result.line} 「{result.title}」")
    for failure in result.failures:
        click.echo(f"    {failure}")


def _print_load_errors(title: str, errors: list[Diagnostic]) -> None:
    click.echo(f"失敗 {title}: 規則ファイルにエラーがあるため、テストを実行できません")
    for d in errors:
        click.echo("    " + d.format().replace("\n", "\n    "))


@pack_group.command("diff")
@click.argument("pack_id")
@click.argument("new", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
@click.option("--html", "as_html", is_flag=True, help="印刷できる HTML（A4）で出力します（> report.html）。")
@click.option("--municipality", "only", default=None,
              help="複数の団体を受け持つパックで、この団体に適用されるものだけを示します（団体ごとの規則は rules/団体コード/）。")
def pack_diff(pack_id: str, new: str | None, as_json: bool, as_html: bool, only: str | None) -> None:
    """フィット・アンド・ギャップ: パック PACK_ID が標準と違うところ（開放パラメータの値、開放決定への例外、独自の規則・手続き、
    フック、様式の変更、暦）を、出典と位置つきで表示します。

    OLD NEW の二つを指定すると、版と版の違い（リリースノート用）を示します。それぞれ local_rules/ のパック id、
    パックのフォルダ、または .jpack です。必要な版の更新（メジャー・マイナー・パッチ）も判定します。
    """
    if new is not None:
        _release_diff(pack_id, new, as_json)
        return
    from engine.fitgap import report_for
    from engine.paths import project_root
    from engine.registry import Registry
    from standard_core.diagnostics import DiagnosticError

    root = project_root()
    try:
        report = report_for(Registry.load(root), root, pack_id, only)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    if as_html:
        click.echo(_fitgap_html(report.to_json()))
        return
    for line in report.lines():
        click.echo(line)


def _release_diff(old_argument: str, new_argument: str, as_json: bool) -> None:
    from engine.pack_release import compare, opened, to_json_text, to_text

    root = project_root()
    try:
        with opened(old_argument, root) as old, opened(new_argument, root) as new:
            diff = compare(old, new)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    click.echo(to_json_text(diff) if as_json else to_text(diff))


def _fitgap_html(report: dict[str, Any]) -> str:
    """The fit & gap report as a self-contained, printable HTML page (autoescaped: cites are pack text)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from engine.fitgap import KINDS

    templates = Path(__file__).parent / "templates"
    env = Environment(loader=FileSystemLoader(templates), autoescape=select_autoescape(["html"]))
    return env.get_template("reports/fitgap.html").render(report=report, kinds=KINDS)


# --- signed archives (engine.pack_archive) ---------------------------------------------------------------

@pack_group.command("keygen")
@click.argument("key_path", type=click.Path(path_type=Path))
def pack_keygen(key_path: Path) -> None:
    """ベンダーの署名鍵（ed25519）を作ります。KEY_PATH に秘密鍵（所有者だけが読める）、KEY_PATH.pub に公開鍵。"""
    from engine.pack_archive import keygen

    try:
        kid = keygen(key_path)
    except DiagnosticError as e:
        _fail(e, False)
        return
    click.echo(f"署名鍵を作りました: {key_path}  公開鍵: {key_path}.pub  鍵 ID: {kid}")
    click.echo("公開鍵は、パックを取り込む団体に別の経路（文書・対面など）で渡してください。")


@pack_group.command("build")
@click.argument("pack_id")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path), help="署名する秘密鍵。")
@click.option("--out", "out_dir", default="dist", type=click.Path(path_type=Path), help="書き出すフォルダ（既定: dist）。")
def pack_build(pack_id: str, key_path: Path, out_dir: Path) -> None:
    """パック PACK_ID（local_rules/ のフォルダ）を、ファイルのハッシュの一覧と署名つきのアーカイブ（.jpack）にします。"""
    from engine.check import check_paths
    from engine.pack_archive import build

    root = project_root()
    directory = root / "local_rules" / pack_id
    errors = [d for d in check_paths([directory], root) if d.is_error] if directory.is_dir() else []
    if not directory.is_dir() or errors:
        for d in errors:
            click.echo(d.format(), err=True)
        click.echo(f"jichi: パック「{pack_id}」を作れません（フォルダがないか、jichi check にエラーがあります）。", err=True)
        click.get_current_context().exit(1)
        return
    try:
        archive = build(directory, key_path, out_dir)
    except DiagnosticError as e:
        _fail(e, False)
        return
    click.echo(f"アーカイブを作りました: {archive}")


@pack_group.command("trust")
@click.argument("public_key", type=click.Path(path_type=Path))
@click.option("--municipality", required=True, help="この鍵で署名されたパックを信頼する団体コード（6桁）。")
@click.option("--name", default="", help="ベンダー名（記録用）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def pack_trust(public_key: Path, municipality: str, name: str, actor: str | None) -> None:
    """ベンダーの公開鍵を、団体が信頼する鍵として登録します（監査ログに記録）。"""
    from engine.pack_archive import trust
    from web.cli_cases import _default_actor, _session

    try:
        pem = public_key.read_bytes()
    except OSError as e:
        click.echo(f"jichi: 公開鍵「{public_key}」を読めません: {e.strerror or e}", err=True)
        click.get_current_context().exit(1)
        return
    try:
        with _session() as session:
            kid = trust(session, municipality=municipality, pem=pem, name=name or public_key.name,
                        actor=actor or _default_actor(), where=str(public_key))
    except DiagnosticError as e:
        _fail(e, False)
        return
    click.echo(f"団体 {municipality} が鍵 {kid[:16]}… を信頼する鍵として登録しました。")


@pack_group.command("keys")
@click.option("--municipality", default=None, help="この団体の鍵だけを示します。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def pack_keys(municipality: str | None, as_json: bool) -> None:
    """団体が信頼している（していた）ベンダーの鍵の一覧。鍵の交換は、新しい鍵を trust してから古い鍵を distrust します。"""
    from engine.pack_archive import trusted_key_rows
    from web.cli_cases import _session

    with _session() as session:
        rows = [{"municipality": r.municipality_code, "key_id": r.key_id, "name": r.name, "added_by": r.added_by,
                 "added_at": r.added_at.isoformat(), "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                 "revoked_by": r.revoked_by} for r in trusted_key_rows(session, municipality)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("信頼している鍵はありません（jichi pack trust で登録します）。")
    for row in rows:
        state = f"取り消し {row['revoked_at'][:10]}（{row['revoked_by']}）" if row["revoked_at"] else "信頼"
        click.echo(f"{row['municipality']}  {row['key_id'][:16]}…  {row['name']}  登録 {row['added_at'][:10]}"
                   f"（{row['added_by']}）  {state}")


@pack_group.command("distrust")
@click.argument("key")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
def pack_distrust(key: str, municipality: str, actor: str | None) -> None:
    """鍵 KEY（鍵 ID か、その先頭8文字以上）を信頼する鍵から外します。以後その鍵の署名したアーカイブは取り込みません
    （取り込み済みのパックはそのまま）。監査ログに記録します。"""
    from engine.pack_archive import distrust
    from web.cli_cases import _default_actor, _session

    try:
        with _session() as session:
            kid = distrust(session, municipality=municipality, key=key, actor=actor or _default_actor())
    except DiagnosticError as e:
        _fail(e, False)
        return
    click.echo(f"団体 {municipality} は鍵 {kid[:16]}… を信頼しなくなりました。")


@pack_group.command("install")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def pack_install(archive: Path, actor: str | None, as_json: bool) -> None:
    """署名つきのアーカイブを検証して local_rules/ に取り込みます。署名がない、信頼されていない鍵の署名、1バイトでも
    改変されたアーカイブは取り込みません。取り込んだパックで jichi check が通らなければ元に戻します。"""
    from engine.pack_archive import install
    from web.cli_cases import _default_actor, _session

    try:
        with _session() as session:
            verified = install(session, archive, project_root(), actor=actor or _default_actor())
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"pack": verified.pack, "version": verified.version, "key_id": verified.key_id,
                               "municipalities": list(verified.municipalities)}, ensure_ascii=False))
        return
    click.echo(f"{verified.pack} {verified.version} を取り込みました（署名 鍵 {verified.key_id[:16]}…、"
               f"団体 {'、'.join(verified.municipalities)}）。jichi pack activate で版を有効にできます。")


@pack_group.command("impact")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--closed-from", default=None, help="完了した案件も含める: この日以降に完了したもの（和暦も可）。")
@click.option("--closed-to", default=None, help="完了した案件も含める: この日までに完了したもの。")
@click.option("--csv", "as_csv", is_flag=True, help="変わる判定を CSV で出力します。")
def pack_impact(municipality: str, closed_from: str | None, closed_to: str | None, as_csv: bool) -> None:
    """影響分析: ディスクの規則（有効にする前の版）で、進行中の案件（と指定した期間に完了した案件）がすでに受けた
    判定を評価し直し、変わるものを「案件・判定・変更前・変更後・違いの元」で示します。"""
    import csv
    import sys

    from engine.calendars import resolve_calendar
    from engine.db import database_url, make_engine, make_session_factory
    from engine.impact import csv_rows, impact
    from engine.paths import project_root
    from engine.rulesets import RuleSets
    from standard_core.diagnostics import DiagnosticError, Span, error
    from standard_core.wareki import WarekiError, parse_date_input

    root = project_root()
    try:
        window = [parse_date_input(d) if d else None for d in (closed_from, closed_to)]
    except WarekiError as e:
        _fail(DiagnosticError([error("INP802", f"日付を読めません: {e}", Span("<入力>", 1, 1), "例: 2026-04-01、R8.4.1")]),
              False)
        return
    rules, problems = RuleSets(root).for_municipality(municipality)
    calendar, found = resolve_calendar(municipality, root)
    errors = [d for d in [*problems, *found] if d.is_error]
    if rules is None or errors:
        _fail(DiagnosticError(errors or problems), False)
        return
    engine = make_engine(database_url())
    try:
        with make_session_factory(engine)() as session:
            changes, counts = impact(session, municipality, rules, calendar, closed_from=window[0], closed_to=window[1])
    finally:
        engine.dispose()
    if as_csv:
        csv.writer(sys.stdout).writerows(csv_rows(changes))
        return
    for ch in changes:
        click.echo(f"{ch.case_id}  {ch.decision}（基準日 {ch.on}）: {ch.before} → {ch.after}  {ch.because}")
    click.echo(f"案件 {counts.cases} 件、判定 {counts.decisions} 件を評価し直し、変わるもの {counts.changed} 件"
               f"（評価できないもの {counts.skipped} 件）")


@pack_group.command("drafts")
@click.argument("pack_id")
@click.option("--apply", "apply_version", default=None, metavar="VERSION",
              help="下書きをパックのフォルダに反映し、この版にします（CHANGELOG に記録、検査とテストに通らなければ何も変えない）。")
@click.option("--note", default="", help="CHANGELOG に書く変更の説明。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def pack_drafts(pack_id: str, apply_version: str | None, note: str, actor: str | None, as_json: bool) -> None:
    """分析の画面で保存した、パック PACK_ID の下書き（規則ファイルと BPMN）の一覧。--apply で新しい版にします。

    反映したフォルダは、ほかの版と同じく jichi pack build で署名し、jichi pack activate で有効にします。
    """
    from engine.draft_release import apply, pack_named, pending
    from web.cli_cases import _default_actor, _session

    root = project_root()
    try:
        pack_named(root, pack_id)
        with _session() as session:
            if apply_version is None:
                found = pending(session, root, pack_id)
            else:
                found = apply(session, root, pack_id, apply_version, note, actor or _default_actor())
            rows = [{"file": p.draft.file, "draft": p.draft.number, "by": p.draft.created_by,
                     "at": p.draft.created_at.isoformat(timespec="seconds"), "sha256": p.draft.sha256,
                     "changed": p.changed} for p in found]
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"pack": pack_id, "applied": apply_version, "drafts": rows}, ensure_ascii=False, indent=2))
        return
    for row in rows:
        state = "" if row["changed"] else "（フォルダと同じ）"
        click.echo(f"{row['file']}  下書き {row['draft']}  {row['by']}  {row['at']}  {row['sha256'][:12]}{state}")
    if apply_version is not None:
        click.echo(f"{len(rows)} 件の下書きを反映し、{pack_id} を {apply_version} にしました。"
                   f"次は jichi pack build {pack_id} --key … で署名し、jichi pack activate で有効にします。")
    elif not rows:
        click.echo(f"パック {pack_id} の下書きはありません。")
