"""Dose escalation by the 3+3 rule (CLINICAL_SPEC §3.1), from d confirmed DLTs among n
DLT-evaluable subjects at one dose level."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Decision(Enum):
    ESCALATE = "escalate"
    EXPAND = "expand_to_6"
    ABOVE_MTD = "above_mtd"
    MTD = "mtd"
    ENROLLING = "enrolling"


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


def three_plus_three(
    *, evaluable: int, confirmed_dlts: int, pending_candidates: int = 0, is_highest_level: bool = False
) -> EscalationResult:
    """d ≥ 2 (any n ≤ 6) → above MTD; n = 3, d = 0 → escalate; n = 3, d = 1 → expand to 6;
    n = 6, d ≤ 1 → escalate, or this level is the MTD when no level is planned above it
    (`is_highest_level` asks for that reading); otherwise → enrolling."""
    n, d = evaluable, confirmed_dlts
    if n < 0 or d < 0 or d > n:
        raise ValueError("need 0 ≤ confirmed DLTs ≤ evaluable subjects")
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
