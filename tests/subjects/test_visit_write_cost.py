"""What enrolment and a visit-state refresh write and read (issue 20: the suite's cost; issue 22:
the save path). Each visit is written once, with its timing, at enrolment — one audited insert,
not an insert followed by an update of its planned date — and re-deriving the visits' expected
forms reads every form type in one query, not one query per form type."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from subjects.assessments import refresh_subject
from subjects.models import Visit
from tests.subjects.conftest import ENROLLED

pytestmark = pytest.mark.req("ISSUE-20")


def test_enrolment_writes_each_visit_once_with_its_planned_date(planned):
    events = Visit.pgh_event_model.objects.filter(pgh_obj__subject=planned)
    assert Visit.objects.filter(subject=planned).count() == 26
    inserts = events.filter(pgh_label="insert")
    assert inserts.count() == 26
    # After the insert only the derived expected-forms state changed (refresh_subject), which
    # makes no update event: one event per visit.
    assert events.count() == 26
    assert Visit.objects.filter(subject=planned).exclude(forms_state="").count() == 26
    inserted = dict(inserts.values_list("definition__code", "planned_date"))
    assert inserted["SCR"] == ENROLLED
    assert inserted["D0"] == date(2026, 3, 20)
    assert inserted["D28"] == date(2026, 4, 17)


def test_a_change_of_the_derived_forms_state_alone_makes_no_event_and_a_visit_date_does(planned, coordinator):
    visit = Visit.objects.get(subject=planned, definition__code="D28")
    events = Visit.pgh_event_model.objects.filter(pgh_obj=visit)
    assert events.count() == 1
    Visit.objects.filter(pk=visit.pk).update(forms_state="some")
    assert events.count() == 1
    Visit.objects.filter(pk=visit.pk).update(forms_state="none", visit_date=date(2026, 4, 17))
    assert events.count() == 2
    assert events.order_by("pgh_id").last().forms_state == "none"  # the row carries its value


def test_refreshing_the_visit_states_reads_the_forms_in_one_query(planned):
    with CaptureQueriesContext(connection) as captured:
        refresh_subject(planned)
    form_reads = [q["sql"] for q in captured.captured_queries if "UNION ALL" in q["sql"]]
    assert len(form_reads) == 1
    # the schedule versions, the visit definitions, the visits, the forms, the "not done" marks
    # and at most one write of the changed states
    assert len(captured.captured_queries) <= 8, [q["sql"][:80] for q in captured.captured_queries]
