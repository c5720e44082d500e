"""`jichi rules eval`: evaluate one DSL expression for a municipality on a reference date.

    jichi rules eval --expr '期限日(2025-12-20, 14)' --municipality 472018 [--on 令和7年12月20日] [--json]

The expression is parsed, type-checked and run with every DSL function in scope, the built-in name
基準日 bound to --on (default: today in Asia/Tokyo, engine.clock.today()) and the municipality's calendar
(engine.calendars). Output with --json is exactly {"value": …, "type": "…", "diagnostics": […]} (docs/dates.md);
exit code 0 when there is a value, 1 when there are diagnostics. The rules-language issue extends this
command to whole procedures (--procedure, --input) and traces (--explain).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from dsl import DslRuntimeError, values
from dsl.rules.explain import explain as explain_trace
from dsl.rules.load import compile_in
from dsl.rules.model import RuleSet
from dsl.rules.runtime import RuleRuntime, json_trace
from dsl.types import MONEY, ListType, Type
from dsl.values import exact_decimal
from engine import clock
from engine.calendars import resolve_calendar
from engine.manifest import core_version, extension_points, manifest_problems, write_manifest
from engine.paths import project_root
from engine.rulesets import RuleSets
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from standard_core.wareki import INPUT_EXAMPLES, WarekiError, format_wareki, parse_date_input


@click.group("rules")
def rules_group() -> None:
    """規則（DSL）を評価します。"""


@rules_group.command("eval")
@click.option("--municipality", "code", default=None, help="全国地方公共団体コード（6桁、例: 141305）。")
@click.option("--case", "case_id", default=None,
              help="案件 ID: その案件が固定した規則の版と案件のデータで評価します（基準日の既定は案件の開始日）。")
@click.option("--expr", "expression", default=None, help="評価する式（例: '期限日(2025-12-20, 14)'）。")
@click.option("--procedure", default=None, help="評価する決定・表の名前（規則ファイルで定義したもの）。")
@click.option("--input", "input_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="入力データ（「入力名: 値」の JSON ファイル）。")
@click.option("--on", "on_text", default=None,
              help="基準日（2025-04-01、令和7年4月1日、R7.4.1 など）。省略すると東京の今日。")
@click.option("--explain", is_flag=True, help="どの規則・パラメータ・入力で決まったかの説明をつけます。")
@click.option("--json", "as_json", is_flag=True, help='{"value", "type", "trace", "diagnostics"} の JSON で出力します。')
def rules_eval(code: str | None, case_id: str | None, expression: str | None, procedure: str | None,
               input_file: Path | None, on_text: str | None, explain: bool, as_json: bool) -> None:
    """式、または規則ファイルの決定・表を、団体の規則と暦で評価します。

    --expr か --procedure のどちらかを指定します。式からは、その団体に適用される規則ファイル（標準 →
    都道府県 → 市区町村のパック）の決定・表・パラメータと、基準日（--on）が読めます。
    誤りや計算できない値は診断として出力し、終了コード 1 を返します。
    """
    if (expression is None) == (procedure is None):
        raise click.UsageError("--expr と --procedure のどちらか一つを指定してください。")
    if (code is None) == (case_id is None):
        raise click.UsageError("--municipality か --case のどちらか一つを指定してください。")
    if case_id is not None:
        result = evaluate_case(case_id, expression, on_text, procedure=procedure)
    else:
        assert code is not None
        result = evaluate(expression, code, on_text, procedure=procedure, input_file=input_file)
    trace = json_trace(result.trace) if explain and result.trace is not None else None
    if as_json:
        payload = {
            "value": None if result.diagnostics else json_value(result.value, result.type),
            "type": str(result.type) if result.type is not None else None,
            "trace": trace,
            "diagnostics": [d.to_json() for d in result.diagnostics],
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif result.diagnostics:
        for d in result.diagnostics:
            click.echo(d.format())
    else:
        click.echo(f"値: {display(result.value, result.type)}")
        click.echo(f"型: {result.type}")
        if trace is not None:
            click.echo("説明:")
            click.echo(explain_trace(result.trace or {}))
    click.get_current_context().exit(1 if result.diagnostics else 0)


@rules_group.command("batch")
@click.option("--municipality", "code", required=True, help="全国地方公共団体コード（6桁、例: 141305）。")
@click.option("--procedure", required=True, help="評価する決定・表の名前（例: 児童手当の月額合計）。")
@click.option("--input", "input_file", required=True, type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
              help='受給者の JSON Lines（1 行に {"id": …, "input": {入力名: 値}}）。- で標準入力。')
@click.option("--on", "on_text", required=True, help="基準日（新しい規則・法改正の適用日など）。")
@click.option("--before", "before_text", default=None, help="比べる前の基準日。値が変わる受給者を示します。")
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="結果の JSON Lines を書き出すファイル（省略すると標準出力）。")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16), help="並列に評価するプロセスの数。")
@click.option("--json", "as_json", is_flag=True, help="集計を JSON で出力します（--out と一緒に）。")
def rules_batch(code: str, procedure: str, input_file: Path, on_text: str, before_text: str | None,
                out_file: Path | None, workers: int, as_json: bool) -> None:
    """一括の再計算: 多くの受給者の決定を、団体の規則で基準日に評価し直します（法改正・年度の切り替え）。

    --before を指定すると、その日の値と比べて変わる受給者に changed: true を付け、変わり方ごとの人数を集計します。
    読めない行・評価できない行はその行の誤りとして結果に残し、ほかの行は続けます（誤りがあれば終了コード 1）。
    データベースには何も書きません。
    """
    import sys
    import time

    from engine.batch import Summary, read_lines, reevaluate

    problems: list[Diagnostic] = []
    dates: list[dt.date | None] = []
    for option, text in (("--on", on_text), ("--before", before_text)):
        if text is None:
            dates.append(None)
            continue
        try:
            dates.append(parse_date_input(text))
        except WarekiError as e:
            problems.append(error("INP802", f"{option} の「{text}」を日付として読めません: {e.message}",
                                  Span(option, 1, 1), e.hint or f"例: {INPUT_EXAMPLES}"))
            dates.append(None)
    root = project_root()
    calendar, found = resolve_calendar(code, root)
    problems.extend(found)
    rules, sources, loaded = RuleSets(root).for_municipality_with_sources(code) if not found else (None, [], [])
    problems.extend(d for d in loaded if d.is_error)
    if rules is not None and procedure not in rules.evaluable():
        known = "、".join(rules.evaluable()) or "（この団体には規則ファイルの決定がありません）"
        problems.append(error("INP805", f"決定・表「{procedure}」はありません", Span("--procedure", 1, 1),
                              f"評価できる名前: {known}"))
    if str(input_file) != "-" and not input_file.is_file():
        problems.append(error("INP806", f"入力ファイル {input_file} がありません", Span("--input", 1, 1),
                              "受給者の JSON Lines のファイルを指定してください。"))
    if problems or rules is None or dates[0] is None:
        for d in problems:
            click.echo(d.format(), err=True)
        click.get_current_context().exit(1)
        return
    lines = sys.stdin if str(input_file) == "-" else read_lines(input_file)
    summary = Summary()
    began = time.perf_counter()
    out = out_file.open("w", encoding="utf-8") if out_file is not None else None
    try:
        for row in reevaluate(rules, calendar, procedure, lines, on=dates[0], before=dates[1], workers=workers,
                              sources=sources, summary=summary):
            text = json.dumps(row, ensure_ascii=False)
            if out is not None:
                out.write(text + "\n")
            else:
                click.echo(text)
    finally:
        if out is not None:
            out.close()
    seconds = time.perf_counter() - began
    report = {**summary.to_json(), "seconds": round(seconds, 2),
              "per_second": round(summary.total / seconds, 1) if seconds > 0 else None}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        click.echo(f"受給者 {summary.total} 件: 評価 {summary.evaluated} 件、変わる {summary.changed} 件、"
                   f"誤り {summary.errors} 件（{seconds:.1f} 秒、{report['per_second']} 件/秒）", err=True)
        for change in report["changes"]:
            click.echo(f"  {change['change']}: {change['recipients']} 件", err=True)
    click.get_current_context().exit(1 if summary.errors else 0)


@rules_group.command("manifest")
@click.option("--write", is_flag=True, help="standard_core/extension_points.json を更新します。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def rules_manifest(write: bool, as_json: bool) -> None:
    """標準の拡張点（開放された決定・パラメータ）を表示します。標準の版の一部です。"""
    root = project_root()
    try:
        manifest = write_manifest(root) if write else {"version": core_version(root),
                                                       "extension_points": extension_points(root)}
    except DiagnosticError as e:
        for d in e.diagnostics:
            click.echo(d.format(), err=True)
        click.get_current_context().exit(1)
        return
    except ValueError as e:
        click.echo(f"jichi: {e}", err=True)
        click.get_current_context().exit(1)
        return
    if as_json:
        click.echo(json.dumps(manifest, ensure_ascii=False, indent=2))
        return
    click.echo(f"標準の版: {core_version(root)}")
    for point in manifest["extension_points"]:
        if point["kind"] == "hook":
            click.echo(f"  フック（手順を取り付けられる） {point['name']}: プロセス id {point['process_id']}  {point['file']}")
            continue
        if point["kind"] == "form":
            fields = "、".join(f["name"] + ("（必須）" if f["required"] else "") for f in point["fields"])
            click.echo(f"  様式（変更できる） {point['name']}「{point['label']}」: {fields or '項目なし'}  {point['file']}")
            continue
        what = "決定（例外を追加できる）" if point["kind"] == "decision" else "パラメータ（値を設定できる）"
        click.echo(f"  {what} {point['name']}: {point['type']}  {point['file']}")
    problems = manifest_problems(root)
    for problem in problems:
        click.echo(f"注意: {problem}")
    click.get_current_context().exit(1 if problems else 0)


@dataclass
class Evaluation:
    value: object = None
    type: Type | None = None
    trace: dict[str, Any] | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def evaluate(expression: str | None, code: str, on_text: str | None, *, procedure: str | None = None,
             input_file: Path | None = None, data: object = None) -> Evaluation:
    """Check every input, then run. Never raises on bad input: problems come back as diagnostics."""
    result = Evaluation()
    on = clock.today()
    if on_text is not None:
        try:
            on = parse_date_input(on_text)
        except WarekiError as e:
            result.diagnostics.append(error(
                "INP802", f"--on の「{on_text}」を日付として読めません: {e.message}", Span("--on", 1, 1),
                e.hint or f"例: {INPUT_EXAMPLES}",
            ))
    root = project_root()
    calendar, found = resolve_calendar(code, root)
    result.diagnostics.extend(found)
    rules: RuleSet | None = None
    if not found:
        rules, rule_diagnostics = RuleSets(root).for_municipality(code)
        result.diagnostics.extend(d for d in rule_diagnostics if d.is_error)
    given = (_read_input(input_file, rules, result.diagnostics) if data is None
             else _check_input(data, rules, result.diagnostics, "input"))
    return _run(result, rules, given, on, calendar, expression, procedure, [])


def evaluate_with(rules: RuleSet, calendar: Any, data: object, on: dt.date, procedure: str) -> Evaluation:
    """A decision of given rules (a pack on disk, or a stored version) on the given input and reference date:
    the analyst's simulation. Problems come back as diagnostics."""
    result = Evaluation()
    given = _check_input(data, rules, result.diagnostics, "input")
    return _run(result, rules, given, on, calendar, None, procedure, [])


