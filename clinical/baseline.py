"""Baseline derivations (issue 5 item 1): body surface area and the performance-status scale
that fits the subject's age."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

#: Mosteller RD. Simplified calculation of body-surface area. N Engl J Med 1987;317:1098:
#: BSA (m²) = √(height (cm) × weight (kg) / 3600). Used for adults and children alike.
BSA_FORMULA = "Mosteller 1987"


def bsa_mosteller(*, height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    """Body surface area in m², rounded half-up to 2 decimals (170 cm, 70 kg → 1.82)."""
    if height_cm <= 0 or weight_kg <= 0:
        raise ValueError("height and weight must be positive")
    exact = (height_cm * weight_kg / Decimal(3600)).sqrt()
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class PerformanceScale(StrEnum):
    ECOG = "ecog"
    KARNOFSKY = "karnofsky"
    LANSKY = "lansky"


#: Lansky play-performance (Lansky et al., Cancer 1987;60:1651) for children younger than this
#: age; Karnofsky or ECOG from it. The protocol settings hold the age (`lansky_below_age`).
DEFAULT_LANSKY_BELOW_AGE = 16


def scales_for_age(age_years: int, *, lansky_below_age: int = DEFAULT_LANSKY_BELOW_AGE) -> tuple[PerformanceScale, ...]:
    """The scales allowed at an age, the default first: Lansky only below the age limit; ECOG
    (default) or Karnofsky from it."""
    if age_years < 0:
        raise ValueError("age cannot be negative")
    if age_years < lansky_below_age:
        return (PerformanceScale.LANSKY,)
    return (PerformanceScale.ECOG, PerformanceScale.KARNOFSKY)


def valid_score(scale: PerformanceScale, score: int) -> bool:
    """ECOG 0–5; Karnofsky and Lansky 0–100 in steps of 10."""
    if scale is PerformanceScale.ECOG:
        return 0 <= score <= 5
    return 0 <= score <= 100 and score % 10 == 0
