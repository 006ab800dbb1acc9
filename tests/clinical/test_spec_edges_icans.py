"""Independent audit: ICANS edge cases read from CLINICAL_SPEC §2 (ASTCT 2019, ICE and CAPD)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from clinical.icans import (
    CapdResponse,
    CapdScore,
    Consciousness,
    EncephalopathyInstrument,
    IcansAssessment,
    IcansDomain,
    IceScore,
    NotEvaluableReason,
    RaisedIcp,
    default_instrument,
    grade_icans_assessment,
    icans_course,
)

pytestmark = pytest.mark.req("CLINICAL_SPEC-2.2")

DAY0 = date(2026, 2, 2)
N, R, S, OF, A = (
    CapdResponse.NEVER,
    CapdResponse.RARELY,
    CapdResponse.SOMETIMES,
    CapdResponse.OFTEN,
    CapdResponse.ALWAYS,
)


def ice(total: int) -> IceScore:
    """An ICE score with the given total, filled item by item (orientation first)."""
    items = {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "counting_backwards": 1}
    left = total
    scored = {}
    for name, maximum in items.items():
        scored[name] = min(maximum, left)
        left -= scored[name]
    return IceScore(**scored)


def adult(n: int = 1, **fields) -> IcansAssessment:
    fields.setdefault("ice", ice(10))
    return IcansAssessment(assessed_on=DAY0 + timedelta(days=n), age_years=30, **fields)


def g(assessment: IcansAssessment) -> int | None:
    return grade_icans_assessment(assessment).grade


@pytest.mark.req("CLINICAL_SPEC-2.1")
def test_ice_items_sum_to_ten_and_not_evaluable_is_not_zero():
    """§2.1: 4 + 3 + 1 + 1 + 1 = 10; "not evaluable" is its own state with no total."""
    assert ice(10).total == 10
    assert IceScore.not_evaluable(NotEvaluableReason.INTUBATED).total is None


@pytest.mark.parametrize(
    ("total", "expected"),
    [(10, 0), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (1, 3), (0, 3)],
)
def test_ice_bands_alone(total, expected):
    """§2.2: ICE 7–9 G1, 3–6 G2, 0–2 G3 (ICE 0 awake, e.g. global aphasia, is G3)."""
    assert g(adult(ice=ice(total))) == expected


def test_ice_0_unarousable_is_grade_4():
    """§2.2: ICE 0 and unarousable → G4."""
    assert g(adult(ice=IceScore.unable_unarousable(), consciousness=Consciousness.UNAROUSABLE)) == 4


@pytest.mark.parametrize(
    ("total", "consciousness", "expected"),
    [
        (10, Consciousness.AWAKENS_SPONTANEOUSLY, 1),  # ICE normal, consciousness G1
        (9, Consciousness.AWAKENS_TO_VOICE, 2),
        (6, Consciousness.AWAKENS_SPONTANEOUSLY, 2),
        (8, Consciousness.AWAKENS_ONLY_TO_TOUCH, 3),  # §8
        (3, Consciousness.UNAROUSABLE, 4),
    ],
)
def test_the_worst_domain_wins_between_ice_and_consciousness(total, consciousness, expected):
    """§2.2 rules: each domain on its own, the most severe wins."""
    assert g(adult(ice=ice(total), consciousness=consciousness)) == expected


def test_sedation_from_drugs_does_not_count_but_ice_still_does():
    """§2.2: depressed consciousness from sedating drugs does not count; ICE 8 alone → G1."""
    assessment = adult(
        ice=ice(8),
        consciousness=Consciousness.AWAKENS_ONLY_TO_TOUCH,
        other_cause=frozenset({IcansDomain.CONSCIOUSNESS}),
    )
    assert g(assessment) == 1


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_not_evaluable_ice_with_no_other_finding_is_not_evaluable_never_grade_4():
    """§2.1, §2.3: intubated / sedated for another reason → "not evaluable", never G4 — even
    when the consciousness field reads unarousable (it is the sedation)."""
    assessment = adult(
        ice=IceScore.not_evaluable(NotEvaluableReason.SEDATED_FOR_OTHER_REASON),
        consciousness=Consciousness.UNAROUSABLE,
    )
    assert g(assessment) is None


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_not_evaluable_ice_still_grades_from_focal_oedema():
    """§2.2: each domain grades on its own: focal oedema on imaging while intubated → G3."""
    assessment = adult(ice=IceScore.not_evaluable(NotEvaluableReason.INTUBATED), raised_icp=RaisedIcp.FOCAL_OEDEMA)
    assert g(assessment) == 3


def test_death_from_icans_is_grade_5():
    """§2.2: grade 5, death with ICANS as the principal cause."""
    assert g(adult(death_from_icans=True)) == 5


# --- §2.3 CAPD --------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(("age", "instrument"), [(11, "capd"), (12, "ice"), (0, "capd")])
def test_capd_below_12_years(age, instrument):
    """§2.3: CAPD for children younger than 12 (default boundary)."""
    assert default_instrument(age_years=age) == EncephalopathyInstrument(instrument)


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    ("responses", "total"),
    [
        # items 1–4 reverse-scored: "always" = 0 points; items 5–8 "never" = 0 → 0
        ((A, A, A, A, N, N, N, N), 0),
        # items 1–4 "never" = 4 points each (16); items 5–8 "never" = 0 → 16
        ((N, N, N, N, N, N, N, N), 16),
        # items 1–4 "often" (1 each = 4) + items 5–8 "rarely" (1 each = 4) → 8
        ((OF, OF, OF, OF, R, R, R, R), 8),
        # 8 + one "sometimes" in item 5 instead of "rarely" (+1) → 9
        ((OF, OF, OF, OF, S, R, R, R), 9),
        # worst: items 1–4 never (16) + items 5–8 always (16) → 32
        ((N, N, N, N, A, A, A, A), 32),
    ],
)
def test_capd_totals_with_reverse_scoring(responses, total):
    """§2.3: eight items scored 0–4, items 1–4 reverse-scored, total 0–32."""
    assert CapdScore(responses=responses).total == total


def child(n: int = 1, **fields) -> IcansAssessment:
    return IcansAssessment(assessed_on=DAY0 + timedelta(days=n), age_years=7, **fields)


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    ("responses", "consciousness", "expected"),
    [
        ((A, A, A, A, N, N, N, N), Consciousness.ALERT, 0),  # CAPD 0
        ((OF, OF, OF, OF, R, R, R, R), Consciousness.ALERT, 1),  # CAPD 8 → G1
        ((OF, OF, OF, OF, S, R, R, R), Consciousness.ALERT, 3),  # CAPD 9 → G3
        ((OF, OF, OF, OF, R, R, R, R), Consciousness.AWAKENS_TO_VOICE, 2),  # CAPD 8 + voice → G2
        ((OF, OF, OF, OF, R, R, R, R), Consciousness.AWAKENS_ONLY_TO_TOUCH, 3),
    ],
)
def test_capd_bands_with_consciousness(responses, consciousness, expected):
    """§2.3: CAPD 1–8 → G1, ≥ 9 → G3; consciousness as §2.2; worst domain wins."""
    assert g(child(capd=CapdScore(responses=responses), consciousness=consciousness)) == expected


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_capd_unable_is_grade_4_but_not_evaluable_is_not_graded():
    """§2.3: unable to perform CAPD → G4; sedation for another reason → not evaluable."""
    assert g(child(capd=CapdScore.unable_to_perform())) == 4
    assert g(child(capd=CapdScore.not_evaluable(NotEvaluableReason.SEDATED_FOR_OTHER_REASON))) is None


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_instrument_chosen_per_assessment_overrides_age():
    """§2.3: the instrument can be chosen per assessment: ICE 6 for a 7-year-old → G2."""
    assessment = child(ice=ice(6), instrument=EncephalopathyInstrument.ICE)
    assert g(assessment) == 2


# --- §2.3 episodes ------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_a_day_of_only_not_evaluable_assessments_neither_ends_nor_extends_the_run():
    """§2.3: day 1 ICE 6 (G2), day 2 intubated only (not assessed), day 3 ICE 2 (G3), day 4
    ICE 10 (G0) → one episode onset day 1, duration 3, grade 3; day 2 listed as not assessed."""
    course = icans_course(
        [
            adult(1, ice=ice(6)),
            adult(2, ice=IceScore.not_evaluable(NotEvaluableReason.INTUBATED)),
            adult(3, ice=ice(2)),
            adult(4, ice=ice(10)),
        ],
        infusion_date=DAY0,
    )
    (episode,) = course.episodes
    assert (episode.onset_day, episode.duration_days, episode.grade) == (1, 3, 3)
    assert course.not_assessed_days == (DAY0 + timedelta(days=2),)


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_an_evaluable_normal_assessment_beside_a_not_evaluable_one_ends_the_run():
    """§2.3: the day is assessed when any assessment is evaluable; ICE 10 → grade 0 ends it.
    No fever clause: a later ICE 7 opens episode 2."""
    course = icans_course(
        [
            adult(1, ice=ice(5)),
            adult(2, ice=IceScore.not_evaluable(NotEvaluableReason.INTUBATED)),
            adult(2, ice=ice(10)),
            adult(3, ice=ice(7)),
        ],
        infusion_date=DAY0,
    )
    assert [(e.onset_day, e.duration_days, e.grade) for e in course.episodes] == [(1, 1, 2), (3, 1, 1)]
    assert course.not_assessed_days == ()


@pytest.mark.req("CLINICAL_SPEC-2.2")
def test_tremor_is_not_an_input_so_a_normal_assessment_stays_grade_0():
    """§2.2: tremor, myoclonus and intracranial haemorrhage are CTCAE AEs, not ICANS."""
    assert g(adult()) == 0
