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
from collections.abc import Mapping
from fractions import Fraction

import click

from dsl import CompiledExpression, DslRuntimeError, EvalContext, check_expression
from dsl.types import MONEY, ListType, Type
from engine import clock
from engine.calendars import resolve_calendar
from engine.paths import project_root
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from standard_core.wareki import INPUT_EXAMPLES, WarekiError, format_wareki, parse_date_input


@click.group("rules")
def rules_group() -> None:
    """規則（DSL）を評価します。"""


@rules_group.command("eval")
@click.option("--expr", "expression", required=True, help="評価する式（例: '期限日(2025-12-20, 14)'）。")
@click.option("--municipality", "code", required=True, help="全国地方公共団体コード（6桁、例: 472018）。")
@click.option("--on", "on_text", default=None,
              help="基準日（2025-04-01、令和7年4月1日、R7.4.1 など）。省略すると東京の今日。")
@click.option("--json", "as_json", is_flag=True, help='{"value", "type", "diagnostics"} の JSON で出力します。')
def rules_eval(expression: str, code: str, on_text: str | None, as_json: bool) -> None:
    """式を一つ評価します。基準日は「基準日」という名前で式から読めます。

    式の誤り・団体コードの誤り・計算できない値は診断として出力し、終了コード 1 を返します。
    """
    value, compiled, diagnostics = evaluate(expression, code, on_text)
    type_name = str(compiled.type) if compiled is not None else None
    if as_json:
        payload = {
            "value": None if diagnostics else json_value(value, compiled.type if compiled else None),
            "type": type_name,
            "diagnostics": [d.to_json() for d in diagnostics],
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif diagnostics:
        for d in diagnostics:
            click.echo(d.format())
    else:
        click.echo(f"値: {display(value, compiled.type if compiled else None)}")
        click.echo(f"型: {type_name}")
    click.get_current_context().exit(1 if diagnostics else 0)


def evaluate(
    expression: str, code: str, on_text: str | None
) -> tuple[object, CompiledExpression | None, list[Diagnostic]]:
    """Check every input, then run. Returns the value, the compiled expression and all diagnostics."""
    diagnostics: list[Diagnostic] = []
    on = clock.today()
    if on_text is not None:
        try:
            on = parse_date_input(on_text)
        except WarekiError as e:
            diagnostics.append(error(
                "INP802", f"--on の「{on_text}」を日付として読めません: {e.message}", Span("--on", 1, 1),
                e.hint or f"例: {INPUT_EXAMPLES}",
            ))
    calendar, found = resolve_calendar(code, project_root())
    diagnostics.extend(found)
    compiled: CompiledExpression | None = None
    try:
        compiled = check_expression(expression, {}, file="--expr")
    except DiagnosticError as e:
        diagnostics.extend(e.diagnostics)
    if diagnostics or compiled is None:
        return None, compiled, diagnostics
    try:
        return compiled.evaluate({}, EvalContext(on=on, calendar=calendar)), compiled, []
    except DslRuntimeError as e:
        return None, compiled, [e.diagnostic]


def json_value(value: object, t: Type | None) -> object:
    """The JSON form of a DSL value (docs/dates.md): 日付 "YYYY-MM-DD", 整数・金額 numbers, 割合 and
    端数つき金額 exact strings ("0.1", "1/3"), 真偽 true/false, 文字列・期間 strings, 一覧 arrays."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Fraction):
        return exact_decimal(value)
    if isinstance(value, tuple):
        item = t.item if isinstance(t, ListType) else None
        return [json_value(v, item) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_value(v, None) for k, v in value.items()}
    return value


def exact_decimal(value: Fraction) -> str:
    """A fraction as an exact decimal when it has one ("0.125"), else as "n/d" ("1/3").

    >>> exact_decimal(Fraction(1, 10)), exact_decimal(Fraction(-5, 4)), exact_decimal(Fraction(1, 3))
    ('0.1', '-1.25', '1/3')
    """
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = abs(value.numerator) * 10**places // value.denominator
    whole, fraction = divmod(scaled, 10**places) if places else (scaled, 0)
    sign = "-" if value < 0 else ""
    if not places:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{places}d}".rstrip("0").rstrip(".")


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
