"""HTML forms generated from a task's form (engine/forms.py): the standard fields plus the municipality's variation
(labels, order, help, 独自 fields, stricter checks), and the parsing of what the browser posts back.

Each field becomes a widget by its DSL type — 日付 a text box that takes 和暦 (令和7年4月1日, R7.4.1, full-width),
numbers a text box that takes full-width digits and 1,000 separators, 真偽 a pair of radio buttons, a 列挙 a
select, a record a fieldset of its fields, a list repeated rows with 行を追加 / 削除. Input names are paths with
"/" between the parts (`児童/0/生年月日`, `独自.小児医療費助成も申請`), so a local field's dot is never read as
nesting. Values are normalised here (dates to ISO 8601, numbers to integers) while text keeps what was typed;
a value that cannot be read gets an inline message at its field, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dsl.types import EnumType, ListType, RecordType, Type
from engine.forms import LOCAL, Form
from engine.restricted import RESTRICTED
from standard_core.wareki import INPUT_EXAMPLES, WarekiError, format_wareki, parse_date_input

NUMERIC = {"int", "money", "days", "months", "years", "fiscal_year"}
MAX_ROWS = 50  # rows of one list a form may post (a hostile post cannot make the server build more)


@dataclass
class Widget:
    """One input (or group of inputs) of the form, ready for the template."""

    path: str  # the input name
    label: str
    kind: str  # text | date | number | bool | enum | record | list | textarea
    value: str = ""
    help: str = ""
    required: bool = False
    error: str = ""
    choices: tuple[str, ...] = ()
    children: list[Widget] = field(default_factory=list)  # a record's fields, a list's rows
    item: Widget | None = None  # a list: the template of a new row
    restricted: bool = False  # 個人番号: never kept in a browser draft

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^0-9A-Za-z_-]", lambda m: f"_{ord(m.group()):x}", self.path)


def _kind(t: Type) -> str:
    if isinstance(t, EnumType):
        return "enum"
    if isinstance(t, RecordType):
        return "record"
    if isinstance(t, ListType):
        return "list"
    if t.key == "date":
        return "date"
    if t.key in NUMERIC:
        return "number"
    if t.key == "bool":
        return "bool"
    return "text"


def _shown(value: object, t: Type) -> str:
    """A stored value as the clerk reads it in the box (dates in 和暦)."""
    if value is None:
        return ""
    if t.key == "date" and isinstance(value, str):
        try:
            return format_wareki(dt.date.fromisoformat(value))
        except (ValueError, WarekiError):
            return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def widget(path: str, label: str, t: Type, value: object, *, help: str = "", required: bool = False,
           errors: Mapping[str, str] | None = None, restricted: bool = False) -> Widget:
    errors = errors or {}
    kind = _kind(t)
    w = Widget(path, label, kind, help=help, required=required, error=errors.get(path, ""), restricted=restricted)
    if isinstance(t, EnumType):
        w.choices, w.value = t.values, _shown(value, t)
    elif isinstance(t, RecordType):
        current = value if isinstance(value, Mapping) else {}
        w.children = [widget(f"{path}/{name}", name, sub, current.get(name), errors=errors,
                             restricted=name in RESTRICTED) for name, sub in t.fields]
    elif isinstance(t, ListType):
        rows = list(value) if isinstance(value, (list, tuple)) else []
        w.children = [widget(f"{path}/{i}", f"{label} {i + 1}", t.item, row, errors=errors)
                      for i, row in enumerate(rows[:MAX_ROWS])]
        w.item = widget(f"{path}/{len(w.children)}", f"{label} {len(w.children) + 1}", t.item, None)
    else:
        w.value = _shown(value, t)
    return w


def widgets(form: Form, values: Mapping[str, Any], errors: Mapping[str, str] | None = None) -> list[Widget]:
    """The form's fields in its order, filled with `values` (the case data, or what was just posted)."""
    local = values.get(LOCAL) if isinstance(values.get(LOCAL), Mapping) else {}
    assert isinstance(local, Mapping)
    return [widget(f.name, f.label, f.type, (local if f.local else values).get(f.key), help=f.help,
                   required=f.required, errors=errors, restricted=f.name in RESTRICTED) for f in form.fields]


