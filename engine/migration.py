"""Data migration from a legacy system (docs/migration.md): residents read from what the old system exports —
CSV or fixed-width records, CP932 (Windows-31J) or UTF-8 — through a column-mapping file (no code per
municipality), their 外字 mapped by the municipality's table (standard_core.gaiji), checked in a dry run, then
imported in batches that are each all or nothing and can be re-run without duplicates.

Nothing is replaced silently: a byte that is not CP932, an unmapped 外字, a character outside the declared
repertoire, a bad date, a duplicated 宛名番号 — each rejects its record with the record number, the field, the
position and the code, and the report lists them. Only clean records are imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, clock, faults
from engine.models import MigrationReport, Resident
from engine.residents import resident_values
from standard_core.data_model import code_list
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error
from standard_core.gaiji import Finding, GaijiTable, decode_cp932

ITEMS = ("宛名番号", "氏名", "氏名カナ", "生年月日", "住所", "世帯番号", "続柄")
HEAD = "世帯主"
RELATIONSHIPS: frozenset[str] = frozenset(code_list("relationship").values)  # type: ignore[union-attr]
REQUIRED = ("宛名番号", "氏名", "生年月日")
NAME_ITEMS = ("氏名", "氏名カナ", "住所")  # text the 外字 table applies to
_FULL_WIDTH_SPACE = "\u3000"


@dataclass(frozen=True)
class MappingSpec:
    """The column-mapping file (TOML): how to read the legacy export and which column is which standard item."""

    format: str  # csv | fixed
    encoding: str  # cp932 | utf-8
    header: bool  # csv: the first line names the columns
    columns: dict[str, str]  # standard item → csv column name or 1-based number / fixed "start:length" (bytes)
    date_format: str  # yyyymmdd | wareki (R7.4.1, 令和7年4月1日, 2025-04-01 …)
    name: str
    record_length: int | None = None  # fixed: bytes per record when records have no line endings

    @classmethod
    def parse(cls, text: str, name: str = "mapping.toml") -> MappingSpec:
        problems: list[Diagnostic] = []

        def fail(message: str, hint: str) -> None:
            problems.append(error("MIG110", message, Span(name, 1, 1), hint))

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise DiagnosticError([error("MIG110", f"列の対応のファイルを TOML として読めません（{e}）",
                                         Span(name, 1, 1), "docs/migration.md の例の形にしてください。")]) from None
        source, columns, values = data.get("source", {}), data.get("columns", {}), data.get("values", {})
        for table_name, table in (("source", source), ("columns", columns), ("values", values)):
            if not isinstance(table, dict):
                fail(f"[{table_name}] は表（[{table_name}] の見出しの下に キー = 値）にしてください", "docs/migration.md の例の形にしてください。")
        source = source if isinstance(source, dict) else {}
        values = values if isinstance(values, dict) else {}
        fmt, encoding = source.get("format", "csv"), source.get("encoding", "cp932")
        if fmt not in ("csv", "fixed"):
            fail(f"[source] format「{fmt}」は使えません", "csv か fixed にしてください。")
        if encoding not in ("cp932", "utf-8"):
            fail(f"[source] encoding「{encoding}」は使えません", "cp932（Windows-31J）か utf-8 にしてください。")
        if not isinstance(columns, dict) or not columns:
            fail("[columns] がありません", "標準の項目ごとに旧システムの列を書いてください（例: 宛名番号 = \"ATENA_NO\"）。")
            columns = {}
        for item, where in columns.items():
            if not isinstance(where, (str, int)) or isinstance(where, bool):
                fail(f"[columns] の「{item}」の列は文字列か列番号にしてください", "例: \"宛名番号\" = \"ATENA_NO\" または = 1")
            if item not in ITEMS:
                fail(f"[columns] の「{item}」は取り込める標準の項目ではありません", f"使える項目: {'、'.join(ITEMS)}")
        for item in REQUIRED:
            if item not in columns:
                fail(f"[columns] に必須の項目「{item}」がありません", f"必須の項目: {'、'.join(REQUIRED)}")
        if fmt == "fixed":
            for item, where in columns.items():
                if not isinstance(where, str) or not re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", where):
                    fail(f"[columns] の「{item}」の位置「{where}」は 開始:長さ（バイト、1 から）の形ではありません",
                         "例: 氏名 = \"16:40\"（16 バイト目から 40 バイト）")
        record_length = source.get("record_length")
        if record_length is not None and (fmt != "fixed" or not isinstance(record_length, int) or record_length < 1):
            fail(f"[source] record_length「{record_length}」は使えません",
                 "改行のない固定長（format = \"fixed\"）の、1 記録のバイト数（正の整数）です。")
            record_length = None
        date_format = values.get("生年月日", "wareki")
        if date_format not in ("yyyymmdd", "wareki"):
            fail(f"[values] 生年月日「{date_format}」は使えません", "yyyymmdd か wareki にしてください。")
        if problems:
            raise DiagnosticError(problems)
        return cls(fmt, encoding, bool(source.get("header", fmt == "csv")),
                   {k: str(v) for k, v in columns.items()}, date_format, name, record_length)


@dataclass(frozen=True)
class Problem:
    """Why a record is rejected, where."""

    record: int  # 1-based record number in the file (header not counted)
    field: str  # standard item, or "" for the record as a whole
    position: int | None  # 1-based character (or byte, for undecodable bytes) position in the field
    code: str  # U+E003, or the bytes, or ""
    message: str
    atena: str = ""  # the record's 宛名番号 when it could be read: how the legacy system finds the record


@dataclass
class Report:
    """The dry run: what an import of this file would do."""

    file: str
    sha256: str
    records: int = 0
    clean: int = 0
    rejected: dict[int, list[Problem]] = field(default_factory=dict)  # record → its problems
    gaiji: dict[str, dict[str, Any]] = field(default_factory=dict)  # code → {"kind", "records": {…}, "first"}
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # 宛名番号 → the records that carry it
    mapped: int = 0  # legacy characters replaced through the table
    households_seen: dict[str, set[int]] = field(default_factory=dict)  # 世帯番号 → the records that carry it
    households_rejected: dict[str, str] = field(default_factory=dict)  # 世帯番号 → why it is not imported

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "records": self.records, "clean": self.clean,
                "rejected": len(self.rejected), "mapped_characters": self.mapped,
                "unmapped": [{"code": code, "kind": info["kind"], "records": len(info["records"]),
                              "first": info["first"]} for code, info in sorted(self.gaiji.items())],
                "duplicates": self.duplicates,
                "households": len(self.households_seen),
                "households_rejected": self.households_rejected,
                "problems": [vars(p) for ps in self.rejected.values() for p in ps]}

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["記録", "宛名番号", "項目", "位置", "コード", "理由"])
        for problems in self.rejected.values():
            for p in problems:
                writer.writerow([p.record, p.atena, p.field, p.position or "", p.code, p.message])
        return out.getvalue()


@dataclass(frozen=True)
class Record:
    number: int
    values: dict[str, Any]  # ready for the resident table


def read(spec: MappingSpec, table: GaijiTable, data: bytes, file: str) -> tuple[Report, list[Record]]:
    """Read and check every record (the dry run). Returns the report and the clean records, in file order."""
    report = Report(file=file, sha256=hashlib.sha256(data).hexdigest())
    clean: dict[str, Record] = {}
    seen: dict[str, list[int]] = {}
    atenas: dict[int, str] = {}  # record → its 宛名番号 as written
    for number, fields, problems in _fields(spec, data):
        report.records += 1
        atena = fields.get("宛名番号", "").strip()
        if re.fullmatch(r"[0-9]{1,15}", atena):
            seen.setdefault(atena, []).append(number)
        if atena:
            atenas[number] = atena[:15]
        household = fields.get("世帯番号", "").strip()
        if household:
            report.households_seen.setdefault(household, set()).add(number)
        values: dict[str, Any] = {}
        if not problems:
            values, problems = _check(number, fields, table, report)
        if problems:
            report.rejected[number] = problems
            continue
        clean[f"{atena}\0{number}"] = Record(number, values)
    for atena, numbers in seen.items():
        if len(numbers) > 1:  # which one is right is for a person to decide: none is imported
            report.duplicates[atena] = numbers
            for n in numbers:
                report.rejected.setdefault(n, []).append(Problem(
                    n, "宛名番号", None, "", f"宛名番号 {atena} が {len(numbers)} 件の記録（{', '.join(map(str, numbers))}）"
                                              "にあります"))
                clean.pop(f"{atena}\0{n}", None)
    _check_households(report, clean)
    report.rejected = {n: [replace(p, atena=atenas.get(n, "")) for p in ps] for n, ps in sorted(report.rejected.items())}
    report.clean = len(clean)
    return report, sorted(clean.values(), key=lambda r: r.number)


def _check_households(report: Report, clean: dict[str, Record]) -> None:
    """A household is imported whole and with exactly one 世帯主: if one of its records is rejected, or it has no
    head or several, none of its records is imported (a household without its head is not a household)."""
    members: dict[str, list[str]] = {}
    for key, record in clean.items():
        if record.values["household_number"] is not None:
            members.setdefault(record.values["household_number"], []).append(key)
    rejected = set(report.rejected)
    rejected_households = {h for h, numbers in report.households_seen.items() if not numbers.isdisjoint(rejected)}
    for household, keys in members.items():
        heads = [clean[k].number for k in keys if clean[k].values["relationship"] == HEAD]
        if household in rejected_households:
            reason = f"世帯 {household} のほかの記録がはじかれたため、この世帯は取り込みません"
        elif not heads:
            reason = f"世帯 {household} に世帯主がいません"
        elif len(heads) > 1:
            reason = f"世帯 {household} に世帯主が {len(heads)} 人います（記録 {', '.join(map(str, heads))}）"
        else:
            continue
        report.households_rejected[household] = reason
        for key in keys:
            record = clean.pop(key)
            report.rejected.setdefault(record.number, []).append(Problem(record.number, "世帯番号", None, "", reason))


def _fields(spec: MappingSpec, data: bytes) -> Iterator[tuple[int, dict[str, str], list[Problem]]]:
    """(record number, standard item → text, problems) for each record of the file."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    if spec.format == "fixed" and spec.record_length:  # records one after the other, with no line endings
        lines = [data[i:i + spec.record_length] for i in range(0, len(data), spec.record_length)]
    else:
        lines = data.splitlines()
    header: list[str] | None = None
    number = 0
    for raw in lines:
        if not raw.strip():
            continue
        if spec.format == "fixed":
            number += 1
            yield number, *_fixed(spec, raw, number)
            continue
        text, where = (raw.decode("utf-8"), "") if spec.encoding == "utf-8" and _utf8(raw) else \
            decode_cp932(raw) if spec.encoding == "cp932" else (None, "UTF-8 として読めません")
        if spec.header and header is None:
            header = [h.strip() for h in next(csv.reader([text or ""]))]
            missing = [c for c in spec.columns.values() if not c.isdigit() and c not in header]
            if missing:
                raise DiagnosticError([error("MIG110", f"列の対応の列「{'」「'.join(missing)}」が書き出しの見出しにありません",
                                             Span(spec.name, 1, 1), f"見出し: {'、'.join(header)[:300]}")])
            continue
        number += 1
        if text is None:
            yield number, {}, [Problem(number, "", None, where, f"{_label(spec)} として読めないバイトがあります（{where}）")]
            continue
        cells = next(csv.reader([text]))
        fields: dict[str, str] = {}
        problems: list[Problem] = []
        for item, column in spec.columns.items():
            index = int(column) - 1 if column.isdigit() else (header.index(column) if header and column in header else -1)
            if index < 0 or index >= len(cells):
                problems.append(Problem(number, item, None, "", f"列「{column}」がありません"))
                continue
            fields[item] = cells[index]
        yield number, fields, problems


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _label(spec: MappingSpec) -> str:
    return "CP932（Windows-31J）" if spec.encoding == "cp932" else "UTF-8"


