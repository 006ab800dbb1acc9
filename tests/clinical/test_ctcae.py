"""CTCAE v5.0: term data, grade validation, lab-derived grades and unit conversions (CLINICAL_SPEC §3, §8)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.crs import CrsAssessment, OxygenDevice, grade_crs_assessment
from clinical.ctcae import (
    CTCAE_VERSION,
    GradeProblemCode,
    LabUnit,
    UnknownTermError,
    all_terms,
    bilirubin_mg_per_dl_to_umol_per_l,
    bilirubin_umol_per_l_to_mg_per_dl,
    cells_per_ul_to_giga_per_l,
    celsius_to_fahrenheit,
    check_ae_grade,
    fahrenheit_to_celsius,
    g_per_dl_to_g_per_l,
    g_per_l_to_g_per_dl,
    giga_per_l_to_cells_per_ul,
    grade_anemia,
    grade_exists,
    grade_fever,
    grade_lymphocyte_count_decreased,
    grade_neutrophil_count_decreased,
    grade_platelet_count_decreased,
    search_terms,
    system_organ_classes,
    term_by_meddra_code,
    term_by_name,
    terms_in_soc,
)

D = Decimal


# --- the term list ------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-3")
def test_837_terms_26_socs_one_code_each():
    """CLINICAL_SPEC §3: 837 terms, 26 MedDRA SOCs, one MedDRA LLT code per term."""
    terms = all_terms()
    assert len(terms) == 837
    assert len(system_organ_classes()) == 26
    assert len({t.meddra_code for t in terms}) == 837
    assert len({t.name.casefold() for t in terms}) == 837
    assert all(len(t.meddra_code) == 8 and t.meddra_code.isdigit() for t in terms)
    assert {t.ctcae_version for t in terms} == {"5.0"}
    assert CTCAE_VERSION == "5.0"


@pytest.mark.req("CLINICAL_SPEC-3")
def test_every_term_has_at_least_one_grade_and_texts_are_never_dashes():
    for term in all_terms():
        assert term.grades
        assert all(text != "-" for text in term.grade_texts)


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("name", "code", "soc"),
    [
        ("Neutrophil count decreased", "10029366", "Investigations"),
        ("Platelet count decreased", "10035528", "Investigations"),
        ("Anemia", "10002272", "Blood and lymphatic system disorders"),
        ("Fever", "10016558", "General disorders and administration site conditions"),
        ("Cytokine release syndrome", "10052015", "Immune system disorders"),
        ("Tumor lysis syndrome", "10045152", "Metabolism and nutrition disorders"),
        ("Nervous system disorders - Other, specify", "10029205", "Nervous system disorders"),
    ],
)
def test_lookup_by_name_and_meddra_code(name, code, soc):
    """CLINICAL_SPEC §1.3 (CRS is MedDRA 10052015), §2.3, §3."""
    term = term_by_name(name)
    assert (term.meddra_code, term.soc) == (code, soc)
    assert term_by_meddra_code(code) is term
    assert term_by_meddra_code(int(code)) is term
    assert term_by_name(f"  {name.upper()} ") is term


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize("lookup", [lambda: term_by_name("Cytokine storm"), lambda: term_by_meddra_code("10000000")])
def test_unknown_terms_are_refused(lookup):
    with pytest.raises(UnknownTermError):
        lookup()


@pytest.mark.req("CLINICAL_SPEC-3")
def test_soc_listing_and_search():
    """CLINICAL_SPEC §3: SOC search and term search for the AE picker."""
    blood = terms_in_soc("blood and lymphatic system disorders")
    assert "Febrile neutropenia" in [t.name for t in blood]
    assert all(t.soc == "Blood and lymphatic system disorders" for t in blood)
    assert [t.name for t in search_terms("neutrophil")] == ["Neutrophil count decreased"]
    assert [t.name for t in search_terms("FEVER")] == ["Fever"]
    assert [t.name for t in search_terms("count decreased", soc="Investigations")] == [
        "Lymphocyte count decreased",
        "Neutrophil count decreased",
        "Platelet count decreased",
    ]
    assert search_terms("   ") == ()
    with pytest.raises(UnknownTermError):
        terms_in_soc("Oncology")


@pytest.mark.req("CLINICAL_SPEC-3")
def test_search_puts_exact_then_prefix_matches_first():
    assert [t.name for t in search_terms("lymph")] == [
        "Lymph gland infection",
        "Lymph leakage",
        "Lymph node pain",
        "Lymphedema",
        "Lymphocele",
        "Lymphocyte count decreased",
        "Lymphocyte count increased",
        "Blood and lymphatic system disorders - Other, specify",
        "CD4 lymphocytes decreased",
        "Vaccination site lymphadenopathy",
    ]
    assert [t.name for t in search_terms("anemia")] == ["Anemia"]


# --- grade validation ---------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("name", "grade", "exists"),
    [
        ("Tumor lysis syndrome", 1, False),
        ("Tumor lysis syndrome", 2, False),
        ("Tumor lysis syndrome", 3, True),
        ("Tumor lysis syndrome", 5, True),
        ("Neutrophil count decreased", 4, True),
        ("Neutrophil count decreased", 5, False),
        ("Febrile neutropenia", 1, False),
        ("Febrile neutropenia", 2, False),
        ("Febrile neutropenia", 3, True),
        ("Anemia", 1, True),
        ("Anemia", 5, True),
        ("Fever", 5, True),
        ("Platelet count decreased", 5, False),
        ("Creatinine increased", 3, True),
        ("Creatinine increased", 5, False),
        ("Anemia", 0, False),
        ("Anemia", 6, False),
    ],
)
def test_grade_exists(name, grade, exists):
    """CLINICAL_SPEC §3: a grade cell of "-" means that grade does not exist for the term."""
    assert grade_exists(name, grade) is exists
    assert grade_exists(term_by_name(name), grade) is exists


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("name", "grade", "message"),
    [
        (
            "Tumor lysis syndrome",
            1,
            'Tumor lysis syndrome has no grade 1 in CTCAE v5.0 (the grade 1 cell is "-"); '
            "the grades that exist are 3, 4, 5.",
        ),
        (
            "Tumor lysis syndrome",
            2,
            'Tumor lysis syndrome has no grade 2 in CTCAE v5.0 (the grade 2 cell is "-"); '
            "the grades that exist are 3, 4, 5.",
        ),
        (
            "Neutrophil count decreased",
            5,
            'Neutrophil count decreased has no grade 5 in CTCAE v5.0 (the grade 5 cell is "-"); '
            "the grades that exist are 1, 2, 3, 4.",
        ),
        (
            "Febrile neutropenia",
            1,
            'Febrile neutropenia has no grade 1 in CTCAE v5.0 (the grade 1 cell is "-"); '
            "the grades that exist are 3, 4, 5.",
        ),
        (
            "Febrile neutropenia",
            2,
            'Febrile neutropenia has no grade 2 in CTCAE v5.0 (the grade 2 cell is "-"); '
            "the grades that exist are 3, 4, 5.",
        ),
    ],
)
def test_missing_grades_are_refused_with_a_clear_message(name, grade, message):
    """CLINICAL_SPEC §3: such a grade is refused with a clear message."""
    check = check_ae_grade(name, grade)
    assert check.ok is False
    assert [p.code for p in check.problems] == [GradeProblemCode.GRADE_NOT_DEFINED]
    assert check.messages == (message,)
    assert check.ctcae_version == "5.0"


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(("grade", "ok"), [(0, False), (1, True), (5, True), (6, False), (-1, False)])
def test_grades_outside_1_to_5_are_refused(grade, ok):
    check = check_ae_grade("Anemia", grade)
    assert check.ok is ok
    if not ok:
        assert [p.code for p in check.problems] == [GradeProblemCode.GRADE_OUT_OF_RANGE]


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("verbatim", "ok"),
    [("", False), ("   ", False), ("ICANS", True), ("Immune effector cell-associated neurotoxicity", True)],
)
def test_other_specify_terms_need_verbatim(verbatim, ok):
    """CLINICAL_SPEC §2.3, §3: ICANS is coded "Nervous system disorders - Other, specify", verbatim "ICANS"."""
    check = check_ae_grade("Nervous system disorders - Other, specify", 3, verbatim=verbatim)
    assert check.ok is ok
    if not ok:
        assert [p.code for p in check.problems] == [GradeProblemCode.VERBATIM_REQUIRED]


@pytest.mark.req("CLINICAL_SPEC-3")
def test_all_26_other_specify_terms_require_verbatim():
    other = [t for t in all_terms() if t.requires_verbatim]
    assert len(other) == 26
    assert {t.soc for t in other} == set(system_organ_classes())
    assert term_by_name("Anemia").requires_verbatim is False


@pytest.mark.req("CLINICAL_SPEC-3")
def test_unknown_term_and_several_problems_are_reported_together():
    assert [p.code for p in check_ae_grade("Cytokine storm", 2).problems] == [GradeProblemCode.UNKNOWN_TERM]
    check = check_ae_grade("Blood and lymphatic system disorders - Other, specify", 7)
    assert [p.code for p in check.problems] == [GradeProblemCode.GRADE_OUT_OF_RANGE, GradeProblemCode.VERBATIM_REQUIRED]


@pytest.mark.req("CLINICAL_SPEC-8")
def test_crs_with_renal_toxicity_is_crs_2_plus_a_separate_ctcae_ae():
    """CLINICAL_SPEC §1.2 g, §8: NC 2 L/min with creatinine 3.5× baseline → CRS 2 plus a separate
    CTCAE AE ("Creatinine increased" grade 3: > 3.0 × baseline)."""
    crs = grade_crs_assessment(
        CrsAssessment(
            assessed_on=date(2025, 3, 4),
            tmax_c=D("38.4"),
            oxygen_device=OxygenDevice.NASAL_CANNULA,
            oxygen_flow_l_per_min=D("2"),
        )
    )
    assert crs.grade == 2
    creatinine = term_by_name("Creatinine increased")
    assert creatinine.grade_text(3) == ">3.0 x baseline; >3.0 - 6.0 x ULN"
    assert check_ae_grade(creatinine, 3).ok


# --- lab-derived grades -------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("anc", "lln", "expected"),
    [
        ("2.0", "1.8", 0),
        ("1.8", "1.8", 0),
        ("1.79", "1.8", 1),
        ("1.51", "1.8", 1),
        ("1.5", "1.8", 1),
        ("1.49", "1.8", 2),
        ("1.01", "1.8", 2),
        ("1.0", "1.8", 2),
        ("1.00", "1.8", 2),
        ("0.99", "1.8", 3),
        ("0.51", "1.8", 3),
        ("0.5", "1.8", 3),
        ("0.49", "1.8", 4),
        ("0.1", "1.8", 4),
        ("0", "1.8", 4),
        ("1.5", "1.5", 0),
        ("1.45", "1.4", 2),
    ],
)
def test_neutrophil_count_decreased(anc, lln, expected):
    """CLINICAL_SPEC §3: ANC 1.0 ×10⁹/L is grade 2, 0.99 grade 3, 0.5 grade 3, 0.49 grade 4."""
    result = grade_neutrophil_count_decreased(D(anc), lln=D(lln))
    assert result.grade == expected
    assert (result.term, result.ctcae_version, result.unit) == ("Neutrophil count decreased", "5.0", LabUnit.GIGA_PER_L)


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("anc", "unit", "expected"),
    [
        (1000, LabUnit.PER_UL, 2),
        (990, LabUnit.PER_MM3, 3),
        (500, LabUnit.PER_UL, 3),
        (490, LabUnit.PER_MM3, 4),
        (D("0.99"), LabUnit.THOUSAND_PER_UL, 3),
    ],
)
def test_neutrophils_in_other_units(anc, unit, expected):
    """CLINICAL_SPEC §3: values are converted to one unit per analyte, then compared exactly."""
    lln = 1800 if unit in {LabUnit.PER_UL, LabUnit.PER_MM3} else D("1.8")
    assert grade_neutrophil_count_decreased(anc, unit, lln=lln).grade == expected


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("platelets", "lln", "expected"),
    [
        ("150", "150", 0),
        ("149", "150", 1),
        ("75.1", "150", 1),
        ("75", "150", 1),
        ("75", "76", 1),
        ("75", "75", 0),
        ("75", "70", 0),
        ("74.9", "150", 2),
        ("50", "150", 2),
        ("49.9", "150", 3),
        ("25.1", "150", 3),
        ("25", "150", 3),
        ("25.0", "150", 3),
        ("24.9", "150", 4),
        ("3", "150", 4),
    ],
)
def test_platelet_count_decreased(platelets, lln, expected):
    """CLINICAL_SPEC §3: platelets 75 grade 1 (when LLN > 75), 25 grade 3, 24.9 grade 4."""
    assert grade_platelet_count_decreased(D(platelets), lln=D(lln)).grade == expected


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("lymphocytes", "expected"),
    [
        ("1.1", 0),
        ("1.0", 1),
        ("0.81", 1),
        ("0.8", 1),
        ("0.79", 2),
        ("0.5", 2),
        ("0.49", 3),
        ("0.2", 3),
        ("0.19", 4),
        ("0.0", 4),
    ],
)
def test_lymphocyte_count_decreased(lymphocytes, expected):
    """CLINICAL_SPEC §3: < LLN – 0.8; < 0.8 – 0.5; < 0.5 – 0.2; < 0.2 (LLN 1.1 here)."""
    assert grade_lymphocyte_count_decreased(D(lymphocytes), lln=D("1.1")).grade == expected


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("hgb", "unit", "lln", "expected"),
    [
        ("12.0", LabUnit.G_PER_DL, "12.0", 0),
        ("11.9", LabUnit.G_PER_DL, "12.0", 1),
        ("10.1", LabUnit.G_PER_DL, "12.0", 1),
        ("10.0", LabUnit.G_PER_DL, "12.0", 1),
        ("9.9", LabUnit.G_PER_DL, "12.0", 2),
        ("8.0", LabUnit.G_PER_DL, "12.0", 2),
        ("7.9", LabUnit.G_PER_DL, "12.0", 3),
        ("4.0", LabUnit.G_PER_DL, "12.0", 3),
        ("120", LabUnit.G_PER_L, "120", 0),
        ("119", LabUnit.G_PER_L, "120", 1),
        ("100", LabUnit.G_PER_L, "120", 1),
        ("99", LabUnit.G_PER_L, "120", 2),
        ("80", LabUnit.G_PER_L, "120", 2),
        ("79", LabUnit.G_PER_L, "120", 3),
        ("7.4", LabUnit.MMOL_PER_L, "7.4", 0),
        ("6.2", LabUnit.MMOL_PER_L, "7.4", 1),
        ("6.1", LabUnit.MMOL_PER_L, "7.4", 2),
        ("4.9", LabUnit.MMOL_PER_L, "7.4", 2),
        ("4.8", LabUnit.MMOL_PER_L, "7.4", 3),
    ],
)
def test_anemia_grades_1_to_3(hgb, unit, lln, expected):
    """CLINICAL_SPEC §3: Anemia 1–3 from Hgb in g/dL, g/L (converted) or mmol/L (CTCAE's own column)."""
    result = grade_anemia(D(hgb), unit, lln=D(lln))
    assert result.grade == expected
    assert result.unit == (LabUnit.MMOL_PER_L if unit is LabUnit.MMOL_PER_L else LabUnit.G_PER_DL)


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("grader", "value"),
    [
        (grade_neutrophil_count_decreased, D("1.6")),
        (grade_platelet_count_decreased, D("80")),
        (grade_lymphocyte_count_decreased, D("0.9")),
        (grade_anemia, D("11")),
    ],
)
def test_grade_1_needs_the_lln(grader, value):
    """CLINICAL_SPEC §3: lab values carry the lab's reference range; without it grade 1 cannot be told
    from normal, so no grade is proposed."""
    result = grader(value, lln=None)
    assert result.grade is None
    assert "LLN" in result.reason


