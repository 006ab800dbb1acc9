"""Dose escalation (CLINICAL_SPEC §3.1), from d confirmed DLTs among n DLT-evaluable subjects
at one dose level: the 3+3 rule up to six evaluable, the expansion rule beyond six, the maximum
tolerated (recommended) dose over the levels, and when enrolment needs the investigator's
acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction


class Decision(Enum):
    ESCALATE = "escalate"
    EXPAND = "expand_to_6"
    ABOVE_MTD = "above_mtd"
    MTD = "mtd"
    ENROLLING = "enrolling"
    EXPANSION_CONTINUE = "expansion_continue"
    EXPANSION_STOP = "expansion_stop"


#: §3.1 expansion: "continue" while d/n < 1/3, "stop and review" from d/n ≥ 1/3 on.
EXPANSION_LIMIT = Fraction(1, 3)
#: The 3+3 part judges a level up to this many evaluable subjects; the expansion rule beyond.
THREE_PLUS_THREE_MAX = 6


@dataclass(frozen=True)
class EscalationResult:
    decision: Decision
    evaluable: int
    confirmed_dlts: int
    pending_candidates: int
    rule: str = "3+3"

    @property
    def pending(self) -> bool:
        """Candidates awaiting adjudication: the decision may still change (§3.1)."""
        return self.pending_candidates > 0


def _check(n: int, d: int) -> None:
    if n < 0 or d < 0 or d > n:
        raise ValueError("need 0 ≤ confirmed DLTs ≤ evaluable subjects")


def three_plus_three(
    *, evaluable: int, confirmed_dlts: int, pending_candidates: int = 0, is_highest_level: bool = False
) -> EscalationResult:
    """d ≥ 2 (any n ≤ 6) → above MTD; n = 3, d = 0 → escalate; n = 3, d = 1 → expand to 6;
    n = 6, d ≤ 1 → escalate, or this level is the MTD when no level is planned above it
    (`is_highest_level` asks for that reading); otherwise → enrolling."""
    n, d = evaluable, confirmed_dlts
    _check(n, d)
    if d >= 2:
        decision = Decision.ABOVE_MTD
    elif n == 3 and d == 0:
        decision = Decision.ESCALATE
    elif n == 3 and d == 1:
        decision = Decision.EXPAND
    elif n == 6 and d <= 1:
        decision = Decision.MTD if is_highest_level else Decision.ESCALATE
    else:
        decision = Decision.ENROLLING
    return EscalationResult(decision, n, d, pending_candidates)


def expansion_stops(*, evaluable: int, confirmed_dlts: int) -> bool:
    """§3.1: d/n ≥ 1/3 (compared exactly, so 3/9 stops) → "stop and review"."""
    _check(evaluable, confirmed_dlts)
    return evaluable > 0 and Fraction(confirmed_dlts, evaluable) >= EXPANSION_LIMIT


def dose_level_decision(
    *,
    evaluable: int,
    confirmed_dlts: int,
    pending_candidates: int = 0,
    is_highest_level: bool = False,
    cleared: bool = True,
) -> EscalationResult:
    """The 3+3 rule while n ≤ 6; beyond six evaluable (expansion at a level the 3+3 part
    already cleared, `cleared`: at most one confirmed DLT among its first six evaluable) →
    "expansion: continue" while d/n < 1/3 and "expansion: stop and review" from d/n ≥ 1/3 on.
    A level beyond six that the 3+3 part never cleared stays above the MTD.

    §3.1 examples: 2/6 → above MTD; 2/7 after clearing → continue; 3/8, 3/9 → stop and review;
    2/9 → continue; 4/12 → stop and review."""
    n, d = evaluable, confirmed_dlts
    _check(n, d)
    if n <= THREE_PLUS_THREE_MAX:
        return three_plus_three(
            evaluable=n, confirmed_dlts=d, pending_candidates=pending_candidates, is_highest_level=is_highest_level
        )
    if not cleared:
        decision = Decision.ABOVE_MTD
    elif expansion_stops(evaluable=n, confirmed_dlts=d):
        decision = Decision.EXPANSION_STOP
    else:
        decision = Decision.EXPANSION_CONTINUE
    return EscalationResult(decision, n, d, pending_candidates)


def cleared_by_three_plus_three(dlt_in_order: Sequence[bool]) -> bool:
    """Whether the 3+3 part cleared a level: at most one confirmed DLT among its first six
    evaluable subjects, taken in the order they were infused (`dlt_in_order`, one flag per
    evaluable subject). A level with fewer than six evaluable is cleared only once it has six."""
    first = list(dlt_in_order[:THREE_PLUS_THREE_MAX])
    return len(first) == THREE_PLUS_THREE_MAX and sum(first) <= 1


@dataclass(frozen=True)
class LevelCount:
    """One dose level as the MTD reads it, levels given in increasing dose order."""

    code: str
    evaluable: int
    confirmed_dlts: int


def recommended_dose(levels: Sequence[LevelCount]) -> str | None:
    """§3.1: the MTD (recommended dose) is the highest level with ≥ 6 evaluable subjects and
    d/n < 1/3; None while no level qualifies. `levels` in increasing dose order."""
    found: str | None = None
    for level in levels:
        if level.evaluable >= THREE_PLUS_THREE_MAX and not expansion_stops(
            evaluable=level.evaluable, confirmed_dlts=level.confirmed_dlts
        ):
            found = level.code
    return found


class AcknowledgementReason(Enum):
    ABOVE_MTD = "above_mtd"
    STOP_AND_REVIEW = "stop_and_review"
    AWAITING_ADJUDICATION = "awaiting_adjudication"


def acknowledgement_reasons(result: EscalationResult) -> list[AcknowledgementReason]:
    """§3.1: enrolling at a level whose decision is "above MTD" or "stop and review", or while
    a candidate at that level awaits adjudication, needs the investigator's explicit
    acknowledgement. Empty: no acknowledgement needed."""
    reasons: list[AcknowledgementReason] = []
    if result.decision is Decision.ABOVE_MTD:
        reasons.append(AcknowledgementReason.ABOVE_MTD)
    elif result.decision is Decision.EXPANSION_STOP:
        reasons.append(AcknowledgementReason.STOP_AND_REVIEW)
    if result.pending:
        reasons.append(AcknowledgementReason.AWAITING_ADJUDICATION)
    return reasons