# --- reading a post ----------------------------------------------------------------------------------------

def _tree(posted: Mapping[str, str]) -> dict[str, Any]:
    """{"児童/0/生年月日": "…"} → {"児童": {"0": {"生年月日": "…"}}} (bounded: at most MAX_ROWS rows a list)."""
    root: dict[str, Any] = {}
    for name, value in posted.items():
        parts = name.split("/")
        if len(parts) > 6 or any(p.isdigit() and int(p) >= MAX_ROWS for p in parts):
            continue
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(parts[-1], value)
    return root


def _number(text: str) -> int:
    folded = unicodedata.normalize("NFKC", text).replace(",", "").replace("円", "").replace(" ", "")
    if not re.fullmatch(r"-?[0-9]{1,15}", folded):
        raise ValueError(text)
    return int(folded)


def _read(node: object, t: Type, path: str, label: str, errors: dict[str, str]) -> object:
    """The value of one posted field as the engine takes it, or None (empty); a problem goes in `errors`."""
    if isinstance(t, RecordType):
        if not isinstance(node, dict):
            return None
        found = {name: _read(node.get(name), sub, f"{path}/{name}", name, errors) for name, sub in t.fields}
        kept = {k: v for k, v in found.items() if v is not None}
        return kept or None
    if isinstance(t, ListType):
        if not isinstance(node, dict):
            return []  # a list on the form always has a value: no rows is the empty list
        rows = [_read(node[k], t.item, f"{path}/{k}", label, errors)
                for k in sorted((k for k in node if k.isdigit()), key=int)]
        return [r for r in rows if r is not None]
    if not isinstance(node, str):
        return None
    text = node.strip()
    if text == "":
        return None
    kind = _kind(t)
    if kind == "date":
        try:
            return parse_date_input(text).isoformat()
        except WarekiError as e:
            errors[path] = f"「{label}」を日付として読めません（{e}）。例: {INPUT_EXAMPLES}"
            return None
    if kind == "number":
        try:
            return _number(text)
        except ValueError:
            errors[path] = f"「{label}」は数字で入力してください（例: 1200）"
            return None
    if kind == "bool":
        if text in ("true", "false"):
            return text == "true"
        errors[path] = f"「{label}」は「はい」か「いいえ」を選んでください"
        return None
    if isinstance(t, EnumType):
        if text in t.values:
            return text
        errors[path] = f"「{label}」は一覧から選んでください"
        return None
    return unicodedata.normalize("NFC", node.strip())  # the text as typed (only composed), not folded


def read_post(form: Form, posted: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The data to complete the task with (for Form.accept), and the fields that could not be read or are
    required and empty, each with its message. Names the form does not have are ignored."""
    tree = _tree(posted)
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    local: dict[str, Any] = {}
    for f in form.fields:
        value = _read(tree.get(f.name), f.type, f.name, f.label, errors)
        if value is None and f.required and f.name not in errors:
            errors[f.name] = f"「{f.label}」は必須の項目です"
        if value is not None:
            (local if f.local else data)[f.key] = value
    if local:
        data[LOCAL] = local
    return data, errors


def _as_lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_as_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _as_lists(v) for k, v in node.items()}
    return node


def posted_values(form: Form, posted: Mapping[str, str]) -> dict[str, Any]:
    """What was posted, shaped like case data but kept as typed, to show the form again with its errors."""
    tree = _as_lists(_tree(posted))
    values = {f.name: tree.get(f.name) for f in form.fields if not f.local}
    values[LOCAL] = {f.key: tree.get(f.name) for f in form.fields if f.local}
    return values

