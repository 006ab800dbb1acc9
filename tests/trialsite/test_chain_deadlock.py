"""Two requests writing two audited tables in opposite orders (issue 21, item "deadlock risk").

Every history insert takes its table's audit-chain advisory lock and holds it to the end of the
request transaction (`crf.auditchain`). Request 1 writes vital signs (chain lock of
`labs_vitalsignsevent`) then an identity record (`subjects_identityrecordevent`); request 2
writes an identity record then vital signs. A barrier makes both hold their first lock before
either asks for its second: a real lock cycle on PostgreSQL, two threads, two connections.

Without `trialsite.dbretry.DeadlockRetryMiddleware`, PostgreSQL aborts one of them (SQLSTATE
40P01) and that save fails. With it (the installed middleware), the victim's whole request
transaction runs again and both requests succeed; the chains stay intact.
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from crf import auditchain
from labs.models import VitalSigns
from labs.services import record_vital_signs
from study.models import User
from subjects.models import IdentityRecord, Subject
from tests.factories import protocol_v1
from trialsite import dbretry

pytestmark = pytest.mark.req("ISSUE-21")

_barrier: threading.Barrier
_attempts: dict[str, int] = {}
_lock = threading.Lock()


def _vital_signs(subject: Subject) -> None:
    user = User.objects.get(username="coordinator_a")
    record_vital_signs(
        user=user,
        vital_signs=VitalSigns(
            subject=subject, assessment_date=date(2026, 3, 2), temperature_c=Decimal("37.0"), systolic_bp=120
        ),
    )


def _identity(subject: Subject) -> None:
    IdentityRecord.objects.create(
        subject=subject, full_name="张三", date_of_birth=date(1990, 5, 1), hospital_number="H001", phone="13800000000"
    )


def write_two_tables(request: HttpRequest, first: str) -> HttpResponse:
    """Request 1 (`first=vitals`): vital signs, then identity; request 2 the other way round.
    Only the first attempt waits at the barrier (a retry runs on its own)."""
    subject = Subject.objects.get(subject_id="A-001" if first == "vitals" else "A-002")
    with _lock:
        _attempts[first] = _attempts.get(first, 0) + 1
        attempt = _attempts[first]
    steps = [_vital_signs, _identity] if first == "vitals" else [_identity, _vital_signs]
    steps[0](subject)
    if attempt == 1:
        _barrier.wait()
    steps[1](subject)
    return HttpResponse("saved")


urlpatterns = [path("write-two/<str:first>/", write_two_tables)]
handler500 = "trialsite.errors.server_error"  # as trialsite.urls


@pytest.fixture
def two_subjects(transactional_db, settings, study, site_a, users_a):
    global _barrier
    settings.ROOT_URLCONF = __name__
    _barrier = threading.Barrier(2, timeout=60)
    _attempts.clear()
    protocol_v1(study)
    return [Subject.objects.create(site=site_a, subject_id=f"A-00{n}") for n in (1, 2)]


def _both_at_once() -> dict[str, int]:
    """POST both requests from two threads (each its own connection): their status codes. (The
    test client would re-raise a view's exception in every client listening at that moment, so
    the exceptions are read from the `django.request` log instead.)"""
    outcome: dict[str, int] = {}

    def run(first: str) -> None:
        try:
            outcome[first] = Client(raise_request_exception=False).post(f"/write-two/{first}/").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(first,)) for first in ("vitals", "identity")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcome


def test_without_the_retry_one_of_two_crossed_requests_is_a_deadlock_victim(settings, two_subjects, caplog):
    """What happened before the retry: one request fails with SQLSTATE 40P01 (answered as the
    database being unavailable, 503) and saves nothing."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "trialsite.dbretry.DeadlockRetryMiddleware"]
    outcome = _both_at_once()
    assert sorted(outcome.values()) == [200, 503], outcome
    victim = next(first for first, status in outcome.items() if status == 503)
    errors = [r.exc_info[1] for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert [dbretry.sqlstate(error) for error in errors] == ["40P01"]
    victim_subject = "A-001" if victim == "vitals" else "A-002"
    assert not VitalSigns.objects.filter(subject__subject_id=victim_subject).exists()
    assert not IdentityRecord.objects.filter(subject__subject_id=victim_subject).exists()
    assert _attempts == {"vitals": 1, "identity": 1}


def test_with_the_retry_both_crossed_requests_succeed(two_subjects, caplog):
    caplog.set_level(logging.WARNING, logger="trialsite.dbretry")
    outcome = _both_at_once()
    assert outcome == {"vitals": 200, "identity": 200}
    assert sorted(_attempts.values()) == [1, 2]  # the victim ran twice, the other once
    retried = [r.getMessage() for r in caplog.records if r.name == "trialsite.dbretry"]
    assert len(retried) == 1
    assert "(SQLSTATE 40P01), attempt 1 of 3; running it again" in retried[0]
    for subject_id in ("A-001", "A-002"):
        assert VitalSigns.objects.filter(subject__subject_id=subject_id).count() == 1
        assert IdentityRecord.objects.filter(subject__subject_id=subject_id).count() == 1
    result = auditchain.verify(tables=["labs_vitalsignsevent", "subjects_identityrecordevent"], record=False)
    assert result.ok, result.breaks
