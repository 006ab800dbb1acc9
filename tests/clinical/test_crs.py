"""CRS grading by ASTCT 2019: boundaries, worked examples and properties (CLINICAL_SPEC §1, §8)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.crs import (
    CRITERIA,
    DOPAMINE,
    EPINEPHRINE,
    NOREPINEPHRINE,
    PHENYLEPHRINE,
    VASOPRESSIN,
    CrsAssessment,
    CrsFlag,
    CrsSettings,
    MedicationCategory,
    MedicationExposure,
    OxygenDevice,
    build_episodes,
    crs_course,
    grade_crs_assessment,
    hypotension_sbp_threshold,
    is_hypotensive,
    normalise_vasopressor,
)

DAY0 = date(2025, 3, 3)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def assess(study_day: int = 1, **fields) -> CrsAssessment:
    return CrsAssessment(assessed_on=day(study_day), **fields)


def nc(flow: str, study_day: int = 1, **fields) -> CrsAssessment:
    return assess(study_day, oxygen_device=OxygenDevice.NASAL_CANNULA, oxygen_flow_l_per_min=Decimal(flow), **fields)


FEVER = Decimal("38.5")
AFEBRILE = Decimal("37.0")


# --- single assessments -------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-1.2a")
@pytest.mark.parametrize(
    ("tmax", "expected"),
    [
        (None, 0),
        ("36.5", 0),
        ("37.9", 0),
        ("37.99", 0),
        ("38.0", 1),
        ("38.00", 1),
        ("38.01", 1),
        ("38.1", 1),
        ("41.0", 1),
    ],
)
def test_fever_threshold_is_38_0_inclusive(tmax, expected):
    """CLINICAL_SPEC §1.1 grade 1, §1.2 a: fever is T ≥ 38.0 °C."""
    result = grade_crs_assessment(assess(tmax_c=None if tmax is None else Decimal(tmax)))
    assert result.grade == expected
    assert result.criteria == "ASTCT-2019"


@pytest.mark.req("CLINICAL_SPEC-1.2a")
def test_fever_attributable_to_another_cause_is_not_crs_fever():
    """CLINICAL_SPEC §1.2 a: fever not attributable to another cause."""
    result = grade_crs_assessment(assess(tmax_c=Decimal("39.5"), fever_attributable_to_other_cause=True))
    assert result.grade == 0
    assert result.fever is False


@pytest.mark.req("CLINICAL_SPEC-1.2e")
@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        ("0.5", 2),
        ("1", 2),
        ("5.9", 2),
        ("5.99", 2),
        ("6", 2),
        ("6.0", 2),
        ("6.00", 2),
        ("6.01", 3),
        ("6.1", 3),
        ("7", 3),
        ("15", 3),
        ("60", 3),
    ],
)
def test_nasal_cannula_6_l_per_min_is_low_flow(flow, expected):
    """CLINICAL_SPEC §1.2 e: nasal cannula at exactly 6 L/min is low-flow (2); above 6 is 3."""
    assert grade_crs_assessment(nc(flow, tmax_c=FEVER)).grade == expected


@pytest.mark.req("CLINICAL_SPEC-1.2e")
@pytest.mark.parametrize(
    ("device", "flow", "expected"),
    [
        (OxygenDevice.ROOM_AIR, None, 1),
        (OxygenDevice.BLOW_BY, None, 2),
        (OxygenDevice.BLOW_BY, "10", 2),
        (OxygenDevice.FACEMASK, None, 3),
        (OxygenDevice.FACEMASK, "1", 3),
        (OxygenDevice.FACEMASK, "4", 3),
        (OxygenDevice.NON_REBREATHER, "2", 3),
        (OxygenDevice.NON_REBREATHER, "15", 3),
        (OxygenDevice.VENTURI_MASK, "3", 3),
        (OxygenDevice.CPAP, None, 4),
        (OxygenDevice.BIPAP, None, 4),
        (OxygenDevice.MECHANICAL_VENTILATION, None, 4),
    ],
)
def test_oxygen_devices(device, flow, expected):
    """CLINICAL_SPEC §1.1 hypoxia column, §1.2 e: masks are grade 3 at any flow; positive pressure 4."""
    a = assess(tmax_c=FEVER, oxygen_device=device, oxygen_flow_l_per_min=None if flow is None else Decimal(flow))
    assert grade_crs_assessment(a).grade == expected


@pytest.mark.req("CLINICAL_SPEC-1.2e")
def test_nasal_cannula_needs_a_flow():
    """CLINICAL_SPEC §1.2 e: the flow decides low- against high-flow, so it cannot be missing."""
    with pytest.raises(ValueError, match="flow"):
        assess(oxygen_device=OxygenDevice.NASAL_CANNULA)


def test_floats_are_refused_so_cut_offs_compare_exactly():
    with pytest.raises(TypeError):
        assess(tmax_c=38.0)


@pytest.mark.req("CLINICAL_SPEC-1.2f")
@pytest.mark.parametrize(
    ("hypotension", "vasopressors", "expected", "flags"),
    [
        (False, (), 1, ()),
        (True, (), 2, ()),
        (True, (NOREPINEPHRINE,), 3, ()),
        (False, (NOREPINEPHRINE,), 3, ()),
        (True, (VASOPRESSIN,), 3, (CrsFlag.VASOPRESSIN_ALONE,)),
        (True, (NOREPINEPHRINE, VASOPRESSIN), 3, ()),
        (True, (VASOPRESSIN, "Vasopressin"), 3, (CrsFlag.VASOPRESSIN_ALONE,)),
        (True, (NOREPINEPHRINE, PHENYLEPHRINE), 4, ()),
        (True, (NOREPINEPHRINE, PHENYLEPHRINE, VASOPRESSIN), 4, ()),
        (True, (EPINEPHRINE, DOPAMINE), 4, ()),
        (True, (NOREPINEPHRINE, "Noradrenaline"), 3, ()),
        (True, (NOREPINEPHRINE, "norepinephrine "), 3, ()),
        (True, ("adrenaline", EPINEPHRINE, VASOPRESSIN), 3, ()),
    ],
)
def test_vasopressor_counting(hypotension, vasopressors, expected, flags):
    """CLINICAL_SPEC §1.1 hypotension column, §1.2 f: vasopressin alone is one pressor (3, flagged);
    it never counts toward "several"; one agent under two names counts once."""
    result = grade_crs_assessment(assess(tmax_c=FEVER, hypotension=hypotension, vasopressors=vasopressors))
    assert result.grade == expected
    assert result.flags == flags


@pytest.mark.req("CLINICAL_SPEC-1.1")
def test_hypotension_not_fluid_responsive_without_pressor_is_flagged_not_upgraded():
    """CLINICAL_SPEC §1.3: hypotension is recorded as fluid-responsive or not; the vasopressor
    list decides grade 3–4, so a non-responsive hypotension without pressors stays 2 and is flagged."""
    result = grade_crs_assessment(assess(tmax_c=FEVER, hypotension=True, hypotension_fluid_responsive=False))
    assert result.grade == 2
    assert result.flags == (CrsFlag.HYPOTENSION_NOT_FLUID_RESPONSIVE_WITHOUT_VASOPRESSOR,)


@pytest.mark.req("CLINICAL_SPEC-1.2c")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"hypotension": True, "oxygen_device": OxygenDevice.FACEMASK}, 3),
        ({"vasopressors": (NOREPINEPHRINE,), "oxygen_device": OxygenDevice.BIPAP}, 4),
        ({"vasopressors": (NOREPINEPHRINE, DOPAMINE), "oxygen_device": OxygenDevice.BLOW_BY}, 4),
        ({"hypotension": True, "oxygen_device": OxygenDevice.BLOW_BY}, 2),
        ({"vasopressors": (VASOPRESSIN,), "oxygen_device": OxygenDevice.CPAP}, 4),
    ],
)
def test_the_worse_of_hypotension_and_hypoxia_wins(fields, expected):
    """CLINICAL_SPEC §1.1: "and the worse of" hypotension and hypoxia."""
    assert grade_crs_assessment(assess(tmax_c=FEVER, **fields)).grade == expected


@pytest.mark.req("CLINICAL_SPEC-1.2d")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"vasopressors": (NOREPINEPHRINE, PHENYLEPHRINE), "hypotension_attributable_to_crs": False}, 1),
        ({"hypotension": True, "hypotension_attributable_to_crs": False}, 1),
        ({"vasopressors": (VASOPRESSIN,), "hypotension_attributable_to_crs": False}, 1),
        ({"oxygen_device": OxygenDevice.MECHANICAL_VENTILATION, "hypoxia_attributable_to_crs": False}, 1),
        (
            {
                "oxygen_device": OxygenDevice.MECHANICAL_VENTILATION,
                "hypoxia_attributable_to_crs": False,
                "hypotension": True,
            },
            2,
        ),
        (
            {
                "oxygen_device": OxygenDevice.FACEMASK,
                "vasopressors": (NOREPINEPHRINE, PHENYLEPHRINE),
                "hypotension_attributable_to_crs": False,
            },
            3,
        ),
    ],
)
def test_findings_explained_by_another_cause_do_not_count(fields, expected):
    """CLINICAL_SPEC §1.2 d: sepsis without CRS, pneumonia, intubation for airway protection."""
    result = grade_crs_assessment(assess(tmax_c=FEVER, **fields))
    assert result.grade == expected
    assert CrsFlag.VASOPRESSIN_ALONE not in result.flags


@pytest.mark.req("CLINICAL_SPEC-1.2c")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, 0),
        ({"tmax_c": AFEBRILE}, 0),
        ({"tmax_c": FEVER}, 1),
        ({"hypotension": True}, 2),
        (
            {"oxygen_device": OxygenDevice.NASAL_CANNULA, "oxygen_flow_l_per_min": Decimal("6")},
            2,
        ),
        ({"vasopressors": (NOREPINEPHRINE,)}, 3),
        ({"vasopressors": (VASOPRESSIN,)}, 3),
        ({"oxygen_device": OxygenDevice.CPAP}, 4),
        ({"hypotension": True, "hypotension_attributable_to_crs": False}, 0),
    ],
)
def test_under_masking_grade_follows_hypotension_and_hypoxia(fields, expected):
    """CLINICAL_SPEC §1.2 b, c: masked, the grade follows hypotension and hypoxia; nothing → grade 0."""
    assert grade_crs_assessment(assess(**fields), fever_masked=True).grade == expected


@pytest.mark.req("CLINICAL_SPEC-1.2a")
@pytest.mark.parametrize(
    "fields",
    [
        {"hypotension": True},
        {"vasopressors": (NOREPINEPHRINE, PHENYLEPHRINE)},
        {"oxygen_device": OxygenDevice.BIPAP},
        {"tmax_c": Decimal("37.9"), "oxygen_device": OxygenDevice.FACEMASK},
    ],
)
def test_without_fever_or_masking_there_is_no_crs(fields):
    """CLINICAL_SPEC §1.2 a: fever is required (outside masking)."""
    assert grade_crs_assessment(assess(**fields)).grade == 0


@pytest.mark.req("CLINICAL_SPEC-1.1")
def test_death_with_crs_as_principal_cause_is_grade_5():
    """CLINICAL_SPEC §1.1 grade 5."""
    assert grade_crs_assessment(assess(tmax_c=FEVER, death_from_crs=True)).grade == 5


# --- CLINICAL_SPEC §8, single day ---------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-8")
@pytest.mark.parametrize(
    ("label", "assessment", "masked", "expected"),
    [
        ("T 39.1, no hypotension, NC 4 L/min", nc("4", tmax_c=Decimal("39.1")), False, 2),
        ("T 38.0 exactly, room air", assess(tmax_c=Decimal("38.0")), False, 1),
        ("T 37.9, no prior CRS", assess(tmax_c=Decimal("37.9")), False, 0),
        ("NC 6 L/min", nc("6", tmax_c=FEVER), False, 2),
        ("NC 7 L/min", nc("7", tmax_c=FEVER), False, 3),
        (
            "facemask 4 L/min",
            assess(tmax_c=FEVER, oxygen_device=OxygenDevice.FACEMASK, oxygen_flow_l_per_min=Decimal("4")),
            False,
            3,
        ),
        (
            "fluid-responsive hypotension",
            assess(tmax_c=FEVER, hypotension=True, hypotension_fluid_responsive=True),
            False,
            2,
        ),
        ("norepinephrine", assess(tmax_c=FEVER, hypotension=True, vasopressors=(NOREPINEPHRINE,)), False, 3),
        (
            "norepinephrine + vasopressin",
            assess(tmax_c=FEVER, hypotension=True, vasopressors=(NOREPINEPHRINE, VASOPRESSIN)),
            False,
            3,
        ),
        (
            "norepinephrine + phenylephrine",
            assess(tmax_c=FEVER, hypotension=True, vasopressors=(NOREPINEPHRINE, PHENYLEPHRINE)),
            False,
            4,
        ),
        (
            "T 39.5, one vasopressor, NC 2 L/min",
            nc("2", tmax_c=Decimal("39.5"), hypotension=True, vasopressors=(NOREPINEPHRINE,)),
            False,
            3,
        ),
        (
            "after tocilizumab for CRS, afebrile, norepinephrine",
            assess(tmax_c=Decimal("37.1"), hypotension=True, vasopressors=(NOREPINEPHRINE,)),
            True,
            3,
        ),
        (
            "afebrile septic shock, no prior CRS",
            assess(
                tmax_c=Decimal("37.4"),
                hypotension=True,
                vasopressors=(NOREPINEPHRINE, VASOPRESSIN),
                hypotension_attributable_to_crs=False,
            ),
            False,
            0,
        ),
        ("BiPAP", assess(tmax_c=FEVER, oxygen_device=OxygenDevice.BIPAP), False, 4),
        ("NC 2 L/min (creatinine 3.5x baseline is a separate AE)", nc("2", tmax_c=FEVER), False, 2),
    ],
)
def test_spec_single_day_examples(label, assessment, masked, expected):
    """CLINICAL_SPEC §8 CRS (single day)."""
    assert grade_crs_assessment(assessment, fever_masked=masked).grade == expected, label


@pytest.mark.req("CLINICAL_SPEC-8")
def test_spec_example_after_tocilizumab_through_the_course():
    """CLINICAL_SPEC §8: "after tocilizumab for CRS, afebrile, norepinephrine → 3", masking derived."""
    course = crs_course(
        [
            assess(1, tmax_c=Decimal("39.0")),
            assess(2, tmax_c=Decimal("37.1"), hypotension=True, vasopressors=(NOREPINEPHRINE,)),
        ],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.TOCILIZUMAB, day(1))],
    )
    assert [(d.study_day, d.grade, d.fever_masked) for d in course.days] == [(1, 1, True), (2, 3, True)]
    assert course.grade == 3


@pytest.mark.req("CLINICAL_SPEC-1.2g")
def test_organ_toxicity_is_not_an_input_to_crs():
    """CLINICAL_SPEC §1.2 g, §8: NC 2 L/min with creatinine 3.5× baseline → CRS 2; the renal
    finding is a separate CTCAE AE (tested in test_ctcae) and has no field here to change CRS."""
    assert "creatinine" not in " ".join(CrsAssessment.__dataclass_fields__)
    assert grade_crs_assessment(nc("2", tmax_c=FEVER)).grade == 2


# --- hypotension by age -------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-1.2h")
@pytest.mark.parametrize(
    ("age", "sbp", "expected"),
    [
        (0, 69, True),
        (0, 70, False),
        (0, 71, False),
        (1, 71, True),
        (1, 72, False),
        (1, 73, False),
        (5, 79, True),
        (5, 80, False),
        (5, 81, False),
        (9, 87, True),
        (9, 88, False),
        (10, 89, True),
        (10, 90, False),
        (10, 91, False),
        (11, 89, True),
        (11, 90, False),
        (45, 89, True),
        (45, 90, False),
        (80, Decimal("89.5"), True),
    ],
)
def test_hypotension_by_age_defaults(age, sbp, expected):
    """CLINICAL_SPEC §1.2 h defaults: SBP < 90 from age 10; 1–10 y SBP < 70 + 2 × age; < 1 y SBP < 70."""
    assert is_hypotensive(sbp_mmhg=sbp, age_years=age) is expected


@pytest.mark.req("CLINICAL_SPEC-1.2h")
@pytest.mark.parametrize(("age", "threshold"), [(0, 70), (1, 72), (2, 74), (9, 88), (10, 90), (17, 90)])
def test_hypotension_threshold_table(age, threshold):
    """CLINICAL_SPEC §1.2 h."""
    assert hypotension_sbp_threshold(age_years=age) == threshold


@pytest.mark.req("CLINICAL_SPEC-1.2h")
def test_hypotension_definition_comes_from_protocol_settings():
    """CLINICAL_SPEC §1.2 h: the protocol settings hold the definition."""
    protocol = CrsSettings(adult_sbp_below_mmhg=100, adult_from_age_years=12, infant_sbp_below_mmhg=60)
    assert is_hypotensive(sbp_mmhg=99, age_years=40, settings=protocol) is True
    assert is_hypotensive(sbp_mmhg=100, age_years=40, settings=protocol) is False
    assert is_hypotensive(sbp_mmhg=91, age_years=11, settings=protocol) is True
    assert is_hypotensive(sbp_mmhg=92, age_years=11, settings=protocol) is False
    assert is_hypotensive(sbp_mmhg=59, age_years=0, settings=protocol) is True
    assert is_hypotensive(sbp_mmhg=60, age_years=0, settings=protocol) is False


def test_negative_age_is_refused():
    with pytest.raises(ValueError):
        is_hypotensive(sbp_mmhg=80, age_years=-1)


def test_vasopressor_names_normalise():
    assert normalise_vasopressor("  NorAdrenaline ") == NOREPINEPHRINE
    assert normalise_vasopressor("Argipressin") == VASOPRESSIN
    assert normalise_vasopressor("Phenylephrine") == PHENYLEPHRINE


# --- courses and episodes -----------------------------------------------------------------


def spec_course() -> list[CrsAssessment]:
    return [
        assess(1, tmax_c=Decimal("38.6")),
        nc("3", 2, tmax_c=Decimal("37.2")),
        assess(3, tmax_c=Decimal("36.9")),
    ]


SPEC_TOCILIZUMAB = [MedicationExposure(MedicationCategory.TOCILIZUMAB, day(2))]


@pytest.mark.req("CLINICAL_SPEC-8")
def test_spec_course_one_episode():
    """CLINICAL_SPEC §8 CRS (course): day 1 → 1, day 2 (tocilizumab, T 37.2, NC 3) → 2, day 3 → 0;
    one episode, onset day 1, duration 2, grade 2."""
    course = crs_course(spec_course(), infusion_date=DAY0, exposures=SPEC_TOCILIZUMAB)
    assert [(d.study_day, d.grade) for d in course.days] == [(1, 1), (2, 2), (3, 0)]
    assert [d.fever_masked for d in course.days] == [False, True, True]
    assert len(course.episodes) == 1
    (episode,) = course.episodes
    assert (episode.onset_day, episode.last_day, episode.duration_days, episode.grade) == (1, 2, 2, 2)
    assert episode.resolved_date == day(3)
    assert episode.ongoing is False
    assert episode.criteria == "ASTCT-2019"
    assert course.grade == 2
    assert course.criteria == CRITERIA


@pytest.mark.req("CLINICAL_SPEC-8")
def test_spec_course_second_episode_on_day_6():
    """CLINICAL_SPEC §8: the same course then day 6 T 38.2 → a second episode with onset day 6."""
    course = crs_course(
        [*spec_course(), assess(6, tmax_c=Decimal("38.2"))], infusion_date=DAY0, exposures=SPEC_TOCILIZUMAB
    )
    assert [(e.number, e.onset_day, e.duration_days, e.grade) for e in course.episodes] == [(1, 1, 2, 2), (2, 6, 1, 1)]
    assert course.episodes[1].ongoing is True
    assert course.days[-1].fever_masked is False
    assert course.grade == 2


@pytest.mark.req("CLINICAL_SPEC-1.2b")
def test_without_the_exposure_the_afebrile_hypoxic_day_ends_the_episode():
    """CLINICAL_SPEC §1.2 a, b: fever stays required inside an episode until the exposure."""
    course = crs_course(spec_course(), infusion_date=DAY0)
    assert [(d.study_day, d.grade) for d in course.days] == [(1, 1), (2, 0), (3, 0)]
    assert [(e.onset_day, e.duration_days, e.grade) for e in course.episodes] == [(1, 1, 1)]


@pytest.mark.req("CLINICAL_SPEC-1.2b")
@pytest.mark.parametrize(
    ("category", "start_day", "masked_on_day_2"),
    [
        (MedicationCategory.TOCILIZUMAB, 2, True),
        (MedicationCategory.TOCILIZUMAB, 1, True),
        (MedicationCategory.TOCILIZUMAB, 0, False),
        (MedicationCategory.TOCILIZUMAB, -2, False),
        (MedicationCategory.TOCILIZUMAB, 3, False),
        (MedicationCategory.ANTIPYRETIC, 1, True),
        (MedicationCategory.ANTIPYRETIC, 0, False),
        (MedicationCategory.CORTICOSTEROID, 2, True),
        (MedicationCategory.OTHER_ANTICYTOKINE, 1, False),
        (MedicationCategory.OTHER, 1, False),
    ],
)
def test_exposure_counts_from_onset_day_same_day_included(category, start_day, masked_on_day_2):
    """CLINICAL_SPEC §1.2 b: exposure counts from its start date (same day included) when on or after
    the episode's onset day; premedication before the episode does not count; a start after the day
    does not mask it."""
    course = crs_course(
        [assess(1, tmax_c=FEVER), assess(2, tmax_c=AFEBRILE, hypotension=True)],
        infusion_date=DAY0,
        exposures=[MedicationExposure(category, day(start_day))],
    )
    assert course.days[1].fever_masked is masked_on_day_2
    assert course.days[1].grade == (2 if masked_on_day_2 else 0)


@pytest.mark.req("CLINICAL_SPEC-1.2b")
def test_exposure_during_a_previous_episode_does_not_mask_the_next():
    """CLINICAL_SPEC §1.2 a, b: masking belongs to "that episode"; a new episode needs fever again."""
    course = crs_course(
        [
            assess(1, tmax_c=FEVER),
            assess(2, tmax_c=AFEBRILE),
            assess(4, tmax_c=FEVER),
            assess(5, tmax_c=AFEBRILE, oxygen_device=OxygenDevice.FACEMASK),
        ],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.CORTICOSTEROID, day(1))],
    )
    assert [(d.study_day, d.grade) for d in course.days] == [(1, 1), (2, 0), (4, 1), (5, 0)]
    assert [e.onset_day for e in course.episodes] == [1, 4]


@pytest.mark.req("CLINICAL_SPEC-1.2b")
def test_exposure_on_the_onset_day_masks_later_assessments_that_day():
    """CLINICAL_SPEC §1.2 b: "the same day included" when on or after the onset day: febrile in the
    morning, tocilizumab at noon, afebrile on a facemask in the evening → the day is grade 3."""
    course = crs_course(
        [assess(1, tmax_c=FEVER), assess(1, tmax_c=AFEBRILE, oxygen_device=OxygenDevice.FACEMASK)],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.TOCILIZUMAB, day(1))],
    )
    assert [(d.grade, d.fever_masked) for d in course.days] == [(3, True)]
    assert [a.grade for a in course.days[0].assessments] == [1, 3]


@pytest.mark.req("CLINICAL_SPEC-1.2a")
def test_afebrile_findings_before_any_episode_start_nothing_even_after_tocilizumab():
    """CLINICAL_SPEC §1.2 a, b: onset needs fever; premedication never masks an onset."""
    course = crs_course(
        [assess(1, oxygen_device=OxygenDevice.BIPAP), assess(2, tmax_c=FEVER)],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.TOCILIZUMAB, day(0))],
    )
    assert [d.grade for d in course.days] == [0, 1]
    assert [e.onset_day for e in course.episodes] == [2]


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_daily_grade_is_the_maximum_of_the_days_assessments():
    """CLINICAL_SPEC §1.3: daily grade = maximum over that day's assessments."""
    course = crs_course(
        [assess(1, tmax_c=FEVER), nc("8", tmax_c=FEVER), assess(1, tmax_c=AFEBRILE)], infusion_date=DAY0
    )
    assert [(d.study_day, d.grade, len(d.assessments)) for d in course.days] == [(1, 3, 3)]


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_unassessed_days_neither_end_nor_extend_a_run():
    """CLINICAL_SPEC §1.3: a day without assessment inside a run is "not assessed"."""
    course = crs_course(
        [assess(1, tmax_c=FEVER), assess(4, tmax_c=FEVER, hypotension=True), assess(5, tmax_c=AFEBRILE)],
        infusion_date=DAY0,
    )
    (episode,) = course.episodes
    assert (episode.onset_day, episode.last_day, episode.duration_days, episode.grade) == (1, 4, 4, 2)
    assert [d.study_day for d in course.days] == [1, 4, 5]


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_trailing_unassessed_days_leave_the_episode_ongoing():
    """CLINICAL_SPEC §1.3: the run only ends at a grade-0 day; duration counts to the last grade ≥ 1 day."""
    course = crs_course([assess(1, tmax_c=FEVER), assess(2, tmax_c=FEVER)], infusion_date=DAY0)
    (episode,) = course.episodes
    assert episode.ongoing is True
    assert episode.duration_days == 2


