"""Independent audit: DLT candidates, evaluability, 3+3 escalation and dose range at their
boundaries (CLINICAL_SPEC §3.1, §7, §8)."""

from __future__ import annotations

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
)
from clinical.dose import car_positive_cells_per_kg, check_dose
from clinical.escalation import Decision, LevelCount, dose_level_decision, recommended_dose
from clinical.protocol import DoseLevel

pytestmark = pytest.mark.req("CLINICAL_SPEC-3.1")

W = 28


def criteria(**kw) -> list[Criterion]:
    kw.setdefault("window_days", W)
    kw.setdefault("as_of_day", 60)
    return [c.criterion for c in detect_candidates(**kw)]


# --- CRS / ICANS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("daily", "expected"),
    [
        ({2: 3, 3: 3, 4: 3, 5: 2}, []),  # §8: grade 3 on days 2–4 only
        ({2: 3, 3: 3, 4: 3, 5: 3}, [Criterion.CRS]),  # §8: days 2–5
        ({25: 3, 26: 3, 27: 3, 28: 3}, [Criterion.CRS]),  # last 4 days of the window
        ({26: 3, 27: 3, 28: 3, 29: 3}, []),  # only 3 of the days inside the window
        ({28: 4}, [Criterion.CRS]),  # grade 4 on the last window day
        ({29: 4}, []),  # grade 4 after the window
        ({0: 4}, [Criterion.CRS]),  # the infusion day is in the window
        ({2: 3, 3: 4, 4: 3, 5: 3}, [Criterion.CRS]),  # any grade 4
        ({2: 5}, [Criterion.CRS]),  # grade 5 (death from CRS) is at least grade 4
    ],
)
def test_crs_candidate_boundaries(daily, expected):
    """§3.1: CRS grade 4, or grade 3 on 4 or more consecutive assessed days, in days 0–28."""
    assert criteria(crs_daily=daily) == expected


def test_icans_rule_mirrors_crs():
    """§3.1: ICANS grade 4, or grade 3 on ≥ 4 consecutive assessed days."""
    assert criteria(icans_daily={5: 3, 6: 3, 7: 3, 8: 3}) == [Criterion.ICANS]
    assert criteria(icans_daily={5: 3, 6: 3, 7: 3}) == []


# --- GvHD, cytopenia ---------------------------------------------------------------------------


@pytest.mark.parametrize(("grade", "found"), [(2, False), (3, True), (4, True)])
def test_gvhd_grade_iii_iv(grade, found):
    """§3.1: acute GvHD MAGIC overall grade III–IV."""
    assert (criteria(gvhd_overall_grade=grade, gvhd_onset_day=20) == [Criterion.GVHD]) is found


@pytest.mark.parametrize(
    ("neutrophil", "blasts", "expected", "awaiting"),
    [
        (4, Decimal("4.9"), 1, False),
        (4, Decimal("5"), 0, False),  # blasts < 5 % required: 5 % exactly is not a candidate
        (3, Decimal("1"), 0, False),  # grade 3 at day 28 is not "still grade 4"
        (4, None, 1, True),  # awaiting marrow
    ],
)
def test_persisting_grade_4_cytopenia_needs_marrow_blasts_below_5(neutrophil, blasts, expected, awaiting):
    """§3.1: neutrophil/platelet count decreased still grade 4 at day 28 with marrow blasts < 5 %."""
    found = detect_candidates(
        window_days=W,
        as_of_day=31,
        day28=Day28Counts(neutrophil_grade=neutrophil, platelet_grade=2, marrow_blasts_pct=blasts),
    )
    assert len(found) == expected
    if found:
        assert found[0].criterion is Criterion.CYTOPENIA and found[0].awaiting_marrow is awaiting


# --- other AEs -----------------------------------------------------------------------------------


def ae(term="Alanine aminotransferase increased", soc="Investigations", grade=3, onset=10, back=None, **kw):
    return AeCourse(ae_id=1, term=term, soc=soc, grade=grade, onset_day=onset, back_to_grade1_day=back, **kw)


@pytest.mark.parametrize(
    ("course", "as_of", "found"),
    [
        (ae(back=17), 60, False),  # back to ≤ 1 exactly 7 days after onset: within 7 days
        (ae(back=18), 60, True),  # 8 days
        (ae(back=None), 17, False),  # still inside its 7 days: not yet
        (ae(back=None), 18, True),
        (ae(grade=2, back=None), 60, False),  # grade < 3
        (ae(onset=28, back=None), 60, True),  # onset on the last window day
        (ae(onset=29, back=None), 60, False),  # onset after the window
        (ae(onset=-1, back=None), 60, False),  # before infusion
        (ae(term="Febrile neutropenia", soc="Blood and lymphatic system disorders"), 60, False),
        (ae(term="White blood cell decreased"), 60, False),
        (ae(term="CD4 lymphocytes decreased"), 60, False),
        (ae(term="Cytokine release syndrome", soc="Immune system disorders"), 60, False),
        (ae(term="Acute kidney injury", soc="Renal and urinary disorders", from_crs_or_icans=True), 60, False),
        (ae(term="Acute kidney injury", soc="Renal and urinary disorders"), 60, True),
    ],
)
def test_other_ae_rule_and_exclusions(course, as_of, found):
    """§3.1: other AE grade ≥ 3 with onset in days 0–28 not back to ≤ 1 within 7 days, except
    haematologic terms, CRS/ICANS themselves and the expected-toxicity list."""
    assert (criteria(adverse_events=[course], as_of_day=as_of) == [Criterion.OTHER_AE]) is found


