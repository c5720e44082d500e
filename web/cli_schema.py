"""`jichi schema`: the standard data dictionary as a Japanese table, as JSON, or as docs/data-dictionary.md."""

from __future__ import annotations

import json

import click

from standard_core import data_model
from standard_core.data_model.dictionary import constraints_text
from standard_core.data_model.schema import Entity
from standard_core.diagnostics import Span, display_width, error


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def table(entities: list[Entity]) -> str:
    """The dictionary as a plain-text table per entity; columns aligned for East-Asian-wide characters."""
    head = ("ID", "DSL名", "表示名", "型", "必須", "制約", "根拠")
    blocks: list[str] = []
    for e in entities:
        rows = [head] + [
            (i.id, i.name, i.label, i.type, "必須" if i.required else "", constraints_text(i), i.reference)
            for i in e.items
        ]
        widths = [max(display_width(row[c]) for row in rows) for c in range(len(head) - 1)]
        lines = [f"■ {e.label}（{e.id}、DSL: {e.name}）  分野: {e.group}  根拠: {e.reference}"]
        lines += ["  " + "  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
                  for row in rows]
        blocks.append("\n".join(line.rstrip() for line in lines))
    return "\n\n".join(blocks)


@click.command("schema")
@click.option("--entity", "entity_name", default=None, metavar="NAME",
              help="一つの表だけを表示します（ID・DSL 名・表示名のどれでも。例: person、個人）。")
@click.option("--json", "as_json", is_flag=True, help="すべての項目を JSON で出力します。")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="docs/data-dictionary.md の内容を出力します（jichi schema --markdown > docs/data-dictionary.md）。")
def schema(entity_name: str | None, as_json: bool, as_markdown: bool) -> None:
    """標準データ辞書（データ項目の ID・DSL 名・表示名・型・制約・根拠）を表示します。"""
    ctx = click.get_current_context()
    if as_markdown:
        if entity_name is not None or as_json:
            raise click.UsageError("--markdown は --entity・--json と一緒には使えません（辞書の全体を出力します）。")
        click.echo(data_model.markdown(), nl=False)
        return
    entities = list(data_model.ENTITIES)
    if entity_name is not None:
        found = data_model.entity_named(entity_name)
        if found is None:
            known = "、".join(f"{e.id}（{e.name}）" for e in data_model.ENTITIES)
            d = error("INP820", f"データ項目の表「{entity_name}」はありません", Span("--entity", 1, 1),
                      f"表の ID か DSL 名を指定してください: {known}")
            click.echo(json.dumps({"diagnostics": [d.to_json()]}, ensure_ascii=False, indent=2) if as_json
                       else d.format(), err=not as_json)
            ctx.exit(1)
        entities = [found]
    if as_json:
        whole = data_model.to_json()
        ids = {e.id for e in entities}
        whole["entities"] = [e for e in whole["entities"] if e["id"] in ids]
        click.echo(json.dumps(whole, ensure_ascii=False, indent=2))
        return
    click.echo(table(entities))
    if entity_name is None:
        click.echo("")
        click.echo("■ コード表")
        for c in data_model.CODE_LISTS:
            click.echo(f"  {c.name}（{c.id}）: {'、'.join(c.values)}  根拠: {c.reference}")
