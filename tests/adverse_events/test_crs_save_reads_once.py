"""A CRS save locks the subject first and reads its stored assessments once, under the lock, for
both the saved assessment's grade and the course after the save (issue 22, ninth pass: they were
read twice, the first time without the lock). What it stores must be what the full course
re-derivation (`rederive_crs_course`, which reads everything itself) gives: over a varied series
of saves — new and corrected assessments, days with and without a time, fever masked by
tocilizumab, episodes opening, merging and closing — that re-derivation finds nothing to write."""

from __future__ import annotations

import random
from datetime import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adverse_events.models import AdverseEvent, CrsAssessment, CrsEpisode
from adverse_events.services import ae_crs_icans as services
from crf.services import save
from subjects.models import ConcomitantMedication
from tests.adverse_events.conftest import day
from tests.adverse_events.test_write_path import with_assessments

pytestmark = pytest.mark.req("ISSUE-22")


def stored_state(subject) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Every assessment's derived values and version, the episodes and their AEs."""
    assessments = list(
        CrsAssessment.objects.filter(subject=subject)
        .order_by("pk")
        .values_list(
            "pk",
            "version",
            "grade",
            "fever",
            "fever_masked",
            "hypotension_grade",
            "hypoxia_grade",
            "flags",
            "criteria",
            "study_day",
            "settings_version",
        )
    )
    episodes = list(
        CrsEpisode.objects.filter(subject=subject)
        .order_by("number")
        .values_list("number", "version", "onset_date", "last_date", "derived_grade", "resolved_date", "superseded")
    )
    aes = list(
        AdverseEvent.objects.filter(subject=subject, crs_episode__isnull=False)
        .order_by("pk")
        .values_list("pk", "version", "grade", "onset_date", "resolution_date", "outcome", "entered_in_error")
    )
    return assessments, episodes, aes


def a_crs(subject, rng: random.Random) -> CrsAssessment:
    device = rng.choice(["room_air", "room_air", "nasal_cannula"])
    return CrsAssessment(
        subject=subject,
        assessment_date=day(rng.randint(1, 14)),
        assessment_time=rng.choice([None, time(rng.randint(0, 23), 0)]),
        tmax_c=Decimal(rng.choice(["36.8", "37.4", "38.2", "38.9", "39.6"])),
        oxygen_device=device,
        oxygen_flow_l_min=Decimal("3.0") if device == "nasal_cannula" else None,
        hypoxia_attributable_to_crs=True if device == "nasal_cannula" else None,
    )


@pytest.mark.parametrize("seed", [5, 6])
def test_every_crs_save_leaves_what_the_full_course_re_derivation_gives(infused, coordinator, seed):
    subject = infused()
    rng = random.Random(seed)
    with_assessments(subject, coordinator, 6)
    ConcomitantMedication.objects.create(
        subject=subject,
        medication_name="Actemra",
        dose=Decimal("8"),
        dose_unit="mg/kg",
        route="iv",
        start_date=day(4),
        stop_date=day(4),
        indication="CRS",
        category="tocilizumab",
        created_by=coordinator,
        updated_by=coordinator,
        created_at=subject.created_at,
        updated_at=subject.created_at,
    )
    services.rederive_crs_course(user=coordinator, subject=subject, reason="re-derived: test set-up")
    for _ in range(14):
        stored = list(CrsAssessment.objects.filter(subject=subject))
        if rng.random() < 0.35:  # a correction of a stored assessment
            instance = rng.choice(stored)
            fresh = a_crs(subject, rng)
            instance.assessment_date, instance.tmax_c = fresh.assessment_date, fresh.tmax_c
            saved = save(user=coordinator, instance=instance, expected_version=instance.version, reason="corrected")
        else:
            saved = save(user=coordinator, instance=a_crs(subject, rng), expected_version=None)
        after_save = stored_state(subject)
        assert (saved.version, saved.grade) == CrsAssessment.objects.filter(pk=saved.pk).values_list(
            "version", "grade"
        ).get()
        services.rederive_crs_course(user=coordinator, subject=subject, reason="re-derived: check")
        assert stored_state(subject) == after_save
    grades = {grade for _pk, _v, grade, *_rest in stored_state(subject)[0]}
    assert len(grades) >= 2  # varied: graded 0 and above
    assert any(masked for *_start, masked, _h, _o, _f, _c, _d, _s in stored_state(subject)[0])


def test_a_crs_save_reads_the_subjects_assessments_once(infused, coordinator):
    subject = infused()
    with_assessments(subject, coordinator, 9)
    new = CrsAssessment(subject=subject, assessment_date=day(5), tmax_c=Decimal("38.6"), oxygen_device="room_air")
    with CaptureQueriesContext(connection) as ctx:
        saved = save(user=coordinator, instance=new, expected_version=None)
    assert saved.grade == 1
    table = 'FROM "adverse_events_crsassessment"'
    reads = [
        q["sql"]
        for q in ctx.captured_queries
        if table in q["sql"] and "subject_id" in q["sql"].split(table)[1] and "UNION ALL" not in q["sql"]
    ]  # (the visits' state reads the forms near the saved one's visit in a UNION ALL of every type)
    assert len(reads) == 1, reads
    # and the subject is locked before the assessment is written
    sql = [q["sql"] for q in ctx.captured_queries]
    lock = next(i for i, s in enumerate(sql) if 'FROM "subjects_subject"' in s and "FOR UPDATE" in s)
    insert = next(i for i, s in enumerate(sql) if 'INSERT INTO "adverse_events_crsassessment"' in s)
    assert lock < insert
