"""Laboratory units and plausibility (CLINICAL_SPEC §1.3 "Lab-derived grades", issue 6 item 1).

Each analyte has one **standard unit** in which derivations (grading, ICAHT, response) compare
values, and the units a lab may report it in, each with the exact decimal factor that turns a
reported value into the standard unit (`standard = reported × factor`). Standard units are chosen
so that every factor is an exact decimal (Hgb g/dL × 10 = g/L; bilirubin mg/dL × 17.1 = µmol/L,
§1.3; creatinine mg/dL × 88.4 = µmol/L; counts /µL × 0.001 = ×10⁹/L): conversion into the
standard unit is exact, never rounded ("compared after unit conversion at full precision").

Limits, in the standard unit, both ends allowed:
- **impossible** — outside [impossible_low, impossible_high] the value cannot be a measurement
  (a negative count, a percentage above 100): refused with a field error;
- **implausible** — outside [implausible_low, implausible_high] the value is possible but
  unusual enough to check against the source (ANC > 100 ×10⁹/L): an automatic query.

Pure: no Django, no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Panel(StrEnum):
    CBC = "CBC"
    CHEMISTRY = "CHEM"
    COAGULATION = "COAG"
    INFLAMMATORY = "INFL"
    LYMPHOCYTE_SUBSETS = "TNK"
    CAR_T_KINETICS = "CART"


#: Unit codes (ASCII, as stored and imported) → how they are printed.
UNIT_LABELS: Mapping[str, str] = {
    "10^9/L": "×10⁹/L",
    "10^3/uL": "×10³/µL",
    "10^6/L": "×10⁶/L",
    "/uL": "/µL",
    "cells/uL": "cells/µL",
    "%": "%",
    "g/L": "g/L",
    "g/dL": "g/dL",
    "mg/dL": "mg/dL",
    "mg/L": "mg/L",
    "umol/L": "µmol/L",
    "mmol/L": "mmol/L",
    "mEq/L": "mEq/L",
    "U/L": "U/L",
    "ukat/L": "µkat/L",
    "s": "s",
    "ratio": "ratio",
    "ug/mL FEU": "µg/mL FEU",
    "mg/L FEU": "mg/L FEU",
    "ng/mL FEU": "ng/mL FEU",
    "ug/L FEU": "µg/L FEU",
    "ng/mL": "ng/mL",
    "ug/L": "µg/L",
    "pg/mL": "pg/mL",
    "ng/L": "ng/L",
    "copies/ug DNA": "copies/µg DNA",
}


@dataclass(frozen=True)
class Analyte:
    code: str
    panel: Panel
    name: str
    standard_unit: str
    #: reported unit → factor to the standard unit (the standard unit itself maps to 1)
    factors: Mapping[str, Decimal]
    impossible_low: Decimal | None = Decimal("0")
    impossible_high: Decimal | None = None
    implausible_low: Decimal | None = None
    implausible_high: Decimal | None = None
    #: "%" analytes, counts and concentrations are never negative; kept for clarity in tables
    notes: str = field(default="", compare=False)

    @property
    def units(self) -> tuple[str, ...]:
        """Allowed reported units, the standard one first."""
        return (self.standard_unit, *(u for u in self.factors if u != self.standard_unit))


D = Decimal
_COUNT = {"10^9/L": D("1"), "10^3/uL": D("1"), "/uL": D("0.001"), "10^6/L": D("0.001")}
_CELLS_UL = {"cells/uL": D("1"), "/uL": D("1"), "10^6/L": D("1"), "10^9/L": D("1000")}
_PCT = {"%": D("1")}
_PG_ML = {"pg/mL": D("1"), "ng/L": D("1")}
_HUNDRED = D("100")


def _pct(code: str, panel: Panel, name: str) -> Analyte:
    return Analyte(code, panel, name, "%", _PCT, impossible_high=_HUNDRED)


def _cells(code: str, panel: Panel, name: str) -> Analyte:
    return Analyte(code, panel, name, "cells/uL", _CELLS_UL, implausible_high=D("100000"))


def _cytokine(code: str, name: str) -> Analyte:
    return Analyte(code, Panel.INFLAMMATORY, name, "pg/mL", _PG_ML, implausible_high=D("100000"))


_ANALYTES: tuple[Analyte, ...] = (
    # CBC
    Analyte("WBC", Panel.CBC, "White blood cells", "10^9/L", _COUNT, implausible_high=D("500")),
    Analyte("ANC", Panel.CBC, "Absolute neutrophil count", "10^9/L", _COUNT, implausible_high=D("100")),
    Analyte("ALC", Panel.CBC, "Absolute lymphocyte count", "10^9/L", _COUNT, implausible_high=D("100")),
    Analyte(
        "HGB",
        Panel.CBC,
        "Haemoglobin",
        "g/L",
        {"g/L": D("1"), "g/dL": D("10")},
        impossible_high=D("300"),
        implausible_low=D("30"),
        implausible_high=D("250"),
    ),
    Analyte("PLT", Panel.CBC, "Platelets", "10^9/L", _COUNT, implausible_high=D("2000")),
    _pct("BLAST", Panel.CBC, "Peripheral blood blasts"),
    # Chemistry
    Analyte("ALT", Panel.CHEMISTRY, "ALT", "U/L", {"U/L": D("1"), "ukat/L": D("60")}, implausible_high=D("10000")),
    Analyte("AST", Panel.CHEMISTRY, "AST", "U/L", {"U/L": D("1"), "ukat/L": D("60")}, implausible_high=D("10000")),
    Analyte(
        "TBIL",
        Panel.CHEMISTRY,
        "Total bilirubin",
        "umol/L",
        {"umol/L": D("1"), "mg/dL": D("17.1")},
        implausible_high=D("1000"),
    ),
    Analyte(
        "CREAT",
        Panel.CHEMISTRY,
        "Creatinine",
        "umol/L",
        {"umol/L": D("1"), "mg/dL": D("88.4")},
        implausible_high=D("2000"),
    ),
    Analyte(
        "ALB",
        Panel.CHEMISTRY,
        "Albumin",
        "g/L",
        {"g/L": D("1"), "g/dL": D("10")},
        impossible_high=D("100"),
        implausible_low=D("10"),
        implausible_high=D("70"),
    ),
    Analyte("LDH", Panel.CHEMISTRY, "LDH", "U/L", {"U/L": D("1"), "ukat/L": D("60")}, implausible_high=D("50000")),
    Analyte(
        "URATE",
        Panel.CHEMISTRY,
        "Uric acid",
        "umol/L",
        {"umol/L": D("1"), "mg/dL": D("59.48")},
        implausible_high=D("2000"),
    ),
    Analyte(
        "K",
        Panel.CHEMISTRY,
        "Potassium",
        "mmol/L",
        {"mmol/L": D("1"), "mEq/L": D("1")},
        impossible_high=D("20"),
        implausible_low=D("2.0"),
        implausible_high=D("8.0"),
    ),
    Analyte(
        "NA",
        Panel.CHEMISTRY,
        "Sodium",
        "mmol/L",
        {"mmol/L": D("1"), "mEq/L": D("1")},
        impossible_high=D("250"),
        implausible_low=D("110"),
        implausible_high=D("170"),
    ),
    # Coagulation
    Analyte("PT", Panel.COAGULATION, "Prothrombin time", "s", {"s": D("1")}, implausible_high=D("120")),
    Analyte("APTT", Panel.COAGULATION, "APTT", "s", {"s": D("1")}, implausible_high=D("180")),
    Analyte("INR", Panel.COAGULATION, "INR", "ratio", {"ratio": D("1")}, implausible_high=D("10")),
    Analyte(
        "FIB",
        Panel.COAGULATION,
        "Fibrinogen",
        "g/L",
        {"g/L": D("1"), "mg/dL": D("0.01")},
        implausible_high=D("15"),
    ),
    Analyte(
        "DDIMER",
        Panel.COAGULATION,
        "D-dimer (FEU)",
        "mg/L FEU",
        {"mg/L FEU": D("1"), "ug/mL FEU": D("1"), "ng/mL FEU": D("0.001"), "ug/L FEU": D("0.001")},
        implausible_high=D("200"),
    ),
    # Inflammatory markers and cytokines
    Analyte("CRP", Panel.INFLAMMATORY, "CRP", "mg/L", {"mg/L": D("1"), "mg/dL": D("10")}, implausible_high=D("1000")),
    Analyte(
        "FERRITIN",
        Panel.INFLAMMATORY,
        "Ferritin",
        "ug/L",
        {"ug/L": D("1"), "ng/mL": D("1")},
        implausible_high=D("200000"),
    ),
    _cytokine("IL6", "IL-6"),
    _cytokine("IL2", "IL-2"),
    _cytokine("IL10", "IL-10"),
    _cytokine("IFNG", "IFN-γ"),
    _cytokine("TNFA", "TNF-α"),
    # T/NK subsets: % of lymphocytes and cells/µL
    _pct("CD3_PCT", Panel.LYMPHOCYTE_SUBSETS, "CD3+ %"),
    _cells("CD3_ABS", Panel.LYMPHOCYTE_SUBSETS, "CD3+"),
    _pct("CD3CD7P_PCT", Panel.LYMPHOCYTE_SUBSETS, "CD3+CD7+ %"),
    _cells("CD3CD7P_ABS", Panel.LYMPHOCYTE_SUBSETS, "CD3+CD7+"),
    _pct("CD3CD7N_PCT", Panel.LYMPHOCYTE_SUBSETS, "CD3+CD7− %"),
    _cells("CD3CD7N_ABS", Panel.LYMPHOCYTE_SUBSETS, "CD3+CD7−"),
    _pct("CD4_PCT", Panel.LYMPHOCYTE_SUBSETS, "CD4+ %"),
    _cells("CD4_ABS", Panel.LYMPHOCYTE_SUBSETS, "CD4+"),
    _pct("CD8_PCT", Panel.LYMPHOCYTE_SUBSETS, "CD8+ %"),
    _cells("CD8_ABS", Panel.LYMPHOCYTE_SUBSETS, "CD8+"),
    _pct("CD56_PCT", Panel.LYMPHOCYTE_SUBSETS, "CD56+ %"),
    _cells("CD56_ABS", Panel.LYMPHOCYTE_SUBSETS, "CD56+"),
    # CAR-T kinetics
    Analyte(
        "CAR_COPIES",
        Panel.CAR_T_KINETICS,
        "CAR transgene",
        "copies/ug DNA",
        {"copies/ug DNA": D("1")},
        implausible_high=D("10000000"),
    ),
    _pct("CAR_PCT", Panel.CAR_T_KINETICS, "CAR+ % of T cells"),
    _cells("CAR_ABS", Panel.CAR_T_KINETICS, "CAR+ T cells"),
)

ANALYTES: Mapping[str, Analyte] = {a.code: a for a in _ANALYTES}


def panel_analytes(panel: Panel) -> tuple[Analyte, ...]:
    """The panel's analytes in the order of the lab report (and the entry grid)."""
    return tuple(a for a in _ANALYTES if a.panel == panel)


