"""clinical/units.py: exact conversion into each analyte's standard unit and the impossible /
implausible limits at their boundaries (CLINICAL_SPEC §1.3 "Lab-derived grades"; issue 6
item 1). Table-driven, no database."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from clinical.units import (
    ANALYTES,
    Flag,
    Panel,
    Plausibility,
    UnitNotAllowed,
    decimal_text,
    from_standard,
    panel_analytes,
    parts_exceeding_whole,
    plausibility,
    reference_flag,
    to_standard,
)

pytestmark = pytest.mark.req("ISSUE-6")


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        ("HGB", D("8.0"), "g/dL", D("80.0")),
        ("HGB", D("7.99"), "g/dL", D("79.90")),
        ("HGB", D("80"), "g/L", D("80")),
        ("TBIL", D("1"), "mg/dL", D("17.1")),  # §1.3: 17.1 µmol/L per mg/dL
        ("TBIL", D("1.5"), "mg/dL", D("25.65")),
        ("CREAT", D("1.0"), "mg/dL", D("88.40")),
        ("CREAT", D("0.6"), "mg/dL", D("53.04")),
        ("URATE", D("7.0"), "mg/dL", D("416.360")),
        ("ANC", D("1000"), "/uL", D("1.000")),  # ANC 1.0 ×10⁹/L, the grade 2/3 boundary
        ("ANC", D("990"), "/uL", D("0.990")),
        ("ANC", D("500"), "/uL", D("0.500")),
        ("ANC", D("499"), "/uL", D("0.499")),
        ("ANC", D("1.0"), "10^3/uL", D("1.0")),
        ("PLT", D("75000"), "/uL", D("75.000")),
        ("PLT", D("24900"), "/uL", D("24.900")),
        ("WBC", D("3.5"), "10^9/L", D("3.5")),
        ("FIB", D("150"), "mg/dL", D("1.50")),
        ("FIB", D("1.5"), "g/L", D("1.5")),
        ("CRP", D("2.5"), "mg/dL", D("25.0")),
        ("FERRITIN", D("1200"), "ng/mL", D("1200")),
        ("IL6", D("35.2"), "ng/L", D("35.2")),
        ("DDIMER", D("550"), "ng/mL FEU", D("0.550")),
        ("ALT", D("1.0"), "ukat/L", D("60.0")),
        ("ALB", D("3.5"), "g/dL", D("35.0")),
        ("CD3_ABS", D("0.85"), "10^9/L", D("850.00")),
        ("CD3_ABS", D("850"), "10^6/L", D("850")),
        ("CAR_ABS", D("12.5"), "cells/uL", D("12.5")),
    ],
)
def test_to_standard_is_exact(analyte, value, unit, expected):
    result = to_standard(value, analyte_code=analyte, unit=unit)
    assert result == expected
    assert str(result) == str(expected)  # exact: no rounding, no binary float


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        ("HGB", D("80"), "g/dL", D("8")),
        ("ANC", D("0.49"), "/uL", D("490")),
        ("TBIL", D("34.2"), "mg/dL", D("2")),
        ("CREAT", D("176.8"), "mg/dL", D("2")),
    ],
)
def test_from_standard(analyte, value, unit, expected):
    assert from_standard(value, analyte_code=analyte, unit=unit) == expected


def test_a_unit_the_analyte_is_not_reported_in_is_refused():
    with pytest.raises(UnitNotAllowed):
        to_standard(D("8"), analyte_code="HGB", unit="mg/dL")
    with pytest.raises(UnitNotAllowed):
        to_standard(D("1"), analyte_code="ANC", unit="%")


@pytest.mark.parametrize(
    ("analyte", "standard_value", "expected"),
    [
        ("ANC", D("-0.01"), Plausibility.IMPOSSIBLE),
        ("ANC", D("0"), Plausibility.PLAUSIBLE),
        ("ANC", D("100"), Plausibility.PLAUSIBLE),
        ("ANC", D("100.01"), Plausibility.IMPLAUSIBLE),
        ("PLT", D("2000"), Plausibility.PLAUSIBLE),
        ("PLT", D("2000.1"), Plausibility.IMPLAUSIBLE),
        ("HGB", D("250"), Plausibility.PLAUSIBLE),
        ("HGB", D("250.1"), Plausibility.IMPLAUSIBLE),
        ("HGB", D("300"), Plausibility.IMPLAUSIBLE),
        ("HGB", D("300.1"), Plausibility.IMPOSSIBLE),
        ("HGB", D("30"), Plausibility.PLAUSIBLE),
        ("HGB", D("29.9"), Plausibility.IMPLAUSIBLE),
        ("BLAST", D("100"), Plausibility.PLAUSIBLE),
        ("BLAST", D("100.1"), Plausibility.IMPOSSIBLE),
        ("CD3CD7N_PCT", D("100.01"), Plausibility.IMPOSSIBLE),
        ("CAR_PCT", D("0"), Plausibility.PLAUSIBLE),
        ("CAR_PCT", D("-1"), Plausibility.IMPOSSIBLE),
        ("K", D("2.0"), Plausibility.PLAUSIBLE),
        ("K", D("1.9"), Plausibility.IMPLAUSIBLE),
        ("K", D("8.0"), Plausibility.PLAUSIBLE),
        ("K", D("8.1"), Plausibility.IMPLAUSIBLE),
        ("K", D("20.1"), Plausibility.IMPOSSIBLE),
        ("IL6", D("100000"), Plausibility.PLAUSIBLE),
        ("IL6", D("100001"), Plausibility.IMPLAUSIBLE),
    ],
)
def test_plausibility_boundaries(analyte, standard_value, expected):
    assert plausibility(standard_value, analyte_code=analyte) == expected


def test_implausible_limit_applies_after_conversion():
    """ANC 100 500 /µL is 100.5 ×10⁹/L: above the 100 ×10⁹/L limit."""
    standard = to_standard(D("100500"), analyte_code="ANC", unit="/uL")
    assert plausibility(standard, analyte_code="ANC") == Plausibility.IMPLAUSIBLE
    standard = to_standard(D("100000"), analyte_code="ANC", unit="/uL")
    assert plausibility(standard, analyte_code="ANC") == Plausibility.PLAUSIBLE


@pytest.mark.parametrize(
    ("value", "lln", "uln", "expected"),
    [
        (D("1.8"), D("1.8"), D("6.3"), Flag.NORMAL),
        (D("1.79"), D("1.8"), D("6.3"), Flag.LOW),
        (D("6.3"), D("1.8"), D("6.3"), Flag.NORMAL),
        (D("6.31"), D("1.8"), D("6.3"), Flag.HIGH),
        (D("0"), None, D("5"), Flag.NORMAL),
        (D("9"), None, D("5"), Flag.HIGH),
        (D("9"), None, None, None),
    ],
)
def test_reference_flag(value, lln, uln, expected):
    assert reference_flag(value, lln=lln, uln=uln) == expected


def test_part_larger_than_whole():
    assert parts_exceeding_whole({"ANC": D("5.1"), "WBC": D("5.0")}) == [("ANC", "WBC")]
    assert parts_exceeding_whole({"ANC": D("5.0"), "WBC": D("5.0")}) == []
    assert parts_exceeding_whole({"ANC": D("5.1")}) == []


def test_panels_hold_the_issue_analytes():
    codes = {p: [a.code for a in panel_analytes(p)] for p in Panel}
    assert codes[Panel.CBC] == ["WBC", "ANC", "ALC", "HGB", "PLT", "BLAST"]
    assert {"PT", "APTT", "INR", "FIB", "DDIMER"} == set(codes[Panel.COAGULATION])
    assert {"CRP", "FERRITIN", "IL6", "IL2", "IL10", "IFNG", "TNFA"} == set(codes[Panel.INFLAMMATORY])
    assert len(codes[Panel.LYMPHOCYTE_SUBSETS]) == 12
    assert codes[Panel.CAR_T_KINETICS] == ["CAR_COPIES", "CAR_PCT", "CAR_ABS"]
    for entry in ANALYTES.values():
        assert entry.factors[entry.standard_unit] == 1


@pytest.mark.parametrize(
    ("value", "text"), [(D("20.000000"), "20"), (D("0.900000"), "0.9"), (D("-0.0"), "0"), (D("1E+3"), "1000")]
)
def test_decimal_text(value, text):
    assert decimal_text(value) == text