def _fixed(spec: MappingSpec, raw: bytes, number: int) -> tuple[dict[str, str], list[Problem]]:
    fields: dict[str, str] = {}
    problems: list[Problem] = []
    for item, where in spec.columns.items():
        start, length = (int(x) for x in where.split(":"))
        chunk = raw[start - 1:start - 1 + length]
        if len(chunk) < length:
            problems.append(Problem(number, item, start, "", f"記録が短く、{start} バイト目からの {length} バイトがありません"))
            continue
        if spec.encoding == "utf-8":
            text, bad = (chunk.decode("utf-8"), "") if _utf8(chunk) else (None, "UTF-8 として読めません")
        else:
            text, bad = decode_cp932(chunk)
        if text is None:
            problems.append(Problem(number, item, None, bad, f"{_label(spec)} として読めないバイトがあります（{bad}）"))
            continue
        fields[item] = text.rstrip(" " + _FULL_WIDTH_SPACE)  # fixed-width fields are padded with spaces
    return fields, problems


def _check(number: int, fields: Mapping[str, str], table: GaijiTable,
           report: Report) -> tuple[dict[str, Any], list[Problem]]:
    problems: list[Problem] = []
    text: dict[str, str] = {}
    for item, raw in fields.items():
        value = raw.strip(" ") if item not in NAME_ITEMS else raw.strip(" " + _FULL_WIDTH_SPACE)
        if item in NAME_ITEMS:
            done = table.convert(value)
            report.mapped += len(done.mapped)
            for f in done.findings:
                problems.append(Problem(number, item, f.position, f.code, f"{f.position} 文字目 {f.code}: {f.reason}"))
                _count_gaiji(report, f, number, item)
            value = done.text
        text[item] = value
    values, found = resident_values(text, check_name=not problems)  # 外字 already reported: not twice
    problems += [Problem(number, item, position, "", message) for item, position, message in found]
    household, relationship = text.get("世帯番号", "") or None, text.get("続柄", "") or None
    if household is not None and not re.fullmatch(r"[0-9]{1,15}", household):
        problems.append(Problem(number, "世帯番号", None, "", f"世帯番号「{household[:20]}」は半角数字 1〜15 桁です"))
    if relationship is not None and relationship not in RELATIONSHIPS:
        problems.append(Problem(number, "続柄", None, "", f"続柄「{relationship[:20]}」は続柄区分にありません"
                                                         "（世帯主、妻、子、父、母、同居人 など）"))
    if (household is None) != (relationship is None) and ("世帯番号" in fields or "続柄" in fields):
        problems.append(Problem(number, "世帯番号" if household is None else "続柄", None, "",
                                "世帯番号と続柄は両方とも書くか、両方とも空にします"))
    if problems or values is None:
        return {}, problems
    return values | {"household_number": household, "relationship": relationship}, []


