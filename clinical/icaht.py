"""Immune effector cell-associated haematotoxicity (ICAHT) by the EHA/EBMT criteria
(Rejeski et al., Blood 2023), as CLINICAL_SPEC §4.1 states them.

Pure functions of an ANC series on the Day-0 clock, in ×10⁹/L (the standard unit of
`clinical.units` for "ANC"; 500/µL = 0.5 ×10⁹/L), returning results that name their criteria
(``"EHA-EBMT-2023"``):

- :func:`early_icaht` (days 0–30): each day takes the latest value measured on or before it
  (carry forward: a value holds until the next measurement; the last value holds through the
  day it was measured and no further, so a sparse series is never extrapolated past its data);
  days before the first measurement are unknown and belong to no run. A run of days at or
  below a threshold is not interrupted by a recovery gap of fewer than 3 days, and the gap days
  count in the run. The longest run at ≤ 0.5 grades G1 (< 7 days), G2 (7–13), G3 (14–30),
  G4 (≥ 30 days and never recovering in the window); the longest run at ≤ 0.1 grades G3
  (≥ 7 days) or G4 (≥ 14 days); the worse wins. ANC above 0.5 throughout is no early ICAHT.
- :func:`late_icaht` (after day 30): a grade per value (≤ 1.5 G1, ≤ 1.0 G2, ≤ 0.5 G3,
  ≤ 0.1 G4) confirmed by ≥ 2 values: each pair of consecutive values grades the less severe
  of the two, and the late grade is the worst pair. Values on or after a relapse are excluded
  ("not explained by relapse").

Lymphocyte counts are not inputs: universal lymphopenia after lymphodepletion is not ICAHT.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

CRITERIA = "EHA-EBMT-2023"

#: CLINICAL_SPEC §4.1 window and thresholds (×10⁹/L).
EARLY_FIRST_DAY = 0
EARLY_LAST_DAY = 30
SEVERE_NEUTROPENIA = Decimal("0.5")
PROFOUND_NEUTROPENIA = Decimal("0.1")
#: a recovery gap of fewer than this many days does not interrupt a run
GAP_DAYS_BREAKING_RUN = 3
LATE_THRESHOLDS: tuple[tuple[Decimal, int], ...] = (
    (Decimal("0.1"), 4),
    (Decimal("0.5"), 3),
    (Decimal("1.0"), 2),
    (Decimal("1.5"), 1),
)


@dataclass(frozen=True)
class AncValue:
    """One ANC measurement: study day and value in ×10⁹/L."""

    day: int
    anc: Decimal

    def __post_init__(self) -> None:
        if not self.anc.is_finite() or self.anc < 0:
            raise ValueError("ANC must be a finite number ≥ 0")


@dataclass(frozen=True)
class Run:
    """Days `first`..`last` (both included) at or below a threshold, gap days counted."""

    first: int
    last: int

    @property
    def days(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class EarlyIcaht:
    """§4.1 early ICAHT. `grade` 0 = no early ICAHT; None = no ANC in days 0–30 (not assessable)."""

    grade: int | None
    run_500: Run | None
    run_100: Run | None
    recovered: bool
    values_used: int
    criteria: str = CRITERIA


@dataclass(frozen=True)
class LateIcaht:
    """§4.1 late ICAHT. `grade` 0 = no late ICAHT; None = fewer than 2 values after day 30.
    `confirming_days` are the study days of the pair that sets the grade."""

    grade: int | None
    confirming_days: tuple[int, int] | None
    values_used: int
    criteria: str = CRITERIA


def _by_day(series: Iterable[AncValue]) -> dict[int, Decimal]:
    """One value per day: when a day has several, the lowest (the worst finding counts)."""
    days: dict[int, Decimal] = {}
    for value in series:
        if value.day not in days or value.anc < days[value.day]:
            days[value.day] = value.anc
    return days


def daily_values(series: Iterable[AncValue], *, first: int, last: int) -> dict[int, Decimal]:
    """Carry forward (§4.1): each day from `first` to `last` takes the latest value on or before
    it, measured from `first` on; the last value holds through its own day only."""
    days = _by_day(v for v in series if first <= v.day <= last)
    if not days:
        return {}
    result: dict[int, Decimal] = {}
    current: Decimal | None = None
    for day in range(min(days), max(days) + 1):
        current = days.get(day, current)
        assert current is not None
        result[day] = current
    return result


def longest_run(daily: dict[int, Decimal], threshold: Decimal) -> Run | None:
    """The longest run of days ≤ `threshold`, recovery gaps of < 3 days bridged and counted
    (§4.1). The earliest run wins a tie."""
    low_days = sorted(day for day, anc in daily.items() if anc <= threshold)
    if not low_days:
        return None
    runs: list[Run] = []
    first = previous = low_days[0]
    for day in low_days[1:]:
        gap = day - previous - 1
        if gap >= GAP_DAYS_BREAKING_RUN:
            runs.append(Run(first, previous))
            first = day
        previous = day
    runs.append(Run(first, previous))
    best = runs[0]
    for run in runs[1:]:
        if run.days > best.days:
            best = run
    return best


def early_icaht(series: Iterable[AncValue]) -> EarlyIcaht:
    """CLINICAL_SPEC §4.1 early ICAHT (days 0–30) from the ANC series; see the module docstring."""
    values = [v for v in series if EARLY_FIRST_DAY <= v.day <= EARLY_LAST_DAY]
    daily = daily_values(values, first=EARLY_FIRST_DAY, last=EARLY_LAST_DAY)
    if not daily:
        return EarlyIcaht(grade=None, run_500=None, run_100=None, recovered=False, values_used=0)
    run_500 = longest_run(daily, SEVERE_NEUTROPENIA)
    run_100 = longest_run(daily, PROFOUND_NEUTROPENIA)
    last_day = max(daily)
    recovered = daily[last_day] > SEVERE_NEUTROPENIA
    grade = 0
    if run_500 is not None:
        if run_500.days >= 30 and run_500.last == last_day and not recovered and last_day == EARLY_LAST_DAY:
            grade = 4
        elif run_500.days >= 14:
            grade = 3
        elif run_500.days >= 7:
            grade = 2
        else:
            grade = 1
    if run_100 is not None:
        if run_100.days >= 14:
            grade = max(grade, 4)
        elif run_100.days >= 7:
            grade = max(grade, 3)
    return EarlyIcaht(
        grade=grade, run_500=run_500, run_100=run_100, recovered=recovered, values_used=len(_by_day(values))
    )


def late_grade_of(anc: Decimal) -> int:
    """§4.1 late grade of one value: ≤ 1.5 G1, ≤ 1.0 G2, ≤ 0.5 G3, ≤ 0.1 G4, else 0."""
    for threshold, grade in LATE_THRESHOLDS:
        if anc <= threshold:
            return grade
    return 0


def late_icaht(series: Iterable[AncValue], *, relapse_day: int | None = None) -> LateIcaht:
    """CLINICAL_SPEC §4.1 late ICAHT (after day 30), confirmed by two consecutive values, the
    less severe of the pair counting; values on or after `relapse_day` are not used."""
    days = _by_day(v for v in series if v.day > EARLY_LAST_DAY and (relapse_day is None or v.day < relapse_day))
    ordered = sorted(days.items())
    if len(ordered) < 2:
        return LateIcaht(grade=None, confirming_days=None, values_used=len(ordered))
    grade = 0
    confirming: tuple[int, int] | None = None
    for (day_a, anc_a), (day_b, anc_b) in itertools.pairwise(ordered):
        pair_grade = min(late_grade_of(anc_a), late_grade_of(anc_b))
        if pair_grade > grade:
            grade, confirming = pair_grade, (day_a, day_b)
    return LateIcaht(grade=grade, confirming_days=confirming, values_used=len(ordered))
