"""A request id for every request, to find a user's failed request in the app server's log (docs/operations.md
「監視」, 問い合わせ番号): the error page shows it as 問い合わせ番号, the JSON API's error carries it, every answer has it in
X-Request-Id, and every line the app logs while answering begins with it.

Behind trusted reverse proxies (JICHI_TRUSTED_PROXIES) the proxy's X-Request-Id is kept (nginx's $request_id), so
the proxy's access log and jichi's log name a request alike; otherwise, and when the header is not a plain token,
jichi makes one (a client must not be able to write into the log or pass itself off as another request)."""

from __future__ import annotations

import logging
import re
import secrets

from flask import Flask, Response, current_app, g, has_request_context, request

HEADER = "X-Request-Id"
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{8,64}")  # nginx's $request_id is 32 hex digits; tracers send such tokens


def current() -> str | None:
    """The id of the request being answered (None outside a request)."""
    return g.get("request_id") if has_request_context() else None


def _assign() -> None:
    given = request.headers.get(HEADER, "")
    trusted = current_app.config["TRUSTED_PROXIES"] > 0
    g.request_id = given if trusted and _TOKEN.fullmatch(given) else secrets.token_hex(8)


def _echo(response: Response) -> Response:
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response


class _Prefix(logging.Filter):
    """Begins a record logged while answering a request with its id."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = current()
        if found is not None and not getattr(record, "request_id", None):
            record.request_id = found
            record.msg = f"[{found}] {record.msg}"
        return True


def init_app(app: Flask) -> None:
    """Registered before the other request hooks (web.security's sign-in may refuse a request: its answer has an id)."""
    app.before_request(_assign)
    app.after_request(_echo)
    for logger in (app.logger, logging.getLogger("jichi")):
        if not any(isinstance(f, _Prefix) for f in logger.filters):
            logger.addFilter(_Prefix())