@pytest.mark.req("CLINICAL_SPEC-1.3")
@pytest.mark.parametrize(
    ("gap_setting", "restart_day", "episodes"),
    [
        (0, 3, [(1, 1), (3, 1)]),
        (0, 4, [(1, 1), (4, 1)]),
        (1, 3, [(1, 3)]),
        (1, 4, [(1, 1), (4, 1)]),
        (2, 4, [(1, 4)]),
        (2, 5, [(1, 1), (5, 1)]),
    ],
)
def test_gap_setting_decides_whether_a_new_run_continues_the_episode(gap_setting, restart_day, episodes):
    """CLINICAL_SPEC §1.3: a new run ≤ G days after the last grade ≥ 1 day continues that episode
    (G counts the calendar days in between); default G = 0, so any grade-0 day ends it."""
    course = crs_course(
        [assess(1, tmax_c=FEVER), assess(2, tmax_c=AFEBRILE), assess(restart_day, tmax_c=FEVER)],
        infusion_date=DAY0,
        settings=CrsSettings(episode_gap_days=gap_setting),
    )
    assert [(e.onset_day, e.duration_days) for e in course.episodes] == episodes


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_continued_episode_keeps_its_masking_across_the_gap():
    """CLINICAL_SPEC §1.2 b, §1.3: a continued episode is the same episode, so its exposure still masks."""
    course = crs_course(
        [
            assess(1, tmax_c=FEVER),
            assess(2, tmax_c=AFEBRILE),
            assess(3, tmax_c=AFEBRILE, oxygen_device=OxygenDevice.FACEMASK),
        ],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.ANTIPYRETIC, day(1))],
        settings=CrsSettings(episode_gap_days=1),
    )
    assert [d.grade for d in course.days] == [1, 0, 3]
    assert [(e.onset_day, e.duration_days, e.grade) for e in course.episodes] == [(1, 3, 3)]


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_subject_grade_is_the_maximum_over_episodes():
    """CLINICAL_SPEC §1.3."""
    course = crs_course(
        [
            assess(1, tmax_c=FEVER, hypotension=True),
            assess(2, tmax_c=AFEBRILE),
            assess(5, tmax_c=FEVER, oxygen_device=OxygenDevice.CPAP),
            assess(6, tmax_c=AFEBRILE),
            assess(9, tmax_c=FEVER),
        ],
        infusion_date=DAY0,
    )
    assert [e.grade for e in course.episodes] == [2, 4, 1]
    assert course.grade == 4


