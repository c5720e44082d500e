"""Batch re-evaluation of a decision for many recipients (`jichi rules batch`, docs/dsl.md「一括の再計算」): the
recalculation after a 法改正 or a new fiscal year — e.g. 児童手当の月額合計 for every recipient of a municipality.

Input is JSON Lines, one recipient a line: {"id": "受給者の番号", "input": {入力名: 値, …}} (the same inputs as
`jichi rules eval --input`). Each recipient is evaluated on the reference date `on`, and — with `before` — on an
earlier date too, so that the recipients whose amount changes between the two (a dated parameter of the new law,
a child passing an age) are listed with both values. The rules are compiled once; values are computed without
recording traces (`jichi rules eval --explain` explains one recipient). A line that cannot be read or evaluated
becomes an error row naming its line; the others go on. Nothing is written to the database.

With workers > 1 the lines are split into chunks evaluated by that many processes. They are spawned (fresh
interpreters), never forked: a fork copies the locks other threads of the caller hold (a web server's, a job
runner's), and a child that needs one waits forever. Each child compiles the rules once from the same source
texts the caller compiled, so every row is evaluated by the same rules even if a file changes meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl import DslRuntimeError
from dsl.compiler import runtime_input
from dsl.rules.load import load_rules
from dsl.rules.model import RuleSet
from dsl.rules.runtime import RuleRuntime
from dsl.values import json_value
from standard_core.municipal_calendar import MunicipalCalendar

CHUNK = 2000


@dataclass
class Summary:
    total: int = 0
    evaluated: int = 0
    changed: int = 0
    errors: int = 0
    by_change: dict[str, int] = field(default_factory=dict)  # "before→after" → recipients

    def to_json(self) -> dict[str, Any]:
        top = sorted(self.by_change.items(), key=lambda kv: -kv[1])[:20]
        return {"total": self.total, "evaluated": self.evaluated, "changed": self.changed, "errors": self.errors,
                "changes": [{"change": k, "recipients": v} for k, v in top]}


def _row(rules: RuleSet, calendar: MunicipalCalendar | None, decision: str, on: dt.date, before: dt.date | None,
         number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return {"line": number, "error": f"JSON として読めません: {e.msg}"}
    if not isinstance(record, dict) or not isinstance(record.get("input"), dict):
        return {"line": number, "id": record.get("id") if isinstance(record, dict) else None,
                "error": '{"id": …, "input": {入力名: 値}} の形ではありません'}
    given: dict[str, Any] = record["input"]
    unknown = [name for name in given if name not in rules.inputs]
    row: dict[str, Any] = {"line": number, "id": record.get("id")}
    if unknown:
        row["error"] = f"宣言されていない入力: {'、'.join(unknown[:5])}"
        return row
    # Converted once for both evaluations (dates parsed, …) instead of at every read of each.
    given = {name: runtime_input(v, rules.inputs[name]) for name, v in given.items()}
    try:
        value, _ = RuleRuntime(rules, given, on=on, calendar=calendar, explain=False).evaluate(decision)
        row["value"] = json_value(value)
        if before is not None:
            old, _ = RuleRuntime(rules, given, on=before, calendar=calendar, explain=False).evaluate(decision)
            row["before"] = json_value(old)
            row["changed"] = row["before"] != row["value"]
    except DslRuntimeError as e:
        first = e.diagnostic
        row["error"] = f"{first.code} {first.message}"
    return row


# What a worker evaluates with: the caller's own values in-process; in a spawned child, set once by _start_child
# from the source texts (compiled rules are closures, not picklable), so only the lines travel afterwards.
_CONTEXT: tuple[RuleSet, MunicipalCalendar | None, str, dt.date, dt.date | None] | None = None


def _start_child(sources: Sequence[tuple[str, str]], calendar: MunicipalCalendar | None, decision: str,
                 on: dt.date, before: dt.date | None) -> None:
    global _CONTEXT
    rules, _ = load_rules(sources)
    # The caller compiled the same texts without an error. Should they fail here all the same, the first chunk
    # says so (_chunk_rows): an initializer that raises makes the pool start workers again forever.
    _CONTEXT = (rules, calendar, decision, on, before) if rules is not None else None


def _chunk_rows(lines: list[tuple[int, str]]) -> list[dict[str, Any]]:
    if _CONTEXT is None:
        raise RuntimeError("the rules could not be compiled in a batch worker")
    rules, calendar, decision, on, before = _CONTEXT
    return [_row(rules, calendar, decision, on, before, number, line) for number, line in lines]


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        chunk.append((number, line))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def reevaluate(rules: RuleSet, calendar: MunicipalCalendar | None, decision: str, lines: Iterable[str], *,
               on: dt.date, before: dt.date | None = None, workers: int = 1,
               sources: Sequence[tuple[str, str]] | None = None,
               summary: Summary | None = None) -> Iterator[dict[str, Any]]:
    """One row per non-empty input line, in input order: {"line", "id", "value"[, "before", "changed"]} or
    {"line", "id", "error"}; `summary` (when given) is filled as the rows go by.

    With workers > 1, `sources` are the (file name, text) pairs `rules` were compiled from
    (engine.rulesets.RuleSets.for_municipality_with_sources): the workers compile them again."""
    global _CONTEXT
    summary = summary if summary is not None else Summary()
    if workers > 1:
        if sources is None:
            raise ValueError("workers > 1 needs the rules' source texts")
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, _start_child, (tuple(sources), calendar, decision, on, before)) as pool:
            yield from _counted(pool.imap(_chunk_rows, _chunks(lines, CHUNK)), summary)
    else:
        _CONTEXT = (rules, calendar, decision, on, before)
        yield from _counted(map(_chunk_rows, _chunks(lines, CHUNK)), summary)


def _counted(chunks: Iterable[list[dict[str, Any]]], summary: Summary) -> Iterator[dict[str, Any]]:
    for rows in chunks:
        for row in rows:
            summary.total += 1
            if "error" in row:
                summary.errors += 1
            else:
                summary.evaluated += 1
                if row.get("changed"):
                    summary.changed += 1
                    key = f"{row['before']}→{row['value']}"
                    summary.by_change[key] = summary.by_change.get(key, 0) + 1
            yield row


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        yield from f
