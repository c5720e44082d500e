"""The organisation of a municipality: 部・課・係, positions (職), who holds them when, who stands in.

An organisation chart (units and positions with each position's 代決者 order) is in force from a date
(`chart_from`, usually 4月1日); a new chart is imported for each reorganisation and the old one stays for
the dates it covered. People hold positions for periods (assignments): a 人事異動 ends one assignment and
starts another, so a question asked "on a date" — who is 課長 of こども家庭課 on 2026-04-01? — has one
answer, and work addressed to a position (a lane, a 決裁 step) lands on whoever holds it on the day it is
looked at. Absences (出張・休暇) with an optional named substitute (代理) decide who can act: the holder,
else the substitute, else the first 代決者 in order who is present (`acting`).

Charts are imported from TOML (`jichi org import`, docs/organisation.md); every change is an audit event.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import audit, clock
from engine.models import OrgAbsence, OrgAssignment, OrgPosition, OrgUnit
from engine.packs import is_valid_code
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

UNIT_KINDS = ("部", "課", "係")
# The 決裁 ladder from the lowest: a 決裁 route climbs it from the drafter's unit (engine.kessai).
LADDER = ("係長", "課長", "部長", "副市長", "市長")
_WHOLE = ("副市長", "市長")  # positions of the municipality as a whole, not of a unit


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str
    parent: str | None


@dataclass(frozen=True)
class Position:
    code: str
    title: str
    name: str
    unit: str | None
    deputies: tuple[str, ...]


@dataclass(frozen=True)
class Holder:
    person: str
    name: str


@dataclass(frozen=True)
class Acting:
    """Who acts for a position on a day, and why.

    `mode`: 本人 (the holder), 代理 (a substitute named for the holder's absence), 代決 (a 代決者 because the
    holder is absent), or 不在 (nobody can act: the holder is absent and no 代決 is allowed or possible).
    """

    position: Position
    holder: Holder | None
    acting: Holder | None
    acting_position: Position | None
    mode: str
    reason: str

    @property
    def on_behalf_of(self) -> Holder | None:
        return self.holder if self.mode in ("代理", "代決") else None

    def to_json(self) -> dict[str, Any]:
        def person(h: Holder | None) -> dict[str, str] | None:
            return None if h is None else {"person": h.person, "name": h.name}

        return {"position": self.position.code, "position_name": self.position.name, "title": self.position.title,
                "holder": person(self.holder), "acting": person(self.acting),
                "acting_position": self.acting_position.code if self.acting_position else None,
                "on_behalf_of": person(self.on_behalf_of), "mode": self.mode, "reason": self.reason}


@dataclass(frozen=True)
class Chart:
    """The chart in force on a day, with the people and absences of that day."""

    municipality: str
    chart_from: dt.date
    on: dt.date
    units: dict[str, Unit]
    positions: dict[str, Position]
    holders: dict[str, list[Holder]]  # position code → holders on the day
    absent: dict[str, tuple[str, str | None]]  # person → (reason, substitute) on the day

    def position_for(self, unit: str | None, title: str) -> Position | None:
        """The position with `title` for work of `unit`: in the unit, else in the nearest enclosing unit;
        副市長 and 市長 are the municipality's."""
        if title in _WHOLE:
            return next((p for p in self.positions.values() if p.title == title and p.unit is None), None)
        current = unit
        seen: set[str] = set()
        while current is not None and current not in seen:
            seen.add(current)
            found = next((p for p in self.positions.values() if p.unit == current and p.title == title), None)
            if found is not None:
                return found
            parent = self.units.get(current)
            current = parent.parent if parent is not None else None
        return None

    def holder(self, position: Position) -> Holder | None:
        found = self.holders.get(position.code, [])
        return found[0] if found else None

    def acting(self, position: Position, deputy_allowed: bool = True) -> Acting:
        holder = self.holder(position)
        if holder is None:
            return self._deputy(position, None, "欠員", deputy_allowed)
        away = self.absent.get(holder.person)
        if away is None:
            return Acting(position, holder, holder, position, "本人", "")
        reason, substitute = away
        if substitute is not None and substitute not in self.absent:
            return Acting(position, holder, Holder(substitute, self._name(substitute)), None, "代理",
                          f"{holder.name}は{reason}（代理: {self._name(substitute)}）")
        return self._deputy(position, holder, f"{holder.name}は{reason}", deputy_allowed)

    def _deputy(self, position: Position, holder: Holder | None, why: str, deputy_allowed: bool) -> Acting:
        if not deputy_allowed:
            return Acting(position, holder, None, None, "不在", f"{why}。この事案は代決できません")
        for code in position.deputies:
            deputy = self.positions.get(code)
            person = self.holder(deputy) if deputy is not None else None
            if deputy is not None and person is not None and person.person not in self.absent:
                return Acting(position, holder, person, deputy, "代決", f"{why}。代決者の順で{deputy.name}が代決")
        return Acting(position, holder, None, None, "不在", f"{why}。代決できる人がいません")

    def _name(self, person: str) -> str:
        return next((h.name for hs in self.holders.values() for h in hs if h.person == person), person)

    def to_json(self) -> dict[str, Any]:
        return {
            "municipality": self.municipality, "chart_from": self.chart_from.isoformat(), "on": self.on.isoformat(),
            "units": [{"code": u.code, "name": u.name, "kind": u.kind, "parent": u.parent} for u in self.units.values()],
            "positions": [{"code": p.code, "title": p.title, "name": p.name, "unit": p.unit,
                           "deputies": list(p.deputies),
                           "holders": [{"person": h.person, "name": h.name} for h in self.holders.get(p.code, [])]}
                          for p in self.positions.values()],
            "absent": [{"person": k, "reason": r, "substitute": s} for k, (r, s) in sorted(self.absent.items())],
        }