def analyte(code: str) -> Analyte:
    try:
        return ANALYTES[code]
    except KeyError:
        raise ValueError(f"unknown analyte {code!r}") from None


class UnitNotAllowed(ValueError):
    """The reported unit is not one this analyte may be reported in."""


def to_standard(value: Decimal, *, analyte_code: str, unit: str) -> Decimal:
    """`value` in `unit` → the analyte's standard unit, exactly (a product of two decimals)."""
    entry = analyte(analyte_code)
    factor = entry.factors.get(unit)
    if factor is None:
        raise UnitNotAllowed(f"{unit!r} is not a unit of {analyte_code}")
    return value * factor


def from_standard(value: Decimal, *, analyte_code: str, unit: str) -> Decimal:
    """The standard value in another allowed unit (e.g. Hgb g/L → g/dL for a CTCAE table in
    g/dL). A division: exact where the factor allows (10, 0.001), otherwise correct to the
    decimal context's 28 significant digits; compare in the standard unit where it matters."""
    entry = analyte(analyte_code)
    factor = entry.factors.get(unit)
    if factor is None:
        raise UnitNotAllowed(f"{unit!r} is not a unit of {analyte_code}")
    return value / factor


class Plausibility(StrEnum):
    PLAUSIBLE = "plausible"
    IMPLAUSIBLE = "implausible"
    IMPOSSIBLE = "impossible"


