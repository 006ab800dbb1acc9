"""Independent audit: CTCAE v5.0 grade existence and lab-derived grades at their exact
boundaries, in every accepted unit (CLINICAL_SPEC §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from clinical.ctcae import (
    LabUnit,
    TemperatureReading,
    bilirubin_umol_per_l_to_mg_per_dl,
    check_ae_grade,
    grade_anemia,
    grade_fever,
    grade_fever_course,
    grade_lab_value,
    grade_lymphocyte_count_decreased,
    grade_neutrophil_count_decreased,
    grade_platelet_count_decreased,
)

pytestmark = pytest.mark.req("CLINICAL_SPEC-3")

D = Decimal


@pytest.mark.parametrize(
    ("value", "unit", "lln", "expected"),
    [
        ("1.0", LabUnit.GIGA_PER_L, "1.8", 2),  # §3: 1.0 is grade 2
        ("0.99", LabUnit.GIGA_PER_L, "1.8", 3),
        ("0.5", LabUnit.GIGA_PER_L, "1.8", 3),
        ("0.49", LabUnit.GIGA_PER_L, "1.8", 4),
        ("1.5", LabUnit.GIGA_PER_L, "1.8", 1),  # [1.5, LLN) is grade 1
        ("1.49", LabUnit.GIGA_PER_L, "1.8", 2),
        ("1.8", LabUnit.GIGA_PER_L, "1.8", 0),  # at the LLN: not decreased
        ("0", LabUnit.GIGA_PER_L, "1.8", 4),
        ("1000", LabUnit.PER_UL, "1800", 2),  # same boundaries in cells/µL
        ("999", LabUnit.PER_UL, "1800", 3),
        ("500", LabUnit.PER_MM3, "1800", 3),
        ("499", LabUnit.PER_MM3, "1800", 4),
        ("0.5", LabUnit.THOUSAND_PER_UL, "1.8", 3),
    ],
)
def test_neutrophil_boundaries_in_each_unit(value, unit, lln, expected):
    """§3: ANC 1.0 ×10⁹/L grade 2, 0.99 grade 3, 0.5 grade 3, 0.49 grade 4; /µL ÷ 1000 exactly."""
    assert grade_neutrophil_count_decreased(D(value), unit, lln=D(lln)).grade == expected


def test_grade_1_band_needs_the_lln():
    """§3: grade 1 is "< LLN"; without the lab's LLN a value ≥ 1.5 cannot be told from normal."""
    assert grade_neutrophil_count_decreased(D("1.6"), lln=None).grade is None
    assert grade_neutrophil_count_decreased(D("1.4"), lln=None).grade == 2


@pytest.mark.parametrize(
    ("value", "unit", "lln", "expected"),
    [
        ("75", LabUnit.GIGA_PER_L, "150", 1),  # §3: 75 grade 1 when LLN > 75
        ("75", LabUnit.GIGA_PER_L, "75", 0),  # LLN not above 75: normal
        ("74.9", LabUnit.GIGA_PER_L, "150", 2),
        ("50", LabUnit.GIGA_PER_L, "150", 2),
        ("49.9", LabUnit.GIGA_PER_L, "150", 3),
        ("25", LabUnit.GIGA_PER_L, "150", 3),  # §3: 25 grade 3
        ("24.9", LabUnit.GIGA_PER_L, "150", 4),  # §3: 24.9 grade 4
        ("25000", LabUnit.PER_UL, "150000", 3),
        ("24999", LabUnit.PER_UL, "150000", 4),
    ],
)
def test_platelet_boundaries(value, unit, lln, expected):
    """§3 platelets: < LLN–75 G1, < 75–50 G2, < 50–25 G3, < 25 G4."""
    assert grade_platelet_count_decreased(D(value), unit, lln=D(lln)).grade == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.8", 1), ("0.79", 2), ("0.5", 2), ("0.49", 3), ("0.2", 3), ("0.19", 4)],
)
def test_lymphocyte_boundaries(value, expected):
    """CTCAE v5.0 lymphocyte count decreased: < LLN–0.8 G1, < 0.8–0.5 G2, < 0.5–0.2 G3, < 0.2 G4."""
    assert grade_lymphocyte_count_decreased(D(value), lln=D("1.0")).grade == expected


@pytest.mark.parametrize(
    ("value", "unit", "lln", "expected"),
    [
        ("10.0", LabUnit.G_PER_DL, "12.0", 1),
        ("9.99", LabUnit.G_PER_DL, "12.0", 2),
        ("8.0", LabUnit.G_PER_DL, "12.0", 2),
        ("7.99", LabUnit.G_PER_DL, "12.0", 3),
        ("100", LabUnit.G_PER_L, "120", 1),  # g/L ÷ 10 exactly: 10.0 g/dL
        ("99", LabUnit.G_PER_L, "120", 2),
        ("80", LabUnit.G_PER_L, "120", 2),
        ("79", LabUnit.G_PER_L, "120", 3),
        ("120", LabUnit.G_PER_L, "120", 0),
        ("6.2", LabUnit.MMOL_PER_L, "7.4", 1),  # CTCAE's own mmol/L cut-offs
        ("6.19", LabUnit.MMOL_PER_L, "7.4", 2),
        ("4.9", LabUnit.MMOL_PER_L, "7.4", 2),
        ("4.89", LabUnit.MMOL_PER_L, "7.4", 3),
    ],
)
def test_anaemia_boundaries_and_units(value, unit, lln, expected):
    """§3: anaemia grades 1–3 proposed; Hgb g/L ↔ g/dL converted exactly."""
    assert grade_anemia(D(value), unit, lln=D(lln)).grade == expected


