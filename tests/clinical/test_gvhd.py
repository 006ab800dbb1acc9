"""Acute GvHD by MAGIC: organ stages at every band edge, unit conversion, child column and the
overall grade (CLINICAL_SPEC §4.3 and the MAGIC worked examples of §8). Pure: no database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.gvhd import (
    BilirubinUnit,
    GvhdInputs,
    GvhdSettings,
    LowerGiBasis,
    liver_stage,
    lower_gi_stage,
    overall_grade,
    skin_stage,
    stage_gvhd,
)
from clinical.protocol import ProtocolChoices

D = Decimal
ADULT = GvhdSettings()


# --- §8 worked examples -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "stages", "grade"),
    [
        (GvhdInputs(skin_bsa_pct=D("30")), (2, 0, 0, 0), 1),
        (GvhdInputs(skin_bsa_pct=D("60")), (3, 0, 0, 0), 2),
        (GvhdInputs(bilirubin=D("2.5"), skin_bsa_pct=D("10")), (1, 1, 0, 0), 2),
        (GvhdInputs(stool_ml_per_day=D("1200"), weight_kg=D("70")), (0, 0, 0, 2), 3),
        (GvhdInputs(bilirubin=D("16")), (0, 4, 0, 0), 4),
        (GvhdInputs(upper_gi_persistent=True), (0, 0, 1, 0), 2),
        (GvhdInputs(bilirubin=D("52"), bilirubin_unit=BilirubinUnit.UMOL_L), (0, 2, 0, 0), 3),
        (GvhdInputs(stool_ml_per_day=D("999.7"), weight_kg=D("70")), (0, 0, 0, 1), 2),
        (GvhdInputs(stool_episodes_per_day=D("4.3"), weight_kg=D("70")), (0, 0, 0, 1), 2),
    ],
    ids=[
        "skin-30pct-I",
        "skin-60pct-II",
        "bili-2.5-skin1-II",
        "stool-1200-III",
        "bili-16-IV",
        "nausea-II",
        "bili-52umol-liver2",
        "stool-999.7-lowerGI1",
        "episodes-4.3-lowerGI1",
    ],
)
def test_s8_magic_examples(inputs: GvhdInputs, stages: tuple[int, int, int, int], grade: int) -> None:
    result = stage_gvhd(inputs, ADULT)
    assert (result.skin_stage, result.liver_stage, result.upper_gi_stage, result.lower_gi_stage) == stages
    assert result.overall_grade == grade
    assert result.criteria == "MAGIC-2016"


def test_s8_bilirubin_52_umol_is_3_04_mg_dl() -> None:
    result = stage_gvhd(GvhdInputs(bilirubin=D("52"), bilirubin_unit=BilirubinUnit.UMOL_L))
    assert result.bilirubin_mg_dl is not None
    assert result.bilirubin_mg_dl.quantize(D("0.01")) == D("3.04")


# --- band edges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bsa", "stage"),
    [("0", 0), ("0.1", 1), ("24.9", 1), ("25", 2), ("50", 2), ("50.1", 3), ("100", 3)],
)
def test_skin_bands(bsa: str, stage: int) -> None:
    assert skin_stage(D(bsa)) == stage


def test_skin_bullae_is_stage_4_and_grade_iv() -> None:
    assert skin_stage(D("10"), bullae=True) == 4
    assert stage_gvhd(GvhdInputs(skin_bsa_pct=D("80"), skin_bullae=True)).overall_grade == 4


@pytest.mark.parametrize(
    ("mg_dl", "stage"),
    [
        ("1.99", 0),
        ("2.0", 1),
        ("3.0", 1),
        ("3.01", 2),
        ("6.0", 2),
        ("6.01", 3),
        ("15.0", 3),
        ("15.01", 4),
    ],
)
def test_liver_bands_mg_dl(mg_dl: str, stage: int) -> None:
    assert liver_stage(D(mg_dl)) == stage


@pytest.mark.parametrize(
    ("umol_l", "stage"),
    [
        ("34.1", 0),  # 1.994 mg/dL
        ("34.2", 1),  # 2.0 exactly
        ("51.3", 1),  # 3.0 exactly
        ("51.4", 2),  # 3.006: above 3.0 at full precision, 3.0 if rounded to 1 decimal
        ("102.6", 2),  # 6.0 exactly
        ("102.7", 3),
        ("256.5", 3),  # 15.0 exactly
        ("256.6", 4),
    ],
)
def test_liver_bands_umol_l_at_full_precision(umol_l: str, stage: int) -> None:
    assert liver_stage(D(umol_l), BilirubinUnit.UMOL_L) == stage


@pytest.mark.parametrize(
    ("ml", "stage"),
    [("499.9", 0), ("500", 1), ("999.9", 1), ("1000", 2), ("1500", 2), ("1500.1", 3)],
)
def test_adult_stool_volume_bands(ml: str, stage: int) -> None:
    assert lower_gi_stage(ml_per_day=D(ml), episodes_per_day=None, severe=False, weight_kg=D("50"), settings=ADULT) == (
        stage,
        LowerGiBasis.VOLUME,
        False,
    )


@pytest.mark.parametrize(
    ("episodes", "stage"),
    [("2.9", 0), ("3", 1), ("4.9", 1), ("5", 2), ("7", 2), ("7.1", 3)],
)
def test_adult_stool_episode_bands(episodes: str, stage: int) -> None:
    assert (
        lower_gi_stage(ml_per_day=None, episodes_per_day=D(episodes), severe=False, weight_kg=None, settings=ADULT)[0]
        == stage
    )


@pytest.mark.parametrize(
    ("ml", "stage"),
    # 20 kg child: cut-offs 10, 20, 30 mL/kg/day → 200, 400, 600 mL/day.
    [("199.9", 0), ("200", 1), ("399.9", 1), ("400", 2), ("600", 2), ("600.1", 3)],
)
def test_child_stool_volume_bands_per_kg(ml: str, stage: int) -> None:
    assert lower_gi_stage(ml_per_day=D(ml), episodes_per_day=None, severe=False, weight_kg=D("20"), settings=ADULT) == (
        stage,
        LowerGiBasis.VOLUME,
        True,
    )


def test_child_volume_per_kg_is_not_rounded() -> None:
    # 3 kg × 10 = 30 mL; 29.99 mL/day is 9.997 mL/kg/day → stage 0.
    assert (
        lower_gi_stage(ml_per_day=D("29.99"), episodes_per_day=None, severe=False, weight_kg=D("3"), settings=ADULT)[0]
        == 0
    )


@pytest.mark.parametrize(
    ("episodes", "stage"),
    [("3.9", 0), ("4", 1), ("6.9", 1), ("7", 2), ("10", 2), ("10.1", 3)],
)
def test_child_stool_episode_bands(episodes: str, stage: int) -> None:
    assert (
        lower_gi_stage(ml_per_day=None, episodes_per_day=D(episodes), severe=False, weight_kg=D("20"), settings=ADULT)[
            0
        ]
        == stage
    )


@pytest.mark.parametrize(("weight", "child"), [("49.9", True), ("50", False), ("50.1", False)])
def test_child_column_below_the_weight_setting(weight: str, child: bool) -> None:
    assert (
        lower_gi_stage(ml_per_day=D("600"), episodes_per_day=None, severe=False, weight_kg=D(weight), settings=ADULT)[2]
        is child
    )


def test_child_weight_setting_comes_from_the_protocol() -> None:
    choices = ProtocolChoices(gvhd_child_below_kg=D("40"))
    assert choices.gvhd_settings() == GvhdSettings(child_below_kg=D("40"))
    staged = stage_gvhd(GvhdInputs(stool_ml_per_day=D("600"), weight_kg=D("45")), choices.gvhd_settings())
    assert (staged.child_column, staged.lower_gi_stage) == (False, 1)


def test_volume_wins_over_episodes_when_both_recorded() -> None:
    assert lower_gi_stage(
        ml_per_day=D("400"), episodes_per_day=D("9"), severe=False, weight_kg=D("70"), settings=ADULT
    ) == (0, LowerGiBasis.VOLUME, False)


def test_severe_pain_or_bloody_stool_is_stage_4() -> None:
    assert (
        lower_gi_stage(ml_per_day=D("100"), episodes_per_day=None, severe=True, weight_kg=D("70"), settings=ADULT)[0]
        == 4
    )


@pytest.mark.parametrize(
    ("stages", "grade"),
    [
        ((0, 0, 0, 0), 0),
        ((1, 0, 0, 0), 1),
        ((2, 0, 0, 0), 1),
        ((3, 0, 0, 0), 2),
        ((1, 1, 0, 0), 2),
        ((0, 0, 1, 0), 2),
        ((0, 0, 0, 1), 2),
        ((2, 2, 0, 0), 3),
        ((0, 3, 0, 0), 3),
        ((0, 0, 0, 3), 3),
        ((3, 0, 1, 2), 3),
        ((4, 0, 0, 0), 4),
        ((0, 4, 0, 0), 4),
        ((0, 0, 0, 4), 4),
    ],
)
def test_overall_grade_table(stages: tuple[int, int, int, int], grade: int) -> None:
    skin, liver, upper, lower = stages
    assert overall_grade(skin=skin, liver=liver, upper_gi=upper, lower_gi=lower) == grade


def test_absent_organ_data_stage_zero() -> None:
    result = stage_gvhd(GvhdInputs())
    assert (result.overall_grade, result.lower_gi_basis, result.bilirubin_mg_dl) == (0, LowerGiBasis.NONE, None)


@pytest.mark.parametrize("bad", [{"skin_bsa_pct": D("101")}, {"bilirubin": D("-1")}, {"weight_kg": D("0")}])
def test_impossible_inputs_refused(bad: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError):
        GvhdInputs(**bad)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=0, max_value=100, places=1),
    st.decimals(min_value=0, max_value=40, places=2),
    st.decimals(min_value=0, max_value=3000, places=1),
    st.decimals(min_value=0, max_value=40, places=2),
)
def test_worse_organ_values_never_lower_the_grade(bsa: Decimal, bili: Decimal, stool: Decimal, more: Decimal) -> None:
    base = stage_gvhd(GvhdInputs(skin_bsa_pct=bsa, bilirubin=bili, stool_ml_per_day=stool, weight_kg=D("70")))
    worse = stage_gvhd(
        GvhdInputs(
            skin_bsa_pct=min(D("100"), bsa + more),
            bilirubin=bili + more,
            stool_ml_per_day=stool + more,
            weight_kg=D("70"),
        )
    )
    assert worse.overall_grade >= base.overall_grade


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=40, places=2))
def test_units_agree_for_bilirubin(mg_dl: Decimal) -> None:
    assert liver_stage(mg_dl) == liver_stage(mg_dl * D("17.1"), BilirubinUnit.UMOL_L)
