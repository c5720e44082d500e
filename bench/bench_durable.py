"""Durable starts/s, completions/s and completion latency: jichi with 1, 2 and 4 worker processes against stock
SpiffWorkflow, on SQLite and on PostgreSQL, in the same run (issue 14).

- Baseline: SpiffWorkflow 3.2 as it comes — its Python script engine, the whole workflow (spec included)
  serialized to JSON into one row of a one-table database per step, one transaction per step — on the same
  database server and settings (engine.db.make_engine). One process, as a team would start.
- jichi: engine.cases.Cases as the CLI, the API and the worker use it: optimistic version check, inbox task rows,
  the audit chain, DSL conditions; one transaction per step. With W processes (forked after the registry is
  loaded), each starts and completes its own share of the cases; the phases start together (a barrier).
  SQLite allows one writer: its jichi runs use 1 process (docs/operations.md).
- 一括処理 (group commit), SQLite and PostgreSQL: the same steps BATCH at a time in one transaction — jichi through
  Cases.complete_tasks (each step its own version check, audit event and refusal), stock SpiffWorkflow by
  running its steps one after the other in one transaction. Ratios are still against the stock baseline with
  one step per commit; the stock row with the same grouping is there to show what the grouping alone gives.
- Bounds, SQLite, one step per commit: what no engine built on SpiffWorkflow that commits each step durably can
  exceed. The workflows stay in memory (nothing read back); per step, SpiffWorkflow's step (the same task and
  engine steps as the baseline) and a commit of one row — holding only the task's name ("step + commit"), or the
  workflow's state as jichi's serializer writes it ("step + state + commit"). No audit event, no inbox row, no
  version check, no data validation.

Every step is durable: committed before its call returns (SQLite WAL with synchronous=FULL; PostgreSQL's default
synchronous_commit=on). Latency is per completion, from the call to its return (in a batch, the batch's time:
each completion is answered when its batch commits).

    .venv/bin/python bench/bench_durable.py [--cases 300] [--postgres URL] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_postgres, percentile  # noqa: E402
from engine import clock  # noqa: E402
from engine.bpmn import validate_bpmn  # noqa: E402
from engine.bpmn.spiff import dump_state  # noqa: E402
from engine.cases import Cases, CaseView  # noqa: E402
from engine.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.registry import Registry  # noqa: E402

BPMN = ROOT / "bench" / "hojokin.bpmn"
BATCH = 20  # steps per commit in the 一括処理 rows (Cases.complete_tasks; the API's POST /api/tasks/complete)
PROCESS = "Process_Hojokin"
BOUND = "sqlite bound: step + commit"
BOUND_STATE = "sqlite bound: step + state + commit"
STEPS = (
    ("Task_Uketsuke", {"申請者名": "山田 太郎", "申請額": 300000, "申請日": "2026-04-01"}),
    ("Task_Shorui", {"書類完備": True}),
    ("Task_Shinsa", {"査定額": 250000, "審査意見": "要件を満たす"}),
    ("Task_Kakaricho", {"承認": True}),
    ("Task_Tsuchi", {"通知日": "2026-04-10"}),
)


def _stock(url: str) -> tuple[Any, Any]:
    """The one-table database of the stock rows and the procedure parsed by SpiffWorkflow's own parser."""
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE workflow (id VARCHAR(36) PRIMARY KEY, state TEXT NOT NULL)"))
    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    return engine, parser.get_spec(PROCESS)


def _start_stock(engine: Any, spec: Any, saved: Any) -> tuple[str, BpmnWorkflow]:
    """A new stock workflow, run to its first task, its row inserted with `saved(workflow)`, committed."""
    wf = BpmnWorkflow(spec)
    wf.do_engine_steps()
    case_id = str(uuid.uuid4())
    with engine.begin() as c:
        c.execute(text("INSERT INTO workflow (id, state) VALUES (:id, :s)"), {"id": case_id, "s": saved(wf)})
    return case_id, wf