def _run(result: Evaluation, rules: RuleSet | None, data: dict[str, object], on: dt.date,
         calendar: Any, expression: str | None, procedure: str | None, found: list[Diagnostic]) -> Evaluation:
    result.diagnostics.extend(found)
    # Check the expression even when the municipality is wrong: every problem is reported at once.
    fn = None
    if expression is not None:
        try:
            fn, result.type = compile_in(rules or RuleSet(), expression, "--expr")
        except DiagnosticError as e:
            result.diagnostics.extend(e.diagnostics)
    if result.diagnostics or rules is None:
        return result
    runtime = RuleRuntime(rules, data, on=on, calendar=calendar)
    try:
        if procedure is not None:
            if procedure not in rules.evaluable() and procedure not in rules.parameters:
                known = "、".join(rules.evaluable()) or "（この団体には規則ファイルの決定がありません）"
                result.diagnostics.append(error("INP805", f"決定・表「{procedure}」はありません", Span("--procedure", 1, 1),
                                                f"評価できる名前: {known}"))
                return result
            result.type = rules.definition_type(procedure)
            result.value, result.trace = runtime.evaluate(procedure)
        else:
            assert fn is not None
            result.value = runtime.run(fn)
            result.trace = {"kind": "value", "name": expression, "value": result.value,
                            "type": str(result.type), "uses": runtime.trace()}
    except DslRuntimeError as e:
        result.diagnostics.append(e.diagnostic)
    return result


