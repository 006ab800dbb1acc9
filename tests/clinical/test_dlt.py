"""DLT candidates, DLT-evaluable status and the escalation decision (CLINICAL_SPEC §3.1, §8)."""

from decimal import Decimal

import pytest

from clinical.dlt import (
    AeCourse,
    Criterion,
    Day28Counts,
    Evaluability,
    ReplaceReason,
    detect_candidates,
    dlt_evaluable,
    escalation_decision,
    longest_run,
)
from clinical.escalation import Decision

BLOOD = "Blood and lymphatic system disorders"
INV = "Investigations"


def detect(**kwargs):
    kwargs.setdefault("window_days", 28)
    kwargs.setdefault("as_of_day", 40)
    return detect_candidates(**kwargs)


# --- §8 DLT worked examples -------------------------------------------------------------------


def test_universal_lymphopenia_after_lymphodepletion_is_no_candidate():
    """§8: Lymphocyte count decreased grade 4 on days 1–27 → no candidate."""
    ae = AeCourse(1, "Lymphocyte count decreased", INV, 4, 1, None)
    assert detect(adverse_events=[ae]) == []


def test_neutropenia_grade4_at_day28_with_marrow_blasts_2_is_a_candidate():
    """§8: Neutrophil count decreased grade 4 at the day-28 assessment, marrow blasts 2% → candidate."""
    found = detect(day28=Day28Counts(neutrophil_grade=4, platelet_grade=1, marrow_blasts_pct=Decimal("2")))
    assert [(c.criterion, c.key, c.awaiting_marrow) for c in found] == [
        (Criterion.CYTOPENIA, "cytopenia:Neutrophil count decreased", False)
    ]


def test_crs_grade3_days_2_to_4_then_grade2_is_no_candidate():
    """§8: CRS grade 3 on days 2–4 and grade 2 on day 5 → no candidate."""
    assert detect(crs_daily={1: 1, 2: 3, 3: 3, 4: 3, 5: 2}) == []


def test_crs_grade3_days_2_to_5_is_a_candidate():
    """§8: grade 3 on days 2–5 → candidate."""
    found = detect(crs_daily={1: 1, 2: 3, 3: 3, 4: 3, 5: 3, 6: 1})
    assert [(c.criterion, c.onset_day) for c in found] == [(Criterion.CRS, 2)]


@pytest.mark.parametrize(
    ("n", "d", "decision"),
    [
        (3, 0, Decision.ESCALATE),
        (3, 1, Decision.EXPAND),
        (6, 1, Decision.ESCALATE),
        (4, 2, Decision.ABOVE_MTD),
        (4, 1, Decision.ENROLLING),
        (2, 0, Decision.ENROLLING),
    ],
)
def test_worked_3_plus_3_examples(n, d, decision):
    """§8: 0/3 escalate; 1/3 expand; 1/6 escalate; 2/4 above MTD; 1/4 enrolling; 0/2 enrolling."""
    result = escalation_decision(
        rule="3+3", evaluable=n, confirmed_dlts=d, pending_candidates=0, is_highest_level=False
    )
    assert result.decision is decision
    assert result.pending is False


# --- every 3+3 branch ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "d", "highest", "decision"),
    [
        (2, 2, False, Decision.ABOVE_MTD),  # d ≥ 2 at any n ≤ 6
        (6, 2, False, Decision.ABOVE_MTD),
        (6, 0, False, Decision.ESCALATE),
        (6, 0, True, Decision.MTD),
        (6, 1, True, Decision.MTD),
        (5, 1, False, Decision.ENROLLING),
        (0, 0, False, Decision.ENROLLING),
    ],
)
def test_each_branch(n, d, highest, decision):
    assert (
        escalation_decision(
            rule="3+3", evaluable=n, confirmed_dlts=d, pending_candidates=0, is_highest_level=highest
        ).decision
        is decision
    )


def test_pending_beside_the_decision():
    result = escalation_decision(
        rule="3+3", evaluable=3, confirmed_dlts=0, pending_candidates=1, is_highest_level=False
    )
    assert (result.decision, result.pending, result.pending_candidates) == (Decision.ESCALATE, True, 1)