def _fail(code: str, message: str, hint: str, where: str = "<組織>", line: int = 1) -> DiagnosticError:
    return DiagnosticError([error(code, message, Span(where, line, 1), hint)])


def chart_on(session: Session, municipality: str, on: dt.date) -> Chart:
    """The organisation of the municipality on a day. ORG704 when no chart is in force yet."""
    chart_from = session.scalar(select(OrgUnit.chart_from).where(
        OrgUnit.municipality_code == municipality, OrgUnit.chart_from <= on)
        .order_by(OrgUnit.chart_from.desc()).limit(1))
    if chart_from is None:
        raise _fail("ORG704", f"団体「{municipality}」の {on.isoformat()} の組織がありません",
                    "jichi org import で、その日より前から効力のある組織図を取り込んでください。")
    units = {u.code: Unit(u.code, u.name, u.kind, u.parent_code) for u in session.scalars(
        select(OrgUnit).where(OrgUnit.municipality_code == municipality, OrgUnit.chart_from == chart_from)
        .order_by(OrgUnit.id))}
    positions = {p.code: Position(p.code, p.title, p.name, p.unit_code, tuple(json.loads(p.deputies)))
                 for p in session.scalars(select(OrgPosition).where(
                     OrgPosition.municipality_code == municipality, OrgPosition.chart_from == chart_from)
                     .order_by(OrgPosition.id))}
    holders: dict[str, list[Holder]] = {}
    for a in session.scalars(select(OrgAssignment).where(
            OrgAssignment.municipality_code == municipality, OrgAssignment.valid_from <= on)
            .order_by(OrgAssignment.valid_from.desc(), OrgAssignment.id)):
        if a.valid_to is None or a.valid_to >= on:
            holders.setdefault(a.position_code, []).append(Holder(a.person, a.person_name))
    absent = {a.person: (a.reason, a.substitute) for a in session.scalars(select(OrgAbsence).where(
        OrgAbsence.municipality_code == municipality, OrgAbsence.valid_from <= on, OrgAbsence.valid_to >= on)
        .order_by(OrgAbsence.id))}
    return Chart(municipality, chart_from, on, units, positions, holders, absent)


# ---- import ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChartFile:
    municipality: str
    chart_from: dt.date
    units: tuple[Unit, ...]
    positions: tuple[Position, ...]
    assignments: tuple[tuple[str, str, str, dt.date, dt.date | None], ...]  # position, person, name, from, to


