"""The synthetic study generator (issue 13 item 4): realistic per-subject volumes, rows that pass
the forms' own validation, derived values equal to what the save path derives (CLINICAL_SPEC §1,
§2, §5 through `clinical/`), audit history rows from the database triggers, a dump cache that
is reused, and the same data for the same seed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from adverse_events.models import (
    AdverseEvent,
    CrsAssessment,
    CrsAssessmentEvent,
    CrsEpisode,
    IcansAssessment,
    IcansEpisode,
)
from adverse_events.rules import crs_input
from clinical.crs import crs_course, grade_crs_assessment
from crf import derivations
from endpoints import snapshot
from labs.models import LabResult, LabResultEvent
from response.models import MarrowAssessment, MrdTest, Relapse
from subjects.models import (
    EligibilityAssessment,
    InformedConsent,
    Infusion,
    Lymphodepletion,
    Subject,
    SubjectEvent,
    Visit,
)
from survival.models import Death, FollowUpContact, SubsequentTherapy

pytestmark = [pytest.mark.req("ISSUE-13")]

FORMS = (
    InformedConsent,
    EligibilityAssessment,
    Lymphodepletion,
    Infusion,
    CrsAssessment,
    IcansAssessment,
    AdverseEvent,
    LabResult,
    MarrowAssessment,
    MrdTest,
    Relapse,
    FollowUpContact,
    SubsequentTherapy,
    Death,
)
COUNTED = (Subject, Visit, CrsEpisode, IcansEpisode, *FORMS)


def generate(tmp_path, *extra: str, subjects: int = 5, seed: int = 7) -> str:
    out = StringIO()
    call_command(
        "generate_synthetic_study",
        f"--subjects={subjects}",
        f"--seed={seed}",
        f"--cache-dir={tmp_path}",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def per_subject(model) -> Counter[int]:
    return Counter(model.objects.values_list("subject_id", flat=True))


def fingerprint() -> list[tuple]:
    """The clinical content, without keys or timestamps."""
    return [
        *Subject.objects.order_by("screening_number").values_list(
            "screening_number", "subject_id", "status", "status_date", "dose_level", "infusion_date"
        ),
        *CrsAssessment.objects.order_by("subject__screening_number", "assessment_date").values_list(
            "subject__screening_number", "assessment_date", "tmax_c", "grade"
        ),
        *LabResult.objects.order_by("subject__screening_number", "collected_on", "panel", "analyte").values_list(
            "subject__screening_number", "collected_on", "analyte", "value", "flag"
        ),
        *MarrowAssessment.objects.order_by("subject__screening_number", "assessment_date").values_list(
            "subject__screening_number", "assessment_date", "marrow_blasts_pct", "response_label"
        ),
    ]


def test_volumes_validation_and_derived_values(transactional_db, tmp_path):
    generate(tmp_path, subjects=5)
    infused = list(Subject.objects.filter(infusion_date__isnull=False))
    assert Subject.objects.count() == 5
    assert len(infused) >= 3
    assessments = per_subject(CrsAssessment) + per_subject(IcansAssessment)
    collections = Counter(s for s, _p, _d in set(LabResult.objects.values_list("subject_id", "panel", "collected_on")))
    aes, marrows, contacts = per_subject(AdverseEvent), per_subject(MarrowAssessment), per_subject(FollowUpContact)
    for subject in infused:
        followed = (
            min(timezone.localdate(), subject.status_date if subject.status == "died" else timezone.localdate())
            - subject.infusion_date
        ).days
        assert followed >= 28  # five subjects consented over three years: each past day 28
        assert 26 <= assessments[subject.pk] <= 30, assessments[subject.pk]
        assert 40 <= collections[subject.pk] <= 60, collections[subject.pk]
        assert 5 <= aes[subject.pk] <= 17, aes[subject.pk]
        assert 2 <= marrows[subject.pk] <= 7, marrows[subject.pk]
        assert contacts[subject.pk] <= 8
        assert Lymphodepletion.objects.filter(subject=subject).count() == 1
        assert Infusion.objects.filter(subject=subject).count() == 1
        assert Visit.objects.filter(subject=subject).count() == 26  # the demo schedule's time points
    # a blood count collection is one row per analyte (labs.models.LabResult)
    collection = LabResult.objects.filter(panel="CBC").values("subject_id", "collected_on").first()
    assert sorted(LabResult.objects.filter(panel="CBC", **collection).values_list("analyte", flat=True)) == [
        "ALC",
        "ANC",
        "HGB",
        "PLT",
        "WBC",
    ]

    for model in FORMS:
        rows = list(model.objects.select_related("subject__site").order_by("pk")[:60])
        for row in rows:
            row.full_clean(exclude=["created_by", "updated_by"])  # the save path's validation
            # what crf.services.save_form would derive from the stored inputs now: nothing changes
            assert derivations.derive(row) == {}, (model.__name__, row.pk)

    for subject in infused:
        forms = list(CrsAssessment.objects.filter(subject=subject))
        for form in forms:  # no masking medication in synthetic data: fever_masked is False
            assert form.grade == grade_crs_assessment(crs_input(form)).grade
        course = crs_course([crs_input(f) for f in forms], infusion_date=subject.infusion_date)
        episodes = CrsEpisode.objects.filter(subject=subject).order_by("number")
        assert [(e.onset_date, e.derived_grade) for e in episodes] == [(e.onset_date, e.grade) for e in course.episodes]
        for episode in episodes:  # each episode owns its AE (CLINICAL_SPEC §1.3)
            ae = AdverseEvent.objects.get(crs_episode=episode)
            assert (ae.ctcae_term, ae.grade, ae.grade_scale) == (
                "Cytokine release syndrome",
                episode.derived_grade,
                "ASTCT-2019",
            )


def test_audit_rows_come_from_the_triggers(transactional_db, tmp_path):
    generate(tmp_path, subjects=5)
    assert CrsAssessmentEvent.objects.filter(pgh_label="insert").count() == CrsAssessment.objects.count()
    assert LabResultEvent.objects.count() == LabResult.objects.count()
    event = CrsAssessmentEvent.objects.order_by("pgh_id").first()
    assert event.pgh_context["reason"] == "synthetic study generator"
    assert event.pgh_context["username"].startswith("synthetic-coordinator-")
    # every status change is an update with its own history row: consent, enrolment,
    # lymphodepletion, infusion, follow-up at least for an infused subject past day 28
    infused = Subject.objects.filter(infusion_date__isnull=False).first()
    statuses = list(
        SubjectEvent.objects.filter(pgh_obj_id=infused.pk).order_by("pgh_id").values_list("status", flat=True)
    )
    assert statuses[:5] == ["screening", "enrolled", "lymphodepleted", "infused", "follow_up"]
    # the endpoint snapshot (read from the audit trail) sees what the tables hold
    at = timezone.now() + timedelta(seconds=1)
    seen = {row["id"]: row["status"] for row in snapshot.rows_as_of(Subject, at)}
    assert seen == dict(Subject.objects.values_list("pk", "status"))


def test_the_dump_cache_is_reused(transactional_db, tmp_path):
    started = time.monotonic()
    first_out = generate(tmp_path, subjects=30)
    first_time = time.monotonic() - started
    first, first_prints = counts(), fingerprint()
    events = SubjectEvent.objects.count() + LabResultEvent.objects.count()
    assert "Generated in" in first_out
    assert len(list(tmp_path.glob("*.dump"))) == 1

    with pytest.raises(CommandError, match="already holds subjects"):
        generate(tmp_path, subjects=30)
    started = time.monotonic()
    second_out = generate(tmp_path, "--replace-data", subjects=30)
    second_time = time.monotonic() - started
    assert "Restored from the cache" in second_out
    assert counts() == first
    assert fingerprint() == first_prints
    # restored with the triggers off: the history is the dump's, not doubled
    assert SubjectEvent.objects.count() + LabResultEvent.objects.count() == events
    assert second_time < first_time


def test_same_seed_same_data_another_seed_other_data(transactional_db, tmp_path):
    generate(tmp_path, subjects=6, seed=3)
    first = fingerprint()
    generate(tmp_path, "--replace-data", "--no-cache", subjects=6, seed=3)
    assert fingerprint() == first
    generate(tmp_path, "--replace-data", subjects=6, seed=4)
    assert fingerprint() != first


def test_refuses_a_database_not_named_as_a_scratch_one(db, tmp_path, monkeypatch):
    """Review finding: a restore or --replace-data empties every table, audit history included, so
    the generator refuses a database whose name does not say it is a scratch one (a production
    database named "trialsite", say)."""
    from django.core.management.base import CommandError
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "NAME", "trialsite")
    with pytest.raises(CommandError, match="Refusing to write a synthetic study into the database trialsite"):
        generate(tmp_path, "--replace-data")
    assert Subject.objects.count() == 0
