"""The marrow assessment page: saved through the form page with the response read back, the
live response partial, the MRD test linked from its assessment, the casebook grid, and the
adjudication page by DESIGN §4a (investigators only; other sites 404)."""

from __future__ import annotations

import pytest

from response.models import MarrowAssessment, MrdTest
from study.roles import Role
from tests.conftest import make_user
from tests.response.conftest import day, marrow, reread

pytestmark = pytest.mark.req("ISSUE-9")

MA_POST = {
    "assessment_date": "",
    "marrow_blasts_pct": "5",
    "peripheral_blasts_pct": "0",
    "anc": "1.2",
    "platelets": "120",
    "cns_status": "CNS1",
    "opened_version": "",
    "reason": "",
}


def test_form_page_saves_and_shows_the_derived_response_awaiting_adjudication(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    page = client.get(f"/subjects/{subject.pk}/forms/MA/new/")
    assert page.status_code == 200
    assert b'id="live-response"' in page.content and b"htmx-2.min.js" in page.content
    response = client.post(f"/subjects/{subject.pk}/forms/MA/new/", {**MA_POST, "assessment_date": str(day(28))})
    assert response.status_code == 302
    ma = MarrowAssessment.objects.get(subject=subject, assessment_date=day(28))
    assert (ma.response, ma.needs_adjudication) == ("PR", True)
    shown = client.get(response["Location"]).content.decode()
    assert "Awaiting investigator adjudication" in shown and "Adjudicate the response" not in shown


def test_bad_input_is_a_field_error_and_nothing_is_saved(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    bad = {**MA_POST, "assessment_date": str(day(28)), "marrow_blasts_pct": "140"}
    response = client.post(f"/subjects/{subject.pk}/forms/MA/new/", bad)
    assert response.status_code == 200 and "marrow_blasts_pct" in response.context["form"].errors
    assert not MarrowAssessment.objects.filter(subject=subject, assessment_date=day(28)).exists()


def test_live_response_partial(infused, coordinator, login, users_a):
    subject = infused()
    client = login(coordinator)
    url = f"/subjects/{subject.pk}/marrow/live/"
    partial = client.post(url, {**MA_POST, "assessment_date": str(day(28))}, HTTP_HX_REQUEST="true")
    text = partial.content.decode()
    assert partial.status_code == 200 and "<strong>PR</strong>" in text and "exactly at a threshold" in text
    partial = client.post(url, {**MA_POST, "assessment_date": str(day(28)), "marrow_blasts_pct": "3"})
    assert "<strong>CR, MRD unknown</strong>" in partial.content.decode()
    partial = client.post(url, {**MA_POST, "anc": ""})
    assert "Enter these to see the response" in partial.content.decode()
    assert not MarrowAssessment.objects.filter(subject=subject, assessment_date=day(28)).exists()
    client.logout()
    monitor = login(users_a["monitor"])
    assert monitor.post(url, MA_POST).status_code == 403


def test_mrd_test_page_starts_from_its_assessment(infused, coordinator, login):
    subject = infused()
    ma = marrow(coordinator, subject, on=day(28))
    other = marrow(coordinator, infused(), on=day(28))
    client = login(coordinator)
    page = client.get(f"/subjects/{subject.pk}/forms/MRD/new/?assessment={ma.pk}")
    form = page.context["form"]
    assert form.initial.get("assessment") == ma.pk or form["assessment"].value() == ma.pk
    assert other.pk not in set(form.fields["assessment"].queryset.values_list("pk", flat=True))
    post = {
        "assessment": ma.pk,
        "sample_date": str(day(28)),
        "method": "flow",
        "specimen": "marrow",
        "detected": "",
        "sensitivity": "1E-5",
        "cells_analysed": "4000000",
        "cd7_independent_gating": "true",
        "opened_version": "",
    }
    response = client.post(f"/subjects/{subject.pk}/forms/MRD/new/", post)
    assert response.status_code == 302, response.context["form"].errors
    assert MrdTest.objects.get(assessment=ma).status == "negative"
    assert reread(ma).response_label == "CR MRD−"


def test_forms_are_on_the_casebook_grid(infused, coordinator, login):
    subject = infused()
    content = login(coordinator).get(f"/subjects/{subject.pk}/casebook/").content.decode()
    for code in ("/forms/MA/new/", "/forms/REL/new/", "/forms/FU/new/", "/forms/DTH/new/", "/forms/ST/new/"):
        assert code in content


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.INVESTIGATOR, 200),
        (Role.COORDINATOR, 403),
        (Role.MONITOR, 403),
        (Role.DATA_MANAGER, 403),
        (Role.STATISTICIAN, 404),  # no CRF pages at all: outside the gate for CRFs
        (Role.STUDY_ADMIN, 404),
    ],
)
def test_adjudication_page_is_for_investigators_only(infused, coordinator, login, users_a, role, status):
    subject = infused()
    ma = marrow(coordinator, subject, on=day(28), blasts="5")
    response = login(users_a[role.value]).get(f"/subjects/{subject.pk}/marrow/{ma.pk}/adjudicate/")
    assert response.status_code in ((403, 404) if status == 404 else (status,))


def test_investigator_of_another_site_gets_404(infused, coordinator, login, site_b):
    subject = infused()
    ma = marrow(coordinator, subject, on=day(28), blasts="5")
    outsider = make_user("investigator_b", site=site_b, role=Role.INVESTIGATOR)
    assert login(outsider).get(f"/subjects/{subject.pk}/marrow/{ma.pk}/adjudicate/").status_code == 404


def test_investigator_adjudicates_on_the_page(infused, coordinator, investigator, login):
    subject = infused()
    ma = reread(marrow(coordinator, subject, on=day(28), blasts="5"))
    client = login(investigator)
    url = f"/subjects/{subject.pk}/marrow/{ma.pk}/adjudicate/"
    missing = client.post(url, {"response": "CR", "reason": "", "opened_version": ma.version})
    assert missing.status_code == 200 and "reason" in missing.context["form"].errors
    done = client.post(url, {"response": "CR", "reason": "Recount 4.8%", "opened_version": ma.version})
    assert done.status_code == 302
    ma = reread(ma)
    assert (ma.response, ma.adjudicated_response, ma.adjudicated_by, ma.adjudication_reason) == (
        "PR",
        "CR",
        investigator,
        "Recount 4.8%",
    )
    stale = client.post(url, {"response": "PR", "reason": "second look", "opened_version": ma.version - 1})
    assert stale.status_code == 200 and reread(ma).adjudicated_response == "CR"
