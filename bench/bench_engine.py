"""Durable starts/s and task completions/s: jichi on SQLite against stock SpiffWorkflow on SQLite.

The baseline is what a team gets from SpiffWorkflow 3.2 alone: its default Python script engine, and the
whole workflow serialized to JSON into one SQLite row per step. jichi does more per step (task rows for
the inbox, audit events, an optimistic version check, the DSL instead of eval). Both use the same SQLite
file settings (engine.db.make_engine), one transaction per transition, no batching, and run in the same
process one after the other, several rounds, so the ratio is measured on the same machine state.

    .venv/bin/python bench/bench_engine.py [--cases N] [--rounds R]

Prints both absolute numbers and the ratios; bench/HISTORY.md records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import clock  # noqa: E402
from engine.bpmn import validate_bpmn  # noqa: E402
from engine.cases import Cases, list_tasks  # noqa: E402
from engine.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.registry import Registry  # noqa: E402


@dataclass(frozen=True)
class Procedure:
    """A BPMN file both engines run, and the forms each case goes through (task id, data)."""

    name: str
    bpmn: Path
    process_id: str
    steps: tuple[tuple[str, dict[str, object]], ...]


# Conditions in both files are valid as jichi DSL and as Python (`承認`, `査定額 >= 1000000`), so the same
# file runs on both engines.
PROCEDURES = (
    Procedure("minimal (起案 → 審査, 5 elements)", ROOT / "tests" / "fixtures" / "engine" / "sashimodoshi.bpmn",
              "Process_Sashimodoshi", (("Task_Kian", {"起案回数": 1}), ("Task_Shinsa", {"承認": True}))),
    Procedure("typical (補助金交付申請, 15 elements, 4 lanes)", ROOT / "bench" / "hojokin.bpmn", "Process_Hojokin", (
        ("Task_Uketsuke", {"申請者名": "山田 太郎", "申請額": 300000, "申請日": "2026-04-01"}),
        ("Task_Shorui", {"書類完備": True}),
        ("Task_Shinsa", {"査定額": 250000, "審査意見": "要件を満たす"}),
        ("Task_Kakaricho", {"承認": True}),
        ("Task_Tsuchi", {"通知日": "2026-04-10"}),
    )),
)


def baseline(proc: Procedure, cases: int, folder: Path) -> tuple[float, float]:
    url = f"sqlite:///{folder / 'baseline.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE workflow (id TEXT PRIMARY KEY, state TEXT NOT NULL)"))
    parser = BpmnParser()
    parser.add_bpmn_file(str(proc.bpmn))
    spec = parser.get_spec(proc.process_id)
    serializer = BpmnWorkflowSerializer()
    ids = []
    t0 = time.perf_counter()
    for _ in range(cases):
        wf = BpmnWorkflow(spec)
        wf.do_engine_steps()
        case_id = str(uuid.uuid4())
        with engine.begin() as c:
            c.execute(text("INSERT INTO workflow (id, state) VALUES (:id, :s)"),
                      {"id": case_id, "s": serializer.serialize_json(wf)})
        ids.append(case_id)
    starts = cases / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for name, data in proc.steps:
        for case_id in ids:
            with engine.begin() as c:
                state = c.execute(text("SELECT state FROM workflow WHERE id = :id"), {"id": case_id}).scalar_one()
                wf = serializer.deserialize_json(state)
                (task,) = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.name == name]
                task.data.update(data)
                task.run()
                wf.do_engine_steps()
                c.execute(text("UPDATE workflow SET state = :s WHERE id = :id"),
                          {"id": case_id, "s": serializer.serialize_json(wf)})
    completions = cases * len(proc.steps) / (time.perf_counter() - t0)
    engine.dispose()
    return starts, completions


def jichi(proc: Procedure, cases: int, folder: Path) -> tuple[float, float]:
    url = f"sqlite:///{folder / 'jichi.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        load_demo(s)
        s.commit()
    model, found = validate_bpmn(proc.bpmn, proc.bpmn.name)
    assert model is not None and not found
    service = Cases(Registry([model]))
    ids = []
    t0 = time.perf_counter()
    for _ in range(cases):
        with sessions() as s:
            ids.append(service.start_case(s, process_id=proc.process_id, municipality="141305", data={},
                                          actor="bench").id)
    starts = cases / (time.perf_counter() - t0)
    with sessions() as s:
        by_case = {}
        for t in list_tasks(s, limit=cases):
            by_case[t.case_id] = t.id
    t0 = time.perf_counter()
    for _, data in proc.steps:
        for case_id in ids:
            with sessions() as s:
                task_id = by_case[case_id]
                view = service.complete_task(s, task_id, data, "bench")
                nxt = [t for t in view.tasks if t.state == "ready"]
                if nxt:
                    by_case[case_id] = nxt[0].id
    completions = cases * len(proc.steps) / (time.perf_counter() - t0)
    engine.dispose()
    return starts, completions


def main() -> None:
    args = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    args.add_argument("--cases", type=int, default=300)
    args.add_argument("--rounds", type=int, default=3)
    opts = args.parse_args()
    clock.install_spiff_clock()
    report: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        "cases": opts.cases, "rounds": opts.rounds, "procedures": [],
    }
    for proc in PROCEDURES:
        rows = []
        for _ in range(opts.rounds):
            with tempfile.TemporaryDirectory() as d:
                rows.append((baseline(proc, opts.cases, Path(d)), jichi(proc, opts.cases, Path(d))))
        b_starts = statistics.median(r[0][0] for r in rows)
        b_done = statistics.median(r[0][1] for r in rows)
        j_starts = statistics.median(r[1][0] for r in rows)
        j_done = statistics.median(r[1][1] for r in rows)
        report["procedures"].append({  # type: ignore[attr-defined]
            "procedure": proc.name,
            "baseline": {"starts_per_s": round(b_starts, 1), "completions_per_s": round(b_done, 1)},
            "jichi": {"starts_per_s": round(j_starts, 1), "completions_per_s": round(j_done, 1)},
            "ratio": {"starts": round(j_starts / b_starts, 2), "completions": round(j_done / b_done, 2)},
        })
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
