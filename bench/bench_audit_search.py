"""Scoped audit searches over 1,000,000 events from 50 municipalities (issue 13: p95 < 500 ms on SQLite).

Builds a migrated SQLite database with N events spread over M municipality chains, as read access and state
changes mix in a year of use: case and task views, resident searches naming residents (indexed in
audit_access_subject), task completions with personal payloads, 200 staff and 40 terminal addresses per
municipality, cases whose entered names are indexed like the engine indexes them. The hashes are random (the
search never reads them; bench/bench_audit.py times verification). Then times `engine.audit_search.search` — the
function behind `jichi audit search` and the auditor's page — for the questions an auditor asks, each scoped to
one municipality, and reports p50/p95/max per kind. The baseline, in the same run, is SQLite counting one
municipality's events (the cheapest query that touches the scope).

    .venv/bin/python bench/bench_audit_search.py [--events 1000000] [--municipalities 50] [--queries 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.audit import canonical  # noqa: E402
from engine.audit_search import Query, search  # noqa: E402
from engine.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.models import AuditAccessSubject, AuditEvent, Resident  # noqa: E402
from engine.residents import search_key  # noqa: E402
from engine.store import EVENTS, PERSONAL  # noqa: E402

START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
YEAR = 365 * 24 * 3600
SURNAMES = ("山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤")
GIVEN = ("太郎", "花子", "一郎", "次郎", "美咲", "翔太", "陽菜", "大輔", "結衣", "健")


def codes(n: int) -> list[str]:
    return [f"{100000 + i * 1009:06d}" for i in range(n)]


def build(url: str, events: int, municipalities: int, residents: int) -> None:
    engine = make_engine(url)
    rng = random.Random(7)
    chosen = codes(municipalities)
    with make_session_factory(engine)() as s:
        for code in chosen:
            s.execute(insert(Resident), [{
                "municipality_code": code, "atena_number": str(10000 + r), "name": f"{SURNAMES[r % 10]} {GIVEN[r // 10 % 10]}",
                "name_kana": None, "birth_date": dt.date(1980, 1, 1), "address": "住所",
                "name_key": search_key(f"{SURNAMES[r % 10]} {GIVEN[r // 10 % 10]}{r}"), "kana_key": None,
                "created_at": START, "updated_at": START} for r in range(residents)])
        s.commit()
    seqs = dict.fromkeys(chosen, 0)
    rows: list[dict[str, object]] = []
    personal: list[dict[str, object]] = []
    subjects: list[dict[str, object]] = []
    keys: list[dict[str, object]] = []

    def flush() -> None:
        with engine.begin() as c:
            c.execute(insert(EVENTS), rows)
            if personal:
                c.execute(insert(PERSONAL), personal)
            if subjects:
                c.execute(insert(AuditAccessSubject.__table__), subjects)
        rows.clear()
        personal.clear()
        subjects.clear()

    offsets = sorted(rng.randrange(YEAR) for _ in range(events))
    for offset in offsets:
        code = chosen[rng.randrange(municipalities)]
        seqs[code] += 1
        seq = seqs[code]
        case_no = rng.randrange(2000)
        case_id = str(uuid.UUID(int=(int(code) << 32) + case_no))
        kind = rng.random()
        address = f"10.{int(code) % 250}.0.{rng.randrange(1, 41)}"  # 40 terminals per municipality
        actor = f"s{code}-{rng.randrange(200):03d}"
        residents_shown: list[str] = []
        if kind < 0.35:
            action, detail = "case.viewed", {"screen": "clerk.case_page", "via": "web", "address": address,
                                             "residents": 0}
        elif kind < 0.5:
            residents_shown = [str(10000 + rng.randrange(residents)) for _ in range(rng.randrange(1, 6))]
            residents_shown = list(dict.fromkeys(residents_shown))
            action, detail = "resident.searched", {"screen": "clerk.residents_page", "via": "web",
                                                   "address": address, "residents": len(residents_shown)}
            case_id = None  # type: ignore[assignment]
        elif kind < 0.6:
            action, detail = "task.viewed", {"screen": "clerk.task_page", "via": "web", "address": address,
                                             "residents": 0}
        else:
            action, detail = "task.completed", {"bpmn_id": "Task_Shinsa", "name": "審査", "status": "running"}
            if case_no % 50 == 0 and rng.random() < 0.02:  # the case's names, indexed when its form was filled
                r = rng.randrange(residents)
                keys.append({"municipality_code": code, "case_id": case_id, "item": "氏名",
                             "key": search_key(f"{SURNAMES[r % 10]} {GIVEN[r // 10 % 10]}{r}")})
        digest = None
        if residents_shown or action == "task.completed":
            digest = os.urandom(32).hex()
            body = {"residents": residents_shown, "query": "やまだ"} if residents_shown else {}
            personal.append({"municipality_code": code, "seq": seq, "salt": os.urandom(8).hex(),
                             "data_before": "{}", "data_after": "{}" if residents_shown else '{"査定額":240000}',
                             "personal": canonical(body)})
        subjects.extend({"municipality_code": code, "seq": seq, "atena_number": n} for n in residents_shown)
        rows.append({"municipality_code": code, "seq": seq, "prev_hash": "0" * 64, "hash": os.urandom(32).hex(),
                     "occurred_at": START + dt.timedelta(seconds=offset), "actor": actor, "action": action,
                     "case_id": case_id, "task_id": None, "detail": canonical(detail), "personal_digest": digest})
        if len(rows) >= 20000:
            flush()
    if rows:
        flush()
    engine.dispose()
    # case names point at cases this benchmark does not create: written without the foreign key check
    with sqlite3.connect(url.removeprefix("sqlite:///")) as raw:
        raw.executemany('INSERT INTO case_search_key (municipality_code, case_id, item, "key") VALUES (?, ?, ?, ?)',
                        [(k["municipality_code"], k["case_id"], k["item"], k["key"]) for k in keys])


def queries(url: str, municipalities: int, residents: int, count: int) -> dict[str, dict[str, float]]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(11)
    chosen = codes(municipalities)
    kinds = {
        "by resident": lambda c: Query([c], resident=str(10000 + rng.randrange(residents))),
        "by staff, one month": lambda c: Query([c], actor=f"s{c}-{rng.randrange(200):03d}",
                                               since=START + dt.timedelta(days=30 * (m := rng.randrange(11))),
                                               until=START + dt.timedelta(days=30 * (m + 1))),
        "by staff, all time": lambda c: Query([c], actor=f"s{c}-{rng.randrange(200):03d}"),
        "by case": lambda c: Query([c], case_id=str(uuid.UUID(int=(int(c) << 32) + rng.randrange(2000)))),
        "one day": lambda c: Query([c], since=START + dt.timedelta(days=(d := rng.randrange(360))),
                                   until=START + dt.timedelta(days=d + 1)),
        "by address, one month": lambda c: Query([c], address=f"10.{int(c) % 250}.0.{rng.randrange(1, 41)}",
                                                 since=START + dt.timedelta(days=30 * (m := rng.randrange(11))),
                                                 until=START + dt.timedelta(days=30 * (m + 1))),
        "by address, all time": lambda c: Query([c], address=f"10.{int(c) % 250}.0.{rng.randrange(1, 41)}"),
        "by action, one week": lambda c: Query([c], action="resident.searched",
                                               since=START + dt.timedelta(days=7 * (w := rng.randrange(50))),
                                               until=START + dt.timedelta(days=7 * (w + 1))),
    }
    results: dict[str, dict[str, float]] = {}
    with sessions() as s:
        baseline = []
        for _ in range(count):
            c = chosen[rng.randrange(municipalities)]
            began = time.perf_counter()
            s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.municipality_code == c))
            baseline.append((time.perf_counter() - began) * 1000)
        results["baseline: count one municipality"] = _summary(baseline, 0)
        for name, make in kinds.items():
            times, found = [], 0
            for _ in range(count):
                query = make(chosen[rng.randrange(municipalities)])
                began = time.perf_counter()
                found += len(search(s, query).events)
                times.append((time.perf_counter() - began) * 1000)
            results[name] = _summary(times, found / count)
    engine.dispose()
    return results


def _summary(times: list[float], found: float) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1), "max_ms": round(ordered[-1], 1),
            "found": round(found, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--municipalities", type=int, default=50)
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        upgrade(url)
        began = time.perf_counter()
        build(url, args.events, args.municipalities, args.residents)
        built = time.perf_counter() - began
        results = queries(url, args.municipalities, args.residents, args.queries)
    print(json.dumps({"events": args.events, "municipalities": args.municipalities, "build_s": round(built, 1),
                      "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "results": results},
                     ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
