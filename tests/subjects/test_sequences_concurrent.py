"""Screening numbers and subject IDs under concurrency (issue 4 item 2): two enrolments (and
two consents) at the same site at the same moment, on two database connections, get two
different consecutive numbers from the per-site sequence row — never the same one."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from subjects.models import SiteSequence, Subject
from subjects.services import subject as services
from tests.factories import protocol_v1
from tests.subjects.conftest import ASSESSED, CONSENTED, ELIGIBLE, ENROLLED

pytestmark = pytest.mark.req("ISSUE-4")


def _run_together(*targets) -> list[BaseException]:
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target) -> None:
        try:
            barrier.wait(timeout=10)
            target()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return errors


def test_two_simultaneous_enrolments_get_two_subject_ids(transactional_db, study, site_a, users_a):
    protocol_v1(study)
    coordinator, investigator = users_a["coordinator"], users_a["investigator"]
    subjects = []
    for _ in range(2):
        subject = services.record_consent(user=coordinator, site=site_a, consent_version="1.0", consent_date=CONSENTED)
        services.record_eligibility(
            user=coordinator, subject=subject, protocol_version="2.1", assessment_date=ASSESSED, criteria=ELIGIBLE
        )
        subjects.append(subject)

    errors = _run_together(
        lambda: services.enrol(user=coordinator, subject=subjects[0], on=ENROLLED, dose_level="DL1"),
        lambda: services.enrol(user=investigator, subject=subjects[1], on=ENROLLED, dose_level="DL1"),
    )
    assert errors == []
    ids = sorted(Subject.objects.filter(pk__in=[s.pk for s in subjects]).values_list("subject_id", flat=True))
    assert ids == ["A-001", "A-002"]
    assert SiteSequence.objects.get(site=site_a, kind="subject").last_value == 2


def test_two_simultaneous_consents_get_two_screening_numbers(transactional_db, study, site_a, users_a):
    protocol_v1(study)

    def consent(user):
        return lambda: services.record_consent(user=user, site=site_a, consent_version="1.0", consent_date=CONSENTED)

    errors = _run_together(consent(users_a["coordinator"]), consent(users_a["investigator"]))
    assert errors == []
    assert sorted(Subject.objects.values_list("screening_number", flat=True)) == ["A-S001", "A-S002"]
    assert SiteSequence.objects.get(site=site_a, kind="screening").last_value == 2
