"""Helpers shared by the benchmarks: a fresh PostgreSQL database, percentiles, the machine's description."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def fresh_postgres(url: str, database: str) -> str:
    """Drop and create `database` on the server of url; its URL."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return parsed.set(database=database).render_as_string(hide_password=False)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def machine() -> str:
    memory = ""
    try:
        kib = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")).split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    postgres = ""
    with contextlib.suppress(OSError):
        postgres = ", " + subprocess.run(["pg_config", "--version"], capture_output=True, text=True,
                                         check=False).stdout.strip()
    return (f"{platform.machine()}, {os.cpu_count()} cores{memory}, {platform.python_implementation()} "
            f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}{postgres}")


def cpu_probe() -> float:
    """Milliseconds of one fixed piece of pure-Python work (the best of five): objects built, encoded to JSON and
    decoded again, as a step does — how fast this machine runs such code right now (a tight loop alone misses a
    machine slowed by its neighbours' memory traffic). The benchmarks' absolute numbers move with it on a shared
    machine; reported at the start and the end of a run, it tells a slow run from a slow change."""
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        data = [{"id": i, "name": str(i), "values": [i, i + 1]} for i in range(100_000)]
        json.loads(json.dumps(data))
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)
