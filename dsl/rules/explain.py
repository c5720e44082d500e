"""The explanation of an evaluation in Japanese, from its trace (the JSON form is the trace itself)."""

from __future__ import annotations

from typing import Any

from dsl.rules.runtime import Trace, json_trace


def _value(value: Any, type_name: str | None = None) -> str:
    if type_name in ("金額", "端数つき金額") and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}円"
    if isinstance(value, bool):
        return "真" if value else "偽"
    if isinstance(value, list):
        return "[" + "、".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + "、".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def explain(trace: Trace, type_name: str | None = None) -> str:
    """Lines a clerk can read: what was decided, which rule applied, what it used and where it comes from."""
    lines: list[str] = []
    _node(json_trace(trace), 0, lines, type_name)
    return "\n".join(lines)


def _node(t: Trace, depth: int, lines: list[str], type_name: str | None = None) -> None:
    pad = "  " * depth
    kind = t.get("kind")
    if kind == "input":
        lines.append(f"{pad}入力 {t['name']} = {_value(t['value'], t.get('type'))}")
        return
    if kind == "parameter":
        lines.append(f"{pad}パラメータ {t['name']} = {_value(t['value'], t.get('type'))}（{t['valid']}有効、基準日 {t['reference_date']}）"
                     + (f" 出典: {t['cite']}" if t.get("cite") else ""))
        return
    if kind == "counting":
        lines.append(f"{pad}数え方 {t['name']}: {t['of']} 件のうち {t['counted']} 件を数えた"
                     + (f" 出典: {t['cite']}" if t.get("cite") else ""))
        return
    if t.get("again"):
        lines.append(f"{pad}{'決定' if kind == 'decision' else '表'} {t['name']} = {_value(t['value'], t.get('type'))}（上で評価済み）")
        return
    what = "決定" if kind == "decision" else "表" if kind == "table" else "値"
    head = f"{pad}{what} {t['name']} = {_value(t.get('value'), t.get('type') or type_name)}"
    if t.get("reference_date"):
        head += f"　基準日 {t['reference_date']}（{t.get('reference', '基準日')}）"
    lines.append(head)
    if t.get("version"):
        lines.append(f"{pad}  適用期間: {t['version']}")
    for applied in t.get("applied", []):
        if applied.get("otherwise"):
            label = "「それ以外」"
        else:
            target = applied.get("exception_to")
            if applied.get("label"):
                label = f"「{applied['label']}」" + (f"（「{target}」の例外）" if target else "")
            else:
                label = f"「{target}」の例外" if target else "名前のない場合"
        lines.append(f"{pad}  適用: {label} {applied['file']}:{applied['line']}"
                     + (f" 出典: {applied['cite']}" if applied.get("cite") else ""))
    for matched in t.get("matched", []):
        lines.append(f"{pad}  当てはまった行: {matched['line']} 行目" + (f" 出典: {matched['cite']}" if matched.get("cite") else ""))
    if kind == "table" and not t.get("matched"):
        lines.append(f"{pad}  当てはまった行: なし")
    if t.get("cite"):
        lines.append(f"{pad}  根拠: {t['cite']}")
    uses = t.get("uses", [])
    if uses:
        lines.append(f"{pad}  使った値:")
        for use in uses:
            _node(use, depth + 2, lines)
