"""CLINICAL_SPEC §7.1 as pure rules (issue 24): form marks, visit progress and the visit state
derived from the expected forms and the window."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.assessments import FormMark, Matrix, Progress, derived_visit_state, form_mark, progress
from clinical.schedule import VisitState, Window

pytestmark = [pytest.mark.req("ISSUE-24"), pytest.mark.req("CLINICAL_SPEC-7.1")]

D1 = Window(date(2026, 3, 21), 1, 1)


def test_form_marks():
    assert form_mark(statuses=[], not_done=False) is FormMark.MISSING
    assert form_mark(statuses=["in_progress"], not_done=False) is FormMark.IN_PROGRESS
    assert form_mark(statuses=["in_progress", "complete"], not_done=False) is FormMark.COMPLETE
    assert form_mark(statuses=[], not_done=True) is FormMark.NOT_DONE
    assert form_mark(statuses=["complete"], not_done=True) is FormMark.COMPLETE


def test_progress_of_a_visit():
    assert progress([]) is Progress.NOTHING_EXPECTED
    assert progress([FormMark.MISSING, FormMark.MISSING]) is Progress.NOT_STARTED
    assert progress([FormMark.COMPLETE, FormMark.MISSING]) is Progress.IN_PROGRESS
    assert progress([FormMark.COMPLETE, FormMark.NOT_DONE]) is Progress.COMPLETE


@pytest.mark.parametrize(
    ("state", "visit_date", "today", "expected"),
    [
        (Progress.COMPLETE, None, date(2026, 3, 30), VisitState.DONE),
        (Progress.COMPLETE, date(2026, 3, 25), date(2026, 3, 30), VisitState.DONE_OUT_OF_WINDOW),
        (Progress.IN_PROGRESS, date(2026, 3, 21), date(2026, 3, 23), VisitState.OVERDUE),  # dated, forms missing
        (Progress.NOT_STARTED, None, date(2026, 3, 22), VisitState.DUE),
        (Progress.NOT_STARTED, None, date(2026, 3, 19), VisitState.NOT_YET_DUE),
        (Progress.NOTHING_EXPECTED, date(2026, 3, 21), date(2026, 3, 30), VisitState.DONE),
        (Progress.NOTHING_EXPECTED, None, date(2026, 3, 30), VisitState.OVERDUE),
    ],
)
def test_visit_state_from_its_forms(state, visit_date, today, expected):
    assert derived_visit_state(D1, progress=state, visit_date=visit_date, today=today) is expected


def test_nothing_expected_after_the_end_of_study():
    ended = date(2026, 3, 20)
    assert (
        derived_visit_state(
            D1, progress=Progress.NOT_STARTED, visit_date=None, today=date(2026, 4, 1), expected_until=ended
        )
        is None
    )


def test_matrix_parsing_and_single_visit_forms():
    matrix = Matrix.from_json({"SCR": ["IC", "DM", "VS"], "D1": ["VS", "CRS"]})
    assert matrix.forms_at("D1") == ("VS", "CRS") and matrix.forms_at("D99") == ()
    assert matrix.only_visit_of("DM") == "SCR" and matrix.only_visit_of("VS") is None
    with pytest.raises(ValueError, match="listed twice"):
        Matrix.from_json({"D1": ["VS", "VS"]})