def test_unknown_rule_refused():
    with pytest.raises(ValueError, match="not implemented"):
        escalation_decision(rule="BOIN", evaluable=3, confirmed_dlts=0, pending_candidates=0, is_highest_level=False)


# --- CRS / ICANS thresholds ---------------------------------------------------------------------


def test_grade4_on_one_day_is_a_candidate_for_crs_and_icans():
    found = detect(crs_daily={3: 4}, icans_daily={5: 2, 6: 4})
    assert [(c.criterion, c.key, c.onset_day) for c in found] == [
        (Criterion.CRS, "crs:g4", 3),
        (Criterion.ICANS, "icans:g4", 6),
    ]


def test_icans_grade3_three_days_no_four_days_yes():
    assert detect(icans_daily={4: 3, 5: 3, 6: 3}) == []
    assert [c.key for c in detect(icans_daily={4: 3, 5: 3, 6: 3, 7: 3})] == ["icans:g3run"]


def test_an_unassessed_day_breaks_the_run():
    assert detect(crs_daily={2: 3, 3: 3, 5: 3, 6: 3}) == []


def test_crs_outside_the_window_is_no_candidate():
    assert detect(crs_daily={29: 4}) == []
    assert [c.key for c in detect(crs_daily={28: 4})] == ["crs:g4"]


def test_longest_run_reports_start():
    assert longest_run({1: 3, 2: 3, 4: 3, 5: 4, 6: 3, 7: 1}, at_least=3, first_day=0, last_day=28) == (3, 4)
    assert longest_run({}, at_least=3, first_day=0, last_day=28) == (0, 0)


# --- GvHD, cytopenia, death ---------------------------------------------------------------------


@pytest.mark.parametrize(("grade", "flagged"), [(2, False), (3, True), (4, True)])
def test_gvhd_overall_grade_iii_iv(grade, flagged):
    assert bool(detect(gvhd_overall_grade=grade, gvhd_onset_day=20)) is flagged


def test_gvhd_after_the_window_is_no_candidate():
    assert detect(gvhd_overall_grade=4, gvhd_onset_day=29) == []


@pytest.mark.parametrize(
    ("blasts", "expected"),
    [(Decimal("4.9"), 1), (Decimal("5"), 0), (Decimal("30"), 0)],
)
def test_day28_cytopenia_marrow_blast_boundary(blasts, expected):
    """Blasts < 5% makes persisting grade-4 cytopenia a candidate; exactly 5% does not."""
    found = detect(day28=Day28Counts(neutrophil_grade=None, platelet_grade=4, marrow_blasts_pct=blasts))
    assert len(found) == expected


def test_day28_cytopenia_without_marrow_is_awaiting_marrow():
    found = detect(day28=Day28Counts(neutrophil_grade=4, platelet_grade=4, marrow_blasts_pct=None))
    assert [(c.key, c.awaiting_marrow) for c in found] == [
        ("cytopenia:Neutrophil count decreased", True),
        ("cytopenia:Platelet count decreased", True),
    ]


def test_day28_grade3_is_no_candidate():
    assert detect(day28=Day28Counts(neutrophil_grade=3, platelet_grade=3, marrow_blasts_pct=Decimal(1))) == []


@pytest.mark.parametrize(("day", "progression", "flagged"), [(10, False, True), (10, True, False), (29, False, False)])
def test_death_in_window_not_from_progression(day, progression, flagged):
    found = detect(death_day=day, death_from_progression=progression)
    assert [c.criterion for c in found] == ([Criterion.DEATH] if flagged else [])


# --- other AEs: grade ≥ 3, onset in window, not back to ≤ 1 within 7 days, exclusions ---------


def ae(term="Hypotension", soc="Vascular disorders", grade=3, onset=5, back=None, **kw):
    return AeCourse(7, term, soc, grade, onset, back, **kw)


@pytest.mark.parametrize(("back", "flagged"), [(12, False), (13, True), (None, True)])
def test_recovery_within_7_days_boundary(back, flagged):
    """Onset day 5: back to ≤ 1 on day 12 (7 days) is no candidate; day 13 is."""
    assert bool(detect(adverse_events=[ae(back=back)])) is flagged


