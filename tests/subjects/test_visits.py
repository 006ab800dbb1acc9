"""Visits on the Day-0 clock (issue 4 item 3): instantiated from the schedule at enrolment on
the planned infusion date, re-anchored on the first infusion (planned dates move, visit dates
stay), study days from the site-local date, out-of-window dates raise a query, due/overdue
computed."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from clinical.schedule import VisitState
from crf.models import Query, QueryStatus
from subjects.models import Subject, Visit
from subjects.services import subject as services
from subjects.services import visits
from tests.subjects.conftest import ENROLLED, PLANNED_INFUSION

pytestmark = pytest.mark.req("ISSUE-4")

PLANNED = PLANNED_INFUSION


def planned_dates(subject: Subject) -> dict[str, date | None]:
    return dict(Visit.objects.filter(subject=subject).values_list("definition__code", "planned_date"))


def test_enrolment_instantiates_the_26_visits_on_the_planned_infusion_date(planned):
    dates = planned_dates(planned)
    assert len(dates) == 26
    assert dates["SCR"] == ENROLLED  # anchored on enrolment
    assert dates["COL"] is None and dates["BRG"] is None  # event-driven
    assert dates["LD"] == date(2026, 3, 15)  # day −5
    assert dates["D0"] == date(2026, 3, 20)
    assert dates["D1"] == date(2026, 3, 21)
    assert dates["D28"] == date(2026, 4, 17)
    assert dates["D365"] == date(2027, 3, 20)


def test_enrolment_without_a_planned_date_leaves_infusion_visits_unplanned(screened, coordinator, schedule):
    subject = services.enrol(user=coordinator, subject=screened(), on=ENROLLED, dose_level="DL1")
    dates = planned_dates(subject)
    assert len(dates) == 26
    assert dates["SCR"] == ENROLLED
    assert dates["D0"] is None
    subject = visits.set_planned_infusion_date(user=coordinator, subject=subject, on=date(2026, 3, 25))
    assert planned_dates(subject)["D0"] == date(2026, 3, 25)
    assert planned_dates(subject)["D14"] == date(2026, 4, 8)


def test_moving_the_planned_infusion_moves_planned_dates_and_needs_a_reason(planned, coordinator):
    with pytest.raises(ValidationError) as refused:
        visits.set_planned_infusion_date(user=coordinator, subject=planned, on=date(2026, 3, 22))
    assert "reason" in refused.value.message_dict
    visits.set_planned_infusion_date(
        user=coordinator, subject=planned, on=date(2026, 3, 22), reason="product release delayed"
    )
    assert planned_dates(planned)["D0"] == date(2026, 3, 22)
    assert planned_dates(planned)["LD"] == date(2026, 3, 17)


def test_planned_infusion_before_enrolment_is_refused(planned, coordinator):
    with pytest.raises(ValidationError) as refused:
        visits.set_planned_infusion_date(user=coordinator, subject=planned, on=date(2026, 3, 4), reason="x")
    assert "planned_infusion_date" in refused.value.message_dict


def test_reanchoring_on_the_first_infusion_moves_planned_dates_and_keeps_visit_dates(planned, coordinator):
    d1 = Visit.objects.get(subject=planned, definition__code="D1")
    visits.record_visit_date(user=coordinator, visit=d1, visit_date=date(2026, 3, 21))
    planned.infusion_date = date(2026, 3, 23)  # as the infusion service writes it
    planned.save(update_fields=["infusion_date"])
    visits.schedule_visits(user=coordinator, subject=planned, reason="re-derived: first infusion")
    d1.refresh_from_db()
    assert d1.planned_date == date(2026, 3, 24)
    assert d1.visit_date == date(2026, 3, 21)  # entered, stays
    # …and is now out of its ±1 day window: the re-anchoring raised the query
    query = Query.objects.get(rule_code="VISIT-OUT-OF-WINDOW", object_id=d1.pk)
    assert query.status == QueryStatus.OPEN
    assert query.value == "2026-03-21"


def test_out_of_window_visit_date_raises_a_query_and_a_corrected_date_closes_it(planned, coordinator):
    d7 = Visit.objects.get(subject=planned, definition__code="D7")  # planned 2026-03-27, ±1 day
    visits.record_visit_date(user=coordinator, visit=d7, visit_date=date(2026, 3, 28))  # last day: in window
    assert not Query.objects.filter(rule_code="VISIT-OUT-OF-WINDOW").exists()
    visits.record_visit_date(user=coordinator, visit=d7, visit_date=date(2026, 3, 29), reason="typo")
    query = Query.objects.get(rule_code="VISIT-OUT-OF-WINDOW", object_id=d7.pk)
    assert query.status == QueryStatus.OPEN and query.field_name == "visit_date"
    visits.record_visit_date(user=coordinator, visit=d7, visit_date=date(2026, 3, 26), reason="checked source")
    query.refresh_from_db()
    assert query.status == QueryStatus.CLOSED


def test_changing_a_recorded_visit_date_needs_a_reason(planned, coordinator):
    d2 = Visit.objects.get(subject=planned, definition__code="D2")
    visits.record_visit_date(user=coordinator, visit=d2, visit_date=date(2026, 3, 22))
    with pytest.raises(ValidationError):
        visits.record_visit_date(user=coordinator, visit=d2, visit_date=date(2026, 3, 23))


@pytest.mark.parametrize("role", ["monitor", "data_manager", "statistician", "study_admin"])
def test_only_editors_record_visit_dates(planned, users_a, role):
    d2 = Visit.objects.get(subject=planned, definition__code="D2")
    with pytest.raises(PermissionDenied):
        visits.record_visit_date(user=users_a[role], visit=d2, visit_date=date(2026, 3, 22))


@pytest.mark.parametrize(
    ("today", "state"),
    [
        (date(2026, 3, 25), VisitState.NOT_YET_DUE),  # D7 window 03-26 … 03-28
        (date(2026, 3, 26), VisitState.DUE),
        (date(2026, 3, 28), VisitState.DUE),
        (date(2026, 3, 29), VisitState.OVERDUE),
    ],
)
def test_due_and_overdue_are_computed_from_the_window(planned, today, state):
    d7 = Visit.objects.select_related("definition").get(subject=planned, definition__code="D7")
    assert d7.state(today) == state


def test_site_today_is_the_site_calendar_date():
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    subject = SimpleNamespace(site=SimpleNamespace(time_zone="Asia/Shanghai"))
    now = datetime(2026, 3, 19, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert visits.site_today(subject, now) == date(2026, 3, 20)  # type: ignore[arg-type]
