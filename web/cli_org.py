"""`jichi org` (organisation chart, assignments, absences) and `jichi kessai route` (who decides, and how).

    jichi org import FILE [--as USER]
    jichi org show --municipality CODE [--on DATE] [--json]
    jichi org absent PERSON --municipality CODE --from DATE --to DATE [--reason TEXT] [--substitute PERSON]
    jichi kessai route --municipality CODE --unit UNIT --matter 種別 [--amount 円] [--unusual] [--on DATE] [--json]

Dates are typed as clerks type them (2026-04-01, 令和8年4月1日, R8.4.1). Details: docs/organisation.md.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from dsl import DslRuntimeError
from dsl.rules.model import RuleSet
from engine import clock
from engine.calendars import resolve_calendar
from engine.kessai import Matter, describe, route
from engine.organisation import chart_on, import_chart, read_chart_file, record_absence
from engine.paths import project_root
from engine.rule_versions import active_rule_set, load
from engine.rulesets import RuleSets
from standard_core.diagnostics import DiagnosticError, Span, error
from standard_core.wareki import INPUT_EXAMPLES, WarekiError, parse_date_input
from web.cli_cases import _default_actor, _fail, _session


def _date(text: str | None, what: str) -> dt.date:
    if text is None:
        return clock.today()
    try:
        return parse_date_input(text)
    except WarekiError as e:
        raise DiagnosticError([error("ORG702", f"{what}「{text}」を日付として読めません: {e}", Span("<入力>", 1, 1),
                                     f"例: {INPUT_EXAMPLES}")]) from None


@click.group("org")
def org_group() -> None:
    """組織（部・課・係、職、配置、不在）。"""


@org_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def org_import(file: Path, actor: str | None, as_json: bool) -> None:
    """組織図のファイル FILE（TOML）を取り込みます。同じ効力日の組織図は置き換え、配置は追加・更新します。"""
    try:
        chart = read_chart_file(file)
        with _session() as session:
            counts = import_chart(session, chart, actor or _default_actor())
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"municipality": chart.municipality, "effective_from": chart.chart_from.isoformat(),
                               **counts}, ensure_ascii=False, indent=2))
        return
    click.echo(f"団体 {chart.municipality} の組織図（{chart.chart_from.isoformat()} から）を取り込みました: "
               f"組織 {counts['units']}、職 {counts['positions']}、配置の追加 {counts['assignments_added']}・"
               f"更新 {counts['assignments_changed']}")


@org_group.command("show")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--on", "on_text", default=None, help="この日の組織（既定: 今日）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def org_show(municipality: str, on_text: str | None, as_json: bool) -> None:
    """ある日の組織図と、職ごとの人・代決者・不在を表示します。"""
    try:
        on = _date(on_text, "--on")
        with _session() as session:
            chart = chart_on(session, municipality, on)
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps(chart.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"団体 {municipality} の組織（{on.isoformat()}。組織図は {chart.chart_from.isoformat()} から）")
    for unit in chart.units.values():
        click.echo(f"  {unit.kind} {unit.name}（{unit.code}）" + (f" ← {unit.parent}" if unit.parent else ""))
    for position in chart.positions.values():
        holder = chart.holder(position)
        away = chart.absent.get(holder.person) if holder is not None else None
        shown = "欠員" if holder is None else holder.name + (f"（{away[0]}）" if away else "")
        deputies = "、".join(chart.positions[d].name for d in position.deputies if d in chart.positions)
        click.echo(f"  職 {position.name}: {shown}" + (f"   代決者: {deputies}" if deputies else ""))


@org_group.command("absent")
@click.argument("person")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--from", "start", required=True, help="不在の初日。")
@click.option("--to", "end", required=True, help="不在の最後の日（その日を含む）。")
@click.option("--reason", default="不在", help="理由（出張・休暇など）。")
@click.option("--substitute", default=None, help="この期間の代理（その人の仕事をする人のアカウント名）。")
@click.option("--as", "actor", default=None, help="操作する人（監査ログに記録）。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def org_absent(person: str, municipality: str, start: str, end: str, reason: str, substitute: str | None,
               actor: str | None, as_json: bool) -> None:
    """PERSON の不在（出張・休暇）を記録します。代決・代理はこの記録で決まります。"""
    try:
        first, last = _date(start, "--from"), _date(end, "--to")
        with _session() as session:
            row = record_absence(session, municipality=municipality, person=person, start=first, end=last,
                                 reason=reason, substitute=substitute, actor=actor or _default_actor())
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps({"id": row}, ensure_ascii=False))
        return
    click.echo(f"{person} の不在を記録しました（{first.isoformat()}〜{last.isoformat()}、{reason}）")


@click.group("kessai")
def kessai_group() -> None:
    """決裁（専決・代決・後閲のルート）。"""


@kessai_group.command("route")
@click.option("--municipality", required=True, help="団体コード（6桁）。")
@click.option("--unit", required=True, help="起案する組織の code（例: kodomo.katei）。")
@click.option("--matter", required=True, help="事案の種別（別表の区分。例: 物品の購入）。")
@click.option("--amount", default=0, type=int, help="決裁金額（円）。")
@click.option("--unusual", is_flag=True, help="重要・異例な事案（専決の留保、代決できない）。")
@click.option("--on", "on_text", default=None, help="決裁日（既定: 今日）。別表の行と組織はこの日で選びます。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def kessai_route(municipality: str, unit: str, matter: str, amount: int, unusual: bool, on_text: str | None,
                 as_json: bool) -> None:
    """事案の決裁ルート: だれが決裁するか（別表と専決の留保）、その日に各段階でだれが決裁できるか（代理・代決）、後閲。"""
    try:
        on = _date(on_text, "--on")
        root = project_root()
        with _session() as session:
            pinned = active_rule_set(session, municipality, on)
            rules: RuleSet | None
            if pinned is not None:
                rules = load(session, pinned)
            else:
                rules, problems = RuleSets(root).for_municipality(municipality)
                if rules is None:
                    raise DiagnosticError([d for d in problems if d.is_error])
            chart = chart_on(session, municipality, on)
            calendar, _ = resolve_calendar(municipality, root)
            result = route(rules, chart, Matter(matter, amount, unusual, on, unit), calendar)
    except DslRuntimeError as e:
        _fail(DiagnosticError([e.diagnostic]), as_json)
        return
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    for line in describe(result):
        click.echo(line)
    applied = result.traces["専決権者"].get("applied", [])
    for case in applied:
        click.echo(f"根拠（専決権者）: 「{case.get('label') or 'それ以外'}」 {case.get('file')}:{case.get('line')}"
                   + (f" 出典: {case['cite']}" if case.get("cite") else ""))