def plausibility(standard_value: Decimal, *, analyte_code: str) -> Plausibility:
    """Judge a value already in the standard unit; limits are inclusive (at the limit = allowed)."""
    entry = analyte(analyte_code)
    if entry.impossible_low is not None and standard_value < entry.impossible_low:
        return Plausibility.IMPOSSIBLE
    if entry.impossible_high is not None and standard_value > entry.impossible_high:
        return Plausibility.IMPOSSIBLE
    if entry.implausible_low is not None and standard_value < entry.implausible_low:
        return Plausibility.IMPLAUSIBLE
    if entry.implausible_high is not None and standard_value > entry.implausible_high:
        return Plausibility.IMPLAUSIBLE
    return Plausibility.PLAUSIBLE


class Flag(StrEnum):
    LOW = "L"
    NORMAL = "N"
    HIGH = "H"


def reference_flag(standard_value: Decimal, *, lln: Decimal | None, uln: Decimal | None) -> Flag | None:
    """Below LLN → L, above ULN → H, at either limit → N; None when there is no range at all."""
    if lln is None and uln is None:
        return None
    if lln is not None and standard_value < lln:
        return Flag.LOW
    if uln is not None and standard_value > uln:
        return Flag.HIGH
    return Flag.NORMAL


#: Pairs (part, whole) within one collection where the part cannot exceed the whole.
PART_OF_WHOLE: tuple[tuple[str, str], ...] = (
    ("ANC", "WBC"),
    ("ALC", "WBC"),
    ("CD3CD7P_ABS", "CD3_ABS"),
    ("CD3CD7N_ABS", "CD3_ABS"),
    ("CD3CD7P_PCT", "CD3_PCT"),
    ("CD3CD7N_PCT", "CD3_PCT"),
)


def parts_exceeding_whole(standard_values: Mapping[str, Decimal]) -> list[tuple[str, str]]:
    """(part, whole) pairs of one collection where the part is larger than the whole, e.g. an
    ANC above the WBC: physiologically impossible, refused on the part."""
    return [
        (part, whole)
        for part, whole in PART_OF_WHOLE
        if part in standard_values and whole in standard_values and standard_values[part] > standard_values[whole]
    ]


def decimal_text(value: Decimal) -> str:
    """A decimal as a person types it, at its own precision: 20.000000 → "20", 0.90 → "0.9",
    never "2E+1"."""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text