def test_no_assessments_means_grade_0_and_no_episode():
    course = crs_course([], infusion_date=DAY0)
    assert course.grade == 0
    assert course.episodes == ()


@pytest.mark.req("CLINICAL_SPEC-1.2g")
def test_episode_days_are_known_so_no_fever_ae_is_proposed():
    """CLINICAL_SPEC §1.2 g: fever on CRS episode days is part of CRS."""
    course = crs_course(spec_course(), infusion_date=DAY0, exposures=SPEC_TOCILIZUMAB)
    assert [course.is_episode_day(day(n)) for n in range(5)] == [False, True, True, False, False]
    assert course.episode_on(day(2)) is course.episodes[0]


@pytest.mark.req("CLINICAL_SPEC-1.2f")
def test_course_days_carry_review_flags():
    """CLINICAL_SPEC §1.2 f: vasopressin alone is flagged for medical review."""
    course = crs_course([assess(1, tmax_c=FEVER, vasopressors=(VASOPRESSIN,))], infusion_date=DAY0)
    assert course.days[0].flags == (CrsFlag.VASOPRESSIN_ALONE,)


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_study_days_use_the_day_0_clock():
    """CLINICAL_SPEC §9: tables use the clinical Day-0 clock (infusion = day 0)."""
    course = crs_course([assess(0, tmax_c=FEVER)], infusion_date=DAY0)
    assert (course.days[0].study_day, course.episodes[0].onset_day) == (0, 0)


