"""The Day-0 clock and visit windows (DESIGN §4 "Dates and the Day-0 clock"; CLINICAL_SPEC §7).

Study day comes from the site-local calendar date of the first infusion: infusion day = day 0,
the day before = day −1 (no day-0 gap, unlike SDTM --DY; CLINICAL_SPEC §9). Instants are UTC
and become dates in the site's time zone. Dates and "today" are passed in, never read from a
clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo


def local_date(instant: datetime, time_zone: str) -> date:
    """The calendar date at the site of a timezone-aware instant."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(ZoneInfo(time_zone)).date()


def age_in_completed_years(born: date, on: date) -> int:
    """Age on a date in completed years (a 9-month-old is 0; the birthday itself counts)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def study_day(on: date, day0: date) -> int:
    """Clinical Day-0 clock: `day0` is day 0, the day before is −1, the day after +1."""
    return (on - day0).days


def sdtm_study_day(on: date, reference: date) -> int:
    """SDTM --DY (CLINICAL_SPEC §9): no day 0; the reference date is day 1, the day before −1."""
    delta = (on - reference).days
    return delta + 1 if delta >= 0 else delta


@dataclass(frozen=True)
class Window:
    """A planned visit date with its window (days before / after, inclusive)."""

    planned: date
    before: int = 0
    after: int = 0

    @property
    def earliest(self) -> date:
        return self.planned - timedelta(days=self.before)

    @property
    def latest(self) -> date:
        return self.planned + timedelta(days=self.after)

    def contains(self, on: date) -> bool:
        return self.earliest <= on <= self.latest


def planned_date(anchor_date: date, day: int) -> date:
    """The date of study day `day` on a Day-0 clock anchored at `anchor_date` (day 0)."""
    return anchor_date + timedelta(days=day)


class VisitState(Enum):
    DONE = "done"
    DONE_OUT_OF_WINDOW = "done_out_of_window"
    NOT_YET_DUE = "not_yet_due"
    DUE = "due"
    OVERDUE = "overdue"


def visit_state(window: Window, *, visit_date: date | None, today: date) -> VisitState:
    """Computed, never stored (DESIGN §4): due inside the window, overdue after its last day."""
    if visit_date is not None:
        return VisitState.DONE if window.contains(visit_date) else VisitState.DONE_OUT_OF_WINDOW
    if today < window.earliest:
        return VisitState.NOT_YET_DUE
    if today <= window.latest:
        return VisitState.DUE
    return VisitState.OVERDUE
