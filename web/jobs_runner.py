"""Running queued jobs (engine/jobs.py) inside an app server: for `jichi serve` (development, `make run`) and the
browser tests, where no `jichi worker` runs. In production the workers run them; an app server started with
JICHI_RUN_JOBS=1 takes part too, under the same leases."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask

from engine import jobs
from engine.db import make_engine, make_session_factory
from engine.paths import project_root

POLL_SECONDS = 0.5


_EXTENSION = "jichi.jobs"


def start(app: Flask) -> threading.Thread:
    """A daemon thread that claims and runs jobs until `stop` (or the end of the process)."""
    stopping = threading.Event()

    def loop() -> None:
        # An engine of its own, as a worker's: without the requests' lock and statement limits (web.DB_TIMEOUTS) —
        # a job's long statements are legitimate — and one connection that never waits for the requests' pool.
        engine = make_engine(app.config["DATABASE_URL"], application_name="jichi jobs")
        sessions = make_session_factory(engine)
        root = Path(app.config.get("PROJECT_ROOT") or project_root())
        owner = jobs.owner_name()
        try:
            while not stopping.is_set():
                try:
                    ran = jobs.run_next(sessions, root, owner)
                except Exception:  # the job is marked failed; the runner goes on with the next one
                    app.logger.exception("job failed")
                    ran = None
                if ran is None:
                    stopping.wait(POLL_SECONDS)
        finally:
            engine.dispose()

    thread = threading.Thread(target=loop, name="jichi-jobs", daemon=True)
    app.extensions[_EXTENSION] = (thread, stopping)
    thread.start()
    return thread


def stop(app: Flask, timeout: float = 30) -> None:
    """End the app's job thread after the job it is running (before the app's database goes away)."""
    running = app.extensions.pop(_EXTENSION, None)
    if running is not None:
        thread, stopping = running
        stopping.set()
        thread.join(timeout)
