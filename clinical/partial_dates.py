"""Partial history dates (DESIGN §4 "Dates"; CLINICAL_SPEC §7): `YYYY`, `YYYY-MM` or
`YYYY-MM-DD` as recorded, kept as that ISO 8601 text (SDTM --DTC style), and imputed for
analysis to the first day of the known period with the imputation flagged (ADaM --DTF: `M` when
month and day were imputed, `D` when the day was)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

_PARTIAL = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class Precision(StrEnum):
    YEAR = "year"
    MONTH = "month"
    DAY = "day"


class ImputationFlag(StrEnum):
    """ADaM date imputation flag (--DTF)."""

    NONE = ""
    DAY = "D"
    MONTH = "M"


@dataclass(frozen=True)
class PartialDate:
    year: int
    month: int | None = None
    day: int | None = None

    @property
    def precision(self) -> Precision:
        if self.month is None:
            return Precision.YEAR
        return Precision.MONTH if self.day is None else Precision.DAY

    @property
    def is_partial(self) -> bool:
        return self.day is None

    @property
    def earliest(self) -> date:
        """The first day of the known period: the imputed analysis date (CLINICAL_SPEC §7)."""
        return date(self.year, self.month or 1, self.day or 1)

    @property
    def latest(self) -> date:
        """The last day of the known period (for "certainly before" comparisons)."""
        if self.month is None:
            return date(self.year, 12, 31)
        if self.day is None:
            return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])
        return date(self.year, self.month, self.day)

    @property
    def imputation(self) -> ImputationFlag:
        if self.month is None:
            return ImputationFlag.MONTH
        return ImputationFlag.DAY if self.day is None else ImputationFlag.NONE

    def isoformat(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
            if self.day is not None:
                text += f"-{self.day:02d}"
        return text


def parse_partial_date(text: str) -> PartialDate:
    """`2024`, `2024-03` or `2024-03-15` (surrounding spaces ignored). Raises ValueError for any
    other shape, a month outside 1–12, a day not in the month, or a year before 1900."""
    match = _PARTIAL.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected YYYY, YYYY-MM or YYYY-MM-DD")
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    if year < 1900:
        raise ValueError("year before 1900")
    if month is not None and not 1 <= month <= 12:
        raise ValueError("month must be 01 to 12")
    if day is not None:
        date(year, month or 1, day)  # raises ValueError for a day not in the month
    return PartialDate(year, month, day)


def certainly_before(first: PartialDate, second: PartialDate) -> bool:
    """True when every date `first` may stand for precedes every date `second` may stand for
    (2024-03 is certainly before 2024-04-01, not before 2024)."""
    return first.latest < second.earliest
