"""Independent audit: the Day-0 clock against SDTM --DY, visit windows, partial dates
(CLINICAL_SPEC §7, §9)."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.assessments import Progress, derived_visit_state, form_mark, progress
from clinical.partial_dates import ImputationFlag, parse_partial_date
from clinical.schedule import (
    VisitState,
    Window,
    age_in_completed_years,
    planned_date,
    sdtm_study_day,
    study_day,
    visit_state,
)

pytestmark = pytest.mark.req("CLINICAL_SPEC-7")

DAY0 = date(2026, 2, 27)  # across the end of February (2026 is not a leap year)


@pytest.mark.req("CLINICAL_SPEC-9")
@pytest.mark.parametrize(
    ("on", "clinical", "sdtm"),
    [
        (date(2026, 2, 22), -5, -5),  # lymphodepletion day −5
        (date(2026, 2, 26), -1, -1),
        (date(2026, 2, 27), 0, 1),  # infusion: Day 0 clinically, --DY 1 (no day 0 in SDTM)
        (date(2026, 2, 28), 1, 2),
        (date(2026, 3, 1), 2, 3),  # across the month end
        (date(2026, 3, 27), 28, 29),
    ],
)
def test_day0_clock_against_sdtm_dy(on, clinical, sdtm):
    """§9: --DY has no day 0; tables use the clinical Day-0 clock (day before infusion = −1)."""
    assert study_day(on, DAY0) == clinical
    assert sdtm_study_day(on, DAY0) == sdtm


@pytest.mark.parametrize(
    ("day", "before", "after", "visit", "state"),
    [
        (14, 1, 1, 15, VisitState.DONE),  # ±1 to day 14
        (14, 1, 1, 16, VisitState.DONE_OUT_OF_WINDOW),
        (28, 3, 3, 25, VisitState.DONE),  # ±3 to day 28
        (28, 3, 3, 31, VisitState.DONE),
        (28, 3, 3, 32, VisitState.DONE_OUT_OF_WINDOW),
        (90, 7, 7, 83, VisitState.DONE),  # ±7 after
    ],
)
def test_visit_windows_are_inclusive(day, before, after, visit, state):
    """§7 windows: ±1 day to day 14, ±3 to day 28, ±7 after, both ends inside."""
    window = Window(planned_date(DAY0, day), before, after)
    assert visit_state(window, visit_date=planned_date(DAY0, visit), today=planned_date(DAY0, 100)) is state


def test_visit_overdue_only_after_the_last_window_day():
    """§7.1: overdue when the window has passed: day 28 ± 3 is due on day 31, overdue on day 32."""
    window = Window(planned_date(DAY0, 28), 3, 3)
    assert visit_state(window, visit_date=None, today=planned_date(DAY0, 31)) is VisitState.DUE
    assert visit_state(window, visit_date=None, today=planned_date(DAY0, 32)) is VisitState.OVERDUE
    assert visit_state(window, visit_date=None, today=planned_date(DAY0, 24)) is VisitState.NOT_YET_DUE


@pytest.mark.parametrize(
    ("text", "imputed", "flag"),
    [
        ("2024", date(2024, 1, 1), ImputationFlag.MONTH),
        ("2024-02", date(2024, 2, 1), ImputationFlag.DAY),
        ("2024-02-29", date(2024, 2, 29), ImputationFlag.NONE),
    ],
)
def test_partial_dates_impute_to_the_first_day_and_are_flagged(text, imputed, flag):
    """§7: partial history dates impute to the first day of the known period, flagged."""
    partial = parse_partial_date(text)
    assert (partial.earliest, partial.imputation) == (imputed, flag)


def test_impossible_day_is_refused():
    """§7: 2025-02-29 is not a date (2025 is not a leap year)."""
    with pytest.raises(ValueError):
        parse_partial_date("2025-02-29")


@pytest.mark.req("CLINICAL_SPEC-1.2h")
@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(2016, 3, 10), date(2026, 3, 9), 9),  # the day before the 10th birthday
        (date(2016, 3, 10), date(2026, 3, 10), 10),  # the birthday itself counts
        (date(2025, 6, 1), date(2026, 5, 31), 0),  # 11 months: under 1 year
    ],
)
def test_age_in_completed_years_at_the_birthday(born, on, age):
    """§1.2 h uses age in completed years (children 1–10, adults from 10)."""
    assert age_in_completed_years(born, on) == age


@pytest.mark.req("CLINICAL_SPEC-7.1")
def test_not_done_with_reason_satisfies_and_a_partly_entered_visit_is_in_progress():
    """§7.1: an expected form is satisfied when complete or marked "not done"; a visit is
    complete when every expected form is satisfied, in progress when some are."""
    complete = form_mark(statuses=["complete"], not_done=False)
    not_done = form_mark(statuses=[], not_done=True)
    missing = form_mark(statuses=[], not_done=False)
    assert progress([complete, not_done]) is Progress.COMPLETE
    assert progress([complete, missing]) is Progress.IN_PROGRESS
    assert progress([missing, missing]) is Progress.NOT_STARTED


@pytest.mark.req("CLINICAL_SPEC-7.1")
def test_nothing_expected_after_death_but_the_visit_on_the_death_date_still_is():
    """§7.1: a subject who died expects nothing *after* that date: death on day 28 leaves the
    day-28 visit expected (overdue after day 31) and the day-60 visit not expected."""
    death = planned_date(DAY0, 28)
    today = planned_date(DAY0, 100)
    day28 = Window(planned_date(DAY0, 28), 3, 3)
    day60 = Window(planned_date(DAY0, 60), 7, 7)
    state28 = derived_visit_state(
        day28, progress=Progress.NOT_STARTED, visit_date=None, today=today, expected_until=death
    )
    state60 = derived_visit_state(
        day60, progress=Progress.NOT_STARTED, visit_date=None, today=today, expected_until=death
    )
    assert state28 is VisitState.OVERDUE
    assert state60 is None
