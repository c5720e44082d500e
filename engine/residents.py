"""Residents (宛名) as clerks look them up: by name or kana, whatever way it was typed.

A name is stored exactly as it was given — 異体字 (髙, 﨑, 邉…) and their variation selectors included — because it
is the person's name. Searching uses keys derived from it, never shown:

- Unicode NFKC (full/half width: ｶﾜｻｷ and カワサキ, full-width and ASCII letters), case folded, spaces removed;
- variation selectors (U+FE00–FE0F, U+E0100–E01EF) removed;
- hiragana folded to katakana, small kana to their full size, so やまだ finds ヤマダ;
- 旧字体 and 異体字 folded to one form (髙→高, 﨑→崎, 邉・邊→辺, 澤→沢, 國→国 …): the 常用漢字表's 旧字体 → 新字体 pairs
  and common name variants (standard_core.names.KANJI_VARIANTS, over 300 characters).

The same function makes the key of the query, so a search matches whenever both sides fold to the same text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from engine import audit, clock, store
from engine.models import CaseSearchKey, Resident
from engine.tenancy import check_write
from standard_core import names
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from standard_core.wareki import WarekiError, parse_date_input

MAX_QUERY = 50
PAGE = 50


def search_key(text: str) -> str:
    """The folded form of a name or kana for searching: standard_core.names.search_key (see the module docstring)."""
    return names.search_key(text)


def contains(key: str) -> str:
    """A LIKE pattern (escape character \\) for text containing `key` literally."""
    return "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class Found:
    atena_number: str
    name: str
    name_kana: str | None
    birth_date: dt.date
    address: str
    municipality: str


def search(session: Session, query: str, municipalities: Sequence[str]) -> list[Found]:
    """Residents of these municipalities whose name or kana contains the query (folded), at most PAGE."""
    key = search_key(query[:MAX_QUERY])
    if not key or not municipalities:
        return []
    like = contains(key)
    rows = session.scalars(select(Resident).where(
        Resident.municipality_code.in_(list(municipalities)),
        or_(Resident.name_key.like(like, escape="\\"), Resident.kana_key.like(like, escape="\\")))
        .order_by(Resident.kana_key, Resident.name_key, Resident.atena_number).limit(PAGE))
    return [Found(r.atena_number, r.name, r.name_kana, r.birth_date, r.address, r.municipality_code) for r in rows]


# --- names entered in cases --------------------------------------------------------------------------------

NAME_ENDINGS = ("氏名", "名前", "カナ", "かな", "フリガナ", "ふりがな")


def name_values(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(item, text) of every name or kana in a form's values, at any depth (独自.申請者カナ, 児童/名前): the text
    items whose name ends like a name (NAME_ENDINGS)."""
    found: list[tuple[str, str]] = []
    for name, value in values.items():
        item = f"{prefix}{name}"
        if isinstance(value, str) and name.endswith(NAME_ENDINGS) and value.strip():
            found.append((item, value))
        elif isinstance(value, Mapping):
            found.extend(name_values(value, f"{item}/" if name != "独自" else "独自."))
        elif isinstance(value, list):
            for entry in value:
                if isinstance(entry, Mapping):
                    found.extend(name_values(entry, f"{item}/"))
    return found


def index_case_names(session: Session, municipality: str, case_id: str, values: Mapping[str, Any]) -> None:
    """Replace the search keys of the names this form entered (the case data keeps the typed text)."""
    found = name_values(values)
    if not found:
        return
    items = sorted({item for item, _ in found})
    store.flush_case_write(session)  # the step's case first, as every write of a step (engine.store)
    session.execute(delete(CaseSearchKey).where(CaseSearchKey.case_id == case_id, CaseSearchKey.item.in_(items)))
    session.add_all(CaseSearchKey(municipality_code=municipality, case_id=case_id, item=item, key=search_key(text)[:200])
                    for item, text in found)


def cases_named(query: str, municipalities: Sequence[str]) -> Any:
    """A subquery of the case ids whose entered names contain the query (folded), for the inbox filter."""
    like = contains(search_key(query[:MAX_QUERY]))
    return (select(CaseSearchKey.case_id).where(CaseSearchKey.municipality_code.in_(list(municipalities)),
                                                CaseSearchKey.key.like(like, escape="\\")))


