"""決裁 routing: who decides a matter, the route up to them, and who acts at each step on the day.

The rules decide *which position* decides (standard_core/rules/kessai.rules: 専決権者 from the municipality's
別表, raised one level for 重要・異例 by 専決の留保, and whether 代決 is allowed); the organisation chart on
the 決裁日 decides *who* that is (engine.organisation). The route climbs the 決裁 ladder (係長 → 課長 → 部長 →
副市長 → 市長) from the drafting unit up to the 決裁権者. At each step the holder acts, or a substitute named
for the holder's absence (代理), or — where 代決 is allowed — the first present 代決者; a 代決 leaves a
後閲 (post-review) for the absent holder. Every answer carries the rule traces that explain it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dsl.rules.model import RuleSet
from dsl.rules.runtime import RuleRuntime, json_trace
from engine.organisation import LADDER, Acting, Chart, Holder
from standard_core.diagnostics import DiagnosticError, Span, error
from standard_core.municipal_calendar import MunicipalCalendar


@dataclass(frozen=True)
class Matter:
    """What is being decided: the 決裁区分 inputs of the core rules."""

    kind: str  # 事案の種別
    amount: int  # 決裁金額 (円)
    unusual: bool  # 重要異例
    on: dt.date  # 決裁日
    unit: str  # the drafting unit's code

    def rule_input(self) -> dict[str, object]:
        return {"事案の種別": self.kind, "決裁金額": self.amount, "重要異例": self.unusual, "決裁日": self.on}


@dataclass(frozen=True)
class Step:
    title: str
    acting: Acting
    decides: bool  # the 決裁権者's step: the matter is decided here

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "decides": self.decides, **self.acting.to_json()}


@dataclass(frozen=True)
class Route:
    matter: Matter
    table_title: str  # 専決権者 by the 別表
    decider_title: str  # 決裁権者 after 専決の留保
    deputy_allowed: bool
    steps: tuple[Step, ...]
    traces: dict[str, Any] = field(default_factory=dict)  # decision name → JSON trace

    @property
    def post_reviews(self) -> list[tuple[Step, Holder]]:
        """後閲: each step decided by 代決, with the absent holder who must review it afterwards."""
        return [(s, s.acting.holder) for s in self.steps if s.acting.mode == "代決" and s.acting.holder is not None]

    @property
    def blocked(self) -> list[Step]:
        """Steps nobody can act on today (the holder is away and 代決 is not allowed or not possible)."""
        return [s for s in self.steps if s.acting.mode == "不在"]

    def to_json(self) -> dict[str, Any]:
        return {
            "matter": {"kind": self.matter.kind, "amount": self.matter.amount, "unusual": self.matter.unusual,
                       "on": self.matter.on.isoformat(), "unit": self.matter.unit},
            "table_title": self.table_title, "decider_title": self.decider_title,
            "deputy_allowed": self.deputy_allowed, "steps": [s.to_json() for s in self.steps],
            "post_reviews": [{"position": s.acting.position.code, "person": h.person, "name": h.name}
                             for s, h in self.post_reviews],
            "blocked": [s.acting.position.code for s in self.blocked],
            "traces": self.traces,
        }


def route(rules: RuleSet, chart: Chart, matter: Matter, calendar: MunicipalCalendar | None = None) -> Route:
    """The 決裁 route of a matter on its 決裁日. Raises DiagnosticError (ORG703) for an unknown unit or a
    chart that lacks the deciding position."""
    runtime = RuleRuntime(rules, matter.rule_input(), on=matter.on, calendar=calendar)
    traces: dict[str, Any] = {}
    values: dict[str, object] = {}
    for name in ("専決権者", "決裁権者", "代決できる"):
        value, trace = runtime.evaluate(name)
        values[name], traces[name] = value, json_trace(trace)
    table_title, decider_title, deputy_allowed = str(values["専決権者"]), str(values["決裁権者"]), values["代決できる"]
    unit = chart.units.get(matter.unit)
    if unit is None:
        known = "、".join(f"{u.code}（{u.name}）" for u in chart.units.values())
        raise DiagnosticError([error("ORG703", f"起案の組織「{matter.unit}」は {chart.on.isoformat()} の組織図にありません",
                                     Span("<決裁>", 1, 1), f"組織: {known}")])
    first = {"係": "係長", "課": "課長", "部": "部長"}.get(unit.kind, "課長")
    top = max(LADDER.index(first), LADDER.index(decider_title))
    steps = []
    for title in LADDER[LADDER.index(first): top + 1]:
        position = chart.position_for(matter.unit, title)
        decides = LADDER.index(title) == top
        if position is None:
            if decides:
                raise DiagnosticError([error(
                    "ORG703", f"決裁権者の職「{title}」が {chart.on.isoformat()} の組織図（{unit.name}から上）にありません",
                    Span("<決裁>", 1, 1), "組織図の positions に、その組織か上位の組織の職を加えてください。")])
            continue  # e.g. a 課 without a 係長: the route skips the level
        steps.append(Step(title, chart.acting(position, deputy_allowed=bool(deputy_allowed)), decides))
    return Route(matter, table_title, decider_title, bool(deputy_allowed), tuple(steps), traces)


def describe(r: Route) -> list[str]:
    """The route in Japanese, one line per step, for the CLI and the case view."""
    m = r.matter
    reserved = "（専決の留保で一つ上）" if r.decider_title != r.table_title else ""
    lines = [f"事案: {m.kind}  {m.amount:,}円  決裁日 {m.on.isoformat()}  起案 {m.unit}"
             + ("  重要・異例" if m.unusual else ""),
             f"専決権者（別表）: {r.table_title}   決裁権者: {r.decider_title}{reserved}   "
             f"代決: {'できる' if r.deputy_allowed else 'できない'}"]
    for number, step in enumerate(r.steps, 1):
        a = step.acting
        holder = a.holder.name if a.holder else "（欠員）"
        mark = "  ← 決裁" if step.decides else ""
        if a.mode == "本人":
            who = holder
        elif a.mode == "代理" and a.acting is not None:
            who = f"{a.acting.name}（{holder}の代理）"
        elif a.mode == "代決" and a.acting is not None and a.acting_position is not None:
            who = f"{a.acting.name}（{a.acting_position.name}。{holder}に代わり代決）"
        else:
            who = "だれも決裁できません"
        lines.append(f"  {number}. {a.position.name}: {who}{mark}" + (f"   理由: {a.reason}" if a.reason else ""))
    for step, absent in r.post_reviews:
        lines.append(f"後閲: {absent.name}（{step.acting.position.name}）")
    return lines
