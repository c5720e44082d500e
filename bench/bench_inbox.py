"""Inbox page server time with 100,000 open tasks: GET /inbox through the whole app (token check, tenancy,
the inbox queries, counts, open days left, the template), against GET /healthz in the same run as the floor
of a request (the ratio says what the inbox itself costs).

The database is seeded directly (case and task rows; the inbox reads nothing else): N open tasks over two
municipalities (90 % in 141305, the user's), 1 % claimed by the user, 5 % addressed to positions, a third with
a deadline spread over two months, and as many completed tasks again as history that the partial indexes
must keep out of the way.

    .venv/bin/python bench/bench_inbox.py --url postgresql+psycopg://… [--tasks 100000] [--requests 200]
    .venv/bin/python bench/bench_inbox.py            # SQLite in a temporary folder

The PostgreSQL database named in --url is dropped and created again. Prints p50/p95 per page; bench/HISTORY.md
records a run. Target: p95 < 50 ms for each inbox page on PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_postgres  # noqa: E402
from engine import accounts, clock  # noqa: E402
from engine.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.models import CaseInstance, CaseTask, ProcessSpec  # noqa: E402
from web import create_app  # noqa: E402

MINE, OTHER = "141305", "272078"
PROCESSES = ("Process_JuminhyoKofu", "Process_JidoTeateNintei", "Process_Tennyu")
PAGES = {
    "healthz (floor)": "/healthz",
    "inbox: mine": "/inbox",
    "inbox: shared": "/inbox?list=group",
    "inbox: shared, page 40": "/inbox?list=group&page=40",
    "inbox: shared, one procedure": "/inbox?list=group&process=Process_Tennyu",
    "inbox: shared, overdue": "/inbox?list=group&due=overdue",
}


def seed(url: str, tasks: int) -> str:
    """Seed the rows and a user with a token; returns the token."""
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(7)
    now = clock.now()
    with make_session_factory(engine)() as s:
        load_demo(s)
        accounts.add_user(s, login="bench", display_name="計測", actor="bench")
        accounts.grant(s, login="bench", municipality=MINE, role="clerk", actor="bench")
        token = accounts.create_token(s, login="bench", name="bench", actor="bench")
        s.add(ProcessSpec(hash="0" * 64, process_id="Process_Bench", name="計測", files="{}"))
        s.commit()
        cases, rows = [], []
        for i in range(tasks):
            code = MINE if rng.random() < 0.9 else OTHER
            case_id = str(uuid.uuid4())
            created = now - dt.timedelta(minutes=rng.randrange(60 * 24 * 60))
            process = rng.choice(PROCESSES)
            cases.append({"id": case_id, "municipality_code": code, "process_id": process,
                          "spec_hash": "0" * 64, "status": "running", "state": "{}", "serializer_version": "1",
                          "version": 1, "started_by": "bench", "started_at": created, "updated_at": created,
                          "completed_at": None, "rules_hash": None, "unit_code": None})
            roll = rng.random()
            due = created + dt.timedelta(days=rng.randrange(60)) if rng.random() < 0.33 else None
            for state in ("completed", "ready"):  # one closed row of history for each open one
                rows.append({"id": str(uuid.uuid4()), "case_id": case_id, "municipality_code": code,
                             "spiff_task_id": str(uuid.uuid4()), "kind": "user", "bpmn_id": f"Task_{i % 7}",
                             "name": f"手順{i % 7}", "lane": "窓口", "state": state,
                             "assignee": "bench" if state == "ready" and roll < 0.01 else None,
                             "position_code": "kakaricho" if state == "ready" and 0.01 <= roll < 0.06 else None,
                             "due_at": due if state == "ready" else None, "created_at": created,
                             "completed_at": created if state == "completed" else None,
                             "completed_by": "bench" if state == "completed" else None, "on_behalf_of": None,
                             "process_id": process})
            if len(cases) >= 5000 or i == tasks - 1:
                s.execute(insert(CaseInstance.__table__), cases)
                s.execute(insert(CaseTask.__table__), rows)
                s.commit()
                cases, rows = [], []
        s.commit()
    engine.dispose()
    # statistics and the visibility map, as autovacuum keeps them in production (index-only scans need the map)
    raw = create_engine(url, isolation_level="AUTOCOMMIT")
    with raw.connect() as c:
        c.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
    raw.dispose()
    return token


def measure(url: str, token: str, requests: int) -> dict[str, list[float]]:
    app = create_app({"TESTING": False, "DATABASE_URL": url})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    for path in PAGES.values():  # warm: templates compiled, registry loaded, connections open
        for _ in range(3):
            assert client.get(path, base_url="https://localhost", headers=headers).status_code == 200, path
    for _ in range(requests):  # interleaved, so that machine noise hits every page alike
        for name, path in PAGES.items():
            started = time.perf_counter()
            response = client.get(path, base_url="https://localhost", headers=headers)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="PostgreSQL URL of a database to drop and seed (default: SQLite)")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="jichi-bench-inbox-")
    url = args.url or f"sqlite:///{folder}/bench.sqlite3"
    if url.startswith("postgresql"):
        url = fresh_postgres(url, make_url(url).database or "jichi_bench_inbox")
    started = time.perf_counter()
    token = seed(url, args.tasks)
    print(f"{make_url(url).get_backend_name()}: {args.tasks:,} open tasks seeded in {time.perf_counter() - started:.0f} s")
    times = measure(url, token, args.requests)
    floor = statistics.median(times["healthz (floor)"])
    print(f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'p50 / floor':>12}")
    for name, values in times.items():
        ordered = sorted(values)
        p50, p95 = statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {p50 / floor:11.1f}×")


if __name__ == "__main__":
    main()