COLUMNS = ("宛名番号", "氏名", "氏名カナ", "生年月日", "住所")


def resident_values(text: Mapping[str, str], *, check_name: bool = True) -> tuple[dict[str, Any] | None,
                                                                                  list[tuple[str, int | None, str]]]:
    """A resident row's values from its text fields (宛名番号, 氏名, 氏名カナ, 生年月日, 住所), or every problem as
    (item, position in it or None, message). The name is kept exactly as given; half-width kana become full width;
    a date is 19800401, 1980-04-01 or 和暦. `check_name=False` skips validate_name (the caller reported the
    name's characters already). Shared by `jichi resident import` and `jichi migrate`."""
    problems: list[tuple[str, int | None, str]] = []
    atena = text.get("宛名番号", "")
    if not re.fullmatch(r"[0-9]{1,15}", atena):
        problems.append(("宛名番号", None, f"宛名番号「{atena[:20]}」は半角数字 1〜15 桁です"))
    name = text.get("氏名", "")
    if not name.strip():
        problems.append(("氏名", None, "氏名が空です"))
    elif len(name) > 100:
        problems.append(("氏名", None, "氏名が 100 文字を超えています"))
    elif check_name:
        problems += [("氏名", d.span.column, d.message) for d in names.validate_name(name) if d.is_error]
    kana = unicodedata.normalize("NFKC", text.get("氏名カナ", ""))  # half-width legacy kana → full width
    if kana and not re.fullmatch(r"[ァ-ヺー 　]+", kana):
        problems.append(("氏名カナ", None, "氏名カナは全角カタカナ（姓と名の間は空白）です"))
    born = text.get("生年月日", "")
    birth: dt.date | None = None
    try:
        birth = dt.date(int(born[:4]), int(born[4:6]), int(born[6:])) if re.fullmatch(r"[0-9]{8}", born) \
            else parse_date_input(born)
    except (WarekiError, ValueError) as e:
        problems.append(("生年月日", None, f"生年月日「{born[:20]}」を日付として読めません（{e}）"))
    address = text.get("住所", "")
    if len(address) > 200:
        problems.append(("住所", None, "住所が 200 文字を超えています"))
    if problems or birth is None:
        return None, problems
    return {"atena_number": atena, "name": name, "name_kana": kana or None, "birth_date": birth, "address": address,
            "name_key": search_key(name), "kana_key": search_key(kana) if kana else None}, []


def import_csv(session: Session, municipality: str, text: str, display: str, actor: str) -> int:
    """Add or update residents from CSV (UTF-8, header 宛名番号,氏名,氏名カナ,生年月日,住所). All or nothing: any
    bad row is reported with its line and nothing is stored. Audited (the count, never the names)."""
    check_write(session, municipality)
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != list(COLUMNS):
        raise DiagnosticError([error("INP810", f"見出し行は {','.join(COLUMNS)} にしてください", Span(display, 1, 1),
                                     "UTF-8 の CSV で、1行目が見出しです。")])
    problems: list[Diagnostic] = []
    rows: dict[str, dict[str, object]] = {}
    for line, raw in enumerate(reader, start=2):
        fields = {k: (v or "") if k == "氏名" else (v or "").strip() for k, v in raw.items() if k is not None}
        values, found = resident_values(fields)
        problems += [error("INP810", message, Span(display, line, 1), "") for _, _, message in found]
        if values is not None:
            rows[values.pop("atena_number")] = values
    if problems:
        raise DiagnosticError(problems)
    now = clock.now()
    existing = {r.atena_number: r for r in session.scalars(select(Resident).where(
        Resident.municipality_code == municipality, Resident.atena_number.in_(list(rows))))} if rows else {}
    for number, values in rows.items():
        row = existing.get(number) or Resident(municipality_code=municipality, atena_number=number)
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = now
        session.add(row)
    audit.admin_event(session, action="resident.imported", actor=actor, municipality=municipality,
                      detail={"count": len(rows), "file": display})
    return len(rows)
