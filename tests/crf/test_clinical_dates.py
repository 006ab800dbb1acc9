"""Clinical dates (issue 21): vital signs dated 0001-01-01 were saved without a word; a recorded
date before 1900 is refused with a field-level reason, through the page's service and the API
alike. The pure rule also knows "future"; enforcing it waits for the day-based fixtures (note)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from clinical.dates import before_consent, implausible
from labs.models import VitalSigns
from tests.factories import vital_signs

pytestmark = pytest.mark.req("ISSUE-21")


def test_pure_rule():
    today = date(2026, 12, 6)
    assert implausible(date(2026, 12, 6), today=today) is None
    assert implausible(date(2026, 12, 7), today=today) == "future"
    assert implausible(date(9999, 12, 31), today=today) == "future"
    assert implausible(date(1, 1, 1), today=today) == "before_1900"
    assert implausible(date(1900, 1, 1), today=today) is None
    assert before_consent(date(2026, 3, 1), date(2026, 3, 2)) is True
    assert before_consent(date(2026, 3, 2), date(2026, 3, 2)) is False
    assert before_consent(None, date(2026, 3, 2)) is False


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1899, 12, 31)])
def test_vital_signs_dated_before_1900_are_refused(crf_ready, users_a, day):
    with pytest.raises(ValidationError) as refused:
        vital_signs(users_a["coordinator"], crf_ready, assessment_date=day)
    assert refused.value.message_dict == {"assessment_date": ["This date is before 1900: check it."]}
    assert not VitalSigns.objects.exists()


def test_the_api_answers_400_with_the_field(crf_ready, users_a, api_token):
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(users_a['coordinator'])}")
    response = client.post(
        "/api/v1/vital-signs/",
        {"subject": crf_ready.pk, "assessment_date": "0001-01-01", "systolic_bp": 120},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["assessment_date"] == ["This date is before 1900: check it."]
    assert not VitalSigns.objects.exists()
