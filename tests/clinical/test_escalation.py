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
