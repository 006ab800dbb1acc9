"""A datetime without UTC offset is refused by every API DateTimeField (crf/api_fields.py;
DESIGN §4 "Instants are UTC", sites have a time zone): a naive "08:30" from a UTC+8 site would
otherwise be stored eight hours off. Exercised on the infusion resource's `infusion_start`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework import serializers

from crf.api import crf_resources, serializer_for
from crf.api_fields import AwareDateTimeField
from subjects.models import Infusion
from tests.api.conftest import example_for, send, token_client

pytestmark = pytest.mark.req("ISSUE-6")


def _post_infusion(subject_at, coordinator, site_a, infusion_start):  # type: ignore[no-untyped-def]
    example = example_for("infusions")
    subject = subject_at(example.status, user=coordinator, site=site_a)
    client = token_client(coordinator)
    payload = {**example.payload_for(subject, coordinator), "infusion_start": infusion_start}
    return subject, send(client, "POST", "/api/v1/infusions/", payload)


def test_naive_infusion_start_is_a_400_on_the_field_and_nothing_saved(subject_at, coordinator, site_a):
    subject, response = _post_infusion(subject_at, coordinator, site_a, "2026-03-15T08:30:00")
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert list(body) == ["infusion_start"]
    assert "UTC offset" in str(body["infusion_start"])
    assert not Infusion.objects.filter(subject=subject).exists()


def test_infusion_start_with_offset_is_stored_in_utc(subject_at, coordinator, site_a):
    subject, response = _post_infusion(subject_at, coordinator, site_a, "2026-03-15T08:30:00+08:00")
    assert response.status_code == 201, response.content[:500]
    stored = Infusion.objects.get(subject=subject)
    assert stored.infusion_start == datetime(2026, 3, 15, 0, 30, tzinfo=UTC)


def test_every_form_datetime_field_refuses_naive_times():
    """All generic CRF resources map model DateTimeFields to the aware field."""
    checked = 0
    for model in crf_resources().values():
        for name, field in serializer_for(model)().fields.items():
            if isinstance(field, serializers.DateTimeField) and not field.read_only:
                assert isinstance(field, AwareDateTimeField), (model.__name__, name)
                checked += 1
    assert checked >= 2  # at least the infusion start and the SAE awareness time
