"""The production shape (docs/operations.md): gunicorn with two worker processes on PostgreSQL, clients using the
JSON API with Idempotency-Keys as they should, and one app-server worker killed with SIGKILL under load. gunicorn
starts a new worker; every client operation ends done exactly once; the audit chains verify."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.test_engine_cli import JICHI, ROOT

A = "141305"
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
CLIENTS, OPERATIONS = 4, 12
INTAKE = {"受付日": "2026-04-01", "請求者区分": "本人", "郵送請求": False, "請求通数": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


class Client:
    """An API client that retries, as docs/accounts.md asks: on a dropped connection, 503 or 409, the same
    request with the same Idempotency-Key, until it gets its answer."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token, self.retries = base, token, 0

    def send(self, method: str, path: str, body: Any, key: str) -> tuple[int, dict[str, Any], bool]:
        data = json.dumps(body).encode()
        for _ in range(400):
            request = urllib.request.Request(self.base + path, data=data, method=method, headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Idempotency-Key": key})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.load(response), response.headers.get("Idempotent-Replayed") == "true"
            except urllib.error.HTTPError as e:
                if e.code not in (409, 502, 503):
                    return e.code, json.load(e), False
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # the worker serving us died: send it again
            self.retries += 1
            time.sleep(0.1)
        raise AssertionError(f"{path} never answered")


@pytest.mark.postgres
def test_gunicorn_workers_on_postgresql_survive_a_killed_worker(postgres_url: str) -> None:
    env = {**os.environ, "JICHI_DATABASE_URL": postgres_url, "JICHI_INSECURE_COOKIES": "1",
           "JICHI_IDEMPOTENCY_STALE_SECONDS": "3"}

    def jichi(*args: str) -> str:
        done = subprocess.run([JICHI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done.stdout

    jichi("demo", "load")
    jichi("user", "add", "api-client", "--name", "連携システム", "--municipality", A, "--role", "clerk", "--no-password")
    token = jichi("user", "token", "api-client", "--name", "load").strip()
    port = _free_port()
    server = subprocess.Popen([GUNICORN, "--workers", "2", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
                               "web.wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/api/openapi.json", timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        workers = _children(server.pid)
        assert len(workers) == 2, workers
        results: list[tuple[str, int, int]] = []  # (key, start status, completion status)
        progress = threading.Semaphore(0)

        def client(n: int) -> None:
            api = Client(base, token)
            for i in range(OPERATIONS):
                key = f"c{n}-{i}"
                status, case, _ = api.send("POST", "/api/cases", {"process_id": "Process_JuminhyoKofu",
                                                                   "municipality": A}, f"{key}-start")
                task = case["tasks"][0]["id"] if status == 201 else ""
                done, _, _ = api.send("POST", f"/api/tasks/{task}/complete", {"data": INTAKE}, f"{key}-intake")
                results.append((key, status, done))
                progress.release()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for _ in range(10):
            progress.acquire(timeout=120)
        os.kill(workers[0], signal.SIGKILL)  # an app server dies under load
        for t in threads:
            t.join(timeout=300)
        assert len(results) == CLIENTS * OPERATIONS
        assert {(s, d) for _, s, d in results} == {(201, 200)}, results
        respawned = _children(server.pid)
        assert len(respawned) == 2 and workers[0] not in respawned  # gunicorn replaced the dead worker
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err[-2000:]
    assert "Traceback" not in out
    # exactly once: one case per start key, each advanced once; the chains verify
    listed = json.loads(jichi("task", "list", "--municipality", A, "--json"))
    assert len(listed) == CLIENTS * OPERATIONS and {t["name"] for t in listed} == {"本人確認"}
    assert "結果: 問題なし" in jichi("audit", "verify")
