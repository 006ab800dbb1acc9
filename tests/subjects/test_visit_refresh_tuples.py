"""The visits' state after a save (`refresh_visits_of`) is computed from tuples (the visits with
their "not done" marks, the stored forms near them) and the schedule parsed once per process
(issue 22, ninth pass). Over varied stored data — forms with and without a visit, dated inside,
between and outside the windows, every entry status, entered in error, live and withdrawn "not
done" marks, a second schedule version, a subject who died — each visit re-derived on its own
must get the state the full derivation (`subject_schedule`, model instances) gives it."""

from __future__ import annotations

import itertools
import random
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import signals
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crf.models import EntryStatus
from labs.models import LabResult, VitalSigns
from study.models import AssessmentSchedule
from subjects import assessments
from subjects.models import ExpectedFormNotDone, Visit
from tests.subjects.test_casebook_pages import planned_today  # noqa: F401 (fixture)

pytestmark = pytest.mark.req("ISSUE-22")

STATUSES = [EntryStatus.NOT_STARTED, EntryStatus.IN_PROGRESS, EntryStatus.COMPLETE]
#: a distinct collection time for each lab result (one result per analyte and collection)
_MINUTES = itertools.count()


def full_states(subject) -> dict[str, str]:
    """Each visit's progress by the full derivation (what `refresh_subject` stores)."""
    schedule = assessments.subject_schedule(subject, today=timezone.now().date(), with_queries=False, rows_only=True)
    return {card.definition.code: card.progress.value for card in schedule.cards if card.visit is not None}


def stored_states(subject) -> dict[str, str]:
    return dict(Visit.objects.filter(subject=subject).values_list("definition__code", "forms_state"))


def each_visit_on_its_own(subject) -> dict[str, str]:
    """Every visit's state scrambled, then each one re-derived by `refresh_visits_of` for a
    form entered at it (only that visit is touched)."""
    visits = list(Visit.objects.filter(subject=subject))
    Visit.objects.filter(subject=subject).update(forms_state="?")
    for visit in visits:
        assessments.refresh_visits_of(subject, [VitalSigns(subject=subject, visit_id=visit.pk)])
    return stored_states(subject)


def stored_forms(subject, user, rng: random.Random, count: int) -> None:
    """Vital signs and lab results written as stored rows (no save service: the data is what
    is under test, not the services), at random visits or none, dates and statuses."""
    visits = list(Visit.objects.filter(subject=subject))
    now = timezone.now()
    first = Visit.objects.get(subject=subject, definition__code="D0").planned_date - timedelta(days=12)
    for i in range(count):
        on = first + timedelta(days=rng.randint(0, 130))
        common = {
            "subject": subject,
            "visit": rng.choice(visits) if rng.random() < 0.3 else None,
            "entry_status": rng.choice(STATUSES),
            "entered_in_error": rng.random() < 0.1,
            "created_by": user,
            "updated_by": user,
            "created_at": now,
            "updated_at": now,
        }
        if rng.random() < 0.6:
            VitalSigns.objects.create(assessment_date=on, temperature_c=Decimal("37.0"), **common)
        else:
            LabResult.objects.create(
                collected_on=on,
                collected_time=time(*divmod(next(_MINUTES) % 1440, 60)),
                panel="CBC",
                analyte="ANC",
                value=Decimal(i + 1),
                unit="10^9/L",
                **common,
            )


def completed_visits(subject, user, rng: random.Random, count: int) -> None:
    """Some daily visits with every expected form satisfied: complete vital signs and lab result
    entered at them, CRS and ICANS marked not done."""
    now = timezone.now()
    daily = list(Visit.objects.filter(subject=subject, definition__code__in=[f"D{d}" for d in range(1, 15)]))
    for visit in rng.sample(daily, count):
        common = {"subject": subject, "visit": visit, "entry_status": EntryStatus.COMPLETE, "created_by": user}
        common.update(updated_by=user, created_at=now, updated_at=now)
        VitalSigns.objects.create(assessment_date=visit.planned_date, **common)
        LabResult.objects.create(
            collected_on=visit.planned_date,
            collected_time=time(*divmod(next(_MINUTES) % 1440, 60)),
            panel="CBC",
            analyte="ANC",
            value=Decimal("1.5"),
            unit="10^9/L",
            **common,
        )
        for code in ("CRS", "ICANS"):
            ExpectedFormNotDone.objects.get_or_create(
                visit=visit,
                crf_code=code,
                withdrawn_at=None,
                defaults={"reason": "not assessed", "marked_by": user, "marked_at": now},
            )