def test_build_episodes_refuses_grades_off_the_scale():
    with pytest.raises(ValueError):
        build_episodes([day(1)], lambda _d, _o: 6, day0=DAY0)


def test_settings_refuse_a_negative_gap():
    with pytest.raises(ValueError):
        CrsSettings(episode_gap_days=-1)


# --- properties ---------------------------------------------------------------------------

temperatures = st.one_of(st.none(), st.decimals(min_value=35, max_value=42, places=1))
flows = st.decimals(min_value=0, max_value=20, places=1)
agents = st.lists(st.sampled_from([NOREPINEPHRINE, EPINEPHRINE, PHENYLEPHRINE, DOPAMINE, VASOPRESSIN]), max_size=4)
devices = st.sampled_from(list(OxygenDevice))


@st.composite
def assessments(draw) -> CrsAssessment:
    device = draw(devices)
    return CrsAssessment(
        assessed_on=day(draw(st.integers(min_value=0, max_value=14))),
        tmax_c=draw(temperatures),
        fever_attributable_to_other_cause=draw(st.booleans()),
        hypotension=draw(st.booleans()),
        vasopressors=tuple(draw(agents)),
        hypotension_attributable_to_crs=draw(st.booleans()),
        oxygen_device=device,
        oxygen_flow_l_per_min=draw(flows) if device is OxygenDevice.NASAL_CANNULA else None,
        hypoxia_attributable_to_crs=draw(st.booleans()),
    )


