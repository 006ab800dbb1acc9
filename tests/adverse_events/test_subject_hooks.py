"""subjects/'s declared hooks (issue 23; DESIGN §3), implemented by adverse_events: the enrolment
page reads the DLT monitor's view of a dose level (CLINICAL_SPEC §3.1) and the casebook the
derived ICAHT (§4.1) through them, so subjects/ never imports the safety app. A hook left
unregistered fails the start-up check (tests/study/test_hooks.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import translation

from adverse_events import day0
from adverse_events.models import DltCandidate, DoseLevelDecision, IcahtDerivation
from adverse_events.services import dlt as dlt_services
from adverse_events.services import icaht as icaht_services
from subjects import hooks as subject_hooks
from subjects.hooks import AwaitingCandidate, DoseLevelDlt
from subjects.models import Subject
from subjects.services import enrolment

pytestmark = pytest.mark.req("ISSUE-23")


def test_adverse_events_registers_every_hook_of_subjects():
    assert [(h.name, h.implementation) for h in subject_hooks.HOOKS] == [
        ("day0_moved", day0.rederive_from_day0),
        ("dose_level_dlt", dlt_services.dose_level_dlt),
        ("icaht_of", icaht_services.icaht_of),
    ]
    assert subject_hooks.system_check() == []


def _candidate(subject, key, **extra):
    return DltCandidate.objects.create(
        subject=subject, key=key, criterion="crs", onset_day=3, description="CRS grade 4 on day 3", **extra
    )


def test_the_dose_level_as_the_enrolment_page_reads_it(study, subject_a, subject_b, users_a):
    Subject.objects.filter(pk__in=[subject_a.pk, subject_b.pk]).update(dose_level="DL3")
    other_level = Subject.objects.create(site=subject_a.site, subject_id="A-002", dose_level="DL2")
    changed = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    DoseLevelDecision.objects.create(study=study, dose_level="DL3", decision="above_mtd", changed_at=changed)
    _candidate(subject_b, "crs-g4")
    _candidate(subject_a, "crs-g4")
    _candidate(subject_a, "icans-g4", withdrawn=True)  # no longer flagged after a correction
    _candidate(subject_a, "other", status="rejected")
    _candidate(other_level, "crs-g4")

    with translation.override("en"):
        found = subject_hooks.dose_level_dlt(study=study, dose_level="DL3")
    criterion = "CRS grade 4, or grade 3 on ≥ 4 consecutive days"
    assert found == DoseLevelDlt(
        decision="above_mtd",
        decision_changed_at=changed,
        awaiting=(
            AwaitingCandidate(subject_pk=subject_b.pk, subject_id="B-001", criterion=criterion, onset_day=3),
            AwaitingCandidate(subject_pk=subject_a.pk, subject_id="A-001", criterion=criterion, onset_day=3),
        ),
    )
    assert subject_hooks.dose_level_dlt(study=study, dose_level="DL1") == DoseLevelDlt()

    # the enrolment page of a site-A coordinator: site B's subject is not named (DESIGN §4a)
    new = Subject.objects.create(site=subject_a.site, subject_id="A-003")
    with translation.override("en"):
        safety = enrolment.level_safety(user=users_a["coordinator"], subject=new, dose_level="DL3")
    assert (safety.decision, safety.decision_label, safety.decision_changed_at) == (
        "above_mtd",
        "above the MTD",
        changed,
    )
    assert safety.awaiting == [("another site", criterion, 3), ("A-001", criterion, 3)]
    assert [str(need) for need in safety.needs] == [
        "the decision at DL3 is “above the MTD”",
        "candidate DLTs awaiting adjudication at DL3: 2",
    ]


def test_the_casebook_reads_the_subjects_icaht(subject_a, subject_b):
    assert subject_hooks.icaht_of(subject=subject_a) is None
    derived = IcahtDerivation.objects.create(
        subject=subject_a, early_grade=2, criteria="ehaebmt-2024", derived_at=datetime(2026, 3, 20, tzinfo=UTC)
    )
    assert subject_hooks.icaht_of(subject=subject_a) == derived
    assert subject_hooks.icaht_of(subject=subject_b) is None