def marks(subject, user, rng: random.Random, count: int) -> None:
    visits = list(Visit.objects.filter(subject=subject))
    for _ in range(count):
        visit = rng.choice(visits)
        code = rng.choice(["VS", "LB", "CRS", "ICANS"])
        live = ExpectedFormNotDone.objects.filter(visit=visit, crf_code=code, withdrawn_at__isnull=True)
        if live.exists():
            live.update(withdrawn_at=timezone.now())  # withdrawn: it no longer counts
            continue
        ExpectedFormNotDone.objects.create(
            visit=visit, crf_code=code, reason="not assessed", marked_by=user, marked_at=timezone.now()
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_visit_re_derived_from_tuples_gets_the_full_derivations_state(
    planned_today,  # noqa: F811
    coordinator,
    seed,
):
    subject, _today = planned_today
    rng = random.Random(seed)
    # a visit's own window (a visit schedule version's) in place of its definition's (±7 days)
    Visit.objects.filter(subject=subject, definition__code="D60").update(window_before=20, window_after=0)
    Visit.objects.filter(subject=subject, definition__code="D90").update(window_before=0, window_after=20)
    stored_forms(subject, coordinator, rng, 20)
    marks(subject, coordinator, rng, 30)
    completed_visits(subject, coordinator, rng, 3)
    expected = full_states(subject)
    assert len(expected) == 26 and len(set(expected.values())) >= 3  # varied: none, some, all…
    assert each_visit_on_its_own(subject) == expected

    # a second schedule version from D5's planned date: D6 on no longer expects vital signs
    d5 = Visit.objects.get(subject=subject, definition__code="D5").planned_date
    first = AssessmentSchedule.objects.get(study=subject.site.study, version=1)
    changed = {
        code: [form for form in forms if not (form == "VS" and code not in ("SCR", "LD", "D0", "D1", "D2"))]
        for code, forms in first.matrix["visits"].items()
    }
    AssessmentSchedule.objects.create(
        study=subject.site.study,
        version=2,
        effective_from=d5 + timedelta(days=1),
        matrix={"visits": changed, "logs": first.matrix["logs"]},
        reason="vital signs only up to D2",
        created_at=timezone.now(),
    )
    stored_forms(subject, coordinator, rng, 15)
    marks(subject, coordinator, rng, 10)
    expected = full_states(subject)
    assert each_visit_on_its_own(subject) == expected

    # the subject died: nothing expected at the visits planned after that date
    subject.status, subject.status_date = "died", d5
    expected = full_states(subject)
    assert expected["D7"] == "" and expected["D60"] == ""
    assert each_visit_on_its_own(subject) == expected


def test_the_parsed_schedule_is_read_again_when_a_version_is_added_or_changed(planned_today):  # noqa: F811
    subject, _today = planned_today
    study = subject.site.study
    assert [(on, matrix.forms_at("D7")) for on, matrix, _logs in assessments.schedules_of(study.pk)] == [
        (date(2020, 1, 1), ("VS", "CRS", "ICANS", "LB"))
    ]
    first = AssessmentSchedule.objects.get(study=study, version=1)
    AssessmentSchedule.objects.create(
        study=study,
        version=2,
        effective_from=date(2026, 1, 1),
        matrix={"visits": {**first.matrix["visits"], "D7": ["VS"]}, "logs": ["AE"]},
        reason="fewer forms at D7",
        created_at=timezone.now(),
    )
    assert [(on, matrix.forms_at("D7"), logs) for on, matrix, logs in assessments.schedules_of(study.pk)] == [
        (date(2020, 1, 1), ("VS", "CRS", "ICANS", "LB"), first.matrix["logs"]),
        (date(2026, 1, 1), ("VS",), ["AE"]),
    ]
    # a version is never edited by the application; the cache still follows the stored matrix
    AssessmentSchedule.objects.filter(study=study, version=2).update(
        matrix={"visits": {**first.matrix["visits"], "D7": ["LB"]}, "logs": ["AE"]}
    )
    assert [matrix.forms_at("D7") for _on, matrix, _logs in assessments.schedules_of(study.pk)] == [
        ("VS", "CRS", "ICANS", "LB"),
        ("LB",),
    ]


def test_re_deriving_a_visit_builds_no_model_instance_and_reads_three_times(planned_today):  # noqa: F811
    subject, _today = planned_today
    d3 = Visit.objects.get(subject=subject, definition__code="D3")
    probe = VitalSigns(subject=subject, visit_id=d3.pk)
    assessments.schedules_of(subject.site.study_id)  # the schedule parsed (once per process)
    built = []

    def count(sender, instance, **kwargs):
        built.append(sender.__name__)

    signals.post_init.connect(count)
    try:
        with CaptureQueriesContext(connection) as captured:
            changed = assessments.refresh_visits_of(subject, [probe])
    finally:
        signals.post_init.disconnect(count)
    assert changed == 0  # D3's state is already stored
    assert built == []
    # the schedule's digests, the visits with their marks, the forms near D3
    assert len(captured.captured_queries) == 3, [q["sql"][:90] for q in captured.captured_queries]