def test_unrecovered_ae_waits_out_its_7_days():
    assert detect(adverse_events=[ae(onset=5)], as_of_day=12) == []
    assert [c.key for c in detect(adverse_events=[ae(onset=5)], as_of_day=13)] == ["ae:7"]


def test_grade2_is_no_candidate_grade3_is():
    assert detect(adverse_events=[ae(grade=2)]) == []
    assert len(detect(adverse_events=[ae(grade=3)])) == 1


def test_onset_outside_the_window():
    assert detect(adverse_events=[ae(onset=-1)]) == []
    assert detect(adverse_events=[ae(onset=29)]) == []
    assert len(detect(adverse_events=[ae(onset=28)], as_of_day=40)) == 1


@pytest.mark.parametrize(
    ("term", "soc"),
    [
        ("Anemia", BLOOD),  # any term of the blood SOC
        ("Febrile neutropenia", BLOOD),
        ("Neutrophil count decreased", INV),
        ("Platelet count decreased", INV),
        ("White blood cell decreased", INV),
        ("CD4 lymphocytes decreased", INV),
        ("Cytokine release syndrome", "Immune system disorders"),
    ],
)
def test_haematologic_and_crs_terms_excluded(term, soc):
    assert detect(adverse_events=[ae(term=term, soc=soc, grade=4)]) == []


def test_icans_owned_ae_excluded_and_expected_toxicity_excluded():
    assert (
        detect(adverse_events=[ae(term="Encephalopathy", soc="Nervous system disorders", from_crs_or_icans=True)]) == []
    )
    assert detect(adverse_events=[ae(term="Sepsis", soc="Infections")], expected_toxicities=["sepsis"]) == []
    assert len(detect(adverse_events=[ae(term="Sepsis", soc="Infections")], expected_toxicities=[])) == 1


def test_other_investigations_are_not_excluded():
    assert len(detect(adverse_events=[ae(term="Alanine aminotransferase increased", soc=INV, grade=3)])) == 1


# --- DLT-evaluable ------------------------------------------------------------------------------


def evaluable(**kw):
    kw.setdefault("infused", True)
    kw.setdefault("dose_in_range", True)
    kw.setdefault("window_days", 28)
    kw.setdefault("as_of_day", 40)
    return dlt_evaluable(**kw)


def test_completed_window_is_evaluable_and_day28_is_still_in_window():
    assert evaluable().status is Evaluability.EVALUABLE
    assert evaluable(as_of_day=29).status is Evaluability.EVALUABLE
    assert evaluable(as_of_day=28).status is Evaluability.IN_WINDOW


def test_confirmed_dlt_before_the_window_ends_is_evaluable_at_once():
    assert evaluable(as_of_day=10, confirmed_dlt_day=8).status is Evaluability.EVALUABLE


def test_dlt_then_withdrawal_is_still_evaluable():
    assert evaluable(as_of_day=15, confirmed_dlt_day=8, left_window_day=12).status is Evaluability.EVALUABLE


def test_withdrawal_inside_the_window_is_to_replace():
    status = evaluable(as_of_day=40, left_window_day=20)
    assert (status.status, status.reason) == (Evaluability.TO_REPLACE, ReplaceReason.LEFT_WINDOW)


def test_leaving_on_the_last_window_day_completes_it():
    assert evaluable(left_window_day=28).status is Evaluability.EVALUABLE
    assert evaluable(left_window_day=27).status is Evaluability.TO_REPLACE


def test_under_dosed_is_to_replace_even_with_a_dlt():
    status = evaluable(dose_in_range=False, dose_below_range=True, confirmed_dlt_day=5)
    assert (status.status, status.reason) == (Evaluability.TO_REPLACE, ReplaceReason.UNDER_DOSED)
    assert evaluable(dose_in_range=False).reason is ReplaceReason.OVER_DOSED


def test_not_infused():
    assert evaluable(infused=False).status is Evaluability.NOT_INFUSED
