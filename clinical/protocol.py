"""The protocol choices CLINICAL_SPEC leaves open, as one frozen value (DESIGN §4).

The study stores them as versioned, effective-dated settings; services hand the version in
force to the pure rules as a `ProtocolChoices`. Defaults are the CLINICAL_SPEC defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

from clinical.crs import CrsSettings
from clinical.gvhd import GvhdSettings
from clinical.response import ResponseSettings


@dataclass(frozen=True)
class DoseLevel:
    """CLINICAL_SPEC §3.1: target CAR+ cells/kg and the acceptable range (± percent)."""

    code: str
    target_cells_per_kg: Decimal
    range_pct: Decimal = Decimal("30")


@dataclass(frozen=True)
class ProtocolChoices:
    # §1.2 h hypotension: SBP < adult_sbp from adult_from_age years; 1 to < adult_from_age years
    # SBP < child_base + child_per_year × age; under 1 year SBP < infant_sbp.
    hypotension_adult_sbp: int = 90
    hypotension_adult_from_age: int = 10
    hypotension_child_base: int = 70
    hypotension_child_per_year: int = 2
    hypotension_infant_sbp: int = 70
    # §1.3 CRS episode gap G (days); §2.3 CAPD for children younger than this age.
    crs_episode_gap_days: int = 0
    capd_below_age: int = 12
    # Performance status: Lansky for children younger than this age, else ECOG or Karnofsky
    # (issue 5; Lansky et al., Cancer 1987).
    lansky_below_age: int = 16
    # §5.1 count operators and relapse threshold (">=" or ">").
    count_operator: str = ">="
    relapse_operator: str = ">="
    relapse_threshold_pct: Decimal = Decimal("5")
    # §5.2 MRD: negative means level < cut-off; sensitivity ≤ cut-off; flow needs min cells.
    mrd_cutoff_pct: Decimal = Decimal("0.01")
    mrd_min_cells_flow: int = 500_000
    # §6 days per year for 1-year OS: 365 or 365.25.
    days_per_year: Decimal = Decimal("365")
    # §5.3 consolidative HSCT: not censored in the primary analysis.
    hsct_censored_in_primary: bool = False
    # §3.1 DLT window (study days 0..dlt_window_days) and escalation rule.
    dlt_window_days: int = 28
    escalation_rule: str = "3+3"
    expected_toxicities: tuple[str, ...] = ("Febrile neutropenia",)
    # §4.3 GvHD child column below this weight (kg).
    gvhd_child_below_kg: Decimal = Decimal("50")
    dose_levels: tuple[DoseLevel, ...] = field(
        default=(
            DoseLevel("DL1", Decimal("0.5E6")),
            DoseLevel("DL2", Decimal("1.0E6")),
            DoseLevel("DL3", Decimal("2.0E6")),
        )
    )

    def __post_init__(self) -> None:
        for name in ("count_operator", "relapse_operator"):
            if getattr(self, name) not in (">=", ">"):
                raise ValueError(f"{name} must be '>=' or '>'")
        if self.days_per_year not in (Decimal("365"), Decimal("365.25")):
            raise ValueError("days_per_year must be 365 or 365.25")
        if self.escalation_rule != "3+3":
            raise ValueError("escalation_rule: only '3+3' is implemented")
        decimals = [self.mrd_cutoff_pct, self.relapse_threshold_pct, self.gvhd_child_below_kg, self.days_per_year]
        for level in self.dose_levels:
            decimals += [level.target_cells_per_kg, level.range_pct]
        if any(not d.is_finite() for d in decimals):
            raise ValueError("numbers must be finite")
        if self.mrd_cutoff_pct <= 0 or self.relapse_threshold_pct <= 0:
            raise ValueError("cut-offs must be positive")
        if any(level.target_cells_per_kg <= 0 or not 0 <= level.range_pct < 100 for level in self.dose_levels):
            raise ValueError("dose level targets must be positive and ranges between 0 and 100 percent")

    def crs_settings(self) -> CrsSettings:
        """The CRS rules' view of these choices (§1.2 h hypotension by age, §1.3 episode gap):
        one implementation of the thresholds, in clinical/crs.py."""
        return CrsSettings(
            adult_sbp_below_mmhg=self.hypotension_adult_sbp,
            adult_from_age_years=self.hypotension_adult_from_age,
            child_sbp_base_mmhg=self.hypotension_child_base,
            child_sbp_per_year_mmhg=self.hypotension_child_per_year,
            infant_sbp_below_mmhg=self.hypotension_infant_sbp,
            episode_gap_days=self.crs_episode_gap_days,
        )

    def gvhd_settings(self) -> GvhdSettings:
        """The MAGIC staging's view of these choices (§4.3 child column below a body weight)."""
        return GvhdSettings(child_below_kg=self.gvhd_child_below_kg)

    def response_settings(self) -> ResponseSettings:
        """The response rules' view of these choices (§5.1 operators and relapse threshold,
        §5.2 MRD cut-off and minimum flow cells), in clinical/response.py."""
        return ResponseSettings(
            count_operator=self.count_operator,
            relapse_operator=self.relapse_operator,
            relapse_threshold_pct=self.relapse_threshold_pct,
            mrd_cutoff_pct=self.mrd_cutoff_pct,
            mrd_min_cells_flow=self.mrd_min_cells_flow,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (Decimals as strings) for storage."""
        data: dict[str, Any] = _jsonable(asdict(self))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProtocolChoices:
        """Parse stored settings; unknown keys are refused, missing keys take the defaults."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown protocol settings: {', '.join(sorted(unknown))}")
        defaults = cls()
        values: dict[str, Any] = {}
        for name, raw in data.items():
            current = getattr(defaults, name)
            values[name] = _coerce(name, raw, current)
        return cls(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _coerce(name: str, raw: Any, current: Any) -> Any:
    if name == "dose_levels":
        return tuple(
            DoseLevel(str(d["code"]), Decimal(str(d["target_cells_per_kg"])), Decimal(str(d.get("range_pct", "30"))))
            for d in raw
        )
    if name == "expected_toxicities":
        return tuple(str(v) for v in raw)
    if isinstance(current, bool):
        if not isinstance(raw, bool):
            raise ValueError(f"{name} must be true or false")
        return raw
    if isinstance(current, int):
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError(f"{name} must be a whole number")
        return int(raw)
    if isinstance(current, Decimal):
        return Decimal(str(raw))
    return str(raw)