def _step_stock(wf: BpmnWorkflow, name: str, data: dict[str, Any]) -> None:
    """Complete the ready user task `name` with `data` and run the engine to the next wait."""
    (task,) = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.name == name]
    task.data.update(data)
    task.run()
    wf.do_engine_steps()


def baseline(url: str, cases: int, batch: int = 1) -> dict[str, float]:
    engine, spec = _stock(url)
    serializer = BpmnWorkflowSerializer()
    gc.freeze()  # the same process tuning as jichi's workers
    began = time.perf_counter()
    ids = [_start_stock(engine, spec, serializer.serialize_json)[0] for _ in range(cases)]
    starts = cases / (time.perf_counter() - began)
    latencies = []
    began = time.perf_counter()
    for name, data in STEPS:
        for first in range(0, cases, batch):
            t0 = time.perf_counter()
            chunk = ids[first:first + batch]
            with engine.begin() as c:  # `batch` steps, one after the other, in one transaction
                for case_id in chunk:
                    state = c.execute(text("SELECT state FROM workflow WHERE id = :id"), {"id": case_id}).scalar_one()
                    wf = serializer.deserialize_json(state)
                    _step_stock(wf, name, data)
                    c.execute(text("UPDATE workflow SET state = :s WHERE id = :id"),
                              {"id": case_id, "s": serializer.serialize_json(wf)})
            latencies += [(time.perf_counter() - t0) * 1000] * len(chunk)  # each answered when its batch commits
    completions = cases * len(STEPS) / (time.perf_counter() - began)
    engine.dispose()
    return {"starts_per_s": starts, "completions_per_s": completions, "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95)}


def bound(url: str, cases: int, state: bool) -> dict[str, float]:
    """SpiffWorkflow's step and one commit per step, the workflows kept in memory: the ceiling of one step per commit."""
    engine, spec = _stock(url)
    gc.freeze()
    began = time.perf_counter()
    workflows = dict(_start_stock(engine, spec, dump_state if state else lambda _: "start") for _ in range(cases))
    starts = cases / (time.perf_counter() - began)
    latencies = []
    began = time.perf_counter()
    for name, data in STEPS:
        for case_id, wf in workflows.items():
            t0 = time.perf_counter()
            _step_stock(wf, name, data)
            with engine.begin() as c:
                c.execute(text("UPDATE workflow SET state = :s WHERE id = :id"),
                          {"id": case_id, "s": dump_state(wf) if state else name})
            latencies.append((time.perf_counter() - t0) * 1000)
    completions = cases * len(STEPS) / (time.perf_counter() - began)
    engine.dispose()
    return {"starts_per_s": starts, "completions_per_s": completions, "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95)}


def _worker(url: str, service: Cases, cases: int, barrier: Any, results: Any, batch: int) -> None:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    gc.freeze()  # what was loaded before the work, out of the collector's scans, as jichi worker and web/wsgi.py do
    barrier.wait()
    started = []
    for _ in range(cases):
        with sessions() as s:
            view = service.start_case(s, process_id=PROCESS, municipality="141305", data={}, actor="bench")
            started.append(next(t.id for t in view.tasks if t.state == "ready"))
    barrier.wait()
    latencies = []
    for _, data in STEPS:
        if batch == 1:
            for i, task_id in enumerate(started):
                t0 = time.perf_counter()
                with sessions() as s:
                    view = service.complete_task(s, task_id, data, "bench")
                latencies.append((time.perf_counter() - t0) * 1000)
                ready = [t.id for t in view.tasks if t.state == "ready"]
                if ready:
                    started[i] = ready[0]
            continue
        for first in range(0, len(started), batch):  # 一括処理: Cases.complete_tasks, one commit per batch
            t0 = time.perf_counter()
            with sessions() as s:
                views = service.complete_tasks(s, [(t, data) for t in started[first:first + batch]], "bench")
            latencies += [(time.perf_counter() - t0) * 1000] * len(views)
            for i, view in enumerate(views, first):
                assert isinstance(view, CaseView), view
                ready = [t.id for t in view.tasks if t.state == "ready"]
                if ready:
                    started[i] = ready[0]
    barrier.wait()
    engine.dispose()
    results.put(latencies)


def jichi(url: str, cases: int, workers: int, batch: int = 1) -> dict[str, float]:
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        load_demo(s)
        s.commit()
    engine.dispose()
    model, found = validate_bpmn(BPMN, BPMN.name)
    assert model is not None and not found
    service = Cases(Registry([model]))
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    share = cases // workers
    processes = [context.Process(target=_worker, args=(url, service, share, barrier, results, batch))
                 for _ in range(workers)]
    for p in processes:
        p.start()
    barrier.wait()
    began = time.perf_counter()
    barrier.wait()
    starts = share * workers / (time.perf_counter() - began)
    began = time.perf_counter()
    barrier.wait()
    completions = share * workers * len(STEPS) / (time.perf_counter() - began)
    latencies: list[float] = []
    for _ in processes:
        latencies += results.get(timeout=600)
    for p in processes:
        p.join()
        assert p.exitcode == 0
    return {"starts_per_s": starts, "completions_per_s": completions, "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95)}


def run(cases: int, postgres: str | None, rounds: int = 3) -> dict[str, Any]:
    """Medians over the rounds, baseline and jichi interleaved in each round."""
    clock.install_spiff_clock()
    runs: dict[str, list[dict[str, float]]] = {}

    def keep(name: str, result: dict[str, float]) -> None:
        runs.setdefault(name, []).append(result)

    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            keep("sqlite baseline", baseline(f"sqlite:///{Path(folder) / 'b.sqlite3'}", cases))
            keep("sqlite jichi ×1", jichi(f"sqlite:///{Path(folder) / 'j.sqlite3'}", cases, 1))
            keep(BOUND, bound(f"sqlite:///{Path(folder) / 'f.sqlite3'}", cases, state=False))
            keep(BOUND_STATE, bound(f"sqlite:///{Path(folder) / 'fs.sqlite3'}", cases, state=True))
            keep(f"sqlite baseline, {BATCH} per commit",
                 baseline(f"sqlite:///{Path(folder) / 'bb.sqlite3'}", cases, BATCH))
            keep(f"sqlite jichi ×1, {BATCH} per commit",
                 jichi(f"sqlite:///{Path(folder) / 'jb.sqlite3'}", cases, 1, BATCH))
        if postgres:
            keep("postgresql baseline", baseline(fresh_postgres(postgres, "jichi_bench_b"), cases))
            for workers in (1, 2, 4):
                keep(f"postgresql jichi ×{workers}", jichi(fresh_postgres(postgres, "jichi_bench_j"), cases, workers))
            keep(f"postgresql baseline, {BATCH} per commit", baseline(fresh_postgres(postgres, "jichi_bench_b"), cases,
                                                                       BATCH))
            for workers in (1, 2):
                keep(f"postgresql jichi ×{workers}, {BATCH} per commit",
                     jichi(fresh_postgres(postgres, "jichi_bench_j"), cases, workers, BATCH))
    table = {name: {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0]}
             for name, rows in runs.items()}
    for name, row in table.items():
        base = table[name.split()[0] + " baseline"]  # the stock baseline as it comes: one step per commit
        row["starts_ratio"] = round(row["starts_per_s"] / base["starts_per_s"], 2)
        row["completions_ratio"] = round(row["completions_per_s"] / base["completions_per_s"], 2)
    return {"cases": cases, "rounds": rounds, "steps": len(STEPS), "results": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="URL of a PostgreSQL server's database (others are created)")
    args = parser.parse_args()
    print(json.dumps(run(args.cases, args.postgres, args.rounds), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
