"""A lab result whose lab-derived grade is ≥ 3 suggests its AE (CLINICAL_SPEC §3 "Lab-derived
grades"; issue 27 §5): one query per run of consecutive grade ≥ 3 results, only inside the AE
collection period, only when no AE with the same term covers the result's date."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.contenttypes.models import ContentType

from crf.models import Query
from crf.services import save
from labs.models import LabResult
from tests.adverse_events.conftest import LD_START, day
from tests.adverse_events.test_adverse_events import record_ae

pytestmark = [pytest.mark.req("CLINICAL_SPEC-3"), pytest.mark.req("ISSUE-27")]

RULE = "LB-GRADE-GE3-NO-AE"


def anc(user, subject, on, value, *, at=time(7, 0)) -> LabResult:
    result = LabResult(
        subject=subject,
        collected_on=on,
        collected_time=at,
        panel="CBC",
        analyte="ANC",
        value=D(value),
        unit="10^9/L",
        lln=D("1.8"),
        uln=D("6.3"),
    )
    return save(user=user, instance=result, expected_version=None)


def suggests_ae(result: LabResult) -> bool:
    return Query.objects.filter(
        content_type=ContentType.objects.get_for_model(LabResult),
        object_id=result.pk,
        rule_code=RULE,
        status="open",
    ).exists()


def test_one_query_per_run_of_grade_3_or_4(infused, coordinator):
    subject = infused()
    results = [
        anc(coordinator, subject, day(2), "1.2"),  # grade 2
        anc(coordinator, subject, day(3), "0.8"),  # grade 3: the run starts
        anc(coordinator, subject, day(4), "0.3"),  # grade 4: same run
        anc(coordinator, subject, day(5), "0.6"),  # grade 3: same run
        anc(coordinator, subject, day(6), "1.1"),  # grade 2: run ends
        anc(coordinator, subject, day(8), "0.45"),  # grade 4: a new run
    ]
    assert [r.ctcae_grade for r in results] == [2, 3, 4, 3, 2, 4]
    assert [suggests_ae(r) for r in results] == [False, True, False, False, False, True]


def test_an_ae_covering_the_date_means_no_query(infused, coordinator):
    subject = infused()
    record_ae(
        coordinator,
        subject,
        ctcae_term="Neutrophil count decreased",
        grade=3,
        onset_date=day(2),
        resolution_date=day(10),
        outcome="recovered",
    )
    covered = anc(coordinator, subject, day(4), "0.7")
    assert covered.ctcae_grade == 3
    assert not suggests_ae(covered)
    recovered = anc(coordinator, subject, day(11), "1.6")  # grade 1: the run ends
    after_resolution = anc(coordinator, subject, day(12), "0.7")  # a new run the AE (resolved day 10) misses
    assert (recovered.ctcae_grade, after_resolution.ctcae_grade) == (1, 3)
    assert suggests_ae(after_resolution)


def test_an_ae_of_another_term_does_not_cover(infused, coordinator):
    subject = infused()
    record_ae(coordinator, subject, ctcae_term="Platelet count decreased", grade=3, onset_date=day(2))
    assert suggests_ae(anc(coordinator, subject, day(4), "0.7"))


def test_outside_the_collection_period_no_query(infused, coordinator):
    subject = infused()
    late = anc(coordinator, subject, day(91), "0.2")
    assert late.ctcae_grade == 4
    assert not suggests_ae(late)
    last_day = anc(coordinator, subject, day(90), "0.2")
    assert suggests_ae(last_day)
    before_infusion = anc(coordinator, subject, LD_START + timedelta(days=1), "0.2")
    assert suggests_ae(before_infusion)  # from consent on, lymphodepletion included


def test_grade_2_never_queries(infused, coordinator):
    subject = infused()
    assert not suggests_ae(anc(coordinator, subject, day(3), "1.0"))


def test_recording_the_ae_later_closes_the_query_and_in_error_reopens_it(infused, coordinator):
    subject = infused()
    result = anc(coordinator, subject, day(4), "0.3")
    assert suggests_ae(result)
    ae = record_ae(
        coordinator, subject, ctcae_term="Neutrophil count decreased", grade=4, onset_date=day(3), outcome="recovering"
    )
    assert not suggests_ae(result)
    from crf.services import mark_entered_in_error

    mark_entered_in_error(user=coordinator, instance=ae, reason="wrong subject", expected_version=ae.version)
    assert suggests_ae(result)
