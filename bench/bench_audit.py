"""Verify 1,000,000 audit events: the time `jichi audit verify` needs to recompute every hash (target < 30 s).

Builds a migrated database holding N events spread over M municipality chains (about 6 in 7 with a personal
payload, sizes like the engine's events), hashed with the same functions the engine appends with, then
times `engine.audit_verify.verify` — the function behind `jichi audit verify` — over all of it, several times.

    .venv/bin/python bench/bench_audit.py [--events 1000000] [--municipalities 10] [--rounds 3] [--url URL]

Without --url the database is a temporary SQLite file; with --url, an empty database migrated with
`jichi db upgrade` (e.g. PostgreSQL) receives the events. bench/HISTORY.md records a run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.audit import canonical  # noqa: E402
from engine.audit_chain import GENESIS, event_hash, personal_digest, utc_text  # noqa: E402
from engine.audit_verify import verify  # noqa: E402
from engine.db import make_engine, upgrade  # noqa: E402
from engine.store import EVENTS, HEADS, PERSONAL  # noqa: E402

CODES = ("141305", "261009", "270008", "272078", "272183", "341002", "470007", "472018", "131016", "011002",
         "012025", "022012")
START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def build(url: str, events: int, municipalities: int) -> None:
    engine = make_engine(url)
    codes = CODES[:municipalities]
    heads = {code: (0, GENESIS) for code in codes}
    batch_events: list[dict[str, object]] = []
    batch_personal: list[dict[str, object]] = []

    def flush() -> None:
        with engine.begin() as c:
            c.execute(insert(EVENTS), batch_events)
            if batch_personal:
                c.execute(insert(PERSONAL), batch_personal)
        batch_events.clear()
        batch_personal.clear()

    for i in range(events):
        code = codes[i % len(codes)]
        seq, prev = heads[code]
        seq += 1
        at = START + dt.timedelta(seconds=i // 10, microseconds=i % 1000)
        case_id = str(uuid.UUID(int=i // 5 + 1))
        detail = canonical({"bpmn_id": "Task_Shinsa", "name": "審査", "status": "running",
                            "opened": [{"task_id": str(uuid.UUID(int=i + 7)), "bpmn_id": "Task_Kessai", "name": "決裁"}],
                            "decisions": [{"gateway": "Gateway_Shonin", "name": "承認？", "chosen": ["Task_Kessai"]}]})
        digest = None
        if i % 7:
            salt = os.urandom(32).hex()
            before = canonical({"申請者名": "山田 太郎", "査定額": 250000})
            after = canonical({"申請者名": "山田 太郎", "査定額": 240000, "審査意見": "要件を満たす"})
            personal = canonical({"input": {"査定額": 240000, "審査意見": "要件を満たす"}})
            digest = personal_digest(salt, before, after, personal)
            batch_personal.append({"municipality_code": code, "seq": seq, "salt": salt, "data_before": before,
                                   "data_after": after, "personal": personal})
        h = event_hash(code, seq, prev, utc_text(at), f"職員{i % 97:03d}", "task.completed", case_id, None, detail,
                       digest)
        batch_events.append({"municipality_code": code, "seq": seq, "prev_hash": prev, "hash": h, "occurred_at": at,
                             "actor": f"職員{i % 97:03d}", "action": "task.completed", "case_id": case_id,
                             "task_id": None, "detail": detail, "personal_digest": digest})
        heads[code] = (seq, h)
        if len(batch_events) >= 20_000:
            flush()
    if batch_events:
        flush()
    with engine.begin() as c:
        for code, (seq, h) in heads.items():
            c.execute(insert(HEADS).values(municipality_code=code, seq=seq, head_hash=h))
    engine.dispose()


def measure(url: str) -> tuple[float, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            t0 = time.perf_counter()
            report = verify(connection)
            elapsed = time.perf_counter() - t0
    finally:
        engine.dispose()
    assert report.ok, [f.format() for f in report.findings]
    return elapsed, sum(c.events for c in report.chains)


def main() -> None:
    args = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    args.add_argument("--events", type=int, default=1_000_000)
    args.add_argument("--municipalities", type=int, default=10)
    args.add_argument("--rounds", type=int, default=3)
    args.add_argument("--url", default=None)
    opts = args.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = opts.url or f"sqlite:///{Path(folder) / 'audit.sqlite3'}"
        if opts.url is None:
            upgrade(url)
        t0 = time.perf_counter()
        build(url, opts.events, opts.municipalities)
        built = time.perf_counter() - t0
        runs = [measure(url) for _ in range(opts.rounds)]
        size = Path(folder, "audit.sqlite3").stat().st_size if opts.url is None else None
    seconds = statistics.median(r[0] for r in runs)
    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        "backend": url.split(":")[0], "events": runs[0][1], "municipalities": opts.municipalities,
        "database_mb": round(size / 2**20) if size else None, "build_s": round(built, 1),
        "verify_s": [round(r[0], 2) for r in runs], "verify_median_s": round(seconds, 2),
        "events_per_s": round(runs[0][1] / seconds),
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
