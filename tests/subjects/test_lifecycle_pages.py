"""The lifecycle pages (issue 4 item 3): "New subject (consent)" from the subject list, the
eligibility checklist, and the subject page with its status, numbers, dose level and the next
allowed actions as forms. Roles per DESIGN §4a (literals); identity values on no page for
roles that may not view them."""

from __future__ import annotations

import re

import pytest

from subjects.models import EligibilityAssessment, Subject
from tests.factories import identity
from tests.subjects.conftest import ELIGIBLE

pytestmark = [pytest.mark.req("ISSUE-4"), pytest.mark.req("DESIGN-4a")]

#  create/edit CRF data (DESIGN §4a): coordinator, investigator
EDITORS = ["coordinator", "investigator"]
NOT_EDITORS = ["monitor", "data_manager", "statistician", "study_admin"]
IDENTITY_VALUES = ("张三", "1990-05-01", "H001", "13800000000")


def _eligibility_post(on: str = "2026-03-03", **overrides) -> dict[str, str]:
    data = {"protocol_version": "2.1", "assessment_date": on}
    data.update({f"criterion_{code}": "yes" if met else "no" for code, met in ELIGIBLE.items()})
    data.update(overrides)
    return data


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.mark.parametrize("role", EDITORS)
def test_an_editor_consents_screens_and_enrols_through_the_pages(role, users_a, protocol, login):
    client = login(users_a[role])
    assert 'href="/subjects/new/">New subject (consent)</a>' in client.get("/subjects/").content.decode()

    response = client.post("/subjects/new/", {"consent_version": "1.0", "consent_date": "2026-03-01"})
    subject = Subject.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/subjects/{subject.pk}/"
    page = _text(client.get(response["Location"]))
    assert "<dt>Status</dt> <dd> Screening since 2026-03-01 </dd>" in page
    assert "<dt>Screening number</dt> <dd> A-S001 </dd>" in page
    for title in ("Enrol", "Screen failure", "Re-consent on a new version"):
        assert f'<button type="submit">{title}</button>' in page
    assert "Lymphodepletion started" not in page

    refused = client.post(f"/subjects/{subject.pk}/eligibility/new/", _eligibility_post(on="2026-02-28"))
    assert refused.status_code == 200
    assert (
        "Eligibility cannot be assessed before consent: the assessment date 2026-02-28 is before the consent date "
        "2026-03-01." in refused.content.decode()
    )
    assert EligibilityAssessment.objects.count() == 0
    saved = client.post(f"/subjects/{subject.pk}/eligibility/new/", _eligibility_post())
    assert saved.status_code == 302

    enrolled = client.post(
        f"/subjects/{subject.pk}/lifecycle/enrol/", {"enrol-on": "2026-03-05", "enrol-dose_level": "DL2"}
    )
    assert enrolled.status_code == 200 and "Enrol A-001 at DL2" in enrolled.content.decode()  # issue 24
    enrolled = client.post(
        f"/subjects/{subject.pk}/lifecycle/enrol/",
        {"enrol-on": "2026-03-05", "enrol-dose_level": "DL2", "enrol-confirmed": "on"},
    )
    assert enrolled.status_code == 302
    page = _text(client.get(f"/subjects/{subject.pk}/"))
    assert "<dt>Subject ID</dt> <dd> A-001 </dd>" in page
    assert "<dt>Dose level</dt> <dd> DL2 (enrolled 2026-03-05) </dd>" in page
    for title in ("Lymphodepletion started", "Not infused", "Change dose level"):
        assert f'<button type="submit">{title}</button>' in page


def test_a_refused_transition_shows_the_message_and_keeps_the_status(users_a, consent, login):
    subject = consent()
    client = login(users_a["coordinator"])
    response = client.post(f"/subjects/{subject.pk}/lifecycle/infuse/", {"infuse-on": "2026-03-05"})
    assert response.status_code == 400
    assert (
        "Not allowed: “Infused” cannot be recorded for a subject whose status is “Screening”."
        in response.content.decode()
    )
    assert Subject.objects.get(pk=subject.pk).status == "screening"


