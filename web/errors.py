"""Error pages in Japanese. A stack trace never reaches the browser; it goes to the server log."""

from __future__ import annotations

from flask import Flask, current_app, g, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from engine.db import schema_behind
from web import request_id

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("リクエストが正しくありません", "入力内容を確かめて、もう一度お試しください。"),
    401: ("ログインが必要です", "ログインするか、API では Authorization: Bearer トークン を付けてください。"),
    403: ("この操作は許可されていません", "画面を開き直してからもう一度お試しください（長く開いていた画面の送信は受け付けません）。"
          "権限が必要な場合は、システム管理者にお問い合わせください。"),
    404: ("ページが見つかりません", "URL が正しいか確かめてください。トップページから探すこともできます。"),
    405: ("この方法ではアクセスできません", "画面のボタンやリンクから操作してください。"),
    409: ("同じ操作を処理しています", "少し待ってから、同じ Idempotency-Key でもう一度送ってください。"),
    415: ("JSON で送ってください", "Content-Type: application/json の本文にしてください。"),
    422: ("同じ Idempotency-Key で違う内容が送られました", "新しい操作には新しい Idempotency-Key を使ってください。"),
    429: ("しばらくお待ちください", "短い間に多くの操作があったため、受け付けを止めています。少し待ってからもう一度お試しください。"),
    503: ("データベースの一時的な障害で処理を完了できませんでした",
          "少し待ってから、案件や受付箱で状態を確かめて、もう一度操作してください"
          "（API は同じ Idempotency-Key で送り直せば二重になりません）。"),
    500: (
        "システムで問題が発生しました",
        "処理は完了していません。時間をおいてもう一度お試しください。"
        "繰り返し発生する場合は、発生した日時を添えてシステム管理者にご連絡ください。",
    ),
}


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_error)
    app.register_error_handler(InterfaceError, _database_error)
    app.register_error_handler(Exception, _unexpected_error)


def _page(code: int, diagnostic: str | None = None, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    title, advice = MESSAGES.get(code, (f"エラーが発生しました（{code}）", "もう一度お試しください。"))
    # A server's failure names its request (問い合わせ番号: the key to its log lines); a refusal needs none, and
    # its body stays the same for the same request (a 404 for another municipality's id is a 404 for no id).
    reference = request_id.current() if code >= 500 else None
    if request.path.startswith("/api/"):  # the JSON API answers in its one error shape (web/api.py)
        error = {"status": code, "code": diagnostic or f"HTTP{code}", "message": title, "hint": advice, "where": None}
        return {"error": {**error, "request_id": reference} if reference else error}, code, headers or {}
    return render_template("error.html", code=code, title=title, advice=advice, request_id=reference), code, headers or {}


def _http_error(e: HTTPException) -> ResponseReturnValue:
    return _page(e.code or 500)


def _database_error(e: Exception) -> ResponseReturnValue:
    """The database failed under the request (connection lost, serialization failure, disk full): the step's
    transaction is rolled back, the user is told to check and retry (ENG540), the operator gets the traceback.

    A schema behind this jichi (the database never upgraded) is no passing failure: ENG543, 500, and the log
    says to run `jichi db upgrade`."""
    schema = schema_behind(e)
    current_app.logger.exception("database schema is behind this jichi: run `jichi db upgrade` (ENG543)"
                                 if schema else "database error", exc_info=e)
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except Exception:  # the connection is gone: the pool replaces it
            current_app.logger.warning("rollback after a database error failed", exc_info=True)
    if schema:
        return _page(InternalServerError.code, "ENG543")
    return _page(503, "ENG540", {"Retry-After": "5"})


def _unexpected_error(e: Exception) -> ResponseReturnValue:
    if schema_behind(e):  # PostgreSQL's undefined table or column arrives as a ProgrammingError
        return _database_error(e)
    # Logged with its traceback for operators; the user sees only the Japanese page.
    current_app.logger.exception("unhandled error", exc_info=e)
    return _page(InternalServerError.code)