@pytest.mark.req("CLINICAL_SPEC-3")
def test_below_grade_1_floor_no_lln_needed():
    assert grade_neutrophil_count_decreased(D("0.49"), lln=None).grade == 4


@pytest.mark.req("CLINICAL_SPEC-3")
def test_reason_quotes_the_ctcae_text():
    result = grade_neutrophil_count_decreased(D("0.99"), lln=D("1.8"))
    assert result.reason == "0.99 10^9/L: grade 3 (<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L)"


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("tmax", "unit", "expected"),
    [
        ("37.9", LabUnit.CELSIUS, 0),
        ("37.99", LabUnit.CELSIUS, 0),
        ("38.0", LabUnit.CELSIUS, 1),
        ("38.1", LabUnit.CELSIUS, 1),
        ("38.9", LabUnit.CELSIUS, 1),
        ("39.0", LabUnit.CELSIUS, 1),
        ("39.00", LabUnit.CELSIUS, 1),
        ("39.01", LabUnit.CELSIUS, 2),
        ("39.1", LabUnit.CELSIUS, 2),
        ("39.9", LabUnit.CELSIUS, 2),
        ("40.0", LabUnit.CELSIUS, 2),
        ("40.1", LabUnit.CELSIUS, None),
        ("41.5", LabUnit.CELSIUS, None),
        ("100.3", LabUnit.FAHRENHEIT, 0),
        ("100.4", LabUnit.FAHRENHEIT, 1),
        ("102.2", LabUnit.FAHRENHEIT, 1),
        ("102.3", LabUnit.FAHRENHEIT, 2),
        ("104.0", LabUnit.FAHRENHEIT, 2),
        ("104.1", LabUnit.FAHRENHEIT, None),
    ],
)
def test_fever_grades_1_2_from_tmax(tmax, unit, expected):
    """CLINICAL_SPEC §3: fever 39.0 °C grade 1, 39.1 grade 2; grades 3–4 need a duration and are entered."""
    result = grade_fever(D(tmax), unit)
    assert result.grade == expected
    assert (result.term, result.ctcae_version) == ("Fever", "5.0")
    if expected is None:
        assert "duration" in result.reason


