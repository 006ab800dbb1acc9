"""CAR-T dose (CLINICAL_SPEC §7, §3.1): CAR+ cells/kg = viable cells × CAR+ fraction ÷ weight,
and whether it lies within the assigned dose level's acceptable range (± range_pct of target)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clinical.protocol import DoseLevel


def car_positive_cells_per_kg(*, viable_cells: Decimal, car_positive_pct: Decimal, weight_kg: Decimal) -> Decimal:
    """Exact decimal arithmetic; the caller rounds for display (e.g. 0.857×10⁶/kg)."""
    if weight_kg <= 0:
        raise ValueError("weight must be positive")
    if not Decimal("0") <= car_positive_pct <= Decimal("100"):
        raise ValueError("CAR+ percent must be between 0 and 100")
    if viable_cells < 0:
        raise ValueError("viable cells cannot be negative")
    return viable_cells * car_positive_pct / Decimal("100") / weight_kg


@dataclass(frozen=True)
class DoseCheck:
    dose_level: str
    cells_per_kg: Decimal
    lower: Decimal
    upper: Decimal

    @property
    def within_range(self) -> bool:
        return self.lower <= self.cells_per_kg <= self.upper

    @property
    def under_dosed(self) -> bool:
        return self.cells_per_kg < self.lower


def check_dose(level: DoseLevel, cells_per_kg: Decimal) -> DoseCheck:
    """Acceptable range: target × (1 ± range_pct/100), both ends included (§3.1)."""
    fraction = level.range_pct / Decimal("100")
    return DoseCheck(
        dose_level=level.code,
        cells_per_kg=cells_per_kg,
        lower=level.target_cells_per_kg * (1 - fraction),
        upper=level.target_cells_per_kg * (1 + fraction),
    )
