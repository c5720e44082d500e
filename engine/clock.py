"""The one clock: everything in jichi reads "now" through `now()`, and tests replace it.

Stored timestamps are UTC; business dates (申請日, deadlines) are calendar dates in Asia/Tokyo.
SpiffWorkflow's timer events call `datetime.now(timezone.utc)` internally and treat a timer date
without an offset as machine-local time; `install_spiff_clock()` wraps both so that timers follow this
clock and Tokyo time, whatever the server's TZ.

For a whole process (e.g. `jichi worker` in a test), `JICHI_NOW` set to an ISO 8601 date-time with an
offset freezes the clock at that instant; it is meant for tests and demonstrations only.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TOKYO = dt.timezone(dt.timedelta(hours=9), "Asia/Tokyo")
NOW_ENV = "JICHI_NOW"


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _from_env() -> Callable[[], dt.datetime] | None:
    text = os.environ.get(NOW_ENV)
    if not text:
        return None
    fixed = dt.datetime.fromisoformat(text)
    if fixed.tzinfo is None:
        raise ValueError(f"{NOW_ENV} にはタイムゾーン付きの日時を指定してください（例: 2026-04-01T09:00:00+09:00）")
    return lambda: fixed.astimezone(dt.UTC)


_source: Callable[[], dt.datetime] = _from_env() or _system_now


def now() -> dt.datetime:
    """The current instant, timezone-aware, in UTC."""
    return _source().astimezone(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A time read back from the database, aware: everything jichi stores is UTC, and SQLite returns it naive."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def today() -> dt.date:
    """Today's date in Asia/Tokyo (the business date of every municipality)."""
    return now().astimezone(TOKYO).date()


def is_system() -> bool:
    """Whether this process reads the machine's clock (not one fixed by JICHI_NOW or replaced by a test)."""
    return _source is _system_now


def set_clock(source: Callable[[], dt.datetime] | None) -> None:
    """Replace the clock (None restores the system clock). Sources must return aware datetimes."""
    global _source
    _source = source or _system_now


class FakeClock:
    """A clock for tests: starts at `start` and moves only when told to."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self.current = start

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@contextmanager
def frozen(start: dt.datetime) -> Iterator[FakeClock]:
    """Use a FakeClock for the duration of the block."""
    previous = _source
    clock = FakeClock(start)
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


class _ClockDatetime(dt.datetime):
    """datetime whose now() is jichi's clock; substituted into SpiffWorkflow's timer module only."""

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _ClockDatetime:
        current = now() if tz is None else now().astimezone(tz)
        return cls.combine(current.date(), current.time(), current.tzinfo)


def install_spiff_clock() -> None:
    """Make SpiffWorkflow's timer events read this clock and read offset-less times as Tokyo time."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _ClockDatetime  # the module's own name for the class
    timer.LOCALTZ = TOKYO
