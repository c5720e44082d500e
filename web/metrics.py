"""GET /metrics: what `jichi status` says, in Prometheus' text format (docs/operations.md「監視」).

Off (404) unless JICHI_METRICS_TOKEN is set; the scraper sends that secret as a bearer token. The figures are the
whole platform's, read from the database at each scrape by the same read-only queries as `jichi status` — every app
server answers the same, so scraping one (or the load balancer) is enough. Counts of HTTP requests and their times
belong to the reverse proxy in front of the app servers, which sees all of them.

No personal data and no municipality's figures appear: counts over the platform, times, the release and the schema.
A database that cannot be read is `jichi_database_up 0` (still 200: the scrape worked, the database did not).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from flask import Blueprint, abort, current_app, request
from flask.typing import ResponseReturnValue
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from engine.db import schema_behind
from engine.ops import Status, status
from web import jichi_version
from web.db import get_session

bp = Blueprint("metrics", __name__)
ENDPOINT = "metrics.metrics"  # web.security loads no user for it: the scraper is not one
log = logging.getLogger("jichi")
PROBLEMS = ("jichi_problems", "jichi status が問題とするものの数（0 のほかは要対応）")


def _timestamp(iso: str | None) -> float | None:
    return dt.datetime.fromisoformat(iso).timestamp() if iso else None


def _gauge(name: str, text: str, value: float | None, **labels: str) -> Metric | None:
    if value is None:
        return None
    family = GaugeMetricFamily(name, text, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def families(found: Status | None, *, database_up: bool, behind: bool) -> list[Metric]:
    """The metrics of a status (None: it could not be read)."""
    out: list[Metric | None] = [
        _gauge("jichi_database_up", "データベースを読めたか（1/0）", 1 if database_up else 0),
        _gauge("jichi_schema_behind", "データベースのスキーマがこの版より古いか（1: jichi db upgrade が必要）",
               1 if behind else 0),
    ]
    info = InfoMetricFamily("jichi", "この版の jichi と、データベースのスキーマのリビジョン")
    info.add_metric([], {"version": jichi_version(), "schema_revision": (found.schema_revision or "") if found else ""})
    out.append(info)
    if found is not None:
        duties = GaugeMetricFamily("jichi_duty_last_run_timestamp_seconds",
                                   "定期の仕事を worker が最後に行った時刻（UNIX 秒）", labels=["duty"])
        due = GaugeMetricFamily("jichi_duty_next_run_timestamp_seconds", "定期の仕事の次の予定（UNIX 秒）",
                                labels=["duty"])
        for duty in found.duties:
            last, upcoming = _timestamp(duty["last_at"]), _timestamp(duty["next_at"])
            if last is not None:
                duties.add_metric([duty["name"]], last)
            if upcoming is not None:
                due.add_metric([duty["name"]], upcoming)
        seen = GaugeMetricFamily("jichi_worker_seen_timestamp_seconds",
                                 "worker が最後に動いていると知らせた時刻（UNIX 秒。止めた worker は消える）",
                                 labels=["worker", "version"])
        for worker in found.workers:
            seen.add_metric([worker["owner"], worker["version"]], _timestamp(worker["seen_at"]) or 0)
        events = CounterMetricFamily("jichi_audit_events", "監査ログのイベントの数（全団体のチェーンの合計）")
        events.add_metric([], found.audit_events)
        out += [
            _gauge(*PROBLEMS, len(found.problems)),
            _gauge("jichi_running_cases", "進行中の案件の数", found.running_cases),
            _gauge("jichi_overdue_timers", "期限を 5 分以上過ぎて発火していないタイマーの数（worker が止まっている）",
                   found.overdue_timers),
            _gauge("jichi_oldest_overdue_timer_due_timestamp_seconds", "発火していないタイマーの最も古い期限（UNIX 秒）",
                   _timestamp(found.oldest_overdue_timer)),
            _gauge("jichi_queued_jobs", "待っているジョブの数", found.queued_jobs),
            _gauge("jichi_oldest_queued_job_timestamp_seconds", "最も古い待っているジョブの登録時刻（UNIX 秒）",
                   _timestamp(found.oldest_queued_job)),
            _gauge("jichi_stalled_jobs", "リースの切れたジョブの数（worker が止まった。別の worker が引き継ぐ）",
                   found.stalled_jobs),
            _gauge("jichi_failed_jobs_24h", "この 24 時間に失敗したジョブの数", found.failed_jobs_24h),
            _gauge("jichi_audit_chains", "監査ログのチェーンの数（団体ごとに 1 本）", found.audit_chains),
            _gauge("jichi_clock_skew_seconds", "このアプリサーバーの時計に対するデータベースのサーバーの時計の進み（秒）",
                   found.clock_skew_seconds),
            _gauge("jichi_last_backup_timestamp_seconds", "jichi db backup の最後のバックアップの時刻（UNIX 秒。なければ出ない）",
                   _timestamp(found.last_backup["at"]) if found.last_backup else None),
            _gauge("jichi_long_transactions", "PostgreSQL: 5 分を超えて続いているほかのセッションのトランザクションの数",
                   len(found.long_transactions)),
            _gauge("jichi_oldest_long_transaction_seconds", "そのうち最も古いものの長さ（秒。なければ出ない）",
                   found.long_transactions[0]["seconds"] if found.long_transactions else None),
            _gauge("jichi_workers", "動いている jichi worker の数（3 分以内に応答のあったもの）",
                   sum(1 for w in found.workers if not w["stale"])),
            events, duties, due, seen,
        ]
    elif behind:
        out.append(_gauge(*PROBLEMS, 1))  # the schema behind, as jichi status would say
    return [family for family in out if family is not None]


class _Exposed:
    """What generate_latest reads: a collector of these families."""

    def __init__(self, found: list[Metric]) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        yield from self.found


def _authorized(expected: str) -> bool:
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), expected.encode())


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    expected: Any = current_app.config.get("METRICS_TOKEN")
    if not expected:
        abort(404)  # not turned on: as if there were no such page
    if not _authorized(str(expected)):
        return "", 401, {"WWW-Authenticate": 'Bearer realm="jichi metrics"', "Cache-Control": "no-store"}
    session = get_session()
    found: Status | None = None
    database_up, behind = True, False
    try:
        found = status(session)
        behind = found.schema == "behind"
    except DBAPIError as e:
        behind = schema_behind(e)
        database_up = behind  # a schema without jichi's tables was read all the same
        log.warning("metrics: the status could not be read: %s", type(e).__name__)
    except SQLAlchemyError as e:
        database_up = False
        log.warning("metrics: the status could not be read: %s", type(e).__name__)
    finally:
        with suppress(SQLAlchemyError):
            session.rollback()  # read only
    body = generate_latest(_Exposed(families(found, database_up=database_up, behind=behind)))
    return body, 200, {"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Cache-Control": "no-store"}
