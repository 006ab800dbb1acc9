"""Issue 24 item 2: a status recorded in error can be undone by a coordinator with a reason; the
subject gets back its previous status, date and step details, audited "status recorded in error:
<reason>"; statuses that a form records (screening, infused, died) or that enrolment creates are
corrected on their form instead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from subjects.models import Subject
from subjects.services import subject as services
from subjects.services import visits

pytestmark = pytest.mark.req("ISSUE-24")


def test_a_screen_failure_recorded_in_error_is_undone(screened, coordinator, site_a, login):
    subject = screened()
    before = (subject.status, subject.status_date)
    today = visits.site_today(Subject(site=site_a))
    services.change_status(user=coordinator, subject=subject, event="fail_screening", on=today, reason="ANC too low")
    subject.refresh_from_db()
    assert (subject.status, subject.status_reason) == ("screen_failed", "ANC too low")
    client = login(coordinator)
    page = client.get(f"/subjects/{subject.pk}/").content.decode()
    assert "Undo “Screen failure” (recorded in error)" in page
    response = client.post(f"/subjects/{subject.pk}/lifecycle/undo_status/", {"undo_status-reason": ""})
    assert response.status_code == 400
    subject.refresh_from_db()
    assert subject.status == "screen_failed"
    response = client.post(
        f"/subjects/{subject.pk}/lifecycle/undo_status/", {"undo_status-reason": "wrong subject's lab report"}
    )
    assert response.status_code == 302
    subject.refresh_from_db()
    assert (subject.status, subject.status_date, subject.status_reason) == (*before, "")
    last = subject.events.order_by("-pgh_id").first()
    assert last.pgh_context["reason"] == "status recorded in error: wrong subject's lab report"
    assert last.status == "screening"
    # the wrong status stays in the history
    assert list(subject.events.order_by("pgh_id").values_list("status", flat=True))[-2:] == [
        "screen_failed",
        "screening",
    ]


def test_screening_cannot_be_undone_here(screened, coordinator):
    subject = screened()
    with pytest.raises(ValidationError) as refused:
        services.undo_status_in_error(user=coordinator, subject=subject, reason="x")
    assert refused.value.message_dict["reason"] == [
        "“Screening” cannot be undone here: correct the form or the date that recorded it."
    ]


def test_undo_needs_a_reason_and_an_editor(screened, coordinator, users_a, site_a):
    subject = screened()
    today = visits.site_today(Subject(site=site_a))
    services.change_status(
        user=coordinator, subject=subject, event="fail_screening", on=today - timedelta(days=1), reason="r"
    )
    with pytest.raises(ValidationError) as refused:
        services.undo_status_in_error(user=coordinator, subject=subject, reason="  ")
    assert refused.value.message_dict["reason"] == ["Give the reason the status was recorded in error."]
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.undo_status_in_error(user=users_a["monitor"], subject=subject, reason="x")