def test_anaemia_grade_never_proposed_above_3():
    """§3: anaemia is proposed for grades 1–3 only (4–5 are clinical)."""
    assert grade_anemia(D("3.0"), lln=D("12.0")).grade == 3


def test_lab_value_from_standard_units_matches_direct_grading():
    """§3: the standard-unit entry point (counts ×10⁹/L, Hgb g/L) grades as the direct ones."""
    anc = grade_lab_value("ANC", D("0.49"), lln=D("1.8"))
    hgb = grade_lab_value("HGB", D("79"), lln=D("120"))
    assert anc is not None and anc.grade == 4
    assert hgb is not None and hgb.grade == 3
    assert grade_lab_value("CREAT", D("300"), lln=None) is None


@pytest.mark.parametrize(
    ("tmax", "unit", "expected"),
    [
        ("37.9", LabUnit.CELSIUS, 0),
        ("38.0", LabUnit.CELSIUS, 1),
        ("39.0", LabUnit.CELSIUS, 1),  # §3: 39.0 grade 1
        ("39.1", LabUnit.CELSIUS, 2),  # §3: 39.1 grade 2
        ("40.0", LabUnit.CELSIUS, 2),
        ("40.1", LabUnit.CELSIUS, None),  # grades 3–4 need a duration
        ("100.4", LabUnit.FAHRENHEIT, 1),  # (100.4 − 32) × 5/9 = 38.0 exactly
        ("102.2", LabUnit.FAHRENHEIT, 1),  # 39.0 exactly
        ("102.3", LabUnit.FAHRENHEIT, 2),  # 39.0555… > 39.0
        ("104.0", LabUnit.FAHRENHEIT, 2),  # 40.0 exactly
        ("100.3", LabUnit.FAHRENHEIT, 0),  # 37.94…
    ],
)
def test_fever_from_tmax(tmax, unit, expected):
    """§3: fever grades 1–2 from Tmax only, 39.0 grade 1 and 39.1 grade 2; °F converted exactly."""
    assert grade_fever(D(tmax), unit).grade == expected


@pytest.mark.req("CLINICAL_SPEC-1.2g")
def test_no_fever_grade_proposed_on_a_crs_episode_day():
    """§1.2 g: on CRS episode days no Fever AE is proposed."""
    assert grade_fever(D("39.5"), crs_episode_day=True).grade is None


def test_fever_above_40_for_exactly_24_hours_at_most_is_grade_3():
    """CTCAE fever: grade 3 > 40.0 °C for ≤ 24 h. Readings 39.5 at 0 h, 40.5 at 6 h, 40.2 at
    12 h, 39.8 at 24 h: the fever lasted at most 24 h (0 h → 24 h) → grade 3."""
    t0 = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    readings = [
        TemperatureReading(t0, D("39.5")),
        TemperatureReading(t0 + timedelta(hours=6), D("40.5")),
        TemperatureReading(t0 + timedelta(hours=12), D("40.2")),
        TemperatureReading(t0 + timedelta(hours=24), D("39.8")),
    ]
    result = grade_fever_course(readings, 1)
    assert result is not None and result.grade == 3


def test_fever_above_40_for_more_than_24_hours_is_grade_4():
    """CTCAE fever: grade 4 > 40.0 °C for > 24 h: above 40 at 0 h and again at 24 h 1 min."""
    t0 = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    readings = [
        TemperatureReading(t0, D("40.3")),
        TemperatureReading(t0 + timedelta(hours=24, minutes=1), D("40.1")),
    ]
    result = grade_fever_course(readings, 0)
    assert result is not None and result.grade == 4


def test_bilirubin_conversion_at_17_1():
    """§3: bilirubin µmol/L ↔ mg/dL at 17.1 µmol/L per mg/dL."""
    assert bilirubin_umol_per_l_to_mg_per_dl(D("34.2")) == D("2")


@pytest.mark.parametrize(
    ("term", "grade", "ok"),
    [
        ("Tumor lysis syndrome", 1, False),
        ("Tumor lysis syndrome", 2, False),
        ("Tumor lysis syndrome", 3, True),
        ("Neutrophil count decreased", 4, True),
        ("Neutrophil count decreased", 5, False),
        ("Febrile neutropenia", 2, False),
        ("Febrile neutropenia", 3, True),
        ("Febrile neutropenia", 5, True),
        ("Anemia", 0, False),
        ("Anemia", 6, False),
    ],
)
def test_grade_cells_of_dash_are_refused(term, grade, ok):
    """§3: a grade cell of "-" does not exist for the term and is refused; 1–5 only."""
    assert check_ae_grade(term, grade).ok is ok


def test_other_specify_needs_verbatim():
    """§3: "Other, specify" terms need verbatim text (ICANS is coded this way, §2.3)."""
    assert not check_ae_grade("Nervous system disorders - Other, specify", 2).ok
    assert check_ae_grade("Nervous system disorders - Other, specify", 2, verbatim="ICANS").ok