def evaluate_case(case_id: str, expression: str | None, on_text: str | None, *,
                  procedure: str | None) -> Evaluation:
    """Evaluate with the rule set the case pinned when it started, on the case's own data."""
    from engine.cases import Cases
    from engine.db import database_url, make_engine, make_session_factory
    from engine.registry import Registry
    from engine.rule_versions import load
    from engine.store import load_case

    engine = make_engine(database_url())
    try:
        with make_session_factory(engine)() as session:
            case = load_case(session, case_id)
            if case is None:
                return Evaluation(diagnostics=[error("ENG516", f"案件「{case_id}」はありません", Span("--case", 1, 1),
                                                     "案件の ID を確かめてください。")])
            if case.rules_hash is None:
                return Evaluation(diagnostics=[error(
                    "INP808", "この案件には固定された規則の版がありません（開始時に有効な版がありませんでした）",
                    Span("--case", 1, 1), "jichi pack activate で版を有効にした後に始まった案件だけが、版を固定します。")])
            try:
                rules = load(session, case.rules_hash)
                data = Cases(Registry.load(project_root())).get_case(session, case_id).data
            except DiagnosticError as e:
                return Evaluation(diagnostics=list(e.diagnostics))
            started = case.started_at.replace(tzinfo=case.started_at.tzinfo or dt.UTC) if case.started_at else None
            on = started.astimezone(clock.TOKYO).date() if started else clock.today()
    finally:
        engine.dispose()
    result = Evaluation()
    if on_text is not None:
        try:
            on = parse_date_input(on_text)
        except WarekiError as e:
            result.diagnostics.append(error("INP802", f"--on の「{on_text}」を日付として読めません: {e.message}",
                                            Span("--on", 1, 1), e.hint or f"例: {INPUT_EXAMPLES}"))
            return result
    calendar, found = resolve_calendar(case.municipality_code, project_root())
    known = {k: v for k, v in data.items() if k in rules.inputs}
    return _run(result, rules, known, on, calendar, expression, procedure, found)


