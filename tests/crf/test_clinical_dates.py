"""Clinical dates (issue 21): vital signs dated 0001-01-01, 9999-12-31 or next year were saved
without a word; a recorded date in the future (at the site) or before 1900 is refused with a
field-level reason, through the page's service and the API alike."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

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


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (date(1, 1, 1), "This date is before 1900: check it."),
        (date(9999, 12, 31), "This date is in the future."),
        (None, "This date is in the future."),  # next year
    ],
)
def test_vital_signs_with_an_impossible_date_are_refused(crf_ready, users_a, day, message):
    day = day or timezone.localdate() + timedelta(days=366)
    with pytest.raises(ValidationError) as refused:
        vital_signs(users_a["coordinator"], crf_ready, assessment_date=day)
    assert refused.value.message_dict == {"assessment_date": [message]}
    assert not VitalSigns.objects.exists()


def test_the_api_answers_400_with_the_field(crf_ready, users_a, api_token):
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(users_a['coordinator'])}")
    response = client.post(
        "/api/v1/vital-signs/",
        {"subject": crf_ready.pk, "assessment_date": "9999-12-31", "systolic_bp": 120},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["assessment_date"] == ["This date is in the future."]
    assert not VitalSigns.objects.exists()