def test_a_dose_level_change_without_a_reason_is_shown_beside_the_field(users_a, at_status, login):
    subject = at_status("enrolled")
    client = login(users_a["investigator"])
    response = client.post(f"/subjects/{subject.pk}/lifecycle/dose_level/", {"dose_level-dose_level": "DL3"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    ok = client.post(
        f"/subjects/{subject.pk}/lifecycle/dose_level/",
        {"dose_level-dose_level": "DL3", "dose_level-reason": "SRC decision"},
    )
    assert ok.status_code == 200  # the confirmation names the change first (issue 24)
    assert "Change the dose level of A-001 from DL1 to DL3" in ok.content.decode()
    ok = client.post(
        f"/subjects/{subject.pk}/lifecycle/dose_level/",
        {"dose_level-dose_level": "DL3", "dose_level-reason": "SRC decision", "dose_level-confirmed": "on"},
    )
    assert ok.status_code == 302
    assert Subject.objects.get(pk=subject.pk).dose_level == "DL3"


def test_withdrawal_from_the_page_records_reason_and_survival_follow_up(users_a, at_status, login):
    subject = at_status("infused")
    client = login(users_a["coordinator"])
    response = client.post(
        f"/subjects/{subject.pk}/lifecycle/withdraw/",
        {"withdraw-on": "2026-04-01", "withdraw-reason": "Moved away", "withdraw-survival_follow_up": "yes"},
    )
    assert response.status_code == 302
    subject = Subject.objects.get(pk=subject.pk)
    assert (subject.status, subject.status_reason, subject.survival_follow_up) == ("withdrawn", "Moved away", True)


def test_every_control_is_labelled_and_dates_are_typed(users_a, consent, login):
    subject = consent()
    client = login(users_a["coordinator"])
    for url in ("/subjects/new/", f"/subjects/{subject.pk}/", f"/subjects/{subject.pk}/eligibility/new/"):
        body = client.get(url).content.decode()
        controls = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', body)
        radios = set(re.findall(r'<input type="radio"[^>]*\bid="([^"]+)"', body))
        for control in controls:
            if control == "language-choice" or control in radios:
                continue
            assert f'<label for="{control}"' in body, (url, control)
        for radio in radios:
            assert f'<label for="{radio}"' in body, (url, radio)
        assert 'type="date"' in body, url
    assert "<legend>" in client.get(f"/subjects/{subject.pk}/eligibility/new/").content.decode()


@pytest.mark.parametrize("role", NOT_EDITORS)
def test_roles_that_do_not_edit_get_403_on_the_entry_pages(role, users_a, consent, login):
    subject = consent()
    client = login(users_a[role])
    assert client.get("/subjects/new/").status_code == 403
    assert client.post("/subjects/new/", {"consent_version": "1", "consent_date": "2026-03-01"}).status_code == 403
    assert client.get(f"/subjects/{subject.pk}/eligibility/new/").status_code == 403
    assert client.post(f"/subjects/{subject.pk}/lifecycle/fail_screening/", {}).status_code == 403
    assert Subject.objects.count() == 1


@pytest.mark.parametrize("role", ["monitor", "data_manager"])
def test_viewers_see_the_status_but_no_action_forms(role, users_a, consent, login):
    subject = consent()
    page = _text(login(users_a[role]).get(f"/subjects/{subject.pk}/"))
    assert "<dt>Status</dt> <dd> Screening since 2026-03-01 </dd>" in page
    assert "New subject (consent)" not in login(users_a[role]).get("/subjects/").content.decode()
    assert "Next steps" not in page


@pytest.mark.parametrize("role", EDITORS + NOT_EDITORS)
def test_the_lifecycle_pages_outside_the_gate_are_404(role, users_a, site_b, protocol, login):
    from subjects.services import subject as services
    from tests.conftest import make_user

    other = services.record_consent(
        user=make_user("coordinator_b", site=site_b, role="coordinator"),
        site=site_b,
        consent_version="1.0",
        consent_date=protocol.effective_from,
    )
    client = login(users_a[role])
    assert client.get(f"/subjects/{other.pk}/eligibility/new/").status_code == 404
    assert client.post(f"/subjects/{other.pk}/lifecycle/fail_screening/", {}).status_code == 404


@pytest.mark.parametrize("role", ["statistician", "data_manager", "study_admin"])
def test_identity_values_are_absent_on_every_page_for_roles_without_access(role, users_a, at_status, login):
    subject = at_status("enrolled")
    identity(subject)
    client = login(users_a[role])
    responses = [
        client.get("/subjects/"),
        client.get("/subjects/new/"),
        client.get(f"/subjects/{subject.pk}/"),
        client.get(f"/subjects/{subject.pk}/eligibility/new/"),
        client.get(f"/subjects/{subject.pk}/identity/"),
        client.get(f"/subjects/{subject.pk}/identity/edit/"),
        client.post(f"/subjects/{subject.pk}/lifecycle/lymphodeplete/", {"lymphodeplete-on": "2026-03-10"}),
    ]
    for response in responses:
        body = response.content.decode()
        assert not any(value in body for value in IDENTITY_VALUES), response.request["PATH_INFO"]
        assert f'href="/subjects/{subject.pk}/identity/"' not in body


@pytest.mark.req("ISSUE-13")
def test_the_subject_list_pages_and_finds_by_number(consent, users_a, login, monkeypatch):
    """At 10,000 subjects the list rendered every row (2.4 MB, seconds): it pages, and finds a
    subject by subject ID or screening number."""
    from subjects import views

    for _ in range(3):
        consent()
    monkeypatch.setattr(views, "SUBJECTS_PER_PAGE", 2)
    client = login(users_a["coordinator"])
    first = _text(client.get("/subjects/"))
    assert "A-S001" in first and "A-S002" in first and "A-S003" not in first
    assert "Page 1 of 2 (3 subjects)" in first
    second = _text(client.get("/subjects/?page=2"))
    assert "A-S003" in second and "A-S001" not in second
    found = _text(client.get("/subjects/?q=s002"))
    assert "A-S002" in found and "A-S001" not in found and "A-S003" not in found
    assert "No subject matches." in _text(client.get("/subjects/?q=nobody"))
    assert client.get("/subjects/?page=banana").status_code == 200  # the first page, not a 500
