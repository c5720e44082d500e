"""`jichi form show`: the form of a procedure's user task as a municipality's clerks get it.

    jichi form show Process_JidoTeateNintei [UserTask_Uketsuke] --municipality 141305 [--json]

The core's fields and checks (the BPMN's jichi:field and jichi:check) with the variations of the
municipality's packs applied (forms/*.toml, docs/forms.md): order, labels, help, required, local fields
under 独自., and every check with where it is declared.
"""

from __future__ import annotations

import json

import click

from engine.paths import project_root
from engine.registry import Registry
from standard_core.diagnostics import DiagnosticError, Span, error
from web.cli_cases import _fail


@click.group("form")
def form_group() -> None:
    """手続きの様式（ユーザータスクの入力項目と検査）。"""


@form_group.command("show")
@click.argument("procedure")
@click.argument("task", required=False)
@click.option("--municipality", required=True, help="団体コード（6桁）。その団体のパックの様式の変更を含めて表示します。")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力します。")
def form_show(procedure: str, task: str | None, municipality: str, as_json: bool) -> None:
    """手続き PROCEDURE（BPMN のプロセス id）の様式を、団体 MUNICIPALITY の変更を含めて表示します。"""
    try:
        current = Registry.load(project_root()).procedure(procedure, municipality)
        forms = [f for f in current.forms.values() if task in (None, f.task_id)]
        if task is not None and not forms:
            known = "、".join(current.forms) or "（ユーザータスクなし）"
            raise DiagnosticError([error("ENG514", f"手続き「{procedure}」にユーザータスク「{task}」はありません",
                                         Span("<入力>", 1, 1), f"ユーザータスク: {known}")])
    except DiagnosticError as e:
        _fail(e, as_json)
        return
    if as_json:
        click.echo(json.dumps([f.to_json() for f in forms], ensure_ascii=False, indent=2))
        return
    for form in forms:
        click.echo(f"様式 {form.process_id} / {form.task_id}「{form.task_name}」")
        for f in form.fields:
            marks = "必須" if f.required else "任意"
            origin = "  団体独自" if f.local else ""
            click.echo(f"  {f.label}（{f.name}: {f.type}、{marks}）{origin}")
            if f.help:
                click.echo(f"      説明: {f.help}")
        for check in form.checks:
            click.echo(f"  検査: {check.text} → 「{check.message}」  {check.where.file}:{check.where.line}")
        if form.variations:
            click.echo(f"  変更: {'、'.join(form.variations)}")
