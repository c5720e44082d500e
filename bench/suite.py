"""The benchmark suite (`make bench`): runs the benchmarks of issue 14 on this machine and writes bench/RESULTS.md
with the machine, the command, every measurement, its baseline in the same run and the targets. The history of
earlier measurements and what was changed for them is kept in bench/HISTORY.md.

    make bench                       # = .venv/bin/python bench/suite.py --out bench/RESULTS.md
    .venv/bin/python bench/suite.py --quick --out /tmp/r.md    # smaller sizes, to try the suite itself

PostgreSQL: JICHI_BENCH_POSTGRES_URL, or the OS's server started by tests/services/postgres.sh (its role must
be allowed to create databases: the suite creates and drops jichi_bench_* databases).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_api, bench_batch, bench_durable, bench_inbox, bench_migration  # noqa: E402
from bench.common import cpu_probe, fresh_postgres, machine, percentile  # noqa: E402

# gunicorn workers of the API runs: as many as the cores (docs/operations.md, the database on the same machine).
API_WORKERS = os.cpu_count() or 2


def _postgres() -> str | None:
    url = os.environ.get("JICHI_BENCH_POSTGRES_URL")
    if url:
        return url
    done = subprocess.run(["bash", str(ROOT / "tests" / "services" / "postgres.sh")], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or None


def _inbox(postgres: str | None, tasks: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_postgres(postgres, "jichi_bench_inbox") if postgres else f"sqlite:///{folder}/inbox.sqlite3"
        began = time.perf_counter()
        token = bench_inbox.seed(url, tasks)
        seeded = time.perf_counter() - began
        times = bench_inbox.measure(url, token, requests)
    floor = statistics.median(times["healthz (floor)"])
    return {"tasks": tasks, "backend": "postgresql" if postgres else "sqlite", "seed_s": round(seeded),
            "pages": {name: {"p50_ms": round(statistics.median(v), 1), "p95_ms": round(percentile(v, 95), 1),
                             "ratio": round(statistics.median(v) / floor, 1)} for name, v in times.items()}}


def _load_name(run: dict[str, Any]) -> str:
    if run.get("offered_per_s"):
        return f"{run['offered_per_s']:g}/s offered (open loop, {run['clients']} senders)"
    return f"{run['clients']} client{'s' if run['clients'] > 1 else ''}"


def _mark(ok: bool) -> str:
    return "達成" if ok else "**未達**"


def render(results: dict[str, Any], command: str) -> str:
    durable, api, batch, inbox = results["durable"], results["api"], results["batch"], results["inbox"]
    one, loaded, offered = api["one"], api["loaded"], api["offered"]
    migration = results["migration"]
    rows = durable["results"]
    sqlite = rows["sqlite jichi ×1"]
    grouped_name = next(name for name in rows if name.startswith("sqlite jichi ×1,"))
    grouped, per_commit = rows[grouped_name], grouped_name.split(", ")[1]
    stock_grouped = rows[grouped_name.replace("jichi ×1", "baseline")]
    bare, with_state = rows[bench_durable.BOUND], rows[bench_durable.BOUND_STATE]
    best_batch = max(batch["workers 1"]["per_second"], batch["workers 2"]["per_second"])
    targets = [
        ("durable completions/s in-process on SQLite", "≥ 1,000/s", f"{sqlite['completions_per_s']:,}/s",
         sqlite["completions_per_s"] >= 1000),
        ("… against stock SpiffWorkflow on SQLite, same run", "≥ 2×", f"{sqlite['completions_ratio']}×",
         sqlite["completions_ratio"] >= 2),
        (f"durable completions/s in-process on SQLite, 一括処理 ({per_commit}: group commit)", "≥ 1,000/s",
         f"{grouped['completions_per_s']:,}/s", grouped["completions_per_s"] >= 1000),
        ("… against stock SpiffWorkflow on SQLite (one step per commit, as it comes), same run", "≥ 2×",
         f"{grouped['completions_ratio']}× (stock with the same grouping: "
         f"{round(grouped['completions_per_s'] / stock_grouped['completions_per_s'], 2)}×)",
         grouped["completions_ratio"] >= 2),
        ("JSON API task completion, p50 (one client: the time of a request itself)", "≤ 5 ms",
         f"{one['p50_ms']} ms", one["p50_ms"] <= 5),
        (f"… p50 at {offered['offered_per_s']:g} completions/s offered (open loop: requests on a schedule)", "≤ 5 ms",
         f"{offered['p50_ms']} ms ({offered['completions_per_s']}/s answered)", offered["p50_ms"] <= 5),
        (f"JSON API task completions/s ({loaded['clients']} clients)", "≥ 300/s", f"{loaded['completions_per_s']}/s",
         loaded["completions_per_s"] >= 300),
        ("児童手当 batch re-evaluation", "≥ 5,000 recipients/s", f"{best_batch:,}/s", best_batch >= 5000),
        (f"migration of {migration['residents']:,} residents on SQLite, dry run included (issue 15)", "< 60 s",
         f"{migration['total_s']} s", migration["total_s"] < 60),
    ]
    out = [
        "# Benchmark results",
        "",
        f"Generated by `{command}` on {results['date']} in {results['minutes']} minutes. Machine: {results['machine']}.",
        "The machine is noisy (±20 % between runs of the same command): compare the ratios against the baseline",
        "measured in the same run. Earlier runs, and what was changed after each, are in [HISTORY.md](HISTORY.md).",
        f"CPU probe (`bench.common.cpu_probe`, fixed pure-Python work: objects, JSON; lower is faster) at the start and the "
        f"end of this run: {results['probe'][0]} ms and {results['probe'][-1]} ms.",
        "",
        "## Targets (issues 14 and 15)",
        "",
        "| measure | target | measured | |",
        "|---|---|---:|---|",
        *[f"| {name} | {target} | {measured} | {_mark(ok)} |" for name, target, measured, ok in targets],
        "",
        "One step per commit on SQLite has a ceiling, measured in the same run (the bound rows below): SpiffWorkflow's "
        f"step and the commit of one small row alone give {bare['completions_per_s']:,}/s "
        f"({bare['completions_ratio']}× stock); with the step's workflow state saved as well (jichi's serializer), "
        f"{with_state['completions_per_s']:,}/s ({with_state['completions_ratio']}×). An engine that saved nothing "
        "but its state would be at the ≥ 2× target, with no room left; jichi writes, in the same commit, the step's "
        "audit event (hash chain, personal data apart), its inbox rows and its version check, "
        f"and reaches {round(sqlite['completions_per_s'] / with_state['completions_per_s'] * 100)} % of that "
        "ceiling. The targets are met durably the way databases meet them, by committing steps together "
        "(一括処理: `Cases.complete_tasks`, `POST /api/tasks/complete`, `jichi task complete` with several tasks, the clerk's `/tasks/batch`; each step still "
        "its own version check, audit event and refusal).",
        "",
        "## Durable steps: jichi against stock SpiffWorkflow (`bench/bench_durable.py`)",
        "",
        f"{durable['cases']} cases of the typical procedure (補助金交付申請, 15 elements, 4 lanes), {durable['steps']} user "
        f"tasks each; medians of {durable['rounds']} rounds. Baseline: SpiffWorkflow 3.2 as it comes (its script "
        "engine, the whole workflow with its spec as JSON in one row per step) on the same database. jichi: "
        "`engine.cases.Cases` (version check, inbox rows, audit chain, DSL); ×N = N worker processes, each "
        "starting and completing its share, together. Every step is committed before the next (SQLite WAL "
        "synchronous=FULL; PostgreSQL synchronous_commit=on) — except in the 一括処理 rows: there the steps are taken "
        f"{per_commit} (`Cases.complete_tasks`, each step its own version check, audit event and refusal; one "
        "commit for the batch, so each completion is durable, and answered, when its batch commits: its latency is "
        "the batch's), and the stock row runs its steps the same way, one transaction per batch. Ratios are against "
        "the stock baseline with one step per commit. The bound rows are the ceiling of one step per commit: the "
        "workflows kept in memory, and per step only SpiffWorkflow's step (the baseline's) and the commit of one row "
        "holding the task's name, or the workflow's state as jichi's serializer writes it — no audit event, no inbox "
        "row, no version check. Every process freezes the garbage collector after loading, "
        "as `jichi worker` and `web/wsgi.py` do.",
        "",
        "| run | starts/s | completions/s | completion p50 ms | p95 ms | starts × baseline | completions × baseline |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[f"| {name} | {r['starts_per_s']} | {r['completions_per_s']} | {r['p50_ms']} | {r['p95_ms']} | "
          f"{r['starts_ratio']}× | {r['completions_ratio']}× |" for name, r in rows.items()],
        "",
        "## JSON API under load (`bench/bench_api.py`)",
        "",
        f"gunicorn on {api['backend']} with {loaded['workers']} worker processes — as many as the cores, the "
        "deployment docs/operations.md gives when the database shares the app server's machine, as here; the targets "
        f"are measured on it — and with {2 * loaded['workers']} (twice the cores, the guideline when the database has "
        "a machine of its own) for comparison. Client threads on loopback with "
        "keep-alive connections and a bearer token, each driving its own cases of 住民票の写し等交付請求 through "
        "受付 → 本人確認 → 交付 (`POST /api/tasks/{id}/complete`; two steps run business rule tasks). One client "
        "measures a request's own time; 8 clients saturate the 2 cores shared by gunicorn, PostgreSQL and the load "
        "generator: each client waits for its answer before it sends again, so their p50 is at least "
        "clients ÷ completions/s (Little's law), whatever a request's own time. The open-loop row offers the "
        f"completions at a fixed rate instead — requests sent on a schedule by {offered['clients']} threads, "
        "whatever the answers' times, each latency counted from its scheduled time — which is how a server's p50 at a "
        "given throughput is measured. Floor: `GET /healthz` (a database round trip) through the same client.",
        "",
        "| workers | load | tasks per request | completions | errors | completions/s | p50 ms | p95 ms | floor p50 ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['workers']} | {_load_name(r)} | {r.get('batch', 1)} | {r['completions']} | {r['errors']} | "
          f"{r['completions_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['floor_p50_ms']} |"
          for r in (one, loaded, offered, api.get("grouped"), api.get("one, more workers"),
                    api.get("loaded, more workers")) if r],
        "",
        "The row with 20 tasks per request is 一括処理 through HTTP (`POST /api/tasks/complete`, 20 tasks of the same step "
        "per request, one commit each; a completion's latency is its request's). It is not what the API targets above "
        "measure — a client completing one task at a time — but what an integration sending its work in batches gets. "
        "More workers than cores, with the database on the same cores, make one client's request slower (a request "
        "finds its worker's caches, and the case's workflow kept in memory, less often) for little more throughput.",
        "",
        "For scale (issue 14): an established Flask + SpiffWorkflow platform measured on a machine like this one does",
        "about 17–25 completions/s with a p50 of about 50 ms.",
        "",
        "## 児童手当 batch re-evaluation (`bench/bench_batch.py`)",
        "",
        f"`jichi rules batch` over {batch['recipients']:,} synthetic recipients: 児童手当の月額合計 on 2026-06-01 and "
        "on 2026-05-01 (two evaluations each), the changes counted; JSON Lines in and out.",
        "",
        "| processes | recipients/s (command's own) | wall s (start and rule loading included) | changed |",
        "|---:|---:|---:|---:|",
        *[f"| {n} | {batch[f'workers {n}']['per_second']:,} | {batch[f'workers {n}']['wall_s']} | "
          f"{batch[f'workers {n}']['changed']:,} |" for n in (1, 2)],
        "",
        "## Data migration (`bench/bench_migration.py`)",
        "",
        f"`jichi migrate` as a library: a synthetic CP932 CSV of {migration['residents']:,} residents "
        f"({migration['bytes']:,} bytes; 1 % of the names with a mapped 外字 of the user-defined area, 0.1 % with an "
        "unmapped one), dry run, then the import in batches of 1,000 into SQLite.",
        "",
        "| residents | clean | rejected | 外字 mapped | dry run s | import s | total s | residents/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {migration['residents']:,} | {migration['clean']:,} | {migration['rejected']:,} | {migration['mapped']:,} | "
        f"{migration['dry_run_s']} | {migration['import_s']} | {migration['total_s']} | {migration['per_second']:,} |",
        "",
        f"## Inbox with {inbox['tasks']:,} open tasks (`bench/bench_inbox.py`)",
        "",
        f"`GET /inbox` through the whole app on {inbox['backend']}, {inbox['tasks']:,} open tasks and as many completed "
        f"(seeded in {inbox['seed_s']} s), against `GET /healthz` as the floor.",
        "",
        "| page | p50 ms | p95 ms | p50 / floor |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {p['p50_ms']} | {p['p95_ms']} | {p['ratio']}× |" for name, p in inbox["pages"].items()],
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="small sizes (to try the suite, not to report)")
    args = parser.parse_args()
    began = time.perf_counter()
    postgres = _postgres()
    quick = args.quick
    results: dict[str, Any] = {"date": dt.date.today().isoformat(), "machine": machine(), "probe": [cpu_probe()]}
    print("durable steps …", flush=True)
    results["durable"] = bench_durable.run(60 if quick else 300, postgres, rounds=1 if quick else 3)
    print("JSON API …", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        loads = {}
        # key, workers, clients (or open-loop senders), cases, tasks per request, offered rate; the last two with
        # twice as many workers (the guideline when the database has a machine of its own), for comparison.
        for key, workers, clients, cases, per_request, rate in (
                ("one", API_WORKERS, 1, 40 if quick else 300, 1, None),
                ("loaded", API_WORKERS, 8, 60 if quick else 300, 1, None),
                ("grouped", API_WORKERS, 8, 160 if quick else 800, 20, None),
                ("offered", API_WORKERS, 16, 60 if quick else 400, 1, 300),
                ("one, more workers", 2 * API_WORKERS, 1, 40 if quick else 300, 1, None),
                ("loaded, more workers", 2 * API_WORKERS, 8, 60 if quick else 300, 1, None)):
            url = fresh_postgres(postgres, "jichi_bench_api") if postgres else \
                f"sqlite:///{folder}/api-{key}.sqlite3"
            loads[key] = bench_api.run(url, workers=workers, clients=clients, cases=cases, batch=per_request,
                                       rate=rate)
        results["api"] = {**loads, "backend": "PostgreSQL" if postgres else "SQLite"}
    print("batch …", flush=True)
    results["batch"] = bench_batch.run(5_000 if quick else 100_000)
    print("migration …", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        results["migration"] = bench_migration.run(f"sqlite:///{folder}/migration.sqlite3",
                                                   10_000 if quick else 100_000)
    print("inbox …", flush=True)
    results["inbox"] = _inbox(postgres, 20_000 if quick else 1_000_000, 20 if quick else 100)
    results["probe"].append(cpu_probe())
    results["minutes"] = round((time.perf_counter() - began) / 60, 1)
    command = "make bench" if args.out.resolve() == ROOT / "bench" / "RESULTS.md" and not quick else \
        " ".join(["python bench/suite.py", *sys.argv[1:]])
    args.out.write_text(render(results, command), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