def parse_chart(display: str, text: str) -> tuple[ChartFile | None, list[Diagnostic]]:
    """Read an organisation chart file; every problem at once (ORG701, at the line of the entry's key),
    nothing half-read. An entry with a problem still counts as declared, so one mistake is reported once."""
    found: list[Diagnostic] = []
    lines = text.split("\n")

    def at(table: str | None, index: int, key: str) -> int:
        """The line of `key` in the index-th [[table]] (or at the top when table is None)."""
        start, seen = 0, -1
        if table is not None:
            for number, line in enumerate(lines):
                if line.strip() == f"[[{table}]]":
                    seen += 1
                    if seen == index:
                        start = number
                        break
        for number in range(start, len(lines)):
            stripped = lines[number].strip()
            if number > start and stripped.startswith("["):
                break
            if stripped.startswith(f"{key} ") or stripped.startswith(f"{key}="):
                return number + 1
        return start + 1

    def bad(message: str, hint: str, line: int) -> None:
        found.append(error("ORG701", message, Span(display, line, 1), hint))

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return None, [error("ORG701", f"組織図のファイルを TOML として読めません: {e}", Span(display, 1, 1),
                            "書き方は docs/organisation.md を見てください。")]
    municipality, chart_from = data.get("municipality"), data.get("effective_from")
    if not isinstance(municipality, str) or not is_valid_code(municipality):
        bad("municipality が正しい団体コード（6桁、検査数字つき）ではありません", '例: municipality = "141305"',
            at(None, 0, "municipality"))
    if not isinstance(chart_from, dt.date) or isinstance(chart_from, dt.datetime):
        bad("effective_from（組織図の効力の初日）が日付ではありません", "例: effective_from = 2026-04-01",
            at(None, 0, "effective_from"))
    raw_units = _tables(data, "units", bad)
    raw_positions = _tables(data, "positions", bad)
    unit_codes = {r.get("code") for r in raw_units if isinstance(r.get("code"), str)}
    position_codes = {r.get("code") for r in raw_positions if isinstance(r.get("code"), str)}
    units: list[Unit] = []
    for n, raw in enumerate(raw_units):
        code, name, kind, parent = raw.get("code"), raw.get("name"), raw.get("kind"), raw.get("parent")
        if not (isinstance(code, str) and isinstance(name, str)):
            bad("組織には code と name が必要です", '例: code = "kodomo.katei", name = "こども家庭課"', at("units", n, "code"))
        elif kind not in UNIT_KINDS:
            bad(f"組織「{code}」の kind「{kind}」は {'・'.join(UNIT_KINDS)} のどれかです",
                "室・センターなどは、決裁の段階に合わせて 部・課・係 のどれかとして書きます。", at("units", n, "kind"))
        elif parent is not None and parent not in unit_codes:
            bad(f"組織「{code}」の parent「{parent}」がありません", "上位の組織を units に書いてください。",
                at("units", n, "parent"))
        else:
            units.append(Unit(code, name, kind, parent))
    positions: list[Position] = []
    for n, raw in enumerate(raw_positions):
        code, title, name, unit = raw.get("code"), raw.get("title"), raw.get("name"), raw.get("unit")
        deputies = raw.get("deputies", [])
        if not (isinstance(code, str) and isinstance(title, str) and isinstance(name, str)):
            bad("職には code・title・name が必要です",
                '例: code = "kodomo.katei.kacho", title = "課長", name = "こども家庭課長"', at("positions", n, "code"))
        elif unit is not None and unit not in unit_codes:
            bad(f"職「{code}」の unit「{unit}」が組織図にありません", "units にある組織の code を書きます。",
                at("positions", n, "unit"))
        elif title in _WHOLE and unit is not None:
            bad(f"職「{code}」: {title}は団体全体の職です（unit は書きません）", "unit を削除してください。",
                at("positions", n, "unit"))
        elif not (isinstance(deputies, list) and all(d in position_codes and d != code for d in deputies)):
            bad(f"職「{code}」の代決者 deputies に、組織図の（ほかの）職でないものがあります",
                "deputies には、代決する順に他の職の code を書きます。", at("positions", n, "deputies"))
        else:
            positions.append(Position(code, title, name, unit, tuple(deputies)))
    assignments = []
    for n, raw in enumerate(_tables(data, "assignments", bad)):
        position, person, name = raw.get("position"), raw.get("person"), raw.get("name")
        start, end = raw.get("from"), raw.get("to")
        if position not in position_codes:
            bad(f"配置の position「{position}」が組織図の職にありません", "positions にある職の code を書きます。",
                at("assignments", n, "position"))
        elif not (isinstance(person, str) and isinstance(name, str) and isinstance(start, dt.date)
                  and (end is None or isinstance(end, dt.date))):
            bad("配置には person・name・from（日付）が必要です（to は任意）",
                '例: person = "suzuki", name = "鈴木 一郎", from = 2025-04-01', at("assignments", n, "person"))
        elif end is not None and end < start:
            bad(f"配置「{person}」の to が from より前です", "to は配置の最後の日（その日を含む）です。",
                at("assignments", n, "to"))
        else:
            assert isinstance(position, str)  # in position_codes
            assignments.append((position, person, name, start, end))
    if found:
        return None, found
    assert isinstance(municipality, str) and isinstance(chart_from, dt.date)
    return ChartFile(municipality, chart_from, tuple(units), tuple(positions), tuple(assignments)), []


