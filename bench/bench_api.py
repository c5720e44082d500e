"""The JSON API under load (issue 14): task completions through HTTP with a bearer token, as an integration
client does them, against gunicorn with W worker processes on PostgreSQL (or SQLite), from a load generator on
loopback (T client threads, keep-alive connections, each driving its own cases through 受付 → 本人確認 → 交付
of the 住民票の写し等交付請求, two of whose steps run business rule tasks). GET /healthz through the same
generator is the floor of a request. With --rate, the completions are offered at that rate instead (open loop:
sent on a schedule, whatever the answers' times), and a completion's latency runs from its scheduled time.

    .venv/bin/python bench/bench_api.py --postgres URL [--workers 4] [--clients 8] [--cases 300] [--rate 300]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_postgres, percentile  # noqa: E402
from engine import accounts, clock  # noqa: E402
from engine.cases import Cases  # noqa: E402
from engine.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.registry import Registry  # noqa: E402

NANTO = "162108"
STEPS = {
    "受付": {"受付日": "2026-04-01", "請求者区分": "本人", "郵送請求": False, "請求通数": 2},
    "本人確認": {"本人確認書類": [{"種別": "マイナンバーカード", "有効期限": "2030-01-01"}], "委任状あり": False,
                 "返送先が住民票の住所": True},
    "交付": {"手数料収納済": True, "交付日": "2026-04-01"},
}


def _prepare(url: str, cases: int) -> tuple[str, list[str]]:
    upgrade(url)
    clock.install_spiff_clock()
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    service = Cases(Registry.load(ROOT))
    with sessions() as s:
        load_demo(s)
        accounts.add_user(s, login="renkei", display_name="連携システム", actor="bench")
        accounts.grant(s, login="renkei", municipality=NANTO, role="clerk", actor="bench")
        token = accounts.create_token(s, login="renkei", name="bench", actor="bench")
        s.commit()
    first = []
    for _ in range(cases):
        with sessions() as s:
            view = service.start_case(s, process_id="Process_JuminhyoKofu", municipality=NANTO, data={},
                                      actor="renkei")
            first.append(next(t.id for t in view.tasks if t.state == "ready"))
    engine.dispose()
    return token, first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drive(port: int, token: str, tasks: list[str], latencies: list[float], errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for task_id in tasks:
        step: tuple[str, str] | None = (task_id, "受付")
        while step is not None:
            step = _complete(connection, headers, *step, None, latencies, errors)
    connection.close()


def _complete(connection: http.client.HTTPConnection, headers: dict[str, str], task_id: str, name: str,
              since: float | None, latencies: list[float], errors: list[str]) -> tuple[str, str] | None:
    """One completion through the API, its latency counted from `since` (None: from its sending); the case's next
    ready task (id, name), or None at the case's end or on an error."""
    body = json.dumps({"data": STEPS[name]}, ensure_ascii=False).encode()
    began = time.perf_counter() if since is None else since
    connection.request("POST", f"/api/tasks/{task_id}/complete", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    latencies.append((time.perf_counter() - began) * 1000)
    if response.status != 200:
        errors.append(f"{response.status} {answer[:200]!r}")
        return None
    ready = [t for t in json.loads(answer)["tasks"] if t["state"] == "ready"]
    return (ready[0]["id"], ready[0]["name"]) if ready else None


def _drive_batches(port: int, token: str, tasks: list[str], latencies: list[float], errors: list[str],
                   batch: int) -> None:
    """As _drive, `batch` cases at a time through POST /api/tasks/complete (一括処理): each request completes the
    same step of `batch` cases; every completion's latency is its request's."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for first in range(0, len(tasks), batch):
        current = [(task_id, "受付") for task_id in tasks[first:first + batch]]
        while current:
            body = json.dumps({"tasks": [{"id": task_id, "data": STEPS[name]} for task_id, name in current]},
                              ensure_ascii=False).encode()
            t0 = time.perf_counter()
            connection.request("POST", "/api/tasks/complete", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status != 200 or json.loads(answer)["refused"]:
                errors.append(f"{response.status} {answer[:200]!r}")
                break
            latencies += [elapsed] * len(current)
            following = []
            for result in json.loads(answer)["results"]:
                ready = [t for t in result["case"]["tasks"] if t["state"] == "ready"]
                if ready:
                    following.append((ready[0]["id"], ready[0]["name"]))
            current = following
    connection.close()


def _offered(port: int, token: str, tasks: list[str], rate: float, latencies: list[float], errors: list[str],
             senders: int) -> None:
    """Open loop: completions sent on a schedule of `rate` per second, whatever the answers' times (not clients
    that wait for an answer before they send again), by `senders` threads with a connection each, each taking the
    next slot of the schedule and a case whose previous step has been answered. A completion's latency runs from
    its slot's time, so a send held back by a slow server counts against it (no coordinated omission)."""
    ready: queue.Queue[tuple[str, str]] = queue.Queue()
    for task_id in tasks:
        ready.put((task_id, "受付"))
    slots = itertools.count()
    total = len(tasks) * len(STEPS)
    began = time.perf_counter() + 0.05
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (slot := next(slots)) < total:
            try:
                task_id, name = ready.get(timeout=60)
            except queue.Empty:
                errors.append("no case was ready for 60 s")
                return
            due = began + slot / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            following = _complete(connection, headers, task_id, name, due, latencies, errors)
            if following is not None:
                ready.put(following)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _floor(port: int, requests: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        times.append((time.perf_counter() - t0) * 1000)
    connection.close()
    return times


def run(url: str, *, workers: int, clients: int, cases: int, batch: int = 1, rate: float | None = None) -> dict[str, Any]:
    """`clients` threads each completing its share of the cases one task after the other (closed loop), `batch`
    tasks per request; or, with `rate`, completions offered at that rate by `clients` senders (open loop)."""
    token, first = _prepare(url, cases)
    port = _free_port()
    env = {**os.environ, "JICHI_DATABASE_URL": url, "JICHI_INSECURE_COOKIES": "1"}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, kept until it stops
    server = subprocess.Popen([shutil.which("gunicorn") or str(Path(sys.executable).parent / "gunicorn"),
                               "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                               "--log-level", "warning", "web.wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                _floor(port, 1)
                break
            except OSError:
                time.sleep(0.1)
        # every worker loads its procedures on its first completion: warm them with the first few cases
        warm, first = first[:workers * 4], first[workers * 4:]
        _drive(port, token, warm, [], [])
        floor = _floor(port, 300)
        latencies: list[float] = []
        errors: list[str] = []
        if rate is not None:  # open loop: one scheduler of `clients` senders over all the cases
            threads = [threading.Thread(target=_offered, args=(port, token, first, rate, latencies, errors, clients))]
        else:  # closed loop: each client its share of the cases
            shares = [first[i::clients] for i in range(clients)]
            threads = [threading.Thread(target=_drive, args=(port, token, share, latencies, errors)) if batch == 1
                       else threading.Thread(target=_drive_batches, args=(port, token, share, latencies, errors, batch))
                       for share in shares]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - began
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    return {"workers": workers, "clients": clients, "batch": batch, "offered_per_s": rate,
            "cases": len(first), "completions": len(latencies),
            "errors": len(errors), "first_error": errors[0] if errors else None,
            "completions_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
            "floor_p50_ms": round(percentile(floor, 50), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server's URL (default: SQLite)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rate", type=float, default=None,
                        help="offer completions at this rate per second (open loop; --clients senders)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_postgres(args.postgres, "jichi_bench_api") if args.postgres else \
            f"sqlite:///{Path(folder) / 'api.sqlite3'}"
        print(json.dumps(run(url, workers=args.workers, clients=args.clients, cases=args.cases, rate=args.rate), ensure_ascii=False))


if __name__ == "__main__":
    main()
