"""The DLT rules run again after a CRS or ICANS save only when the save can change what the
syndrome rule reads (issue 22; CLINICAL_SPEC §3.1): the days assessed at grade 3 or more and
their grade capped at 4. A lower-grade assessment saved or corrected leaves every candidate as
it was, so its save does not spend the ~12 statements of the recompute."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adverse_events.models import CrsAssessment, DltCandidate
from clinical import dlt as rules
from crf.services import save
from tests.adverse_events.conftest import day

pytestmark = pytest.mark.req("ISSUE-22")

DLT_TABLE = '"adverse_events_dltcandidate"'


@settings(max_examples=300, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    daily=st.dictionaries(st.integers(min_value=-3, max_value=40), st.integers(min_value=0, max_value=5), max_size=30),
    window=st.sampled_from([21, 28, 30]),
)
def test_the_syndrome_rule_reads_only_grade_3_or_more_capped_at_4(daily, window):
    """The lemma the narrowing rests on: the rule's answer from the daily grades equals its
    answer from what `syndrome_rule_input` keeps of them (days below grade 3 dropped, grades
    above 4 capped)."""
    kept = dict(filter(None, (rules.syndrome_rule_input(d, g) for d, g in daily.items())))
    for key in ("crs_daily", "icans_daily"):
        whole = rules.detect_candidates(window_days=window, as_of_day=60, **{key: daily})
        projected = rules.detect_candidates(window_days=window, as_of_day=60, **{key: kept})
        assert whole == projected


def crs_save(user, instance, expected_version=None):
    with CaptureQueriesContext(connection) as ctx:
        saved = save(user=user, instance=instance, expected_version=expected_version, reason="source checked")
    return saved, [q["sql"] for q in ctx.captured_queries if DLT_TABLE in q["sql"]]


def live(subject) -> list[str]:
    return sorted(DltCandidate.objects.filter(subject=subject, withdrawn=False).values_list("key", flat=True))


def test_a_crs_save_below_grade_3_does_not_run_the_dlt_rules(infused, coordinator):
    subject = infused()
    new = CrsAssessment(
        subject=subject,
        assessment_date=day(3),
        tmax_c=Decimal("39.1"),
        oxygen_device="nasal_cannula",
        oxygen_flow_l_min=Decimal("4"),
        hypoxia_attributable_to_crs=True,
    )
    saved, dlt_reads = crs_save(coordinator, new)
    assert saved.grade == 2
    assert dlt_reads == []
    # a correction that stays below grade 3 does not run them either
    saved.oxygen_flow_l_min = Decimal("6")
    saved, dlt_reads = crs_save(coordinator, saved, expected_version=saved.version)
    assert saved.grade == 2
    assert dlt_reads == []
    assert live(subject) == []


def test_a_crs_save_that_reaches_grade_4_runs_them_and_its_correction_withdraws_the_candidate(infused, coordinator):
    subject = infused()
    new = CrsAssessment(
        subject=subject,
        assessment_date=day(3),
        tmax_c=Decimal("39.1"),
        oxygen_device="bipap",
        hypoxia_attributable_to_crs=True,
    )
    saved, dlt_reads = crs_save(coordinator, new)
    assert saved.grade == 4
    assert dlt_reads != []
    assert live(subject) == ["crs:g4"]
    # corrected to low-flow oxygen: grade 2, the input moved (4 → none), the candidate goes
    saved.oxygen_device = "nasal_cannula"
    saved.oxygen_flow_l_min = Decimal("4")
    saved, dlt_reads = crs_save(coordinator, saved, expected_version=saved.version)
    assert saved.grade == 2
    assert dlt_reads != []
    assert live(subject) == []


def test_a_grade_4_day_saved_again_at_grade_4_does_not_run_them(infused, coordinator):
    """A second grade-4 assessment of a day already at grade 4 (same rule input for that day,
    but a new assessment: its own input moved from none) runs them; a correction of its time
    that keeps day and grade does not."""
    subject = infused()
    crs_save(
        coordinator,
        CrsAssessment(
            subject=subject,
            assessment_date=day(3),
            tmax_c=Decimal("39"),
            oxygen_device="bipap",
            hypoxia_attributable_to_crs=True,
        ),
    )
    second, dlt_reads = crs_save(
        coordinator,
        CrsAssessment(
            subject=subject,
            assessment_date=day(3),
            tmax_c=Decimal("39.4"),
            oxygen_device="cpap",
            hypoxia_attributable_to_crs=True,
        ),
    )
    assert second.grade == 4 and dlt_reads != []
    second.tmax_c = Decimal("39.6")
    second, dlt_reads = crs_save(coordinator, second, expected_version=second.version)
    assert second.grade == 4
    assert dlt_reads == []
    assert live(subject) == ["crs:g4"]


def anc(subject, on_day: int, value: str):
    from labs.models import LabResult

    return LabResult(
        subject=subject, collected_on=day(on_day), panel="CBC", analyte="ANC", value=Decimal(value), unit="10^9/L"
    )


def test_an_anc_outside_the_day_28_window_does_not_run_the_dlt_rules(infused, coordinator):
    """Only the last ANC and platelet count inside the day-28 visit window (days 25–31 with the
    default ±3) is read by the recovery rule: an ANC of day 5 cannot move a candidate."""
    subject = infused()
    _saved, dlt_reads = crs_save(coordinator, anc(subject, 5, "0.2"))
    assert dlt_reads == []
    assert live(subject) == []


def test_a_grade_4_anc_in_the_window_runs_them_and_moving_it_out_withdraws_the_candidate(infused, coordinator):
    subject = infused()
    saved, dlt_reads = crs_save(coordinator, anc(subject, 28, "0.2"))
    assert dlt_reads != []
    assert live(subject) == ["cytopenia:Neutrophil count decreased"]
    # corrected to day 20 (outside the window): the stored row was inside it, so the rules run
    saved.collected_on = day(20)
    saved, dlt_reads = crs_save(coordinator, saved, expected_version=saved.version)
    assert dlt_reads != []
    assert live(subject) == []


def test_an_ae_below_grade_3_does_not_run_the_dlt_rules_and_grade_3_does(infused, coordinator):
    """The AE rule reads only AEs of grade 3 or more (§3.1; the stored grade is the maximum of
    the AE's course): a grade-2 AE saved runs no DLT statement; corrected to grade 3 (not back
    to ≤ 1 within 7 days) it runs them and becomes a candidate; corrected back to grade 2 it runs
    them again (it was grade 3 before) and the candidate is withdrawn."""
    from adverse_events.models import AdverseEvent
    from tests.adverse_events.test_adverse_events import ae_values

    subject = infused()
    saved, dlt_reads = crs_save(coordinator, AdverseEvent(subject=subject, **ae_values(ctcae_term="Colitis", grade=2)))
    assert dlt_reads == []
    saved.grade = 3
    saved, dlt_reads = crs_save(coordinator, saved, expected_version=saved.version)
    assert dlt_reads != []
    assert live(subject) == [f"ae:{saved.pk}"]
    saved.grade = 2
    saved, dlt_reads = crs_save(coordinator, saved, expected_version=saved.version)
    assert dlt_reads != []
    assert live(subject) == []