def _count_gaiji(report: Report, f: Finding, record: int, item: str) -> None:
    info = report.gaiji.setdefault(f.code, {"kind": f.kind, "records": set(), "first": [record, item, f.position]})
    info["records"].add(record)


def load_inputs(mapping: Path, gaiji: Path | None) -> tuple[MappingSpec, GaijiTable]:
    """The mapping file and the 外字 table (no table: no legacy character is mapped), or every problem."""
    try:
        spec = MappingSpec.parse(mapping.read_text(encoding="utf-8"), mapping.name)
    except (OSError, UnicodeDecodeError) as e:
        raise DiagnosticError([error("MIG110", f"列の対応のファイルを読めません（{e}）", Span(str(mapping), 1, 1),
                                     "UTF-8 の TOML ファイルを指定してください。")]) from None
    if gaiji is None:
        return spec, GaijiTable()
    try:
        table, problems = GaijiTable.parse(gaiji.read_text(encoding="utf-8"), gaiji.name)
    except (OSError, UnicodeDecodeError) as e:
        raise DiagnosticError([error("MIG101", f"外字の対応表を読めません（{e}）", Span(str(gaiji), 1, 1),
                                     "UTF-8 の CSV ファイルを指定してください。")]) from None
    if problems:
        raise DiagnosticError(problems)
    return spec, table