# Ordered from no support to positive pressure; each step is at least as severe as the previous.
SUPPORT_LADDER = [
    (OxygenDevice.ROOM_AIR, None),
    (OxygenDevice.BLOW_BY, None),
    (OxygenDevice.NASAL_CANNULA, Decimal("6")),
    (OxygenDevice.NASAL_CANNULA, Decimal("6.1")),
    (OxygenDevice.FACEMASK, None),
    (OxygenDevice.CPAP, None),
]


def worsen(a: CrsAssessment, how: str, extra: str) -> CrsAssessment:
    fields = dict(a.__dict__)
    if how == "hotter":
        fields["tmax_c"] = (a.tmax_c or Decimal("36.0")) + Decimal("1.0")
    elif how == "hypotension":
        fields["hypotension"] = True
    elif how == "pressor":
        fields["vasopressors"] = (*a.vasopressors, extra)
    elif how == "oxygen":
        rank = _support_rank_of(a.oxygen_device, a.oxygen_flow_l_per_min)
        worse = [(d, f) for d, f in SUPPORT_LADDER if _support_rank_of(d, f) > rank] or [SUPPORT_LADDER[-1]]
        fields["oxygen_device"], fields["oxygen_flow_l_per_min"] = worse[0]
    elif how == "death":
        fields["death_from_crs"] = True
    return CrsAssessment(**fields)


