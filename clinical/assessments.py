"""The schedule of assessments: which forms each visit expects, and the visit's state derived
from them (CLINICAL_SPEC §7.1).

An expected form is satisfied when complete or marked "not done" with a reason. A visit is
complete when every expected form is satisfied, in progress when some are (or some are being
entered), and overdue when its window has passed with any unsatisfied. A subject who died,
withdrew or ended the study expects nothing after that date. Pure: the matrix, the forms found
and "today" are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import cached_property

from clinical.schedule import VisitState, Window, visit_state


class FormMark(Enum):
    """One expected form at one visit."""

    MISSING = "missing"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    NOT_DONE = "not_done"

    @property
    def satisfied(self) -> bool:
        return self in (FormMark.COMPLETE, FormMark.NOT_DONE)


class Progress(Enum):
    """A visit's forms as a whole; NOTHING_EXPECTED leaves the visit date to decide (§7)."""

    NOTHING_EXPECTED = ""
    NOT_STARTED = "none"
    IN_PROGRESS = "some"
    COMPLETE = "all"


@dataclass(frozen=True)
class Matrix:
    """The schedule matrix of one settings version: visit code → expected CRF codes, in order."""

    expected: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_json(cls, data: Mapping[str, Iterable[str]]) -> Matrix:
        parsed: dict[str, tuple[str, ...]] = {}
        for visit, codes in data.items():
            if not isinstance(visit, str) or isinstance(codes, str):
                raise ValueError("the schedule matrix maps a visit code to a list of form codes")
            listed = tuple(str(code) for code in codes)
            if len(set(listed)) != len(listed):
                raise ValueError(f"visit {visit}: a form is listed twice")
            parsed[visit] = listed
        return cls(parsed)

    def forms_at(self, visit_code: str) -> tuple[str, ...]:
        return self.expected.get(visit_code, ())

    @cached_property
    def visits_expecting(self) -> dict[str, tuple[str, ...]]:
        """Form code → the visits expecting it, in the matrix's order (computed once per matrix:
        a parsed matrix is kept for the process, subjects.assessments). Read only."""
        found: dict[str, list[str]] = {}
        for visit, codes in self.expected.items():
            for code in codes:
                found.setdefault(code, []).append(visit)
        return {code: tuple(visits) for code, visits in found.items()}

    def only_visit_of(self, form_code: str) -> str | None:
        """The single visit expecting `form_code`, or None when several (or none) do: a form
        entered without a visit is placed at its only visit."""
        found = [visit for visit, codes in self.expected.items() if form_code in codes]
        return found[0] if len(found) == 1 else None


def form_mark(*, statuses: Iterable[str], not_done: bool) -> FormMark:
    """The mark of one expected form from the entry statuses of its instances at the visit
    ("not_started", "in_progress", "complete") and whether it was marked not done."""
    seen = set(statuses)
    if "complete" in seen:
        return FormMark.COMPLETE
    if not_done:
        return FormMark.NOT_DONE
    if seen:
        return FormMark.IN_PROGRESS
    return FormMark.MISSING


def progress(marks: Iterable[FormMark]) -> Progress:
    """The visit's progress from the marks of its expected forms."""
    listed = list(marks)
    if not listed:
        return Progress.NOTHING_EXPECTED
    if all(mark.satisfied for mark in listed):
        return Progress.COMPLETE
    if any(mark is not FormMark.MISSING for mark in listed):
        return Progress.IN_PROGRESS
    return Progress.NOT_STARTED


def derived_visit_state(
    window: Window, *, progress: Progress, visit_date: date | None, today: date, expected_until: date | None = None
) -> VisitState | None:
    """§7.1: done when every expected form is satisfied (out of window when the visit date lies
    outside it); otherwise not yet due, due inside the window, overdue after it. Nothing
    expected: the visit date decides (§7). None when the subject expects nothing any more on
    the visit's planned date (`expected_until`: death, withdrawal or end of study)."""
    if progress is Progress.NOTHING_EXPECTED:
        return visit_state(window, visit_date=visit_date, today=today)
    if progress is Progress.COMPLETE:
        if visit_date is not None and not window.contains(visit_date):
            return VisitState.DONE_OUT_OF_WINDOW
        return VisitState.DONE
    if expected_until is not None and window.planned > expected_until:
        return None
    if today < window.earliest:
        return VisitState.NOT_YET_DUE
    if today <= window.latest:
        return VisitState.DUE
    return VisitState.OVERDUE