def _read_input(path: Path | None, rules: RuleSet | None, problems: list[Diagnostic]) -> dict[str, object]:
    if path is None:
        return {}
    shown = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        problems.append(error("INP806", f"入力ファイルを読めません: {e}", Span(shown, 1, 1),
                              "ファイルのパスと文字コード（UTF-8）を確かめてください。"))
        return {}
    except json.JSONDecodeError as e:
        problems.append(error("INP806", f"入力ファイルが JSON として読めません: {e.msg}", Span(shown, e.lineno, e.colno),
                              '例: {"学年": 4, "診療日": "2025-06-01"}'))
        return {}
    return _check_input(data, rules, problems, shown)


def _check_input(data: object, rules: RuleSet | None, problems: list[Diagnostic], shown: str) -> dict[str, object]:
    if not isinstance(data, dict):
        problems.append(error("INP806", "入力ファイルは「入力名: 値」の JSON オブジェクトにしてください", Span(shown, 1, 1),
                              '例: {"学年": 4, "診療日": "2025-06-01"}'))
        return {}
    if rules is not None:
        for name in data:
            if name not in rules.inputs:
                known = "、".join(rules.inputs) or "（宣言された入力がありません）"
                problems.append(error("INP807", f"入力「{name}」は規則ファイルで宣言されていません", Span(shown, 1, 1),
                                      f"宣言されている入力: {known}"))
    return data


def json_value(value: object, t: Type | None = None) -> object:
    """The JSON form of a DSL value (dsl.values.json_value; documented in docs/dates.md)."""
    return values.json_value(value)


def display(value: object, t: Type | None = None) -> str:
    """The human form: dates with their 和暦, money with 円, fractions exact, booleans as 真/偽."""
    if t == MONEY and isinstance(value, int):
        return f"{value:,}円"
    if isinstance(value, bool):
        return "真" if value else "偽"
    if isinstance(value, dt.date):
        try:
            return f"{value.isoformat()}（{format_wareki(value)}）"
        except WarekiError:
            return value.isoformat()
    if isinstance(value, Fraction):
        return exact_decimal(value)
    if isinstance(value, tuple):
        item = t.item if isinstance(t, ListType) else None
        return "[" + ", ".join(display(v, item) for v in value) + "]"
    if isinstance(value, str):
        return f"「{value}」"
    return str(value)
