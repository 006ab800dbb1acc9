"""PROC-BEFORE-CONSENT on every visit-bound form (issue 21): an assessment bound to a visit dated
before the subject's informed consent raises the query on its date (here a lab result, which had
no such check); one not bound to a visit, and the history forms, do not."""

from __future__ import annotations

from datetime import date

import pytest

from crf.checks import checks_for
from crf.models import Query
from crf.registry import crf_models
from subjects.models import Visit
from tests.factories import demo_schedule

pytestmark = pytest.mark.req("ISSUE-21")


def test_one_rule_per_form_and_none_on_history_forms(db):
    checked = {
        code
        for code, model in crf_models().items()
        if [c.code for c in checks_for(model)].count("PROC-BEFORE-CONSENT") == 1
    }
    assert {"VS", "LB", "AE", "CRS", "ICANS", "MRD", "DM", "INF"} <= checked
    assert not checked & {"IC", "MH", "DH", "PT", "CM"}
    assert all([c.code for c in checks_for(m)].count("PROC-BEFORE-CONSENT") <= 1 for m in crf_models().values())


def test_a_visit_bound_lab_result_before_consent_raises_a_query(consent, coordinator, study):
    from labs.models import LabResult
    from tests.labs.test_lab_results import result as record_lab

    subject = consent()  # consented 2026-03-01
    visit = Visit.objects.create(subject=subject, definition=demo_schedule(study)[0])
    early = record_lab(coordinator, subject, collected_on=date(2026, 2, 27), visit=visit)
    query = Query.objects.get(object_id=early.pk, rule_code="PROC-BEFORE-CONSENT")
    assert query.field_name == "collected_on"
    unbound = record_lab(coordinator, subject, collected_on=date(2026, 2, 26))
    assert not Query.objects.filter(object_id=unbound.pk, rule_code="PROC-BEFORE-CONSENT").exists()
    assert LabResult.objects.count() == 2