@pytest.mark.req("CLINICAL_SPEC-1.2g")
def test_no_fever_ae_is_proposed_on_crs_episode_days():
    """CLINICAL_SPEC §1.2 g: fever on CRS episode days is part of CRS."""
    result = grade_fever(D("39.5"), crs_episode_day=True)
    assert result.grade is None
    assert "CRS" in result.reason


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize("value", [1.0, "1.0", True])
def test_floats_and_strings_are_refused(value):
    """CLINICAL_SPEC §3: compared as decimals at the reported precision, never as binary floats."""
    with pytest.raises(TypeError):
        grade_neutrophil_count_decreased(value, lln=D("1.8"))


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("grader", "unit"),
    [
        (grade_neutrophil_count_decreased, LabUnit.G_PER_DL),
        (grade_anemia, LabUnit.GIGA_PER_L),
    ],
)
def test_wrong_units_are_refused(grader, unit):
    with pytest.raises(ValueError):
        grader(D("1"), unit, lln=D("2"))


def test_fever_in_wrong_unit_is_refused():
    with pytest.raises(ValueError):
        grade_fever(D("38"), LabUnit.G_PER_L)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        grade_platelet_count_decreased(D("-1"), lln=D("150"))


# --- unit conversions ---------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-3")
@pytest.mark.parametrize(
    ("convert", "value", "expected"),
    [
        (cells_per_ul_to_giga_per_l, D("1500"), D("1.5")),
        (cells_per_ul_to_giga_per_l, 990, D("0.99")),
        (giga_per_l_to_cells_per_ul, D("0.49"), D("490")),
        (g_per_l_to_g_per_dl, D("100"), D("10.0")),
        (g_per_l_to_g_per_dl, D("79"), D("7.9")),
        (g_per_dl_to_g_per_l, D("8.0"), D("80")),
        (bilirubin_mg_per_dl_to_umol_per_l, D("1"), D("17.1")),
        (bilirubin_mg_per_dl_to_umol_per_l, D("2.0"), D("34.2")),
        (bilirubin_umol_per_l_to_mg_per_dl, D("17.1"), D("1")),
        (bilirubin_umol_per_l_to_mg_per_dl, D("34.2"), D("2")),
        (fahrenheit_to_celsius, D("100.4"), D("38.0")),
        (fahrenheit_to_celsius, D("102.2"), D("39.0")),
        (fahrenheit_to_celsius, D("212"), D("100")),
        (celsius_to_fahrenheit, D("38.0"), D("100.4")),
        (celsius_to_fahrenheit, D("40.0"), D("104.0")),
    ],
)
def test_unit_conversions_are_exact(convert, value, expected):
    """CLINICAL_SPEC §3: Hgb g/L ↔ g/dL, bilirubin µmol/L ↔ mg/dL at 17.1, counts, temperature."""
    assert convert(value) == expected