@dataclass(frozen=True)
class Imported:
    added: int
    updated: int
    unchanged: int
    batches: int


def import_records(sessions: Callable[[], Session], municipality: str, records: list[Record], report: Report,
                   actor: str, *, batch: int = 1000,
                   progress: Callable[[int, int], None] | None = None) -> Imported:
    """Store the clean records in batches, each batch one transaction with its audit event. Idempotent by
    宛名番号: a record already there with the same values is left alone, so re-running after an interruption
    (or twice) leaves each resident exactly once."""
    added = updated = unchanged = batches = 0
    done = 0
    fields = ("name", "name_kana", "birth_date", "address", "name_key", "kana_key", "household_number", "relationship")
    for start in range(0, len(records), batch):
        chunk = records[start:start + batch]
        with sessions() as session:
            existing = {r.atena_number: r for r in session.scalars(select(Resident).where(
                Resident.municipality_code == municipality,
                Resident.atena_number.in_([r.values["atena_number"] for r in chunk])))}
            now = clock.now()
            counts = {"added": 0, "updated": 0, "unchanged": 0}
            for record in chunk:
                row = existing.get(record.values["atena_number"])
                if row is not None and all(getattr(row, f) == record.values[f] for f in fields):
                    counts["unchanged"] += 1
                    continue
                counts["updated" if row is not None else "added"] += 1
                row = row or Resident(municipality_code=municipality, atena_number=record.values["atena_number"])
                for f in fields:
                    setattr(row, f, record.values[f])
                row.updated_at = now
                session.add(row)
            audit.admin_event(session, action="resident.migrated", actor=actor, municipality=municipality,
                              detail={"file": report.file, "sha256": report.sha256, "batch": batches + 1,
                                      "records": [chunk[0].number, chunk[-1].number], **counts})
            faults.point("migrate_before_commit")
            session.commit()
            faults.point("migrate_after_commit")
        added, updated, unchanged = added + counts["added"], updated + counts["updated"], unchanged + counts["unchanged"]
        batches += 1
        done += len(chunk)
        if progress is not None:
            progress(done, len(records))
    return Imported(added, updated, unchanged, batches)


