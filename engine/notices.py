"""Notices (帳票: 通知書など) printed from a case's data, defined as data — never as code.

A notice is a TOML file: the core's under `processes/**/notices/*.toml`, a pack's under `notices/*.toml`. A pack's
notice with the same `id` as a core notice replaces it for the municipalities the pack serves (the local layout:
wording, order, which items); any other pack notice is added. A file says:

    id = "jido_teate.nintei_tsuchi"          # a stable name
    process = "Process_JidoTeateNintei"      # the procedure whose cases it is printed from
    title = "児童手当 認定通知書"
    when = "認定可"                          # optional: a 真偽 item; the notice is offered only when it is true
    text = "…{認定請求日|和暦}に請求のあった…"  # paragraphs; {item} or {item|format} is an item of the case data
    [[items]]                                # a table of label / value rows
    label = "支給開始月"
    value = "支給開始月"
    format = "年月"
    [[lists]]                                # a list item as a table, one column per field
    label = "対象の子"
    value = "児童"
    columns = [["名前", "名前"], ["生年月日", "生年月日|和暦"]]

Formats: 和暦 (a date), 年月 (2025-07 → 令和7年7月), 金額 (15,000円), はい・いいえ, 文字列 (as stored). Without one
the value is shown as the case page shows it. Placeholders name items only: nothing in a notice is evaluated, and
restricted items (個人番号) cannot be named at all (PCK661). Problems are PCK660 with the line.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.packs import Pack
from engine.restricted import RESTRICTED
from standard_core.diagnostics import Diagnostic, Span, error
from standard_core.wareki import WarekiError, format_wareki

FORMATS = ("和暦", "年月", "金額", "はい・いいえ", "文字列")
_KEYS = {"id", "process", "title", "when", "text", "items", "lists"}
_PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|([^{}]+))?\}")
_HINT = "帳票の書き方は docs/clerk.md「帳票」を見てください。"


@dataclass(frozen=True)
class Item:
    label: str
    value: str  # the data item
    format: str | None = None


@dataclass(frozen=True)
class ListTable:
    label: str
    value: str
    columns: tuple[tuple[str, str, str | None], ...]  # (heading, field, format)


@dataclass(frozen=True)
class Notice:
    id: str
    process_id: str
    title: str
    text: str
    items: tuple[Item, ...]
    lists: tuple[ListTable, ...]
    when: str | None
    source: str  # the file, for the page's footer and diagnostics


def _reference(text: str) -> tuple[str, str | None]:
    name, _, fmt = text.partition("|")
    return name.strip(), (fmt.strip() or None)


def read_notice(path: Path, display: str) -> tuple[Notice | None, list[Diagnostic]]:
    def bad(message: str, line: int = 1, code: str = "PCK660") -> tuple[None, list[Diagnostic]]:
        return None, [error(code, message, Span(display, line, 1), _HINT)]

    try:
        raw = path.read_text(encoding="utf-8")
        data = tomllib.loads(raw)
    except (OSError, UnicodeDecodeError) as e:
        return bad(f"帳票のファイルを読めません: {e}")
    except tomllib.TOMLDecodeError as e:
        at = re.search(r"line (\d+)", str(e))  # Python 3.11 keeps the position only in the message
        return bad(f"帳票が TOML として読めません: {e}", int(at.group(1)) if at else 1)

    def line_of(word: str) -> int:
        return next((i for i, text in enumerate(raw.splitlines(), start=1) if word in text), 1)

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        return bad(f"帳票に書けないキー「{unknown[0]}」があります（書けるのは {'・'.join(sorted(_KEYS))}）", line_of(unknown[0]))
    for key in ("id", "process", "title"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            return bad(f"帳票に {key}（文字列）がありません", line_of(key))
    text = data.get("text", "")
    when = data.get("when")
    if not isinstance(text, str) or (when is not None and not isinstance(when, str)):
        return bad("text と when は文字列です", line_of("text" if not isinstance(text, str) else "when"))
    references: list[tuple[str, str | None, str]] = [(*_reference(m.group(0)[1:-1]), "text")
                                                    for m in _PLACEHOLDER.finditer(text)]
    items: list[Item] = []
    for raw_item in data.get("items", []):
        if not isinstance(raw_item, dict) or not isinstance(raw_item.get("label"), str) \
                or not isinstance(raw_item.get("value"), str) or set(raw_item) - {"label", "value", "format"}:
            return bad("[[items]] は label と value（と format）の文字列です", line_of("[[items]]"))
        items.append(Item(raw_item["label"], raw_item["value"].strip(), raw_item.get("format")))
        references.append((raw_item["value"].strip(), raw_item.get("format"), raw_item["label"]))
    lists: list[ListTable] = []
    for raw_list in data.get("lists", []):
        columns = raw_list.get("columns") if isinstance(raw_list, dict) else None
        if not isinstance(raw_list, dict) or not isinstance(raw_list.get("label"), str) \
                or not isinstance(raw_list.get("value"), str) or not isinstance(columns, list) \
                or not all(isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c) for c in columns):
            return bad("[[lists]] は label・value と columns（[[見出し, 項目]] の一覧）です", line_of("[[lists]]"))
        parsed = tuple((heading, *_reference(field)) for heading, field in columns)
        lists.append(ListTable(raw_list["label"], raw_list["value"].strip(), parsed))
        references.append((raw_list["value"].strip(), None, raw_list["label"]))
        references.extend((name, fmt, heading) for heading, name, fmt in parsed)
    for name, fmt, where in references + ([(when, None, "when")] if when else []):
        if name.split(".")[-1] in RESTRICTED or name in RESTRICTED:
            return bad(f"帳票に特定個人情報「{name}」は載せられません", line_of(name), "PCK661")
        if fmt is not None and fmt not in FORMATS:
            return bad(f"「{where}」の書式「{fmt}」はありません（使えるのは {'・'.join(FORMATS)}）", line_of(fmt))
    return Notice(data["id"].strip(), data["process"].strip(), data["title"].strip(), text, tuple(items),
                  tuple(lists), when, display), []


def _files(root: Path, packs: Sequence[Pack]) -> list[tuple[Path, Pack | None]]:
    found: list[tuple[Path, Pack | None]] = [(p, None) for p in sorted((root / "processes").glob("**/notices/*.toml"))]
    for pack in packs:
        found.extend((p, pack) for p in sorted((pack.directory / "notices").glob("*.toml")))
    return found


def load_notices(root: Path, packs: Sequence[Pack]) -> tuple[list[tuple[Notice, Pack | None]], list[Diagnostic]]:
    """Every notice of the core and the packs (with the pack it came from), and the problems found."""
    notices: list[tuple[Notice, Pack | None]] = []
    problems: list[Diagnostic] = []
    for path, pack in _files(root, packs):
        try:
            display = path.relative_to(root).as_posix()
        except ValueError:
            display = str(path)
        notice, found = read_notice(path, display)
        problems.extend(found)
        if notice is not None:
            notices.append((notice, pack))
    return notices, problems


def unknown_processes(loaded: Iterable[tuple[Notice, Pack | None]], known: set[str]) -> list[Diagnostic]:
    return [error("PCK660", f"帳票「{n.title}」の手続き「{n.process_id}」はありません", Span(n.source, 1, 1),
                  "process には手続きの BPMN のプロセス id を書きます。") for n, _ in loaded if n.process_id not in known]


def notices_for(loaded: Iterable[tuple[Notice, Pack | None]], municipality: str, process_id: str) -> list[Notice]:
    """The notices a case of `process_id` in `municipality` can print: the core's, replaced or joined by those
    of the packs serving the municipality (a prefecture's pack first, then the municipality's own)."""
    chosen: dict[str, Notice] = {}
    ranked = sorted((n for n in loaded if n[0].process_id == process_id
                     and (n[1] is None or n[1].serves(municipality))),
                    key=lambda n: (n[1] is not None, n[1] is not None and municipality not in n[1].municipalities))
    for notice, _ in ranked:
        chosen[notice.id] = notice
    return sorted(chosen.values(), key=lambda n: n.title)


# --- filling in -------------------------------------------------------------------------------------------

def lookup(data: Mapping[str, Any], name: str) -> Any:
    """An item of the case data by name; a dotted name reads into records (独自.項目, 申請者.氏名)."""
    if name in data:
        return data[name]
    node: Any = data
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def formatted(value: Any, fmt: str | None) -> str:
    """A value as the notice prints it."""
    if value is None or value == "":
        return ""
    try:
        if fmt == "和暦" and isinstance(value, str):
            return format_wareki(dt.date.fromisoformat(value))
        if fmt == "年月" and isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}", value):
            first = format_wareki(dt.date.fromisoformat(value + "-01"))
            return first[: first.index("月") + 1]
    except (ValueError, WarekiError):
        return str(value)
    if fmt == "金額" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}円"
    if fmt == "はい・いいえ" or isinstance(value, bool):
        return "はい" if value else "いいえ"
    if fmt is None and isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return formatted(value, "和暦")
    if isinstance(value, list):
        return "、".join(formatted(v, fmt) for v in value)
    return str(value)


def fill(text: str, data: Mapping[str, Any]) -> str:
    """The text with each {item} or {item|format} replaced by the item's formatted value (plain text: the page
    escapes it)."""
    return _PLACEHOLDER.sub(lambda m: formatted(lookup(data, _reference(m.group(0)[1:-1])[0]),
                                                _reference(m.group(0)[1:-1])[1]), text)


def offered(notice: Notice, data: Mapping[str, Any]) -> bool:
    return notice.when is None or lookup(data, notice.when) is True