@pytest.mark.req("CLINICAL_SPEC-4.3")
def test_bilirubin_keeps_full_precision():
    """CLINICAL_SPEC §4.3, §8: bilirubin 52 µmol/L is 3.04 mg/dL — above 3.0, with no rounding."""
    mg_per_dl = bilirubin_umol_per_l_to_mg_per_dl(D("52"))
    assert D("3.0409") < mg_per_dl < D("3.0410")
    assert mg_per_dl > D("3.0")


# --- properties ---------------------------------------------------------------------------

LAB_GRADERS = [
    (grade_neutrophil_count_decreased, "Neutrophil count decreased", D("5")),
    (grade_platelet_count_decreased, "Platelet count decreased", D("500")),
    (grade_lymphocyte_count_decreased, "Lymphocyte count decreased", D("5")),
    (grade_anemia, "Anemia", D("20")),
]


@pytest.mark.req("CLINICAL_SPEC-3")
@settings(max_examples=300, database=None, deadline=None)
@given(
    which=st.sampled_from(LAB_GRADERS),
    fraction_a=st.decimals(min_value=0, max_value=1, places=3),
    fraction_b=st.decimals(min_value=0, max_value=1, places=3),
    lln_fraction=st.decimals(min_value=D("0.05"), max_value=1, places=3),
)
def test_a_lower_count_never_lowers_the_grade(which, fraction_a, fraction_b, lln_fraction):
    """CLINICAL_SPEC §3: a worse (lower) value never proposes a lower grade; grades stay within the
    grades that exist for the term (Anemia 0–3 from a value)."""
    grader, term, scale = which
    lln = scale * lln_fraction
    higher, lower = sorted([scale * fraction_a, scale * fraction_b], reverse=True)
    graded_higher = grader(higher, lln=lln).grade
    graded_lower = grader(lower, lln=lln).grade
    assert graded_lower >= graded_higher
    for proposed in (graded_higher, graded_lower):
        assert proposed == 0 or grade_exists(term, proposed)
        assert proposed <= (3 if term == "Anemia" else 4)


@pytest.mark.req("CLINICAL_SPEC-3")
@settings(max_examples=300, database=None, deadline=None)
@given(
    a=st.decimals(min_value=35, max_value=40, places=2),
    b=st.decimals(min_value=35, max_value=40, places=2),
)
def test_a_higher_temperature_never_lowers_the_fever_grade(a, b):
    """CLINICAL_SPEC §3: fever grades 0–2 from Tmax up to 40.0 °C, monotone."""
    low, high = sorted([a, b])
    assert 0 <= grade_fever(low).grade <= grade_fever(high).grade <= 2


@pytest.mark.req("CLINICAL_SPEC-3")
@settings(max_examples=200, database=None, deadline=None)
@given(value=st.decimals(min_value=0, max_value=10000, places=2))
def test_conversions_round_trip_exactly(value):
    assert giga_per_l_to_cells_per_ul(cells_per_ul_to_giga_per_l(value)) == value
    assert g_per_dl_to_g_per_l(g_per_l_to_g_per_dl(value)) == value