def test_expected_toxicity_list_is_matched_case_insensitively():
    """§3.1: terms on the study's expected-toxicity list are not candidates."""
    course = ae(term="Hypokalemia", soc="Metabolism and nutrition disorders")
    assert criteria(adverse_events=[course], expected_toxicities=("hypokalemia",)) == []
    assert criteria(adverse_events=[course]) == [Criterion.OTHER_AE]


@pytest.mark.parametrize(
    ("death_day", "progression", "found"),
    [(28, False, True), (29, False, False), (10, True, False), (0, False, True)],
)
def test_death_in_window_not_from_progression(death_day, progression, found):
    """§3.1: death in the window (days 0–28) not due to disease progression."""
    assert (criteria(death_day=death_day, death_from_progression=progression) == [Criterion.DEATH]) is found


# --- evaluability ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "status", "reason"),
    [
        ({"as_of_day": 28}, Evaluability.IN_WINDOW, None),  # day 28 is still in the window
        ({"as_of_day": 29}, Evaluability.EVALUABLE, None),
        ({"as_of_day": 40, "left_window_day": 20}, Evaluability.TO_REPLACE, ReplaceReason.LEFT_WINDOW),
        ({"as_of_day": 40, "confirmed_dlt_day": 10, "left_window_day": 20}, Evaluability.EVALUABLE, None),
        ({"as_of_day": 12, "confirmed_dlt_day": 10}, Evaluability.EVALUABLE, None),
        (
            {"as_of_day": 40, "dose_in_range": False, "dose_below_range": True},
            Evaluability.TO_REPLACE,
            ReplaceReason.UNDER_DOSED,
        ),
        ({"as_of_day": 40, "infused": False}, Evaluability.NOT_INFUSED, None),
    ],
)
def test_dlt_evaluable(kw, status, reason):
    """§3.1 DLT-evaluable: infused, dose in range, and window completed or a confirmed DLT in it;
    leaving early or under-dosed → to replace."""
    kw = {"infused": True, "dose_in_range": True, "window_days": W, **kw}
    result = dlt_evaluable(**kw)
    assert (result.status, result.reason) == (status, reason)


# --- escalation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "d", "highest", "decision"),
    [
        (3, 0, False, Decision.ESCALATE),
        (3, 1, False, Decision.EXPAND),
        (6, 1, False, Decision.ESCALATE),
        (6, 1, True, Decision.MTD),
        (6, 0, False, Decision.ESCALATE),
        (2, 2, False, Decision.ABOVE_MTD),  # d ≥ 2 at any n ≤ 6
        (6, 2, False, Decision.ABOVE_MTD),
        (4, 1, False, Decision.ENROLLING),
        (5, 0, False, Decision.ENROLLING),
        (0, 0, False, Decision.ENROLLING),
        (9, 3, False, Decision.EXPANSION_STOP),  # 3/9 = 1/3 exactly
        (10, 3, False, Decision.EXPANSION_CONTINUE),  # 0.3 < 1/3
        (12, 4, False, Decision.EXPANSION_STOP),
        (7, 2, False, Decision.EXPANSION_CONTINUE),  # 2/7 < 1/3
    ],
)
def test_three_plus_three_and_expansion(n, d, highest, decision):
    """§3.1 escalation rule and "beyond six evaluable"."""
    assert dose_level_decision(evaluable=n, confirmed_dlts=d, is_highest_level=highest).decision is decision


def test_pending_candidates_show_beside_the_decision():
    """§3.1: candidates awaiting adjudication show "pending" beside the decision."""
    result = dose_level_decision(evaluable=3, confirmed_dlts=0, pending_candidates=1)
    assert result.decision is Decision.ESCALATE and result.pending


def test_recommended_dose_needs_six_evaluable_and_fewer_than_a_third():
    """§3.1: MTD = highest level with ≥ 6 evaluable and d/n < 1/3: DL1 1/6 qualifies, DL2 2/6
    (exactly 1/3) does not, DL3 0/5 has too few → DL1."""
    levels = [LevelCount("DL1", 6, 1), LevelCount("DL2", 6, 2), LevelCount("DL3", 5, 0)]
    assert recommended_dose(levels) == "DL1"


# --- dose (§7, §3.1) -------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-7")
def test_dose_example_and_range_ends_inclusive():
    """§7: 70 kg, 1.0×10⁸ viable, 60 % CAR+ → 0.857×10⁶/kg (6×10⁷ / 70 = 857142.857…), inside DL2
    (1.0×10⁶ ± 30 %: 0.7–1.3×10⁶, both ends inside; outside raises the query)."""
    dose = car_positive_cells_per_kg(
        viable_cells=Decimal("1.0E8"), car_positive_pct=Decimal("60"), weight_kg=Decimal("70")
    )
    assert dose.quantize(Decimal("1")) == Decimal("857143")
    dl2 = DoseLevel("DL2", Decimal("1.0E6"))
    assert check_dose(dl2, dose).within_range
    assert check_dose(dl2, Decimal("700000")).within_range
    assert check_dose(dl2, Decimal("1300000")).within_range
    low = check_dose(dl2, Decimal("699999.9"))
    assert not low.within_range and low.under_dosed
    high = check_dose(dl2, Decimal("1300000.1"))
    assert not high.within_range and not high.under_dosed
