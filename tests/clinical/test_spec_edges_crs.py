"""Independent audit: CRS edge cases read from CLINICAL_SPEC §1 (ASTCT 2019).

Each test names the rule it checks; expected grades are worked out by hand from the spec text.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from clinical.crs import (
    EPINEPHRINE,
    NOREPINEPHRINE,
    VASOPRESSIN,
    CrsAssessment,
    CrsFlag,
    CrsSettings,
    MedicationCategory,
    MedicationExposure,
    OxygenDevice,
    crs_course,
    grade_crs_assessment,
    hypotension_sbp_threshold,
    is_hypotensive,
)

pytestmark = pytest.mark.req("CLINICAL_SPEC-1.1")

DAY0 = date(2026, 1, 10)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def a(n: int = 1, **fields) -> CrsAssessment:
    return CrsAssessment(assessed_on=day(n), **fields)


def grade(assessment: CrsAssessment, *, masked: bool = False) -> int:
    return grade_crs_assessment(assessment, fever_masked=masked).grade


T_FEVER = Decimal("38.0")
T_NONE = Decimal("37.9")


# --- §1.2 a fever ----------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-1.2a")
def test_fever_exactly_38_0_with_fever_explained_by_another_cause_is_no_crs_even_with_hypoxia():
    """§1.2 a: fever must not be attributable to another cause; without CRS fever (and no
    masking) hypoxia does not make CRS: grade 0."""
    assessment = a(
        tmax_c=T_FEVER,
        fever_attributable_to_other_cause=True,
        oxygen_device=OxygenDevice.NASAL_CANNULA,
        oxygen_flow_l_per_min=Decimal("4"),
    )
    assert grade(assessment) == 0


@pytest.mark.req("CLINICAL_SPEC-1.2a")
def test_no_temperature_recorded_is_not_fever():
    """§1.2 a: Tmax missing is not T ≥ 38.0; fluid-responsive hypotension alone → 0."""
    assert grade(a(tmax_c=None, hypotension=True, hypotension_fluid_responsive=True)) == 0


@pytest.mark.req("CLINICAL_SPEC-1.2a")
def test_fever_without_hypotension_or_hypoxia_is_grade_1_at_the_exact_threshold():
    """§1.1 grade 1: T ≥ 38.0 °C, neither hypotension nor hypoxia."""
    assert grade(a(tmax_c=T_FEVER)) == 1
    assert grade(a(tmax_c=T_NONE)) == 0


# --- §1.2 e oxygen -------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-1.2e")
@pytest.mark.parametrize(
    ("device", "flow", "expected"),
    [
        (OxygenDevice.NASAL_CANNULA, "0.5", 2),
        (OxygenDevice.NASAL_CANNULA, "6.0", 2),  # exactly 6 is low-flow
        (OxygenDevice.NASAL_CANNULA, "6.1", 3),  # above 6
        (OxygenDevice.BLOW_BY, None, 2),
        (OxygenDevice.FACEMASK, "1", 3),  # facemask at any flow
        (OxygenDevice.NON_REBREATHER, None, 3),
        (OxygenDevice.VENTURI_MASK, "2", 3),
        (OxygenDevice.HIGH_FLOW_NASAL_CANNULA, "40", 3),
        (OxygenDevice.HIGH_FLOW_NASAL_CANNULA, None, 3),
        (OxygenDevice.CPAP, None, 4),
        (OxygenDevice.MECHANICAL_VENTILATION, None, 4),
        (OxygenDevice.ROOM_AIR, None, 1),  # fever alone
    ],
)
def test_oxygen_support_with_fever(device, flow, expected):
    """§1.1, §1.2 e: the hypoxia column at its boundaries, fever present."""
    assessment = a(
        tmax_c=Decimal("38.4"),
        oxygen_device=device,
        oxygen_flow_l_per_min=None if flow is None else Decimal(flow),
    )
    assert grade(assessment) == expected


@pytest.mark.req("CLINICAL_SPEC-1.2d")
def test_intubation_for_airway_protection_does_not_count_and_leaves_fever_grade_1():
    """§1.2 d: intubation for airway protection is hypoxia support not attributable to CRS;
    with fever and nothing else attributable → grade 1."""
    assessment = a(
        tmax_c=Decimal("39.0"),
        oxygen_device=OxygenDevice.MECHANICAL_VENTILATION,
        hypoxia_attributable_to_crs=False,
    )
    assert grade(assessment) == 1


# --- §1.2 f vasopressors --------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-1.2f")
@pytest.mark.parametrize(
    ("agents", "expected", "flags"),
    [
        ((VASOPRESSIN,), 3, (CrsFlag.VASOPRESSIN_ALONE,)),
        # vasopressin twice under two names is still vasopressin alone
        (("Vasopressin", "argipressin"), 3, (CrsFlag.VASOPRESSIN_ALONE,)),
        # vasopressin never counts toward "several"
        ((NOREPINEPHRINE, VASOPRESSIN), 3, ()),
        # the same agent under two names is one vasopressor
        ((NOREPINEPHRINE, "Noradrenaline"), 3, ()),
        ((NOREPINEPHRINE, EPINEPHRINE, VASOPRESSIN), 4, ()),
        (("dopamine", "phenylephrine"), 4, ()),
    ],
)
def test_vasopressor_counting_edges(agents, expected, flags):
    """§1.1 grades 3–4 and §1.2 f."""
    result = grade_crs_assessment(a(tmax_c=Decimal("38.5"), hypotension=True, vasopressors=agents))
    assert result.grade == expected
    assert result.flags == flags


@pytest.mark.req("CLINICAL_SPEC-1.2c")
def test_worse_of_hypotension_and_hypoxia_wins_either_way():
    """§1.2 c: the more severe of hypotension and hypoxia; fluid-responsive hypotension (2) with
    high-flow (3) → 3; two vasopressors (4) with low-flow (2) → 4."""
    hfnc = a(
        tmax_c=Decimal("38.1"),
        hypotension=True,
        hypotension_fluid_responsive=True,
        oxygen_device=OxygenDevice.NASAL_CANNULA,
        oxygen_flow_l_per_min=Decimal("8"),
    )
    assert grade(hfnc) == 3
    pressors = a(
        tmax_c=Decimal("38.1"),
        hypotension=True,
        vasopressors=(NOREPINEPHRINE, EPINEPHRINE),
        oxygen_device=OxygenDevice.NASAL_CANNULA,
        oxygen_flow_l_per_min=Decimal("2"),
    )
    assert grade(pressors) == 4


@pytest.mark.req("CLINICAL_SPEC-1.2d")
def test_pressors_for_sepsis_do_not_count_but_crs_hypoxia_does():
    """§1.2 d: two pressors not attributable to CRS are ignored; nasal cannula 2 L/min from CRS → 2."""
    assessment = a(
        tmax_c=Decimal("38.9"),
        hypotension=True,
        vasopressors=(NOREPINEPHRINE, EPINEPHRINE),
        hypotension_attributable_to_crs=False,
        oxygen_device=OxygenDevice.NASAL_CANNULA,
        oxygen_flow_l_per_min=Decimal("2"),
    )
    assert grade(assessment) == 2


@pytest.mark.req("CLINICAL_SPEC-1.1")
def test_death_from_crs_is_grade_5_even_afebrile():
    """§1.1 grade 5: death with CRS as the principal cause."""
    assert grade(a(tmax_c=Decimal("36.0"), death_from_crs=True)) == 5


@pytest.mark.req("CLINICAL_SPEC-1.2b")
def test_masked_day_with_nothing_is_grade_0_and_masked_fever_still_grades_at_least_1():
    """§1.2 c: under b, no fever/hypotension/hypoxia → 0; under b with fever, fever alone → 1."""
    assert grade(a(tmax_c=Decimal("37.0")), masked=True) == 0
    assert grade(a(tmax_c=Decimal("38.0")), masked=True) == 1


# --- §1.2 h hypotension by age ------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-1.2h")
@pytest.mark.parametrize(
    ("age", "sbp", "hypotensive"),
    [
        (0, 69, True),  # under 1 year: SBP < 70
        (0, 70, False),
        (1, 71, True),  # 70 + 2×1 = 72
        (1, 72, False),
        (9, 87, True),  # 70 + 2×9 = 88
        (9, 88, False),
        (10, 89, True),  # from age 10: SBP < 90
        (10, 90, False),
        (45, 89, True),
    ],
)
def test_hypotension_boundaries_by_age(age, sbp, hypotensive):
    """§1.2 h defaults: strictly below the threshold."""
    assert is_hypotensive(sbp_mmhg=sbp, age_years=age) is hypotensive


@pytest.mark.req("CLINICAL_SPEC-1.2h")
def test_hypotension_threshold_of_a_9_year_old_is_88():
    """§1.2 h: children 1–10 years, 70 + 2 × age → 88 at 9."""
    assert hypotension_sbp_threshold(age_years=9) == 88


# --- §1.2 b masking and §1.3 episodes --------------------------------------------------------------


def nc(n: int, tmax: str, flow: str = "3") -> CrsAssessment:
    return a(
        n,
        tmax_c=Decimal(tmax),
        oxygen_device=OxygenDevice.NASAL_CANNULA,
        oxygen_flow_l_per_min=Decimal(flow),
    )


@pytest.mark.req("CLINICAL_SPEC-1.2b")
def test_premedication_before_the_episode_does_not_mask():
    """§1.2 b: paracetamol given on day 0 (before onset day 1) does not count: the afebrile
    hypoxic day 2 is grade 0 and ends the episode (duration 1)."""
    course = crs_course(
        [a(1, tmax_c=Decimal("38.3")), nc(2, "37.0")],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.ANTIPYRETIC, day(0))],
    )
    assert [d.grade for d in course.days] == [1, 0]
    (episode,) = course.episodes
    assert (episode.onset_day, episode.duration_days, episode.grade) == (1, 1, 1)
    assert episode.resolved_date == day(2)


@pytest.mark.req("CLINICAL_SPEC-1.2b")
def test_corticosteroid_started_after_the_day_does_not_mask_that_day():
    """§1.2 b: exposure counts from its start date; dexamethasone started on day 3 does not mask
    day 2 (afebrile hypoxic → 0, episode over)."""
    course = crs_course(
        [a(1, tmax_c=Decimal("38.3")), nc(2, "37.0"), nc(3, "37.0")],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.CORTICOSTEROID, day(3))],
    )
    assert [d.grade for d in course.days] == [1, 0, 0]
    assert len(course.episodes) == 1


@pytest.mark.req("CLINICAL_SPEC-1.2b")
def test_anakinra_is_not_a_masking_category_by_default():
    """§1.2 b lists antipyretics, tocilizumab and corticosteroids only: another anti-cytokine
    drug does not lift the fever requirement."""
    course = crs_course(
        [a(1, tmax_c=Decimal("38.3")), nc(2, "37.0")],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.OTHER_ANTICYTOKINE, day(1))],
    )
    assert [d.grade for d in course.days] == [1, 0]


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_duration_counts_both_ends_and_ignores_trailing_unassessed_days():
    """§1.3: duration = last grade ≥ 1 day − onset + 1; days 2–3 not assessed neither end nor
    extend; day 4 fever again → one episode days 1–4 (duration 4); day 7 grade 0 ends it, but
    days 5–6 unassessed do not extend it."""
    course = crs_course(
        [a(1, tmax_c=Decimal("38.5")), a(4, tmax_c=Decimal("38.2")), a(7, tmax_c=Decimal("36.8"))],
        infusion_date=DAY0,
    )
    (episode,) = course.episodes
    assert (episode.onset_day, episode.last_day, episode.duration_days) == (1, 4, 4)
    assert episode.resolved_date == day(7)


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_onset_on_the_infusion_day_is_day_0():
    """§1.3 onset day is the study day on the Day-0 clock: fever on the infusion day → onset 0;
    days 0–1 → duration 2."""
    course = crs_course([a(0, tmax_c=Decimal("38.0")), a(1, tmax_c=Decimal("38.1"))], infusion_date=DAY0)
    (episode,) = course.episodes
    assert (episode.onset_day, episode.duration_days) == (0, 2)


@pytest.mark.req("CLINICAL_SPEC-1.3")
@pytest.mark.parametrize(("gap", "episodes"), [(0, 2), (1, 1)])
def test_gap_setting_one_grade_0_day_between_runs(gap, episodes):
    """§1.3: run days 1–2, grade 0 on day 3, fever day 4: one calendar day lies between the last
    grade ≥ 1 day and the new run. G = 0 → new episode; G = 1 → continues (duration 4)."""
    course = crs_course(
        [
            a(1, tmax_c=Decimal("38.5")),
            a(2, tmax_c=Decimal("38.5")),
            a(3, tmax_c=Decimal("37")),
            a(4, tmax_c=Decimal("38.5")),
        ],
        infusion_date=DAY0,
        settings=CrsSettings(episode_gap_days=gap),
    )
    assert len(course.episodes) == episodes
    if episodes == 1:
        assert course.episodes[0].duration_days == 4


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_new_episode_onset_needs_fever_again_even_after_tocilizumab_in_the_first():
    """§1.3, §1.2 a: tocilizumab on day 1 masks episode 1 only. Day 2 afebrile room air → 0
    (ends it); day 3 afebrile with nasal cannula → 0 (no new episode without fever); day 4
    fever → episode 2 onset day 4."""
    course = crs_course(
        [a(1, tmax_c=Decimal("38.8")), a(2, tmax_c=Decimal("36.9")), nc(3, "37.0"), a(4, tmax_c=Decimal("38.1"))],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.TOCILIZUMAB, day(1))],
    )
    assert [d.grade for d in course.days] == [1, 0, 0, 1]
    assert [e.onset_day for e in course.episodes] == [1, 4]


@pytest.mark.req("CLINICAL_SPEC-1.3")
def test_daily_grade_is_the_max_of_same_day_assessments_masked_after_same_day_tocilizumab():
    """§1.3 daily grade = max over the day's assessments; §1.2 b same day included: day 2 has a
    febrile room-air assessment (1) and an afebrile BiPAP one after tocilizumab that day (4)."""
    course = crs_course(
        [
            a(1, tmax_c=Decimal("38.6")),
            a(2, tmax_c=Decimal("38.4")),
            a(2, tmax_c=Decimal("37.1"), oxygen_device=OxygenDevice.BIPAP),
        ],
        infusion_date=DAY0,
        exposures=[MedicationExposure(MedicationCategory.TOCILIZUMAB, day(2))],
    )
    assert [d.grade for d in course.days] == [1, 4]
    assert course.grade == 4
    assert course.episodes[0].duration_days == 2


@pytest.mark.req("CLINICAL_SPEC-1.2g")
def test_no_fever_ae_on_episode_days_only():
    """§1.2 g: episode days (onset to last grade ≥ 1 day) propose no Fever AE; the resolving
    grade-0 day after is not an episode day."""
    course = crs_course([a(1, tmax_c=Decimal("38.6")), a(2, tmax_c=Decimal("36.6"))], infusion_date=DAY0)
    assert course.is_episode_day(day(1))
    assert not course.is_episode_day(day(2))
    assert not course.is_episode_day(day(0))