def _tables(data: Mapping[str, Any], key: str, bad: Any) -> list[dict[str, Any]]:
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        bad(f"{key} は [[{key}]] の並びで書きます", "docs/organisation.md の例を見てください。", 1)
        return []
    return raw


def import_chart(session: Session, chart: ChartFile, actor: str) -> dict[str, int]:
    """Store the chart (replacing a chart with the same effective_from) and its assignments; audited.

    Assignments are matched by (position, person, from): importing the same file twice changes nothing.
    """
    muni, start = chart.municipality, chart.chart_from
    session.execute(delete(OrgUnit).where(OrgUnit.municipality_code == muni, OrgUnit.chart_from == start))
    session.execute(delete(OrgPosition).where(OrgPosition.municipality_code == muni, OrgPosition.chart_from == start))
    session.add_all(OrgUnit(municipality_code=muni, chart_from=start, code=u.code, name=u.name, kind=u.kind,
                            parent_code=u.parent) for u in chart.units)
    session.add_all(OrgPosition(municipality_code=muni, chart_from=start, code=p.code, title=p.title, name=p.name,
                                unit_code=p.unit, deputies=json.dumps(list(p.deputies), ensure_ascii=False))
                    for p in chart.positions)
    existing = {(a.position_code, a.person, a.valid_from): a for a in session.scalars(
        select(OrgAssignment).where(OrgAssignment.municipality_code == muni))}
    added = changed = 0
    for position, person, name, valid_from, valid_to in chart.assignments:
        row = existing.get((position, person, valid_from))
        if row is None:
            session.add(OrgAssignment(municipality_code=muni, position_code=position, person=person,
                                      person_name=name, valid_from=valid_from, valid_to=valid_to))
            added += 1
        elif (row.person_name, row.valid_to) != (name, valid_to):
            row.person_name, row.valid_to = name, valid_to
            changed += 1
    counts = {"units": len(chart.units), "positions": len(chart.positions), "assignments_added": added,
              "assignments_changed": changed}
    audit.admin_event(session, action="organisation.imported", actor=actor, municipality=muni,
                      detail={"effective_from": start.isoformat(), **counts})
    session.commit()
    return counts


def read_chart_file(path: Path) -> ChartFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _fail("ORG701", f"組織図のファイルを読めません: {e}", "パスと文字コード（UTF-8）を確かめてください。",
                    str(path)) from None
    chart, problems = parse_chart(str(path), text)
    if chart is None:
        raise DiagnosticError(problems)
    return chart


def record_absence(session: Session, *, municipality: str, person: str, start: dt.date, end: dt.date,
                   reason: str, substitute: str | None, actor: str) -> int:
    """Record that `person` is away from `start` to `end` (inclusive), optionally with a substitute; audited."""
    if end < start:
        raise _fail("ORG702", "不在の終わりの日が始まりの日より前です", "--to は不在の最後の日（その日を含む）です。")
    if substitute == person:
        raise _fail("ORG702", "本人を代理にはできません", "--substitute には別の人を指定してください。")
    row = OrgAbsence(municipality_code=municipality, person=person, valid_from=start, valid_to=end,
                     reason=reason, substitute=substitute, recorded_by=actor, recorded_at=clock.now())
    session.add(row)
    session.flush()
    audit.admin_event(session, action="organisation.absence_recorded", actor=actor, municipality=municipality,
                      detail={"from": start.isoformat(), "to": end.isoformat(), "reason": reason},
                      personal={"person": person, "substitute": substitute})
    session.commit()
    return row.id


def positions_of(session: Session, person: str, on: dt.date,
                 municipality: str | None = None) -> dict[tuple[str, str], Acting]:
    """The positions `person` acts for on a day, by (municipality, position code): the ones they hold, and
    the ones they act for as a named substitute (代理) or as the 代決者 of an absent holder."""
    codes = {municipality} if municipality is not None else set(session.scalars(
        select(OrgAssignment.municipality_code).where(OrgAssignment.person == person).distinct()))
    found: dict[tuple[str, str], Acting] = {}
    for code in sorted(codes):
        try:
            chart = chart_on(session, code, on)
        except DiagnosticError:
            continue  # no chart in force that day: nothing addressed to positions there
        for position in chart.positions.values():
            acting = chart.acting(position)
            mine = acting.holder is not None and acting.holder.person == person
            if mine or (acting.acting is not None and acting.acting.person == person):
                found[(code, position.code)] = acting
    return found
