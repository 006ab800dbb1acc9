"""Issue 24 §6: the consent form of a subject not yet enrolled is titled and linked with its
screening number (it read "Informed consent · ·" and "← Subject" with no ID)."""

from __future__ import annotations

import re

import pytest

from subjects.models import InformedConsent

pytestmark = pytest.mark.req("ISSUE-24")


def test_consent_form_before_enrolment_names_the_subject(screened, coordinator, login):
    subject = screened()
    assert not subject.subject_id and subject.screening_number
    form = InformedConsent.objects.get(subject=subject)
    html = login(coordinator).get(f"/subjects/{subject.pk}/forms/IC/{form.pk}/").content.decode()
    title = " ".join(re.search(r"<title>(.*?)</title>", html, re.S).group(1).split())
    assert title == f"Informed consent · {subject.screening_number} · TrialSite"
    assert f"← Subject {subject.screening_number}</a>" in html
