"""The dated grade course of an AE (issue 30; rules in clinical.ae_course): what the save path
stores, the checks on what was entered, the AE form's field, and the readers for live rows and
snapshot rows (dicts)."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import TYPE_CHECKING, Any

from django import forms
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinical import ae_course
from clinical.schedule import study_day
from crf.display import day_text

if TYPE_CHECKING:
    from adverse_events.models import AdverseEvent


def course_of_row(row: dict[str, Any]) -> tuple[ae_course.GradeChange, ...]:
    """The course of an AE as a dict (a snapshot row); one entry when stored without one."""
    return ae_course.from_stored(row.get("grade_course"), onset=row["onset_date"], grade=row["grade"])


def course_of(ae: AdverseEvent) -> tuple[ae_course.GradeChange, ...]:
    return ae_course.from_stored(ae.grade_course, onset=ae.onset_date, grade=ae.grade)


def derived_fields(ae: AdverseEvent) -> dict[str, Any]:
    """What the save path derives: a course of one entry (or none) follows the entered onset and
    grade; a course of several changes stands, and the AE's grade is its maximum."""
    if ae.onset_date is None or ae.grade is None:
        return {}
    entered = ae_course.from_stored(ae.grade_course, onset=ae.onset_date, grade=ae.grade) if ae.grade_course else ()
    course = ae_course.settle(entered, onset=ae.onset_date, grade=ae.grade)
    return {"grade_course": ae_course.to_stored(course), "grade": ae_course.max_grade(course)}


MESSAGES = {
    "first_not_onset": gettext_lazy("The course must start on the onset date."),
    "dates_not_increasing": gettext_lazy("Give each change of grade once, in date order."),
    "same_grade": gettext_lazy("Two consecutive lines have the same grade: that is not a change."),
    "after_resolution": gettext_lazy("No change of grade can come after the resolution date."),
    "grade_range": gettext_lazy("CTCAE grades run from 1 to 5."),
}


def course_problems(ae: AdverseEvent) -> list[str]:
    """Translated messages for what is wrong with the entered course: a shape that is not a list
    of {"from": date, "grade": n} (from the API), then, for more than one entry, the rules of
    clinical.ae_course.problems. A single entry is replaced by the onset and grade on save."""
    if ae.grade_course in (None, [], ""):
        return []
    try:
        if not isinstance(ae.grade_course, list):
            raise TypeError
        entered = _as_entered(ae.grade_course)
    except (KeyError, TypeError, ValueError, AttributeError):
        return [_("Each line of the course needs a date (YYYY-MM-DD) and a grade.")]
    if len(entered) <= 1 or ae.onset_date is None:
        return []
    codes = ae_course.problems(entered, onset=ae.onset_date, resolution=ae.resolution_date)
    return [str(MESSAGES[code]) for code in codes]


def _as_entered(stored: list[dict[str, Any]]) -> list[ae_course.GradeChange]:
    """The entries in the order entered (from_stored sorts them; the order check needs them raw)."""
    return [ae_course.GradeChange(date.fromisoformat(str(e["from"])), int(e["grade"])) for e in stored]


class GradeCourseField(forms.CharField):
    """The course on the AE form: one line per change, "YYYY-MM-DD grade"."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "2026-03-25 3"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(f"{entry['from']} {entry['grade']}" for entry in value if len(value) > 1)
        return value

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        entries: list[dict[str, Any]] = []
        for number, line in enumerate(str(text or "").splitlines(), start=1):
            parts = line.replace(",", " ").replace(":", " ").split()
            if not parts:
                continue
            try:
                if len(parts) != 2:
                    raise ValueError
                when, grade = date.fromisoformat(parts[0]), int(parts[1])
            except ValueError:
                raise forms.ValidationError(
                    _("Line %(n)s: give the date (YYYY-MM-DD) and the grade, e.g. 2026-03-25 3.") % {"n": number},
                    code="invalid",
                ) from None
            entries.append({"from": when.isoformat(), "grade": grade})
        return entries


class GradeCourseModelField(models.JSONField):  # type: ignore[type-arg]
    """The stored course, `[{"from": "YYYY-MM-DD", "grade": n}, …]`, that knows how a person reads
    it: `crf.display.value_text` asks a field for `display_text` (casebook, form page, history,
    PDF), so the reader sees "2026-03-25 (day 5): grade 3 → 2026-03-28 (day 8): grade 1", never
    the stored keys. Migrations see the plain JSONField it is (`deconstruct`)."""

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs

    def display_text(self, value: Any, *, day0: date | None = None) -> str:
        if not isinstance(value, list):
            return str(value)
        steps = []
        for entry in value:
            if not isinstance(entry, dict) or "from" not in entry or "grade" not in entry:
                return str(value)
            when = str(entry["from"])
            if day0 is not None:
                with contextlib.suppress(ValueError):  # a malformed date reads as stored
                    when = f"{when} ({day_text(study_day(date.fromisoformat(when), day0))})"
            steps.append(_("%(date)s: grade %(grade)s") % {"date": when, "grade": entry["grade"]})
        return " → ".join(steps)