PROBLEMS_KEPT = 10_000  # rejected-record problems stored with a report (the CSV of the command has them all)


def save_report(session: Session, municipality: str, kind: str, report: Report, actor: str,
                extra: Mapping[str, Any] | None = None) -> MigrationReport:
    """Keep a dry run's or an import's report for the migration team's page (the caller commits)."""
    shown = report.to_json() | dict(extra or {})
    problems = shown["problems"]
    shown["problems"], shown["problems_total"] = problems[:PROBLEMS_KEPT], len(problems)
    row = MigrationReport(municipality_code=municipality, kind=kind, file=report.file[:300], sha256=report.sha256,
                          created_at=clock.now(), created_by=actor, report=json.dumps(shown, ensure_ascii=False))
    session.add(row)
    session.flush()
    audit.admin_event(session, action="migration.reported", actor=actor, municipality=municipality,
                      detail={"report": row.id, "kind": kind, "file": report.file, "sha256": report.sha256,
                              "records": report.records, "rejected": len(report.rejected)})
    return row


def latest_report(session: Session, municipality: str) -> MigrationReport | None:
    found: MigrationReport | None = session.scalars(
        select(MigrationReport).where(MigrationReport.municipality_code == municipality)
        .order_by(MigrationReport.id.desc()).limit(1)).first()
    return found


def report_csv(row: MigrationReport) -> str:
    """The stored report's problems as the CSV the command writes (記録,項目,位置,コード,理由)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["記録", "宛名番号", "項目", "位置", "コード", "理由"])
    for p in json.loads(row.report)["problems"]:
        writer.writerow([p["record"], p.get("atena", ""), p["field"], p["position"] or "", p["code"], p["message"]])
    return out.getvalue()
