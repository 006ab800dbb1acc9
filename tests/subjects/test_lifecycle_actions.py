"""The subject page's lifecycle actions looked up by name (subjects.views.LIFECYCLE_ACTIONS,
issue 23): re-consent, the planned infusion date and the status date correction saved from the
page, a service's refusal shown beside the field it names, and an unknown action a 404."""

from __future__ import annotations

from datetime import date

import pytest

from subjects.lifecycle import Event
from subjects.models import InformedConsent, Subject
from subjects.views import LIFECYCLE_ACTIONS

pytestmark = [pytest.mark.req("ISSUE-4"), pytest.mark.req("ISSUE-24")]


def _refused_form(response, key: str):
    """The bound form of action `key` as the page shows it again."""
    assert response.status_code == 400
    return next(action["form"] for action in response.context["actions"] if action["key"] == key)


def test_every_event_but_enrolment_and_death_has_its_status_form():
    # enrolment has its own form and confirmation; a death is recorded on the death form
    assert {event.value for event in Event} - set(LIFECYCLE_ACTIONS) == {"die"}
    assert set(LIFECYCLE_ACTIONS) - {event.value for event in Event} == {
        "reconsent",
        "dose_level",
        "planned_infusion",
        "status_date",
        "undo_status",
    }


def test_re_consent_from_the_page(consent, users_a, login):
    subject = consent()
    client = login(users_a["coordinator"])
    url = f"/subjects/{subject.pk}/lifecycle/reconsent/"

    form = _refused_form(
        client.post(url, {"reconsent-consent_version": "1.0", "reconsent-consent_date": "2026-03-02"}), "reconsent"
    )
    assert form.errors == {"consent_version": ["Consent on version 1.0 is already recorded."]}
    form = _refused_form(
        client.post(url, {"reconsent-consent_version": "2.0", "reconsent-consent_date": "2026-02-20"}), "reconsent"
    )
    assert form.errors == {"consent_date": ["A re-consent cannot be dated before the first consent (2026-03-01)."]}
    assert InformedConsent.objects.filter(subject=subject).count() == 1

    saved = client.post(url, {"reconsent-consent_version": "2.0", "reconsent-consent_date": "2026-03-02"})
    assert (saved.status_code, saved["Location"]) == (302, f"/subjects/{subject.pk}/")
    assert sorted(InformedConsent.objects.filter(subject=subject).values_list("consent_version", flat=True)) == [
        "1.0",
        "2.0",
    ]


def test_the_planned_infusion_date_from_the_page(at_status, users_a, login):
    subject = at_status("enrolled")
    client = login(users_a["coordinator"])
    url = f"/subjects/{subject.pk}/lifecycle/planned_infusion/"

    form = _refused_form(client.post(url, {"planned_infusion-planned_infusion_date": "2026-03-01"}), "planned_infusion")
    assert form.errors == {
        "planned_infusion_date": ["The planned infusion date cannot be before enrolment (2026-03-05)."]
    }
    assert client.post(url, {"planned_infusion-planned_infusion_date": "2026-03-20"}).status_code == 302
    assert Subject.objects.get(pk=subject.pk).planned_infusion_date == date(2026, 3, 20)

    form = _refused_form(client.post(url, {"planned_infusion-planned_infusion_date": "2026-03-22"}), "planned_infusion")
    assert form.errors == {"reason": ["Give a reason for moving the planned infusion date."]}
    moved = client.post(
        url, {"planned_infusion-planned_infusion_date": "2026-03-22", "planned_infusion-reason": "bed free later"}
    )
    assert moved.status_code == 302
    assert Subject.objects.get(pk=subject.pk).planned_infusion_date == date(2026, 3, 22)


def test_the_status_date_corrected_from_the_page(at_status, users_a, login):
    subject = at_status("lymphodepleted")
    client = login(users_a["coordinator"])
    url = f"/subjects/{subject.pk}/lifecycle/status_date/"

    form = _refused_form(
        client.post(url, {"status_date-on": "2026-03-04", "status_date-reason": "typed the wrong day"}), "status_date"
    )
    assert form.errors == {"on": ["The date 2026-03-04 is before the subject's previous status date 2026-03-05."]}
    assert Subject.objects.get(pk=subject.pk).status_date == date(2026, 3, 10)

    saved = client.post(url, {"status_date-on": "2026-03-09", "status_date-reason": "typed the wrong day"})
    assert saved.status_code == 302
    assert Subject.objects.get(pk=subject.pk).status_date == date(2026, 3, 9)


def test_an_action_not_in_the_table_is_404(consent, users_a, login):
    subject = consent()
    client = login(users_a["coordinator"])
    assert client.post(f"/subjects/{subject.pk}/lifecycle/nonsense/", {}).status_code == 404
    assert client.post(f"/subjects/{subject.pk}/lifecycle/die/", {"die-on": "2026-03-02"}).status_code == 404
