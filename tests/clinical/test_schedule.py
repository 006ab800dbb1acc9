"""Day-0 clock and windows (DESIGN §4; CLINICAL_SPEC §7, §9)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from clinical.schedule import (
    VisitState,
    Window,
    local_date,
    planned_date,
    sdtm_study_day,
    study_day,
    visit_state,
)

pytestmark = pytest.mark.req("CLINICAL_SPEC-7")

# Infusion at 07:30 Asia/Shanghai on 2026-03-10 is 23:30 UTC on 2026-03-09.
INFUSION_UTC = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)


def test_infusion_day_is_the_site_local_date_not_the_utc_date():
    assert local_date(INFUSION_UTC, "Asia/Shanghai") == date(2026, 3, 10)
    assert local_date(INFUSION_UTC, "UTC") == date(2026, 3, 9)


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2026, 3, 9, 23, 30), "Asia/Shanghai")


@pytest.mark.parametrize(
    ("on", "day"),
    [
        (date(2026, 3, 8), -2),
        (date(2026, 3, 9), -1),
        (date(2026, 3, 10), 0),
        (date(2026, 3, 11), 1),
        (date(2026, 4, 7), 28),
        (date(2027, 3, 10), 365),
    ],
)
def test_study_days_around_day_0(on, day):
    day0 = local_date(INFUSION_UTC, "Asia/Shanghai")
    assert study_day(on, day0) == day


@pytest.mark.parametrize(
    ("on", "dy"),
    [(date(2026, 3, 9), -1), (date(2026, 3, 10), 1), (date(2026, 3, 11), 2)],
)
def test_sdtm_study_day_has_no_day_0(on, dy):
    assert sdtm_study_day(on, date(2026, 3, 10)) == dy


def test_planned_dates_follow_the_anchor():
    assert planned_date(date(2026, 3, 10), -5) == date(2026, 3, 5)
    assert planned_date(date(2026, 3, 10), 28) == date(2026, 4, 7)


@pytest.mark.parametrize(
    ("visit_date", "today", "state"),
    [
        (None, date(2026, 4, 3), VisitState.NOT_YET_DUE),  # day 24: window opens day 25
        (None, date(2026, 4, 4), VisitState.DUE),  # day 25 = 28 − 3
        (None, date(2026, 4, 10), VisitState.DUE),  # day 31 = 28 + 3, last day
        (None, date(2026, 4, 11), VisitState.OVERDUE),  # day 32
        (date(2026, 4, 4), date(2026, 5, 1), VisitState.DONE),
        (date(2026, 4, 10), date(2026, 5, 1), VisitState.DONE),
        (date(2026, 4, 3), date(2026, 5, 1), VisitState.DONE_OUT_OF_WINDOW),
        (date(2026, 4, 11), date(2026, 5, 1), VisitState.DONE_OUT_OF_WINDOW),
    ],
)
def test_day_28_window_is_plus_minus_3(visit_date, today, state):
    window = Window(planned=date(2026, 4, 7), before=3, after=3)
    assert visit_state(window, visit_date=visit_date, today=today) == state


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(2020, 6, 15), date(2026, 6, 14), 5),
        (date(2020, 6, 15), date(2026, 6, 15), 6),
        (date(2025, 9, 1), date(2026, 6, 1), 0),
        (date(2000, 2, 29), date(2026, 2, 28), 25),
        (date(2000, 2, 29), date(2026, 3, 1), 26),
    ],
)
def test_age_in_completed_years(born, on, age):
    from clinical.schedule import age_in_completed_years

    assert age_in_completed_years(born, on) == age
