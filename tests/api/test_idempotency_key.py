"""`Idempotency-Key` on creates (issue 32 §1): a client whose POST answer was lost retries with
the same key and gets the first answer — one record, one audit insert — never a second save."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from crf.idempotency import purge_expired
from crf.models import IdempotentRequest
from labs.models import VitalSigns
from tests.api.conftest import send, token_client

pytestmark = pytest.mark.req("ISSUE-32")

BODY = {"assessment_date": "2026-03-12", "temperature_c": "37.0", "systolic_bp": 120, "heart_rate": 80}


@pytest.fixture
def vs_client(subject_at, coordinator, site_a):
    subject = subject_at("lymphodepleted", user=coordinator, site=site_a)
    return token_client(coordinator), subject


def post(client, subject, key, **changes):
    body = {"subject": subject.pk, **BODY, **changes}
    headers = {"Idempotency-Key": key} if key is not None else {}
    return send(client, "POST", "/api/v1/vital-signs/", body, **headers)


def insert_events(pk: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM labs_vitalsignsevent WHERE pgh_obj_id = %s AND pgh_label = 'insert'", [pk])
        return cursor.fetchone()[0]


def test_a_retry_with_the_same_key_replays_the_first_answer(vs_client):
    client, subject = vs_client
    first = post(client, subject, "7d1f1c2e-retry-1")
    again = post(client, subject, "7d1f1c2e-retry-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"]
    assert again["Idempotent-Replayed"] == "true"
    assert VitalSigns.objects.filter(subject=subject).count() == 1
    assert insert_events(first.json()["id"]) == 1


def test_without_a_key_each_post_saves(vs_client):
    client, subject = vs_client
    assert post(client, subject, None).status_code == 201
    assert post(client, subject, None, assessment_time="09:00").status_code == 201
    assert VitalSigns.objects.filter(subject=subject).count() == 2


def test_a_key_reused_for_another_request_is_refused(vs_client):
    client, subject = vs_client
    assert post(client, subject, "k-1").status_code == 201
    other = post(client, subject, "k-1", systolic_bp=99)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()
    assert VitalSigns.objects.filter(subject=subject).count() == 1


def test_keys_are_per_user_and_malformed_keys_are_a_400(vs_client, users_a, subject_at, site_a):
    client, subject = vs_client
    assert post(client, subject, "shared-key").status_code == 201
    investigator = token_client(users_a["investigator"])
    assert post(investigator, subject, "shared-key", assessment_time="10:00").status_code == 201
    bad = post(client, subject, "has space")
    assert bad.status_code == 400
    assert list(bad.json()) == ["Idempotency-Key"]
    assert post(client, subject, "x" * 101).status_code == 400
    assert VitalSigns.objects.filter(subject=subject).count() == 2


def test_a_refused_request_keeps_no_key(vs_client):
    """A 400 rolls the request back, key included: the corrected retry with the same key saves."""
    client, subject = vs_client
    refused = post(client, subject, "k-refused", temperature_c="50.0")
    assert refused.status_code == 400
    assert not IdempotentRequest.objects.filter(key="k-refused").exists()
    assert post(client, subject, "k-refused").status_code == 201


def test_keys_live_a_day(vs_client):
    client, subject = vs_client
    first = post(client, subject, "k-day")
    IdempotentRequest.objects.filter(key="k-day").update(created_at=timezone.now() - timedelta(days=1, seconds=1))
    again = post(client, subject, "k-day", assessment_time="11:00")
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert purge_expired() == 1
    assert not IdempotentRequest.objects.exists()


def test_concurrent_retries_save_once(transactional_db, subject_at, users_a, site_a):
    """Two requests with one key at the same moment: the second waits on the key until the first
    commits, then replays its answer."""
    coordinator = users_a["coordinator"]
    subject = subject_at("lymphodepleted", user=coordinator, site=site_a)
    barrier = threading.Barrier(2)
    answers = []

    def worker():
        client = token_client(coordinator)
        barrier.wait()
        try:
            answers.append(post(client, subject, "k-race"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert VitalSigns.objects.filter(subject=subject).count() == 1
