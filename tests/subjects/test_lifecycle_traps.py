"""Issue 24 item 2: lifecycle steps that cannot trap. Consent and status dates in the future
are refused; correcting the consent date moves "Screening since"; a status date is correctable
with a reason; enrolment and dose-level changes are confirmed naming what happens, with the
level's DLT decision and pending candidates; where CLINICAL_SPEC §3.1 asks for it, the
enrolment stays pending until an investigator of the site acknowledges it (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from adverse_events.models import DltCandidate, DoseLevelDecision
from crf.services import save
from study import system_text
from subjects.models import EnrolmentAcknowledgement, InformedConsent, Subject
from subjects.services import enrolment, visits
from subjects.services import subject as services
from tests.subjects.conftest import ASSESSED, ELIGIBLE

pytestmark = pytest.mark.req("ISSUE-24")


def test_a_consent_or_status_date_in_the_future_is_refused(consent, coordinator, site_a, screened):
    today = visits.site_today(Subject(site=site_a))
    with pytest.raises(ValidationError) as refused:
        consent(on=today + timedelta(days=30))
    assert "consent_date" in refused.value.message_dict
    subject = screened()
    with pytest.raises(ValidationError) as refused:
        services.change_status(
            user=coordinator, subject=subject, event="fail_screening", on=today + timedelta(days=1), reason="x"
        )
    assert "in the future" in refused.value.message_dict["on"][0]


def test_an_existing_wrong_consent_date_is_corrected_and_the_subject_enrols(
    consent, coordinator, site_a, schedule, login
):
    today = visits.site_today(Subject(site=site_a))
    subject = consent(on=today - timedelta(days=10))
    wrong = today + timedelta(days=25)  # stored before the future-date rule existed
    InformedConsent.objects.filter(subject=subject).update(consent_date=wrong)
    Subject.objects.filter(pk=subject.pk).update(status_date=wrong)
    form = InformedConsent.objects.get(subject=subject)
    form.consent_date = today - timedelta(days=9)
    save(user=coordinator, instance=form, expected_version=form.version, reason="typo in the month")
    subject.refresh_from_db()
    assert subject.status_date == today - timedelta(days=9)  # "Screening since" moved with it
    assert subject.events.order_by("-pgh_id").first().pgh_context["reason"] == "re-derived: consent date corrected"
    services.record_eligibility(
        user=coordinator,
        subject=subject,
        protocol_version="2.1",
        assessment_date=today - timedelta(days=8),
        criteria=ELIGIBLE,
    )
    enrolled = services.enrol(user=coordinator, subject=subject, on=today - timedelta(days=7), dose_level="DL2")
    assert enrolled.status == "enrolled"


def test_a_status_date_is_corrected_with_a_reason(enrolled, coordinator):
    subject = enrolled()
    with pytest.raises(ValidationError):
        services.correct_status_date(user=coordinator, subject=subject, on=subject.status_date, reason="")
    with pytest.raises(ValidationError) as early:
        services.correct_status_date(
            user=coordinator, subject=subject, on=ASSESSED - timedelta(days=1), reason="wrong day"
        )
    assert "eligibility" in early.value.message_dict["on"][0]
    fixed = services.correct_status_date(
        user=coordinator, subject=subject, on=subject.status_date + timedelta(days=1), reason="wrong day"
    )
    assert fixed.enrolled_on == fixed.status_date == subject.status_date + timedelta(days=1)
    assert fixed.events.order_by("-pgh_id").first().pgh_context["reason"] == "status date corrected: wrong day"


def test_enrolment_is_confirmed_naming_subject_and_level(screened, coordinator, login, schedule):
    subject = screened()
    client = login(coordinator)
    posted = {"enrol-on": "2026-03-05", "enrol-dose_level": "DL3"}
    page = client.post(f"/subjects/{subject.pk}/lifecycle/enrol/", posted)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Enrol A-001 at DL3" in html
    assert "No candidate at this level awaits adjudication." in html
    subject.refresh_from_db()
    assert subject.status == "screening"  # nothing saved before the confirmation
    done = client.post(f"/subjects/{subject.pk}/lifecycle/enrol/", {**posted, "enrol-confirmed": "on"})
    assert done.status_code == 302
    subject.refresh_from_db()
    assert (subject.status, subject.dose_level, subject.subject_id) == ("enrolled", "DL3", "A-001")


def test_no_dose_level_is_preselected(screened, coordinator, login, schedule):
    subject = screened()
    page = login(coordinator).get(f"/subjects/{subject.pk}/").content.decode()
    select = page[page.index('name="enrol-dose_level"') :].split("</select>")[0]
    assert '<option value="" selected>' in select
    refused = login(coordinator).post(f"/subjects/{subject.pk}/lifecycle/enrol/", {"enrol-on": "2026-03-05"})
    assert refused.status_code == 400


def _candidate_at(subject):
    DltCandidate.objects.create(
        subject=subject, key="crs-g4", criterion="crs", onset_day=3, description="CRS grade 4 on day 3"
    )


def test_pending_candidate_needs_the_site_investigators_acknowledgement(
    screened, enrolled, coordinator, users_a, login, schedule
):
    earlier = enrolled("DL3")
    _candidate_at(earlier)
    subject = screened()
    client = login(coordinator)
    posted = {"enrol-on": "2026-03-05", "enrol-dose_level": "DL3"}
    page = client.post(f"/subjects/{subject.pk}/lifecycle/enrol/", posted).content.decode()
    assert "candidate DLTs awaiting adjudication at DL3: 1" in page and "A-001" in page
    # the coordinator's confirmation leaves the enrolment pending
    client.post(
        f"/subjects/{subject.pk}/lifecycle/enrol/", {**posted, "enrol-confirmed": "on", "enrol-acknowledge": "on"}
    )
    subject.refresh_from_db()
    assert subject.status == "screening"
    pending = EnrolmentAcknowledgement.objects.get(subject=subject)
    assert pending.acknowledged_at is None and pending.requested_by == coordinator
    with pytest.raises(PermissionDenied):
        enrolment.acknowledge(user=coordinator, subject=subject)
    # stored as a message code (issue 25): a Chinese-reading investigator reads why in Chinese
    assert pending.why_code == "candidate DLTs awaiting adjudication at %(level)s: %(n)s"
    assert pending.why_params == {"n": 1, "level": "DL3"}
    investigator = users_a["investigator"]
    client.logout()
    investigator.language = "zh-hans"
    investigator.save(update_fields=["language"])
    page = login(investigator).get(f"/subjects/{subject.pk}/").content.decode()
    assert "DL3 待判定的候选 DLT：1 个" in page
    investigator.language = "en"
    investigator.save(update_fields=["language"])
    page = login(investigator).get(f"/subjects/{subject.pk}/").content.decode()
    assert "Acknowledge and enrol" in page
    assert login(investigator).post(f"/subjects/{subject.pk}/lifecycle/acknowledge/").status_code == 302
    subject.refresh_from_db()
    pending.refresh_from_db()
    assert (subject.status, subject.dose_level) == ("enrolled", "DL3")
    assert pending.acknowledged_by == investigator and pending.acknowledged_at is not None
    reason = pending.events.order_by("-pgh_id").first().pgh_context["reason"]
    assert reason.startswith("Enrolment acknowledged: candidate DLTs awaiting adjudication at DL3: 1")
    context = pending.events.order_by("-pgh_id").first().pgh_context
    assert context["reason_code"] == "Enrolment acknowledged: %(why)s"


def test_the_confirmation_shows_the_levels_decision_at_the_sites_time(screened, coordinator, study, login, schedule):
    """The DLT decision's last change, read through subjects.hooks.dose_level_dlt, is shown in the
    site's time zone with its zone (Asia/Shanghai: 08:00 UTC is 16:00 +08:00), not the server's."""
    DoseLevelDecision.objects.create(
        study=study, dose_level="DL3", decision="escalate", changed_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    )
    subject = screened()
    page = login(coordinator).post(
        f"/subjects/{subject.pk}/lifecycle/enrol/", {"enrol-on": "2026-03-05", "enrol-dose_level": "DL3"}
    )
    text = page.content.decode()
    assert 'data-decision="escalate"' in text
    assert "2026-03-01 16:00 +08:00" in text
    assert "08:00 UTC" not in text


def test_a_reason_stored_under_the_former_wording_still_reads_in_chinese():
    """The count now stands after a colon (one wording for 1 and for 2 in English); rows stored
    before keep the former code, which the catalogue still translates."""
    former = "%(n)s candidate DLT at %(level)s awaits adjudication"
    with translation.override("zh-hans"):
        assert system_text.render(former, {"n": 2, "level": "DL3"}) == "DL3 有 2 个候选 DLT 待判定"
        assert (
            system_text.render("candidate DLTs awaiting adjudication at %(level)s: %(n)s", {"n": 2, "level": "DL3"})
            == "DL3 待判定的候选 DLT：2 个"
        )
