"""Independent audit: ICAHT (CLINICAL_SPEC §4.1) and MAGIC acute GvHD (§4.3) at their boundaries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinical.gvhd import BilirubinUnit, GvhdInputs, stage_gvhd
from clinical.icaht import AncValue, early_icaht, late_icaht

pytestmark = pytest.mark.req("CLINICAL_SPEC-4.1")

D = Decimal
HIGH = D("2.0")


def series(values: dict[int, str]) -> list[AncValue]:
    return [AncValue(day, D(v)) for day, v in values.items()]


def low_days(first: int, last: int, value: str = "0.3", end: int = 30) -> list[AncValue]:
    """ANC `value` on days first..last, 2.0 on every other day 0..end (daily measurements)."""
    return [AncValue(d, D(value) if first <= d <= last else HIGH) for d in range(0, end + 1)]


@pytest.mark.parametrize(
    ("first", "last", "grade"),
    [
        (1, 6, 1),  # 6 days
        (1, 7, 2),  # 7 days
        (1, 13, 2),  # 13 days
        (1, 14, 3),  # 14 days
        (0, 29, 3),  # 30 days but recovered on day 30
    ],
)
def test_early_run_length_edges(first, last, grade):
    """§4.1: ANC ≤ 500/µL < 7 days G1, 7–13 G2, 14–30 G3."""
    assert early_icaht(low_days(first, last)).grade == grade


def test_never_recovering_through_day_30_is_g4():
    """§4.1: ≤ 500 from day 1 to day 30 (30 days), never recovering → G4."""
    values = [AncValue(0, HIGH)] + [AncValue(d, D("0.4")) for d in range(1, 31)]
    assert early_icaht(values).grade == 4


def test_exactly_500_counts_and_501_does_not():
    """§4.1: ANC ≤ 500/µL (0.5 ×10⁹/L): 0.5 is in the run, 0.501 is not (501–1000 is no ICAHT)."""
    assert early_icaht(low_days(1, 7, "0.5")).grade == 2
    assert early_icaht(low_days(1, 7, "0.501")).grade == 0


@pytest.mark.parametrize(("last", "grade"), [(6, 1), (7, 3), (13, 3), (14, 4)])
def test_profound_neutropenia_runs(last, grade):
    """§4.1: ANC ≤ 100 for ≥ 7 days G3, ≥ 14 days G4; the worse of the two criteria wins
    (days 1..last at 0.1 are also ≤ 500: 6 days → G1 only)."""
    assert early_icaht(low_days(1, last, "0.1")).grade == grade


@pytest.mark.parametrize(
    ("values", "grade"),
    [
        # low days 0–4, recovery on days 5–6 (2-day gap, bridged), low days 7–10 → run 0–10 = 11 → G2
        ({0: "0.3", 5: "0.8", 7: "0.3", 11: "0.9"}, 2),
        # 3-day recovery gap (days 5–7) interrupts: runs 0–4 (5) and 8–10 (3) → G1
        ({0: "0.3", 5: "0.8", 8: "0.3", 11: "0.9"}, 1),
    ],
)
def test_recovery_gap_of_fewer_than_3_days_with_carry_forward(values, grade):
    """§4.1: carry forward between measurements; gaps of < 3 days do not interrupt a run and
    count in it."""
    assert early_icaht(series(values)).grade == grade


@pytest.mark.parametrize(
    ("values", "grade"),
    [
        ({31: "1.5", 40: "1.5"}, 1),  # ≤ 1500 confirmed
        ({31: "1.5", 40: "1.51"}, 0),  # one value above 1500: the less severe is no ICAHT
        ({45: "0.1", 60: "0.5"}, 3),  # less severe of G4 and G3
        ({30: "0.1", 31: "0.1"}, None),  # day 30 is early: one late value is not confirmed
    ],
)
def test_late_icaht_boundaries(values, grade):
    """§4.1 late (> day 30): ≤ 1500 G1, ≤ 1000 G2, ≤ 500 G3, ≤ 100 G4, confirmed by ≥ 2
    values, the less severe of the two."""
    assert late_icaht(series(values)).grade == grade


def test_late_values_from_relapse_on_are_excluded():
    """§4.1: late ICAHT not explained by relapse: values on or after the relapse day are dropped."""
    assert late_icaht(series({40: "0.3", 50: "0.3", 60: "0.3"}), relapse_day=50).grade is None


# --- §4.3 MAGIC -----------------------------------------------------------------------------------


def overall(**kw) -> int:
    return stage_gvhd(GvhdInputs(**kw)).overall_grade


@pytest.mark.req("CLINICAL_SPEC-4.3")
@pytest.mark.parametrize(
    ("bsa", "stage"), [("0", 0), ("0.1", 1), ("24.99", 1), ("25", 2), ("50", 2), ("50.01", 3), ("100", 3)]
)
def test_skin_bands(bsa, stage):
    """§4.3 skin: > 0 and < 25 stage 1; 25–50 stage 2; > 50 stage 3."""
    assert stage_gvhd(GvhdInputs(skin_bsa_pct=D(bsa))).skin_stage == stage


@pytest.mark.req("CLINICAL_SPEC-4.3")
@pytest.mark.parametrize(
    ("bilirubin", "unit", "stage"),
    [
        ("1.99", BilirubinUnit.MG_DL, 0),
        ("2.0", BilirubinUnit.MG_DL, 1),
        ("3.0", BilirubinUnit.MG_DL, 1),
        ("3.01", BilirubinUnit.MG_DL, 2),
        ("6.0", BilirubinUnit.MG_DL, 2),
        ("6.01", BilirubinUnit.MG_DL, 3),
        ("15.0", BilirubinUnit.MG_DL, 3),
        ("15.01", BilirubinUnit.MG_DL, 4),
        ("34.2", BilirubinUnit.UMOL_L, 1),  # 2.0 mg/dL exactly
        ("34.19", BilirubinUnit.UMOL_L, 0),
        ("51.3", BilirubinUnit.UMOL_L, 1),  # 3.0 mg/dL exactly
        ("51.31", BilirubinUnit.UMOL_L, 2),  # 3.0006 mg/dL: no rounding to 3.0
        ("256.5", BilirubinUnit.UMOL_L, 3),  # 15.0 mg/dL exactly
        ("256.51", BilirubinUnit.UMOL_L, 4),
    ],
)
def test_liver_bands_in_both_units(bilirubin, unit, stage):
    """§4.3 liver: 2.0–3.0 stage 1, > 3.0–6.0 stage 2, > 6.0–15.0 stage 3, > 15.0 stage 4;
    µmol/L converted at 17.1 at full precision (no rounding)."""
    assert stage_gvhd(GvhdInputs(bilirubin=D(bilirubin), bilirubin_unit=unit)).liver_stage == stage


@pytest.mark.req("CLINICAL_SPEC-4.3")
@pytest.mark.parametrize(
    ("kw", "stage"),
    [
        ({"stool_ml_per_day": D("499.9")}, 0),
        ({"stool_ml_per_day": D("500")}, 1),
        ({"stool_ml_per_day": D("1000")}, 2),
        ({"stool_ml_per_day": D("1500")}, 2),
        ({"stool_ml_per_day": D("1500.1")}, 3),
        ({"stool_episodes_per_day": D("2.9")}, 0),
        ({"stool_episodes_per_day": D("3")}, 1),
        ({"stool_episodes_per_day": D("5")}, 2),
        ({"stool_episodes_per_day": D("7")}, 2),
        ({"stool_episodes_per_day": D("7.1")}, 3),
        # both recorded: volume is used (400 mL → 0 although 8 episodes would be stage 3)
        ({"stool_ml_per_day": D("400"), "stool_episodes_per_day": D("8")}, 0),
        # child 20 kg: 10 mL/kg/day = 200 mL/day → 1; 199 → 0; 30 mL/kg = 600 → 2; 601 → 3
        ({"stool_ml_per_day": D("200"), "weight_kg": D("20")}, 1),
        ({"stool_ml_per_day": D("199"), "weight_kg": D("20")}, 0),
        ({"stool_ml_per_day": D("600"), "weight_kg": D("20")}, 2),
        ({"stool_ml_per_day": D("601"), "weight_kg": D("20")}, 3),
        # 50 kg exactly is not below the 50 kg setting: adult column (600 mL → 1)
        ({"stool_ml_per_day": D("600"), "weight_kg": D("50")}, 1),
        # 49.9 kg is a child: 600 / 49.9 = 12.02 mL/kg → 1; 1000 / 49.9 = 20.04 → 2
        ({"stool_ml_per_day": D("1000"), "weight_kg": D("49.9")}, 2),
        # child episodes: 4 → 1, 7 → 2, 10 → 2, 10.5 → 3
        ({"stool_episodes_per_day": D("4"), "weight_kg": D("20")}, 1),
        ({"stool_episodes_per_day": D("3.9"), "weight_kg": D("20")}, 0),
        ({"stool_episodes_per_day": D("10"), "weight_kg": D("20")}, 2),
        ({"stool_episodes_per_day": D("10.5"), "weight_kg": D("20")}, 3),
        ({"lower_gi_severe": True, "stool_ml_per_day": D("100")}, 4),
    ],
)
def test_lower_gi_bands(kw, stage):
    """§4.3 lower GI adult and child columns, volume before episodes, child below 50 kg."""
    assert stage_gvhd(GvhdInputs(**kw)).lower_gi_stage == stage


@pytest.mark.req("CLINICAL_SPEC-4.3")
@pytest.mark.parametrize(
    ("kw", "grade"),
    [
        ({"skin_bsa_pct": D("50")}, 1),  # skin stage 2 alone → I
        ({"skin_bsa_pct": D("10"), "upper_gi_persistent": True}, 2),
        ({"upper_gi_persistent": True}, 2),
        ({"skin_bsa_pct": D("60"), "bilirubin": D("3.01")}, 3),  # liver 2 → III
        ({"skin_bsa_pct": D("10"), "stool_ml_per_day": D("1000")}, 3),  # lower GI 2 → III
        ({"skin_bullae": True}, 4),
        ({"bilirubin": D("15.01")}, 4),
        ({}, 0),
    ],
)
def test_overall_grade(kw, grade):
    """§4.3 overall grade I–IV."""
    assert overall(**kw) == grade
