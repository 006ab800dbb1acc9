"""Acute GvHD staging and overall grade by the MAGIC criteria (Harris et al., BBMT 2016), as
CLINICAL_SPEC §4.3 states them.

Pure: :func:`stage_gvhd` takes one assessment's organ inputs (:class:`GvhdInputs`) and the
protocol's :class:`GvhdSettings`, and returns the organ stages and the overall grade with the
criteria name (``"MAGIC-2016"``).

- Bands touch exactly as the table writes them (skin 25% is stage 2, 50% stage 2, 50.1% stage 3;
  bilirubin 2.0 and 3.0 mg/dL stage 1, 3.01 stage 2; adult stool 1000 and 1500 mL/day stage 2).
- Values are compared after unit conversion at full precision (§4.3): bilirubin is compared in
  µmol/L against the mg/dL cut-offs × 17.1 (exact decimals, `clinical.units` "TBIL"), which is
  the same as dividing µmol/L by 17.1 at full precision (52 µmol/L = 3.04 mg/dL → stage 2);
  children's stool volume (below the body-weight setting, default < 50 kg) is compared as
  mL/day against mL/kg/day cut-offs × weight, so no division is rounded.
- Stool output is the 3-day average; when volume and episodes are both recorded, volume is used.
- Upper GI has stages 0–1 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from clinical import units

CRITERIA = "MAGIC-2016"

_BILIRUBIN = "TBIL"
#: §4.3 liver cut-offs in mg/dL: (upper bound included, stage); above the last → stage 4.
_LIVER_MG_DL: tuple[tuple[Decimal, int], ...] = (
    (Decimal("3.0"), 1),
    (Decimal("6.0"), 2),
    (Decimal("15.0"), 3),
)
_LIVER_STAGE_1_FROM_MG_DL = Decimal("2.0")


class BilirubinUnit(StrEnum):
    MG_DL = "mg/dL"
    UMOL_L = "umol/L"


@dataclass(frozen=True)
class GvhdSettings:
    """CLINICAL_SPEC §4.3: the child column of lower GI applies below this body weight (kg)."""

    child_below_kg: Decimal = Decimal("50")


@dataclass(frozen=True)
class LowerGiBands:
    """Lower GI cut-offs (§4.3): stage 1 from `s1`, stage 2 from `s2` up to `s2_to` included,
    stage 3 above `s2_to`; volume in mL/day (adult) or mL/kg/day (child)."""

    s1: Decimal
    s2: Decimal
    s2_to: Decimal


ADULT_VOLUME = LowerGiBands(Decimal("500"), Decimal("1000"), Decimal("1500"))
ADULT_EPISODES = LowerGiBands(Decimal("3"), Decimal("5"), Decimal("7"))
CHILD_VOLUME_PER_KG = LowerGiBands(Decimal("10"), Decimal("20"), Decimal("30"))
CHILD_EPISODES = LowerGiBands(Decimal("4"), Decimal("7"), Decimal("10"))


@dataclass(frozen=True)
class GvhdInputs:
    """One staging assessment (§4.3). Absent organ data (None) stages 0.

    skin_bsa_pct: active erythema, % body surface area; skin_bullae: generalized erythroderma
    with bullae or desquamation > 5%; bilirubin with its unit; upper_gi_persistent: persistent
    nausea, vomiting or anorexia; stool_ml_per_day / stool_episodes_per_day: 3-day averages;
    lower_gi_severe: severe abdominal pain with or without ileus, or grossly bloody stool;
    weight_kg: body weight, which chooses the child column."""

    skin_bsa_pct: Decimal | None = None
    skin_bullae: bool = False
    bilirubin: Decimal | None = None
    bilirubin_unit: BilirubinUnit = BilirubinUnit.MG_DL
    upper_gi_persistent: bool = False
    stool_ml_per_day: Decimal | None = None
    stool_episodes_per_day: Decimal | None = None
    lower_gi_severe: bool = False
    weight_kg: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("skin_bsa_pct", "bilirubin", "stool_ml_per_day", "stool_episodes_per_day", "weight_kg"):
            value = getattr(self, name)
            if value is not None and (not value.is_finite() or value < 0):
                raise ValueError(f"{name} must be a finite number ≥ 0")
        if self.skin_bsa_pct is not None and self.skin_bsa_pct > 100:
            raise ValueError("skin_bsa_pct cannot exceed 100")
        if self.weight_kg is not None and self.weight_kg == 0:
            raise ValueError("weight_kg must be positive")


class LowerGiBasis(StrEnum):
    NONE = "none"
    SEVERE = "severe"
    VOLUME = "volume"
    EPISODES = "episodes"


@dataclass(frozen=True)
class GvhdStaging:
    skin_stage: int
    liver_stage: int
    upper_gi_stage: int
    lower_gi_stage: int
    overall_grade: int
    bilirubin_mg_dl: Decimal | None
    lower_gi_basis: LowerGiBasis
    child_column: bool
    criteria: str = CRITERIA

    @property
    def overall_grade_roman(self) -> str:
        return ("0", "I", "II", "III", "IV")[self.overall_grade]


def skin_stage(bsa_pct: Decimal | None, *, bullae: bool = False) -> int:
    """§4.3 skin: 0 none; 1 > 0 and < 25%; 2 25–50%; 3 > 50%; 4 erythroderma with bullae."""
    if bullae:
        return 4
    if bsa_pct is None or bsa_pct == 0:
        return 0
    if bsa_pct < 25:
        return 1
    if bsa_pct <= 50:
        return 2
    return 3


def liver_stage(bilirubin: Decimal | None, unit: BilirubinUnit = BilirubinUnit.MG_DL) -> int:
    """§4.3 liver from total bilirubin: < 2.0 mg/dL 0; 2.0–3.0 1; > 3.0–6.0 2; > 6.0–15.0 3;
    > 15.0 4. Compared in µmol/L with the cut-offs converted exactly (17.1 µmol/L = 1 mg/dL)."""
    if bilirubin is None:
        return 0
    value = units.to_standard(bilirubin, analyte_code=_BILIRUBIN, unit=unit.value)

    def cut(mg_dl: Decimal) -> Decimal:
        return units.to_standard(mg_dl, analyte_code=_BILIRUBIN, unit=BilirubinUnit.MG_DL.value)

    if value < cut(_LIVER_STAGE_1_FROM_MG_DL):
        return 0
    for upper, stage in _LIVER_MG_DL:
        if value <= cut(upper):
            return stage
    return 4


def _band_stage(value: Decimal, bands: LowerGiBands, scale: Decimal = Decimal(1)) -> int:
    if value < bands.s1 * scale:
        return 0
    if value < bands.s2 * scale:
        return 1
    if value <= bands.s2_to * scale:
        return 2
    return 3


def lower_gi_stage(
    *,
    ml_per_day: Decimal | None,
    episodes_per_day: Decimal | None,
    severe: bool,
    weight_kg: Decimal | None,
    settings: GvhdSettings,
) -> tuple[int, LowerGiBasis, bool]:
    """§4.3 lower GI: stage 4 for severe pain or grossly bloody stool; else volume when
    recorded, else episodes; the child column below `settings.child_below_kg`.
    Returns (stage, basis, child column used)."""
    child = weight_kg is not None and weight_kg < settings.child_below_kg
    if severe:
        return 4, LowerGiBasis.SEVERE, child
    if ml_per_day is not None:
        if child:
            assert weight_kg is not None
            return _band_stage(ml_per_day, CHILD_VOLUME_PER_KG, weight_kg), LowerGiBasis.VOLUME, child
        return _band_stage(ml_per_day, ADULT_VOLUME), LowerGiBasis.VOLUME, child
    if episodes_per_day is not None:
        bands = CHILD_EPISODES if child else ADULT_EPISODES
        return _band_stage(episodes_per_day, bands), LowerGiBasis.EPISODES, child
    return 0, LowerGiBasis.NONE, child


def overall_grade(*, skin: int, liver: int, upper_gi: int, lower_gi: int) -> int:
    """§4.3 overall grade: IV skin 4, liver 4 or lower GI 4; III liver 2–3 and/or lower GI 2–3;
    II skin 3 and/or liver 1 and/or upper GI 1 and/or lower GI 1; I skin 1–2 alone; else 0."""
    if skin == 4 or liver == 4 or lower_gi == 4:
        return 4
    if liver in (2, 3) or lower_gi in (2, 3):
        return 3
    if skin == 3 or liver == 1 or upper_gi == 1 or lower_gi == 1:
        return 2
    if skin in (1, 2):
        return 1
    return 0


def stage_gvhd(inputs: GvhdInputs, settings: GvhdSettings | None = None) -> GvhdStaging:
    """CLINICAL_SPEC §4.3: organ stages and the MAGIC overall grade of one assessment."""
    settings = settings or GvhdSettings()
    skin = skin_stage(inputs.skin_bsa_pct, bullae=inputs.skin_bullae)
    liver = liver_stage(inputs.bilirubin, inputs.bilirubin_unit)
    upper = 1 if inputs.upper_gi_persistent else 0
    lower, basis, child = lower_gi_stage(
        ml_per_day=inputs.stool_ml_per_day,
        episodes_per_day=inputs.stool_episodes_per_day,
        severe=inputs.lower_gi_severe,
        weight_kg=inputs.weight_kg,
        settings=settings,
    )
    bilirubin_mg_dl = (
        None
        if inputs.bilirubin is None
        else units.from_standard(
            units.to_standard(inputs.bilirubin, analyte_code=_BILIRUBIN, unit=inputs.bilirubin_unit.value),
            analyte_code=_BILIRUBIN,
            unit=BilirubinUnit.MG_DL.value,
        )
    )
    return GvhdStaging(
        skin_stage=skin,
        liver_stage=liver,
        upper_gi_stage=upper,
        lower_gi_stage=lower,
        overall_grade=overall_grade(skin=skin, liver=liver, upper_gi=upper, lower_gi=lower),
        bilirubin_mg_dl=bilirubin_mg_dl,
        lower_gi_basis=basis,
        child_column=child,
    )