def _support_rank_of(device: OxygenDevice, flow: Decimal | None) -> int:
    probe = CrsAssessment(assessed_on=DAY0, oxygen_device=device, oxygen_flow_l_per_min=flow)
    return grade_crs_assessment(probe, fever_masked=True).hypoxia_grade


@pytest.mark.req("CLINICAL_SPEC-1.1")
@settings(max_examples=300, database=None, deadline=None)
@given(
    a=assessments(),
    how=st.sampled_from(["hotter", "hypotension", "pressor", "oxygen", "death"]),
    extra=st.sampled_from([NOREPINEPHRINE, PHENYLEPHRINE, VASOPRESSIN, DOPAMINE]),
    masked=st.booleans(),
)
def test_adding_a_worse_finding_never_lowers_the_grade(a, how, extra, masked):
    """CLINICAL_SPEC §1.1: every column is monotone, so the grade is too."""
    before = grade_crs_assessment(a, fever_masked=masked).grade
    after = grade_crs_assessment(worsen(a, how, extra), fever_masked=masked).grade
    assert after >= before


@pytest.mark.req("CLINICAL_SPEC-1.2b")
@settings(max_examples=200, database=None, deadline=None)
@given(a=assessments())
def test_masking_never_lowers_the_grade(a):
    """CLINICAL_SPEC §1.2 b: masking only lifts the fever requirement."""
    assert grade_crs_assessment(a, fever_masked=True).grade >= grade_crs_assessment(a).grade


