"""Independent audit: response, MRD and time-to-event edges read from CLINICAL_SPEC §5."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from clinical.response import (
    Baseline,
    Category,
    CnsStatus,
    DatedResponse,
    EmdResponse,
    ExtramedullaryAssessment,
    MolecularRemission,
    MrdMethod,
    MrdStatus,
    MrdTest,
    ResponseSettings,
    SubjectCourse,
    best_overall_response,
    extramedullary_response,
    marrow_response,
    molecular_remission,
    mrd_status,
    mrd_test_status,
    overall_response,
    response_label,
    time_to_event_records,
)
from clinical.survival import RelapseOutcome
from tests.clinical.test_response import marrow  # blasts 3 %, ANC 1.2, platelets 120 unless given

pytestmark = pytest.mark.req("CLINICAL_SPEC-5.1")

D = Decimal
DAY0 = date(2026, 3, 1)
NCCN = ResponseSettings(relapse_operator=">")
ELN = ResponseSettings(count_operator=">")


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


BASE60 = Baseline(marrow_blasts_pct=D("60"), peripheral_blasts_pct=D("10"))


def cat(assessment, baseline=BASE60, **kw) -> Category:
    return marrow_response(assessment, baseline=baseline, **kw).category


# --- §5.1 categories at their boundaries ---------------------------------------------------------


def test_blasts_just_below_5_with_counts_exactly_at_threshold_is_cr_flagged():
    """§5.1 CR: blasts < 5 %; ANC ≥ 1.0 and platelets ≥ 100 (default ≥): 4.99 %, 1.0, 100 → CR,
    and both counts are flagged as at a threshold whatever the setting."""
    result = marrow_response(marrow("4.99", "1.0", "100"), baseline=BASE60)
    assert result.category is Category.CR
    assert {b.field for b in result.boundary} == {"anc", "platelets"}


def test_counts_at_threshold_under_eln_operator_is_cri():
    """§5.1 setting: ELN `>`: ANC 1.0 is not recovered → CRi."""
    assert cat(marrow("1", "1.0", "150"), settings=ELN) is Category.CRI


def test_transfusion_in_previous_7_days_makes_cri():
    """§5.1 CR needs no transfusion in the previous 7 days; otherwise CRi."""
    assert cat(marrow("1", "2.0", "200", transfused=True)) is Category.CRI


def test_blasts_exactly_5_is_pr_under_default_and_cr_under_nccn_both_flagged():
    """§5.1 / §8: 5 % from 60 % with recovered counts → PR (not CR) with `≥ 5`; with NCCN `> 5`
    5 % is not relapse-level so it is CR. Flagged for adjudication either way."""
    default = marrow_response(marrow("5"), baseline=BASE60)
    nccn = marrow_response(marrow("5"), baseline=BASE60, settings=NCCN)
    assert default.category is Category.PR
    assert nccn.category is Category.CR
    assert any(b.field == "marrow_blasts_pct" and b.value == D("5") for b in default.boundary)
    assert any(b.field == "marrow_blasts_pct" and b.value == D("5") for b in nccn.boundary)


@pytest.mark.parametrize(
    ("blasts", "baseline", "expected"),
    [
        ("25", "60", Category.PR),  # 25 % is inside 5–25 %, fall 58 %
        ("25.1", "60", Category.NR),  # above 25 %
        ("10", "20", Category.PR),  # fall exactly 50 % (≥ 50 %)
        ("10.1", "20", Category.NR),  # fall 49.5 %
        ("6", "8", Category.NR),  # fall 25 %
    ],
)
def test_pr_band_and_fall_boundaries(blasts, baseline, expected):
    """§5.1 PR: blasts 5–25 % with ≥ 50 % fall from baseline and CR counts."""
    base = Baseline(marrow_blasts_pct=D(baseline))
    assert cat(marrow(blasts), baseline=base) is expected


def test_pr_needs_the_count_criteria_of_cr():
    """§5.1 PR: blasts 10 % from 60 % but ANC 0.8 → NR (not PR)."""
    assert cat(marrow("10", "0.8", "150")) is Category.NR


def test_circulating_blasts_prevent_cr():
    """§5.1 CR: no circulating blasts; marrow 2 % with 0.5 % peripheral blasts → NR."""
    assert cat(marrow("2", pb="0.5")) is Category.NR


@pytest.mark.parametrize(
    ("blasts", "expected"),
    [("50", Category.PD), ("49.9", Category.NR), ("40", Category.NR)],
)
def test_pd_at_exactly_25_percent_rise(blasts, expected):
    """§5.1 PD: ≥ 25 % rise from baseline: 40 → 50 % is exactly 25 % → PD; 49.9 % (24.75 %) → NR."""
    base = Baseline(marrow_blasts_pct=D("40"))
    assert cat(marrow(blasts), baseline=base) is expected


def test_new_cns_disease_without_prior_remission_is_pd():
    """§5.1 PD: new extramedullary disease (CNS3 where baseline was CNS1)."""
    base = Baseline(marrow_blasts_pct=D("60"), cns_status=CnsStatus.CNS1)
    assert cat(marrow("2", cns=CnsStatus.CNS3), baseline=base) is Category.PD


@pytest.mark.parametrize(
    ("assessment", "rules", "expected"),
    [
        (marrow("5"), ResponseSettings(), Category.RELAPSE),  # ≥ 5 %
        (marrow("4.9"), ResponseSettings(), Category.CR),
        (marrow("5"), NCCN, Category.CR),  # NCCN > 5 %: 5 % is not relapse
        (marrow("5.1"), NCCN, Category.RELAPSE),
        (marrow("1", pb="0.1"), ResponseSettings(), Category.RELAPSE),  # circulating blasts
        (marrow("1", cns=CnsStatus.CNS2), ResponseSettings(), Category.RELAPSE),  # isolated CNS
    ],
)
def test_relapse_after_remission(assessment, rules, expected):
    """§5.1 relapse after CR/CRi: marrow blasts ≥ 5 % (NCCN > 5 %), circulating blasts, or new
    extramedullary disease including isolated CNS."""
    assert cat(assessment, prior_remission=True, settings=rules) is expected


@pytest.mark.parametrize(
    ("emd", "expected"),
    [
        (ExtramedullaryAssessment(disease_at_baseline=True, deauville=3), EmdResponse.CR),
        (ExtramedullaryAssessment(disease_at_baseline=True, deauville=4), EmdResponse.SD),
        (ExtramedullaryAssessment(disease_at_baseline=True, spd_change_from_baseline_pct=D("-50")), EmdResponse.PR),
        (ExtramedullaryAssessment(disease_at_baseline=True, spd_change_from_baseline_pct=D("-49.9")), EmdResponse.SD),
        (ExtramedullaryAssessment(disease_at_baseline=True, spd_change_from_nadir_pct=D("50")), EmdResponse.PD),
        (ExtramedullaryAssessment(disease_at_baseline=False, new_lesion=True), EmdResponse.PD),
    ],
)
def test_extramedullary_boundaries(emd, expected):
    """§5.1 EMD: PR ≥ 50 % decrease in SPD; PD new lesion or ≥ 50 % increase from nadir."""
    assert extramedullary_response(emd) is expected


def test_overall_is_the_worse_compartment():
    """§5.1: marrow CR with extramedullary PR → PR; marrow CR with EMD PD after remission → relapse."""
    assert overall_response(Category.CR, EmdResponse.PR) is Category.PR
    assert overall_response(Category.CR, EmdResponse.PD, prior_remission=True) is Category.RELAPSE
    assert overall_response(Category.PR, EmdResponse.CR) is Category.PR


# --- §5.2 MRD --------------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.2")
@pytest.mark.parametrize(
    ("test", "expected"),
    [
        # exactly 0.01 % is positive (strict cut-off)
        (MrdTest(MrdMethod.FLOW, True, D("0.01"), D("0.00001"), 1_000_000), MrdStatus.POSITIVE),
        (MrdTest(MrdMethod.FLOW, True, D("0.0099"), D("0.00001"), 1_000_000), MrdStatus.NEGATIVE),
        # sensitivity exactly 10⁻⁴ with exactly 500,000 cells sees the cut-off
        (MrdTest(MrdMethod.FLOW, False, None, D("0.0001"), 500_000), MrdStatus.NEGATIVE),
        # one cell short of the minimum → not evaluable, never negative
        (MrdTest(MrdMethod.FLOW, False, None, D("0.0001"), 499_999), MrdStatus.NOT_EVALUABLE),
        # sensitivity just worse than the cut-off
        (MrdTest(MrdMethod.FLOW, False, None, D("0.00011"), 4_000_000), MrdStatus.NOT_EVALUABLE),
        # no sensitivity recorded: cannot show it sees the cut-off
        (MrdTest(MrdMethod.FLOW, False, None, None, 4_000_000), MrdStatus.NOT_EVALUABLE),
        # molecular methods need no cell count
        (MrdTest(MrdMethod.NGS, False, None, D("0.000001")), MrdStatus.NEGATIVE),
        # a positive result is positive whatever the assay's sensitivity
        (MrdTest(MrdMethod.FLOW, True, D("0.5"), D("0.001"), 20_000), MrdStatus.POSITIVE),
    ],
)
def test_mrd_cutoff_and_assay_sensitivity(test, expected):
    """§5.2: negative means level < 0.01 % AND an assay that sees the cut-off (sensitivity ≤
    cut-off; flow ≥ 500,000 cells); a less sensitive "not detected" is not evaluable."""
    assert mrd_test_status(test) is expected


@pytest.mark.req("CLINICAL_SPEC-5.2")
def test_any_positive_test_makes_the_assessment_positive_and_labels_read_right():
    """§5.2: a positive NGS beside a negative flow → MRD+; not evaluable reads "MRD unknown"."""
    neg_flow = MrdTest(MrdMethod.FLOW, False, None, D("0.00001"), 4_000_000)
    pos_ngs = MrdTest(MrdMethod.NGS, True, D("0.02"), D("0.000001"))
    assert mrd_status([neg_flow, pos_ngs]) is MrdStatus.POSITIVE
    assert response_label(Category.CR, MrdStatus.NOT_EVALUABLE) == "CR, MRD unknown"
    assert response_label(Category.CRI, None) == "CRi, MRD unknown"


@pytest.mark.req("CLINICAL_SPEC-5.2")
def test_molecular_remission_needs_the_baseline_marker_undetectable_at_the_cutoff():
    """§5.2: TCR marker positive at baseline; not detected at 10⁻⁵ → achieved; not detected at
    10⁻³ → not evaluable; no molecular marker at baseline → no marker."""
    baseline = [MrdTest(MrdMethod.TCR_PCR, True, D("30"), D("0.00001"))]
    good = [MrdTest(MrdMethod.TCR_PCR, False, None, D("0.00001"))]
    weak = [MrdTest(MrdMethod.TCR_PCR, False, None, D("0.001"))]
    assert molecular_remission(baseline=baseline, tests=good) is MolecularRemission.ACHIEVED
    assert molecular_remission(baseline=baseline, tests=weak) is MolecularRemission.NOT_EVALUABLE
    assert molecular_remission(baseline=[], tests=good) is MolecularRemission.NO_MARKER


# --- §5.3 best response window and ranking --------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_day_28_window_ends_on_day_31_inclusive():
    """§5.3: the day-28 read-out uses assessments up to day 31 (28 + 3): CR on day 31 counts,
    on day 32 the subject is not assessed."""
    on31 = best_overall_response(
        [DatedResponse(day(31), Category.CR, MrdStatus.NEGATIVE)],
        infusion_date=DAY0,
        horizon_day=28,
        window_after_days=3,
    )
    on32 = best_overall_response(
        [DatedResponse(day(32), Category.CR, MrdStatus.NEGATIVE)],
        infusion_date=DAY0,
        horizon_day=28,
        window_after_days=3,
    )
    assert on31.label == "CR MRD−"
    assert on32.not_assessed and on32.label == "not assessed" and not on32.responder


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_assessments_before_infusion_and_after_new_therapy_are_excluded():
    """§5.3: window from infusion; the baseline (day −7) is not a response; after HSCT on day 40
    the day-41 CR is excluded; an assessment on the HSCT day itself still counts."""
    result = best_overall_response(
        [
            DatedResponse(day(-7), Category.CR, MrdStatus.NEGATIVE),
            DatedResponse(day(28), Category.PR),
            DatedResponse(day(40), Category.CRI, MrdStatus.POSITIVE),
            DatedResponse(day(41), Category.CR, MrdStatus.NEGATIVE),
        ],
        infusion_date=DAY0,
        horizon_day=365,
        window_after_days=7,
        new_therapy_date=day(40),
    )
    assert result.label == "CRi MRD+"
    assert result.excluded_after_new_therapy == (day(41),)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_ranking_cri_mrd_negative_below_cr_mrd_unknown():
    """§5.3 ranking: CR MRD+ or unknown > CRi MRD−."""
    result = best_overall_response(
        [
            DatedResponse(day(14), Category.CRI, MrdStatus.NEGATIVE),
            DatedResponse(day(28), Category.CR, MrdStatus.NOT_EVALUABLE),
        ],
        infusion_date=DAY0,
        horizon_day=365,
        window_after_days=7,
    )
    assert result.label == "CR, MRD unknown"


# --- §5.3 time-to-event ------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_efs_event_at_day_0_without_remission_by_day_31():
    """§5.3 EFS: no CR/CRi at the day-28 assessment (within its window) → event at day 0."""
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(200),
        responses=(DatedResponse(day(28), Category.PR), DatedResponse(day(60), Category.CR, MrdStatus.NEGATIVE)),
    )
    records = time_to_event_records(course, cutoff=day(300))
    assert (records.efs.days, records.efs.event) == (0, True)
    # RFS and DOR start at the first CR/CRi (day 60), censored at last known alive (day 200)
    assert records.rfs is not None and (records.rfs.days, records.rfs.event) == (140, False)


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.parametrize(
    ("cutoff_day", "relapse_day", "death_day", "expected"),
    [
        (20, None, None, (20, False)),  # inside the window (day 31 by default): not due, censored at the cut
        (30, None, None, (30, False)),  # the window's last day but one: still not due
        (31, None, None, (0, True)),  # the window has closed at the cut: no CR/CRi → day 0
        (20, 12, None, (12, True)),  # a progression already seen is an event
        (20, None, 15, (0, True)),  # death settles the read-out: no CR/CRi at day 28 → day 0
    ],
)
def test_efs_at_an_interim_cut_inside_the_day28_window(cutoff_day, relapse_day, death_day, expected):
    """§5.3 EFS at a cut-off before the day-28 window closes (day 28 + 3): the read-out is not
    due yet, so a subject alive without a CR/CRi has no day-0 event (the reading a statistician
    expects of an interim cut; the day-0 event once the window has closed is unchanged)."""
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(cutoff_day),
        responses=(),
        relapse_dates=(day(relapse_day),) if relapse_day else (),
        death_date=day(death_day) if death_day else None,
    )
    records = time_to_event_records(course, cutoff=day(cutoff_day))
    assert (records.efs.days, records.efs.event) == expected


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_dor_counts_from_first_remission_to_the_relapse_after_it_despite_earlier_progression():
    """§5.3 DOR: first CR/CRi to relapse. Progression on day 10 (before any remission), CR on
    day 28, relapse on day 100 → DOR = 100 − 28 = 72 days, an event; EFS event at day 10."""
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(150),
        responses=(
            DatedResponse(day(10), Category.PD),
            DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),
            DatedResponse(day(100), Category.RELAPSE),
        ),
        relapse_dates=(day(10), day(100)),
    )
    records = time_to_event_records(course, cutoff=day(300))
    assert records.dor is not None and (records.dor.days, records.dor.event) == (72, True)
    assert records.rfs is not None and (records.rfs.days, records.rfs.event) == (72, True)
    assert (records.efs.days, records.efs.event) == (10, True)


@pytest.mark.req("CLINICAL_SPEC-6")
def test_death_after_the_cutoff_is_censored_at_the_cutoff_and_contacts_after_it_ignored():
    """§6: events after the cut-off are ignored; censored at min(last known alive, cut-off)."""
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(250),
        responses=(DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),),
        death_date=day(260),
    )
    records = time_to_event_records(course, cutoff=day(200))
    assert (records.os.days, records.os.event) == (200, False)
    assert (records.competing.time, records.competing.cause) == (200, RelapseOutcome.CENSORED)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_relapse_and_death_on_the_same_day_count_as_relapse_for_competing_risks():
    """§5.3: relapse with non-relapse death as competing risk; a death on the relapse day is
    not a death without relapse."""
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(90),
        responses=(DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),),
        relapse_dates=(day(90),),
        death_date=day(90),
    )
    records = time_to_event_records(course, cutoff=day(365))
    assert (records.competing.time, records.competing.cause) == (90, RelapseOutcome.RELAPSE)
    assert (records.os.days, records.os.event) == (90, True)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_hsct_is_not_censored_in_primary_but_is_in_the_sensitivity_analysis():
    """§5.3: relapse day 200 after HSCT day 60: primary → DOR event 200 − 28 = 172; the
    sensitivity analysis censors at HSCT → DOR censored at 60 − 28 = 32."""
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(300),
        responses=(DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),),
        relapse_dates=(day(200),),
        hsct_date=day(60),
    )
    primary = time_to_event_records(course, cutoff=day(365))
    sensitivity = time_to_event_records(course, cutoff=day(365), censor_at_hsct=True)
    assert primary.dor is not None and (primary.dor.days, primary.dor.event) == (172, True)
    assert sensitivity.dor is not None and (sensitivity.dor.days, sensitivity.dor.event) == (32, False)
