"""The "procedure before consent" edit check (issue 4 item 2): a protocol procedure (vital
signs, the first one) dated before the subject's first consent raises an automatic query and is
saved all the same; a form flagged as history / standard of care is exempt; a subject without
a consent record raises nothing."""

from __future__ import annotations

from datetime import date

import pytest

from crf.models import Query
from labs.models import VitalSigns
from labs.services import record_vital_signs
from subjects.services import subject as services
from tests.subjects.conftest import CONSENTED

pytestmark = pytest.mark.req("ISSUE-4")

MESSAGE = (
    "Procedure before consent: this protocol procedure is dated before the subject's informed consent. "
    "Check the date, or mark the form as history / standard of care."
)


def _vs(user, subject, **values) -> VitalSigns:
    fields = {"assessment_date": date(2026, 2, 27), "systolic_bp": 120, "diastolic_bp": 80, **values}
    return record_vital_signs(user=user, vital_signs=VitalSigns(subject=subject, **fields))


def _queries():
    return list(
        Query.objects.filter(rule_code="PROC-BEFORE-CONSENT").values_list("field_name", "status", "value", "text")
    )


def test_a_procedure_before_consent_raises_the_query_and_is_saved(consent, coordinator):
    subject = consent()
    form = _vs(coordinator, subject)
    assert VitalSigns.objects.filter(pk=form.pk).exists()
    assert _queries() == [("assessment_date", "open", "2026-02-27", MESSAGE)]


def test_a_procedure_on_the_consent_date_raises_nothing(consent, coordinator):
    _vs(coordinator, consent(), assessment_date=CONSENTED)
    assert _queries() == []


def test_history_or_standard_of_care_results_are_exempt(consent, coordinator):
    _vs(coordinator, consent(), standard_of_care=True)
    assert _queries() == []


def test_correcting_the_date_closes_the_query(consent, coordinator):
    form = _vs(coordinator, consent())
    form.assessment_date = date(2026, 3, 2)
    record_vital_signs(user=coordinator, vital_signs=form, expected_version=form.version)
    assert _queries() == [("assessment_date", "closed", "2026-02-27", MESSAGE)]


def test_flagging_the_form_as_standard_of_care_closes_the_query(consent, coordinator):
    form = _vs(coordinator, consent())
    form.standard_of_care = True
    record_vital_signs(user=coordinator, vital_signs=form, expected_version=form.version)
    assert [q[1] for q in _queries()] == ["closed"]


def test_the_first_consent_counts_not_a_later_reconsent(consent, coordinator):
    subject = consent()
    services.record_reconsent(user=coordinator, subject=subject, consent_version="2.0", consent_date=date(2026, 4, 1))
    _vs(coordinator, subject, assessment_date=date(2026, 3, 15))
    assert _queries() == []


def test_a_subject_without_consent_raises_nothing(subject_a, protocol, coordinator):
    _vs(coordinator, subject_a, assessment_date=date(2020, 1, 2))
    assert _queries() == []
