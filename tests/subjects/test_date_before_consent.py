"""Edit check DATE-BEFORE-CONSENT (issue 21): an assessment bound to a visit dated before the
subject's informed consent raises a query on its date; one not bound to a visit, and the history
forms (medical history, prior therapy, con-meds), do not."""

from __future__ import annotations

from datetime import date

import pytest

from crf.checks import checks_for
from crf.models import Query
from crf.registry import crf_models
from subjects.models import Visit
from tests.factories import demo_schedule, vital_signs

pytestmark = pytest.mark.req("ISSUE-21")


def test_registered_on_visit_forms_and_ae_but_not_on_history_forms(db):
    checked = {
        code for code, model in crf_models().items() if any(c.code == "DATE-BEFORE-CONSENT" for c in checks_for(model))
    }
    assert {"VS", "LB", "AE", "CRS", "ICANS", "MRD"} <= checked
    assert not checked & {"IC", "MH", "DH", "PT", "CM"}


def test_a_visit_bound_assessment_before_consent_raises_a_query(consent, coordinator, study):
    subject = consent()  # consented 2026-03-01
    visit = Visit.objects.create(subject=subject, definition=demo_schedule(study)[0])
    early = vital_signs(coordinator, subject, assessment_date=date(2026, 2, 27), visit=visit)
    query = Query.objects.get(object_id=early.pk, rule_code="DATE-BEFORE-CONSENT")
    assert (query.field_name, query.status) == ("assessment_date", "open")
    unbound = vital_signs(coordinator, subject, assessment_date=date(2026, 2, 26))
    on_time = vital_signs(coordinator, subject, assessment_date=date(2026, 3, 1), visit=visit)
    assert not Query.objects.filter(object_id__in=[unbound.pk, on_time.pk], rule_code="DATE-BEFORE-CONSENT").exists()
