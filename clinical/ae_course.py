"""The course of an adverse event: its grade changes, each dated (CLINICAL_SPEC §3, §3.1;
issue 30). An AE's grade is not one number: it starts at a grade on the onset date and may
worsen or improve later. Each entry is (grade, from date), in date order, the first on the onset
date; the grade of an entry holds until the next entry (or the resolution date).

Readers: the maximum grade (the AE's `grade`), the grade in force on a day, the maximum grade
up to a day (a run at a cut-off counts an AE whose grade rose after the cut-off at its earlier
grade; TEAE maximum grade within days 0–90), and the DLT rule "not back to ≤ 1 within 7 days".
Pure functions; no Django.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, order=True)
class GradeChange:
    """From `from_date` on, the AE is of grade `grade`."""

    from_date: date
    grade: int


def one_entry(*, onset: date, grade: int) -> tuple[GradeChange, ...]:
    """The course of an AE that kept one grade: that grade from the onset date."""
    return (GradeChange(onset, grade),)


def from_stored(stored: Iterable[Mapping[str, Any]] | None, *, onset: date, grade: int) -> tuple[GradeChange, ...]:
    """The course as stored ({"from": "YYYY-MM-DD", "grade": n} entries); an AE stored without
    one (before the course existed) is read as one entry: its grade from its onset."""
    entries = [
        GradeChange(
            entry["from"] if isinstance(entry["from"], date) else date.fromisoformat(entry["from"]), int(entry["grade"])
        )
        for entry in (stored or [])
    ]
    return tuple(sorted(entries)) if entries else one_entry(onset=onset, grade=grade)


def to_stored(course: Sequence[GradeChange]) -> list[dict[str, Any]]:
    return [{"from": entry.from_date.isoformat(), "grade": entry.grade} for entry in course]


def settle(course: Sequence[GradeChange], *, onset: date, grade: int) -> tuple[GradeChange, ...]:
    """The course to store with an AE entered with `onset` and `grade`: no course, or a course of
    one entry (an AE that kept one grade), follows the entered onset and grade; a course of
    several changes stands as entered (its maximum becomes the AE's grade, see `max_grade`)."""
    if len(course) <= 1:
        return one_entry(onset=onset, grade=grade)
    return tuple(sorted(course))


def problems(course: Sequence[GradeChange], *, onset: date, resolution: date | None) -> list[str]:
    """Codes of what is wrong with a course: "first_not_onset" (the first change must be on the
    onset date), "dates_not_increasing" (one change per date, in order), "same_grade" (two
    consecutive entries with the same grade are not a change), "after_resolution" (no change
    after the AE resolved), "grade_range" (grades 1–5)."""
    found: list[str] = []
    if not course:
        return found
    ordered = list(course)
    if ordered[0].from_date != onset:
        found.append("first_not_onset")
    if any(b.from_date <= a.from_date for a, b in itertools.pairwise(ordered)):
        found.append("dates_not_increasing")
    if any(b.grade == a.grade for a, b in itertools.pairwise(ordered)):
        found.append("same_grade")
    if resolution is not None and any(entry.from_date > resolution for entry in ordered):
        found.append("after_resolution")
    if any(not 1 <= entry.grade <= 5 for entry in ordered):
        found.append("grade_range")
    return found


def max_grade(course: Sequence[GradeChange]) -> int:
    """The AE's maximum grade over its whole course."""
    return max(entry.grade for entry in course)


def max_grade_until(course: Sequence[GradeChange], until: date) -> int | None:
    """The maximum grade reached on or before `until`; None when the AE began after it. A run
    at a cut-off reads the AE with this (a rise after the cut-off does not count)."""
    reached = [entry.grade for entry in course if entry.from_date <= until]
    return max(reached) if reached else None


def grade_on(course: Sequence[GradeChange], day: date) -> int | None:
    """The grade in force on `day` (the last change on or before it); None before the onset."""
    current: int | None = None
    for entry in sorted(course):
        if entry.from_date > day:
            break
        current = entry.grade
    return current


@dataclass(frozen=True)
class SevereSpell:
    """When the AE first reached grade ≥ 3 and when it was next back to grade ≤ 1 (None while
    it is not), for the DLT rule of §3.1."""

    grade: int
    from_date: date
    back_to_grade1: date | None


def first_severe_spell(course: Sequence[GradeChange], *, resolution: date | None) -> SevereSpell | None:
    """The first time the course reaches grade ≥ 3, the worst grade before it is next back to
    ≤ 1, and that date (the first later change to ≤ 1, else the resolution date, else None)."""
    ordered = sorted(course)
    for index, entry in enumerate(ordered):
        if entry.grade < 3:
            continue
        worst = entry.grade
        for later in ordered[index + 1 :]:
            if later.grade <= 1:
                return SevereSpell(worst, entry.from_date, later.from_date)
            worst = max(worst, later.grade)
        return SevereSpell(worst, entry.from_date, resolution)
    return None
