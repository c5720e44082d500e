"""What an expression may know besides the case data: the reference date and the municipality's calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from standard_core.diagnostics import Span
from standard_core.municipal_calendar import MunicipalCalendar


class RuleAccess(Protocol):
    """What an expression inside a rule file reaches beyond the case data: other definitions."""

    def value(self, name: str, span: Span) -> object:
        """The value of a decision, table or parameter, evaluated (and traced) on demand."""

    def counted(self, name: str, items: Sequence[object], span: Span) -> list[object]:
        """The elements a counting rule counts, in its order."""


@dataclass(frozen=True, slots=True)
class EvalContext:
    """The evaluation context of one run of a compiled expression or script.

    `on` is the reference date, read in expressions as the built-in name 基準日 (reference_date);
    `calendar` is the municipality's calendar the open-day functions use. Either may be None: an
    expression that needs a missing one fails with DSL305 when it runs, never with a guess.
    """

    on: dt.date | None = None
    calendar: MunicipalCalendar | None = None
    rules: RuleAccess | None = None