@pytest.mark.req("CLINICAL_SPEC-1.3")
@settings(max_examples=150, database=None, deadline=None)
@given(
    items=st.lists(assessments(), max_size=20),
    exposure_days=st.lists(st.integers(min_value=-3, max_value=14), max_size=3),
    gap=st.integers(min_value=0, max_value=3),
)
def test_grades_stay_within_their_scale_and_episodes_are_consistent(items, exposure_days, gap):
    """CLINICAL_SPEC §1.1, §1.3: grades 0–5; episodes start with fever, are ordered, do not overlap,
    and their grade is the maximum daily grade inside them."""
    course = crs_course(
        items,
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.TOCILIZUMAB, day(n)) for n in exposure_days],
        settings=CrsSettings(episode_gap_days=gap),
    )
    assert 0 <= course.grade <= 5
    by_day = {d.day: d for d in course.days}
    for crs_day in course.days:
        assert 0 <= crs_day.grade <= 5
        assert crs_day.grade == max(g.grade for g in crs_day.assessments)
    for episode in course.episodes:
        assert 1 <= episode.grade <= 5
        assert episode.duration_days >= 1
        onset = by_day[episode.onset_date]
        assert any(g.fever for g in onset.assessments)
        inside = [d.grade for d in course.days if episode.covers(d.day)]
        assert episode.grade == max(inside)
    for first, second in zip(course.episodes, course.episodes[1:], strict=False):
        assert first.resolved_date is not None
        assert first.last_date < first.resolved_date < second.onset_date
    assert course.grade == max((e.grade for e in course.episodes), default=0)
