"""Response rules: boundaries of every §5.1/§5.2 threshold and every response worked example of
CLINICAL_SPEC §8, through the pure functions (no database)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from clinical.protocol import ProtocolChoices
from clinical.response import (
    Baseline,
    Category,
    CnsStatus,
    DatedResponse,
    EmdResponse,
    ExtramedullaryAssessment,
    MarrowAssessment,
    MolecularRemission,
    MrdMethod,
    MrdStatus,
    MrdTest,
    ResponseSettings,
    SubjectCourse,
    best_overall_response,
    extramedullary_response,
    last_known_alive,
    marrow_response,
    molecular_remission,
    mrd_recurrences,
    mrd_status,
    mrd_test_status,
    overall_response,
    response_label,
    time_to_event_records,
)
from clinical.survival import RelapseOutcome

DAY0 = date(2026, 1, 5)
GT = ResponseSettings(count_operator=">", relapse_operator=">")
BASELINE = Baseline(marrow_blasts_pct=D("60"), peripheral_blasts_pct=D("10"))


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def marrow(blasts="3", anc="1.2", plt="120", pb="0", transfused=False, cns=CnsStatus.CNS1, emd=False):
    return MarrowAssessment(
        marrow_blasts_pct=D(blasts),
        peripheral_blasts_pct=D(pb),
        anc=D(anc),
        platelets=D(plt),
        transfused_previous_7_days=transfused,
        cns_status=cns,
        extramedullary_disease=emd,
    )


def flow(detected=False, level=None, sensitivity="1E-5", cells=4_000_000):
    return MrdTest(
        method=MrdMethod.FLOW,
        detected=detected,
        level_pct=None if level is None else D(level),
        sensitivity=None if sensitivity is None else D(sensitivity),
        cells_analysed=cells,
    )


# --- §5.1 boundaries, table-driven --------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.1")
@pytest.mark.parametrize(
    ("rules", "anc", "plt", "expected", "flagged"),
    [
        (ResponseSettings(), "1.0", "100", Category.CR, {"anc", "platelets"}),  # §8: exactly, with ≥ → CR
        (GT, "1.0", "100", Category.CRI, {"anc", "platelets"}),  # §8: with > → CRi
        (ResponseSettings(), "0.99", "120", Category.CRI, set()),
        (ResponseSettings(), "1.01", "120", Category.CR, set()),
        (ResponseSettings(), "1.2", "99.9", Category.CRI, set()),
        (ResponseSettings(), "1.2", "100.1", Category.CR, set()),
        (GT, "1.01", "100.1", Category.CR, set()),
    ],
)
def test_count_operator_boundaries(rules, anc, plt, expected, flagged):
    result = marrow_response(marrow(anc=anc, plt=plt), baseline=BASELINE, settings=rules)
    assert result.category == expected
    assert {b.field for b in result.boundary} == flagged


@pytest.mark.req("CLINICAL_SPEC-5.1")
@pytest.mark.parametrize(
    ("rules", "blasts", "expected", "flagged"),
    [
        (ResponseSettings(), "4.9", Category.CR, False),
        (ResponseSettings(), "5", Category.PR, True),  # §8: exactly 5% from 60% → PR, not CR, flagged
        (ResponseSettings(), "5.1", Category.PR, False),
        (GT, "5", Category.CR, True),  # NCCN "> 5%": 5% is remission, still flagged
        (GT, "5.1", Category.PR, False),
    ],
)
def test_blast_threshold_boundaries(rules, blasts, expected, flagged):
    result = marrow_response(marrow(blasts=blasts), baseline=BASELINE, settings=rules)
    assert result.category == expected
    assert any(b.field == "marrow_blasts_pct" and b.threshold == D("5") for b in result.boundary) is flagged


@pytest.mark.req("CLINICAL_SPEC-5.1")
@pytest.mark.parametrize(
    ("baseline", "blasts", "expected"),
    [
        ("60", "25", Category.PR),  # upper edge of 5–25%, fall 58%
        ("60", "25.1", Category.NR),
        ("50", "25", Category.PR),  # fall exactly 50%
        ("50", "25.1", Category.NR),  # fall 49.8%
        ("30", "15", Category.PR),
        ("30", "15.1", Category.NR),
    ],
)
def test_partial_response_range_and_fall(baseline, blasts, expected):
    result = marrow_response(marrow(blasts=blasts), baseline=Baseline(marrow_blasts_pct=D(baseline)))
    assert result.category == expected


def test_fall_of_exactly_half_and_25_percent_blasts_are_flagged():
    result = marrow_response(marrow(blasts="25"), baseline=Baseline(marrow_blasts_pct=D("50")))
    rules = {b.rule for b in result.boundary}
    assert "≥ 50% fall from baseline" in rules and "PR blasts 5–25%" in rules


@pytest.mark.req("CLINICAL_SPEC-5.1")
@pytest.mark.parametrize(
    ("baseline", "blasts", "pb_baseline", "pb", "expected", "flag"),
    [
        ("40", "50", "0", "0", Category.PD, True),  # rise exactly 25%
        ("40", "49.9", "0", "0", Category.NR, False),
        ("40", "50.1", "0", "0", Category.PD, False),
        ("40", "30", "8", "10", Category.PD, True),  # circulating blasts rise exactly 25%
        ("40", "30", "8", "9.9", Category.NR, False),
    ],
)
def test_progression_rise_boundaries(baseline, blasts, pb_baseline, pb, expected, flag):
    base = Baseline(marrow_blasts_pct=D(baseline), peripheral_blasts_pct=D(pb_baseline))
    result = marrow_response(marrow(blasts=blasts, pb=pb), baseline=base)
    assert result.category == expected
    assert any(b.threshold == D("25") and "rise" in b.rule for b in result.boundary) is flag


def test_new_extramedullary_disease_is_progression_and_cns_blocks_remission():
    assert marrow_response(marrow(emd=True), baseline=BASELINE).category == Category.PD
    assert marrow_response(marrow(cns=CnsStatus.CNS3), baseline=BASELINE).category == Category.PD
    known_cns = Baseline(marrow_blasts_pct=D("60"), cns_status=CnsStatus.CNS2)
    assert marrow_response(marrow(cns=CnsStatus.CNS2), baseline=known_cns).category == Category.NR


def test_transfusion_and_circulating_blasts():
    assert marrow_response(marrow(transfused=True), baseline=BASELINE).category == Category.CRI
    assert marrow_response(marrow(pb="1"), baseline=BASELINE).category == Category.NR


@pytest.mark.req("CLINICAL_SPEC-5.1")
@pytest.mark.parametrize(
    ("rules", "blasts", "pb", "cns", "expected"),
    [
        (ResponseSettings(), "4.9", "0", CnsStatus.CNS1, Category.CR),
        (ResponseSettings(), "5", "0", CnsStatus.CNS1, Category.RELAPSE),  # ≥ 5%
        (GT, "5", "0", CnsStatus.CNS1, Category.CR),  # NCCN > 5%
        (GT, "5.1", "0", CnsStatus.CNS1, Category.RELAPSE),
        (ResponseSettings(), "1", "0.5", CnsStatus.CNS1, Category.RELAPSE),  # circulating blasts
        (ResponseSettings(), "1", "0", CnsStatus.CNS3, Category.RELAPSE),  # isolated CNS
    ],
)
def test_relapse_after_remission(rules, blasts, pb, cns, expected):
    result = marrow_response(
        marrow(blasts=blasts, pb=pb, cns=cns), baseline=BASELINE, prior_remission=True, settings=rules
    )
    assert result.category == expected


def test_protocol_choices_hand_their_response_settings_over():
    choices = ProtocolChoices(count_operator=">", relapse_operator=">")
    assert choices.response_settings() == GT
    assert ProtocolChoices().response_settings() == ResponseSettings()


# --- §5.2 MRD -----------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.2")
@pytest.mark.parametrize(
    ("test", "expected"),
    [
        (flow(level="0.01", detected=True), MrdStatus.POSITIVE),  # §8: exactly 0.01% → MRD+
        (flow(level="0.0099", detected=True), MrdStatus.NEGATIVE),
        (flow(level="0.005", detected=True, cells=1_000_000), MrdStatus.NEGATIVE),  # §8 CRi MRD− example
        (flow(), MrdStatus.NEGATIVE),  # §8: 10⁻⁵ on 4,000,000 cells
        (flow(sensitivity="1E-3", cells=20_000), MrdStatus.NOT_EVALUABLE),  # §8: 10⁻³ on 20,000
        (flow(sensitivity="1E-4", cells=500_000), MrdStatus.NEGATIVE),  # at both minimums
        (flow(sensitivity="1E-4", cells=499_999), MrdStatus.NOT_EVALUABLE),
        (flow(sensitivity="1.1E-4"), MrdStatus.NOT_EVALUABLE),
        (flow(sensitivity=None), MrdStatus.NOT_EVALUABLE),
        (flow(detected=True), MrdStatus.NOT_EVALUABLE),  # detected, no level
        (MrdTest(method=MrdMethod.NGS, detected=False, sensitivity=D("1E-6")), MrdStatus.NEGATIVE),  # no cell rule
    ],
)
def test_mrd_status_per_test(test, expected):
    assert mrd_test_status(test) == expected


def test_mrd_over_several_tests():
    assert mrd_status([]) is None
    assert mrd_status([flow(), flow(level="0.02", detected=True)]) == MrdStatus.POSITIVE
    assert mrd_status([flow(sensitivity="1E-3", cells=20_000), flow()]) == MrdStatus.NEGATIVE
    assert mrd_status([flow(sensitivity="1E-3", cells=20_000)]) == MrdStatus.NOT_EVALUABLE


def test_molecular_remission():
    pcr = MrdTest(method=MrdMethod.TCR_PCR, detected=True, level_pct=D("2"), sensitivity=D("1E-5"))
    gone = MrdTest(method=MrdMethod.TCR_PCR, detected=False, sensitivity=D("1E-5"))
    blunt = MrdTest(method=MrdMethod.TCR_PCR, detected=False, sensitivity=D("1E-3"))
    assert molecular_remission(baseline=[pcr], tests=[gone]) == MolecularRemission.ACHIEVED
    assert molecular_remission(baseline=[pcr], tests=[blunt]) == MolecularRemission.NOT_EVALUABLE
    assert molecular_remission(baseline=[pcr], tests=[pcr]) == MolecularRemission.NOT_ACHIEVED
    assert molecular_remission(baseline=[flow(detected=True, level="3")], tests=[gone]) == MolecularRemission.NO_MARKER
    assert molecular_remission(baseline=[pcr], tests=[flow()]) == MolecularRemission.NOT_EVALUABLE


# --- §5.1 extramedullary and overall ------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.1")
@pytest.mark.parametrize(
    ("emd", "expected"),
    [
        (ExtramedullaryAssessment(disease_at_baseline=True, deauville=3), EmdResponse.CR),  # residual mass allowed
        (ExtramedullaryAssessment(disease_at_baseline=True, deauville=4), EmdResponse.SD),
        (ExtramedullaryAssessment(True, deauville=4, spd_change_from_baseline_pct=D("-50")), EmdResponse.PR),
        (ExtramedullaryAssessment(True, deauville=4, spd_change_from_baseline_pct=D("-49.9")), EmdResponse.SD),
        (ExtramedullaryAssessment(True, spd_change_from_nadir_pct=D("50")), EmdResponse.PD),
        (ExtramedullaryAssessment(True, spd_change_from_nadir_pct=D("49.9")), EmdResponse.SD),
        (ExtramedullaryAssessment(False, new_lesion=True), EmdResponse.PD),
        (ExtramedullaryAssessment(False), EmdResponse.NOT_APPLICABLE),
    ],
)
def test_extramedullary_compartment(emd, expected):
    assert extramedullary_response(emd) == expected


def test_overall_response_is_the_worse_compartment():
    assert overall_response(Category.CR, EmdResponse.PR) == Category.PR
    assert overall_response(Category.CRI, EmdResponse.CR) == Category.CRI
    assert overall_response(Category.CR, EmdResponse.SD) == Category.NR
    assert overall_response(Category.CR, EmdResponse.PD) == Category.PD
    assert overall_response(Category.CR, EmdResponse.PD, prior_remission=True) == Category.RELAPSE
    assert overall_response(Category.PR, EmdResponse.NOT_APPLICABLE) == Category.PR


# --- §8 response worked examples ------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-8")
@pytest.mark.parametrize(
    ("assessment", "tests", "expected"),
    [
        (marrow("3", "1.2", "120"), [flow()], "CR MRD−"),
        (marrow("2", "1.5", "150"), [flow(sensitivity="1E-3", cells=20_000)], "CR, MRD unknown"),
        (marrow("3", "0.6", "40"), [flow(detected=True, level="0.005", cells=1_000_000)], "CRi MRD−"),
        (marrow("3", "1.2", "120"), [flow(detected=True, level="0.01")], "CR MRD+"),
    ],
)
def test_worked_examples_per_assessment(assessment, tests, expected):
    result = marrow_response(assessment, baseline=BASELINE)
    assert response_label(result.category, mrd_status(tests)) == expected


def test_worked_example_day28_window():
    cr30 = DatedResponse(day(30), Category.CR, MrdStatus.NEGATIVE)
    bor = best_overall_response([cr30], infusion_date=DAY0, horizon_day=28, window_after_days=3)
    assert bor.label == "CR MRD−" and bor.window_to == day(31)
    late = DatedResponse(day(33), Category.CR, MrdStatus.NEGATIVE)
    bor = best_overall_response([late], infusion_date=DAY0, horizon_day=28, window_after_days=3)
    assert bor.not_assessed and bor.label == "not assessed" and not bor.responder
    on_31 = DatedResponse(day(31), Category.CRI, MrdStatus.POSITIVE)
    assert best_overall_response([on_31], infusion_date=DAY0, horizon_day=28, window_after_days=3).label == ("CRi MRD+")
    one_year = best_overall_response([late], infusion_date=DAY0, horizon_day=365, window_after_days=7)
    assert one_year.window_to == day(372) and one_year.label == "CR MRD−"


def test_worked_example_best_response_and_dor_46_days():
    responses = (
        DatedResponse(day(14), Category.CRI, MrdStatus.POSITIVE),
        DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),
        DatedResponse(day(60), Category.RELAPSE),
    )
    bor = best_overall_response(responses, infusion_date=DAY0, horizon_day=365, window_after_days=7)
    assert bor.label == "CR MRD−" and bor.best.assessed_on == day(28)
    course = SubjectCourse(infusion_date=DAY0, last_known_alive=day(200), responses=responses, relapse_dates=(day(60),))
    records = time_to_event_records(course, cutoff=day(365))
    assert (records.dor.days, records.dor.event) == (46, True)
    assert (records.rfs.days, records.rfs.event) == (46, True)
    assert (records.efs.days, records.efs.event) == (60, True)
    assert (records.os.days, records.os.event) == (200, False)
    assert (records.competing.time, records.competing.cause) == (60, RelapseOutcome.RELAPSE)


def test_worked_example_hsct_excludes_later_assessments():
    responses = (DatedResponse(day(28), Category.CRI, MrdStatus.NEGATIVE), DatedResponse(day(100), Category.CR))
    bor = best_overall_response(
        responses, infusion_date=DAY0, horizon_day=365, window_after_days=7, new_therapy_date=day(40)
    )
    assert bor.label == "CRi MRD−" and bor.excluded_after_new_therapy == (day(100),)


def test_ranking_order():
    ordered = [
        (Category.PD, None),
        (Category.NR, None),
        (Category.PR, None),
        (Category.CRI, MrdStatus.POSITIVE),
        (Category.CRI, MrdStatus.NEGATIVE),
        (Category.CR, MrdStatus.NOT_EVALUABLE),
        (Category.CR, MrdStatus.NEGATIVE),
    ]
    for n in range(1, len(ordered)):
        responses = [DatedResponse(day(i + 1), c, m) for i, (c, m) in enumerate(ordered[: n + 1])]
        bor = best_overall_response(responses, infusion_date=DAY0, horizon_day=365, window_after_days=7)
        assert (bor.best.category, bor.best.mrd) == ordered[n]


def test_mrd_recurrence_is_apart_from_relapse():
    responses = [
        DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),
        DatedResponse(day(90), Category.CR, MrdStatus.POSITIVE),
        DatedResponse(day(180), Category.RELAPSE),
    ]
    assert mrd_recurrences(responses) == [day(90)]
    assert mrd_recurrences(responses[:1] + responses[2:]) == []


# --- §5.3 / §6 time-to-event --------------------------------------------------------------------


def test_efs_event_at_day_0_without_day28_remission():
    course = SubjectCourse(
        infusion_date=DAY0, last_known_alive=day(100), responses=(DatedResponse(day(28), Category.NR),)
    )
    records = time_to_event_records(course, cutoff=day(365))
    assert (records.efs.days, records.efs.event) == (0, True)
    assert records.rfs is None and records.dor is None
    assert (records.competing.time, records.competing.cause) == (100, RelapseOutcome.CENSORED)


def test_non_relapse_death_competes_and_censors_dor():
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(120),
        responses=(DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),),
        death_date=day(150),
    )
    records = time_to_event_records(course, cutoff=day(365))
    assert (records.os.days, records.os.event) == (150, True)
    assert (records.rfs.days, records.rfs.event) == (122, True)
    assert (records.dor.days, records.dor.event) == (122, False)
    assert (records.competing.time, records.competing.cause) == (150, RelapseOutcome.NON_RELAPSE_DEATH)


def test_events_after_the_cutoff_are_ignored_and_hsct_censoring_is_a_sensitivity_analysis():
    course = SubjectCourse(
        infusion_date=DAY0,
        last_known_alive=day(400),
        responses=(DatedResponse(day(28), Category.CR, MrdStatus.NEGATIVE),),
        relapse_dates=(day(200),),
        death_date=day(380),
        hsct_date=day(60),
    )
    primary = time_to_event_records(course, cutoff=day(365))
    assert (primary.os.days, primary.os.event) == (365, False)
    assert (primary.dor.days, primary.dor.event) == (172, True)
    sensitivity = time_to_event_records(course, cutoff=day(365), censor_at_hsct=True)
    assert (sensitivity.dor.days, sensitivity.dor.event) == (32, False)
    assert (sensitivity.os.days, sensitivity.os.event) == (60, False)


def test_last_known_alive_ignores_contacts_after_the_cutoff():
    assert last_known_alive(infusion_date=DAY0, alive_on=[day(90), day(400)], cutoff=day(365)) == day(90)
    assert last_known_alive(infusion_date=DAY0, alive_on=[]) == DAY0
