"""3+3 escalation (CLINICAL_SPEC §3.1 and the §8 DLT examples)."""

from __future__ import annotations

import pytest

from clinical.escalation import Decision, three_plus_three

pytestmark = pytest.mark.req("CLINICAL_SPEC-3.1")


@pytest.mark.parametrize(
    ("d", "n", "decision"),
    [
        (0, 3, Decision.ESCALATE),  # §8: 0/3 → escalate
        (1, 3, Decision.EXPAND),  # §8: 1/3 → expand
        (1, 6, Decision.ESCALATE),  # §8: 1/6 → escalate
        (2, 4, Decision.ABOVE_MTD),  # §8: 2/4 → above MTD
        (1, 4, Decision.ENROLLING),  # §8: 1/4 → enrolling
        (0, 2, Decision.ENROLLING),  # §8: 0/2 → enrolling
        (2, 3, Decision.ABOVE_MTD),
        (2, 6, Decision.ABOVE_MTD),
        (0, 6, Decision.ESCALATE),
        (0, 0, Decision.ENROLLING),
    ],
)
def test_worked_examples(d, n, decision):
    assert three_plus_three(evaluable=n, confirmed_dlts=d).decision == decision


def test_six_with_at_most_one_at_the_highest_level_is_the_mtd():
    assert three_plus_three(evaluable=6, confirmed_dlts=1, is_highest_level=True).decision == Decision.MTD


def test_pending_candidates_are_shown_beside_the_decision():
    result = three_plus_three(evaluable=3, confirmed_dlts=0, pending_candidates=1)
    assert (result.decision, result.pending) == (Decision.ESCALATE, True)


@pytest.mark.parametrize(("n", "d"), [(3, 4), (-1, 0), (3, -1)])
def test_impossible_counts_refused(n, d):
    with pytest.raises(ValueError):
        three_plus_three(evaluable=n, confirmed_dlts=d)


# --- §3.1 beyond six evaluable, MTD, acknowledgement (issue 30) --------------------------------

from clinical.escalation import (  # noqa: E402
    AcknowledgementReason,
    LevelCount,
    acknowledgement_reasons,
    cleared_by_three_plus_three,
    dose_level_decision,
    recommended_dose,
)


@pytest.mark.parametrize(
    ("d", "n", "decision"),
    [
        (2, 6, Decision.ABOVE_MTD),  # §3.1: 2/6 → above MTD (the 3+3 part)
        (2, 7, Decision.EXPANSION_CONTINUE),  # 2/7 after clearing → continue (0.286 < 1/3)
        (3, 8, Decision.EXPANSION_STOP),  # 3/8 → stop and review
        (3, 9, Decision.EXPANSION_STOP),  # 3/9 = 1/3 exactly → stop and review
        (2, 9, Decision.EXPANSION_CONTINUE),  # 2/9 → continue
        (4, 12, Decision.EXPANSION_STOP),  # 4/12 = 1/3 → stop and review
        (0, 10, Decision.EXPANSION_CONTINUE),  # the demo's DL3
        (3, 10, Decision.EXPANSION_CONTINUE),  # 0.3 < 1/3
        (1, 6, Decision.ESCALATE),
    ],
)
def test_expansion_beyond_six_after_clearing(d, n, decision):
    assert dose_level_decision(evaluable=n, confirmed_dlts=d, cleared=True).decision == decision


def test_a_level_never_cleared_stays_above_the_mtd_beyond_six():
    assert dose_level_decision(evaluable=7, confirmed_dlts=2, cleared=False).decision == Decision.ABOVE_MTD


@pytest.mark.parametrize(
    ("flags", "cleared"),
    [
        ([False] * 6 + [True, True], True),  # both DLTs after the first six: cleared, then 2/8
        ([True, False, True, False, False, False, False], False),  # 2 among the first six
        ([True] + [False] * 5, True),
        ([False] * 5, False),  # fewer than six: not yet cleared
    ],
)
def test_cleared_reads_the_first_six_in_infusion_order(flags, cleared):
    assert cleared_by_three_plus_three(flags) is cleared


def test_recommended_dose_is_the_highest_level_with_six_and_under_one_third():
    assert recommended_dose([LevelCount("DL1", 3, 0), LevelCount("DL2", 6, 1), LevelCount("DL3", 10, 0)]) == "DL3"
    assert recommended_dose([LevelCount("DL1", 3, 0), LevelCount("DL2", 6, 1), LevelCount("DL3", 9, 3)]) == "DL2"
    assert recommended_dose([LevelCount("DL1", 6, 2), LevelCount("DL2", 5, 0)]) is None


@pytest.mark.parametrize(
    ("d", "n", "pending", "reasons"),
    [
        (3, 9, 0, [AcknowledgementReason.STOP_AND_REVIEW]),
        (2, 6, 0, [AcknowledgementReason.ABOVE_MTD]),
        (2, 9, 1, [AcknowledgementReason.AWAITING_ADJUDICATION]),
        (4, 12, 1, [AcknowledgementReason.STOP_AND_REVIEW, AcknowledgementReason.AWAITING_ADJUDICATION]),
        (2, 9, 0, []),
        (0, 3, 0, []),
    ],
)
def test_enrolment_acknowledgement_reasons(d, n, pending, reasons):
    result = dose_level_decision(evaluable=n, confirmed_dlts=d, pending_candidates=pending)
    assert acknowledgement_reasons(result) == reasons
