"""Read access from the web and the API, recorded before the data is sent (engine/access_log.py): the screen is the
Flask endpoint (or the API call), the address the client's as ProxyFix resolved it from the trusted proxies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import request

from engine import access_log
from web.db import get_session


def record_read(action: str, municipality: str, *, case_id: str | None = None, task_id: str | None = None,
                residents: Iterable[str] = (), query: str | None = None,
                extra: Mapping[str, Any] | None = None) -> None:
    """Append and commit the event; if it cannot be written the request fails (nothing is shown unrecorded)."""
    from web.api import actor  # web.api records reads too

    api = request.path.startswith("/api/")
    screen = f"{request.method} {request.url_rule.rule}" if api and request.url_rule else (request.endpoint or "")
    session = get_session()
    access_log.record(session, municipality=municipality, actor=actor(), action=action, screen=screen,
                      via="api" if api else "web", address=request.remote_addr or "unknown", case_id=case_id,
                      task_id=task_id, residents=residents, query=query, extra=extra)
    session.commit()
