"""An AE with onset before the subject's informed consent raises the PROC-BEFORE-CONSENT query
(issue 21), visit or not."""

from __future__ import annotations

from datetime import date

import pytest

from crf.models import Query
from tests.adverse_events.test_adverse_events import record_ae

pytestmark = pytest.mark.req("ISSUE-21")


def test_ae_onset_before_consent_raises_a_query(infused, coordinator):
    subject = infused()
    from subjects.models import InformedConsent

    consented = InformedConsent.objects.filter(subject=subject).order_by("consent_date").first().consent_date
    ae = record_ae(
        coordinator, subject, ctcae_term="Hypertension", grade=2, onset_date=date.fromordinal(consented.toordinal() - 3)
    )
    query = Query.objects.get(object_id=ae.pk, rule_code="PROC-BEFORE-CONSENT")
    assert query.field_name == "onset_date"
