"""What an expression may know besides the case data: the reference date and the municipality's calendar."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from standard_core.municipal_calendar import MunicipalCalendar


@dataclass(frozen=True, slots=True)
class EvalContext:
    """The evaluation context of one run of a compiled expression or script.

    `on` is the reference date, read in expressions as the built-in name 基準日 (reference_date);
    `calendar` is the municipality's calendar the open-day functions use. Either may be None: an
    expression that needs a missing one fails with DSL305 when it runs, never with a guess.
    """

    on: dt.date | None = None
    calendar: MunicipalCalendar | None = None
