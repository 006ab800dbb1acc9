"""A lab result's laboratory through the API (issue 27 item 1): the result is judged by the range
of its laboratory in force on its collection date; a laboratory of another site is a 400 with
the field named, and nothing is saved."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from labs.models import Laboratory, LabResult, ReferenceRange
from tests.api.conftest import send, token_client

pytestmark = pytest.mark.req("ISSUE-27")


@pytest.fixture
def setup(subject_at, coordinator, site_a, site_b):
    subject = subject_at("infused", user=coordinator, site=site_a)
    own = Laboratory.objects.create(site=site_a, code="CL", name="Central lab", name_zh="中心实验室")
    other = Laboratory.objects.create(site=site_b, code="BL", name="Site B lab", name_zh="乙中心实验室")
    ReferenceRange.objects.create(
        site=site_a, laboratory=own, analyte="PLT", unit="10^9/L", lln=Decimal("100"), uln=Decimal("350")
    )
    ReferenceRange.objects.create(
        site=site_a,
        laboratory=own,
        analyte="PLT",
        unit="10^9/L",
        lln=Decimal("125"),
        uln=Decimal("350"),
        effective_from=date(2026, 3, 10),
    )
    return subject, own, other, token_client(coordinator)


def _body(subject, lab, on: str) -> dict:
    return {
        "subject": subject.pk,
        "collected_on": on,
        "collected_time": "08:00",
        "panel": "CBC",
        "analyte": "PLT",
        "value": "110",
        "unit": "10^9/L",
        "laboratory": lab.pk,
    }


def test_the_range_in_force_for_the_laboratory_judges_the_result(setup):
    subject, own, _other, client = setup
    before = send(client, "POST", "/api/v1/lab-results/", _body(subject, own, "2026-03-09"))
    after = send(client, "POST", "/api/v1/lab-results/", _body(subject, own, "2026-03-10"))
    assert before.status_code == after.status_code == 201, (before.content[:300], after.content[:300])
    assert (before.json()["flag"], before.json()["ctcae_grade"], before.json()["laboratory"]) == ("N", 0, own.pk)
    assert (after.json()["flag"], after.json()["ctcae_grade"]) == ("L", 1)


def test_a_laboratory_of_another_site_is_a_400(setup):
    subject, _own, other, client = setup
    answer = send(client, "POST", "/api/v1/lab-results/", _body(subject, other, "2026-03-09"))
    assert answer.status_code == 400
    assert "laboratory" in answer.json()
    assert not LabResult.objects.filter(subject=subject).exists()
