"""ICANS grading by ASTCT 2019: ICE, CAPD, domains, episodes and properties (CLINICAL_SPEC §2, §8)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.icans import (
    CapdResponse,
    CapdScore,
    Consciousness,
    EncephalopathyInstrument,
    IcansAssessment,
    IcansDomain,
    IcansSettings,
    IceScore,
    MotorFinding,
    NotEvaluableReason,
    RaisedIcp,
    Seizure,
    capd_grade,
    default_instrument,
    grade_icans_assessment,
    icans_course,
    ice_grade,
)

DAY0 = date(2025, 3, 3)
ADULT = 34
CHILD = 7


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def ice(total: int, *, language: str = "en") -> IceScore:
    """An ICE score with the given total, points filled item by item."""
    points = {}
    left = total
    for name, maximum in [
        ("orientation", 4),
        ("naming", 3),
        ("following_commands", 1),
        ("writing", 1),
        ("counting_backwards", 1),
    ]:
        points[name] = min(maximum, left)
        left -= points[name]
    assert left == 0
    return IceScore(**points, language=language)


def capd(total: int) -> CapdScore:
    """A CAPD with the given total; items 1–4 answered so that reverse-scoring gives the points."""
    responses = []
    left = total
    for number in range(1, 9):
        points = min(4, left)
        left -= points
        responses.append(CapdResponse(4 - points if number <= 4 else points))
    assert left == 0
    return CapdScore(responses=tuple(responses))


def adult(study_day: int = 1, *, ice_total: int | None = 10, **fields) -> IcansAssessment:
    if "ice" not in fields:
        fields["ice"] = ice(ice_total) if ice_total is not None else None
    return IcansAssessment(assessed_on=day(study_day), age_years=ADULT, **fields)


def child(study_day: int = 1, *, capd_total: int = 0, age: int = CHILD, **fields) -> IcansAssessment:
    fields.setdefault("capd", capd(capd_total))
    return IcansAssessment(assessed_on=day(study_day), age_years=age, **fields)


def grade(assessment: IcansAssessment) -> int | None:
    return grade_icans_assessment(assessment).grade


# --- ICE ----------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-2.2")
@pytest.mark.parametrize(
    ("total", "expected"),
    [(10, 0), (9, 1), (8, 1), (7, 1), (6, 2), (5, 2), (4, 2), (3, 2), (2, 3), (1, 3), (0, 3)],
)
def test_ice_score_bands(total, expected):
    """CLINICAL_SPEC §2.2 ICE row: 7–9 → 1, 3–6 → 2, 0–2 → 3; 10 → no grade."""
    assert ice_grade(ice(total)) == expected
    result = grade_icans_assessment(adult(ice_total=total))
    assert result.grade == expected
    assert result.instrument_total == total
    assert result.criteria == "ASTCT-2019"


@pytest.mark.req("CLINICAL_SPEC-2.1")
def test_ice_stores_items_and_language():
    """CLINICAL_SPEC §2.1: store the items, not only the total; record the language of testing."""
    score = IceScore(orientation=3, naming=2, following_commands=1, writing=0, counting_backwards=1, language="zh-hans")
    assert score.total == 7
    assert (score.orientation, score.naming, score.writing) == (3, 2, 0)
    assert score.language == "zh-hans"


@pytest.mark.req("CLINICAL_SPEC-2.1")
@pytest.mark.parametrize("reason", list(NotEvaluableReason))
def test_ice_not_evaluable_is_its_own_state_never_0(reason):
    """CLINICAL_SPEC §2.1: "not evaluable" (intubated, sedated) is stored as its own state, never as 0."""
    score = IceScore.not_evaluable(reason)
    assert score.total is None
    assert score.evaluable is False
    assert ice_grade(score) is None
    assert ice_grade(ice(0)) == 3


@pytest.mark.req("CLINICAL_SPEC-2.1")
@pytest.mark.parametrize(
    "fields",
    [
        {"orientation": 5, "naming": 3, "following_commands": 1, "writing": 1, "counting_backwards": 0},
        {"orientation": -1, "naming": 3, "following_commands": 1, "writing": 1, "counting_backwards": 0},
        {"orientation": 4, "naming": 4, "following_commands": 1, "writing": 1, "counting_backwards": 0},
        {"orientation": 4, "naming": 3, "following_commands": 2, "writing": 1, "counting_backwards": 0},
        {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 2, "counting_backwards": 0},
        {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "counting_backwards": 2},
        {"orientation": 4, "naming": 3},
        {},
        {
            "orientation": 4,
            "naming": 3,
            "following_commands": 1,
            "writing": 1,
            "counting_backwards": 1,
            "not_evaluable_reason": NotEvaluableReason.INTUBATED,
        },
        {"unarousable": True, "not_evaluable_reason": NotEvaluableReason.INTUBATED},
    ],
)
def test_ice_refuses_impossible_records(fields):
    """CLINICAL_SPEC §2.1: orientation 4, naming 3, commands 1, writing 1, counting 1; one state only."""
    with pytest.raises(ValueError):
        IceScore(**fields)


@pytest.mark.req("CLINICAL_SPEC-2.2")
def test_ice_unarousable_is_grade_4():
    """CLINICAL_SPEC §2.2: ICE "0 and unarousable (cannot do ICE)" → 4."""
    score = IceScore.unable_unarousable()
    assert (score.total, ice_grade(score)) == (0, 4)


# --- CAPD ---------------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    ("total", "expected"),
    [(0, 0), (1, 1), (2, 1), (7, 1), (8, 1), (9, 3), (10, 3), (12, 3), (31, 3), (32, 3)],
)
def test_capd_bands(total, expected):
    """CLINICAL_SPEC §2.3: CAPD 1–8 → G1 on its own; ≥ 9 → G3."""
    score = capd(total)
    assert score.total == total
    assert capd_grade(score) == expected
    assert grade(child(capd_total=total)) == expected


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    ("responses", "points", "total"),
    [
        ((CapdResponse.NEVER,) * 8, (4, 4, 4, 4, 0, 0, 0, 0), 16),
        ((CapdResponse.ALWAYS,) * 8, (0, 0, 0, 0, 4, 4, 4, 4), 16),
        ((CapdResponse.ALWAYS,) * 4 + (CapdResponse.NEVER,) * 4, (0,) * 8, 0),
        ((CapdResponse.NEVER,) * 4 + (CapdResponse.ALWAYS,) * 4, (4,) * 8, 32),
        (
            (
                CapdResponse.RARELY,
                CapdResponse.SOMETIMES,
                CapdResponse.OFTEN,
                CapdResponse.ALWAYS,
                CapdResponse.NEVER,
                CapdResponse.RARELY,
                CapdResponse.SOMETIMES,
                CapdResponse.OFTEN,
            ),
            (3, 2, 1, 0, 0, 1, 2, 3),
            12,
        ),
    ],
)
def test_capd_items_1_to_4_are_reverse_scored(responses, points, total):
    """CLINICAL_SPEC §2.3: eight items scored 0–4, items 1–4 reverse-scored, total 0–32."""
    score = CapdScore(responses=responses)
    assert score.item_points == points
    assert score.total == total


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_capd_unable_is_4_and_not_evaluable_is_never_4():
    """CLINICAL_SPEC §2.3: unable to perform CAPD → G4; sedation/intubation → not evaluable, never G4."""
    assert capd_grade(CapdScore.unable_to_perform()) == 4
    assert grade(child(capd=CapdScore.unable_to_perform())) == 4
    not_evaluable = CapdScore.not_evaluable(NotEvaluableReason.SEDATED_FOR_OTHER_REASON)
    assert capd_grade(not_evaluable) is None
    assert grade(child(capd=not_evaluable, consciousness=Consciousness.UNAROUSABLE)) is None


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    "fields",
    [
        {"responses": (CapdResponse.NEVER,) * 7},
        {"responses": (CapdResponse.NEVER,) * 9},
        {},
        {"unable": True, "not_evaluable_reason": NotEvaluableReason.INTUBATED},
        {"responses": (CapdResponse.NEVER,) * 8, "unable": True},
    ],
)
def test_capd_refuses_impossible_records(fields):
    with pytest.raises(ValueError):
        CapdScore(**fields)


def test_capd_refuses_raw_integers():
    with pytest.raises(TypeError):
        CapdScore(responses=(0,) * 8)


# --- instrument by age --------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0, EncephalopathyInstrument.CAPD),
        (7, EncephalopathyInstrument.CAPD),
        (11, EncephalopathyInstrument.CAPD),
        (12, EncephalopathyInstrument.ICE),
        (13, EncephalopathyInstrument.ICE),
        (60, EncephalopathyInstrument.ICE),
    ],
)
def test_capd_below_12_by_default(age, expected):
    """CLINICAL_SPEC §2.3: children younger than 12 (setting) use CAPD."""
    assert default_instrument(age_years=age) is expected


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    ("boundary", "age", "expected"),
    [(10, 9, EncephalopathyInstrument.CAPD), (10, 10, EncephalopathyInstrument.ICE), (14, 13, "capd")],
)
def test_age_boundary_is_a_setting(boundary, age, expected):
    """CLINICAL_SPEC §2.3: the age boundary is a setting."""
    assert default_instrument(age_years=age, settings=IcansSettings(capd_below_age_years=boundary)) == expected


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_instrument_can_be_chosen_per_assessment():
    """CLINICAL_SPEC §2.3: the instrument can also be chosen per assessment."""
    ten_year_old_doing_ice = IcansAssessment(
        assessed_on=day(1), age_years=10, ice=ice(6), instrument=EncephalopathyInstrument.ICE
    )
    result = grade_icans_assessment(ten_year_old_doing_ice)
    assert (result.instrument, result.grade) == (EncephalopathyInstrument.ICE, 2)
    teenager_on_capd = IcansAssessment(
        assessed_on=day(1), age_years=14, capd=capd(9), instrument=EncephalopathyInstrument.CAPD
    )
    assert grade(teenager_on_capd) == 3


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_the_chosen_instrument_must_be_recorded():
    with pytest.raises(ValueError, match="CAPD"):
        grade_icans_assessment(IcansAssessment(assessed_on=day(1), age_years=5, ice=ice(10)))
    with pytest.raises(ValueError, match="ICE"):
        grade_icans_assessment(IcansAssessment(assessed_on=day(1), age_years=30, capd=capd(0)))


# --- other domains ------------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-2.2")
@pytest.mark.parametrize(
    ("consciousness", "expected"),
    [
        (Consciousness.ALERT, 0),
        (Consciousness.AWAKENS_SPONTANEOUSLY, 1),
        (Consciousness.AWAKENS_TO_VOICE, 2),
        (Consciousness.AWAKENS_ONLY_TO_TOUCH, 3),
        (Consciousness.UNAROUSABLE, 4),
    ],
)
def test_depressed_level_of_consciousness(consciousness, expected):
    """CLINICAL_SPEC §2.2 consciousness row."""
    assert grade(adult(consciousness=consciousness)) == expected
    assert grade(child(consciousness=consciousness)) == expected


@pytest.mark.req("CLINICAL_SPEC-2.2")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"seizure": Seizure.NONE}, 0),
        ({"seizure": Seizure.RESOLVING}, 3),
        ({"seizure": Seizure.PROLONGED_OR_REPEATED}, 4),
        ({"motor": MotorFinding.NONE}, 0),
        ({"motor": MotorFinding.DEEP_FOCAL_WEAKNESS}, 4),
        ({"raised_icp": RaisedIcp.NONE}, 0),
        ({"raised_icp": RaisedIcp.FOCAL_OEDEMA}, 3),
        ({"raised_icp": RaisedIcp.DIFFUSE_OR_OTHER_SIGNS}, 4),
    ],
)
def test_seizure_motor_and_raised_icp_domains(fields, expected):
    """CLINICAL_SPEC §2.2 seizure, motor and raised-ICP rows; the same for children (§2.3)."""
    assert grade(adult(**fields)) == expected
    assert grade(child(**fields)) == expected


@pytest.mark.req("CLINICAL_SPEC-2.2")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ice_total": 8, "seizure": Seizure.RESOLVING}, 3),
        ({"ice_total": 2, "consciousness": Consciousness.AWAKENS_SPONTANEOUSLY}, 3),
        ({"ice_total": 5, "raised_icp": RaisedIcp.DIFFUSE_OR_OTHER_SIGNS}, 4),
        ({"ice_total": 9, "consciousness": Consciousness.AWAKENS_TO_VOICE, "seizure": Seizure.RESOLVING}, 3),
    ],
)
def test_the_worst_domain_wins(fields, expected):
    """CLINICAL_SPEC §2.2: each domain grades on its own; the most severe domain wins."""
    assert grade(adult(**fields)) == expected


@pytest.mark.req("CLINICAL_SPEC-2.2")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"consciousness": Consciousness.UNAROUSABLE, "other_cause": frozenset({IcansDomain.CONSCIOUSNESS})}, 0),
        ({"ice_total": 4, "other_cause": frozenset({IcansDomain.ENCEPHALOPATHY})}, 0),
        (
            {
                "ice_total": 4,
                "seizure": Seizure.RESOLVING,
                "other_cause": frozenset({IcansDomain.SEIZURE}),
            },
            2,
        ),
        ({"motor": MotorFinding.DEEP_FOCAL_WEAKNESS, "other_cause": frozenset({IcansDomain.MOTOR})}, 0),
        ({"raised_icp": RaisedIcp.FOCAL_OEDEMA, "other_cause": frozenset({IcansDomain.RAISED_ICP})}, 0),
        (
            {
                "consciousness": Consciousness.AWAKENS_ONLY_TO_TOUCH,
                "ice_total": 6,
                "other_cause": frozenset({IcansDomain.CONSCIOUSNESS}),
            },
            2,
        ),
    ],
)
def test_domains_attributable_to_another_cause_do_not_count(fields, expected):
    """CLINICAL_SPEC §2.2: the most severe domain not attributable to another cause; consciousness
    depressed by sedating drugs does not count."""
    result = grade_icans_assessment(adult(**fields))
    assert result.grade == expected
    assert [d.domain for d in result.domains if not d.counted] == list(fields["other_cause"])


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"consciousness": Consciousness.UNAROUSABLE}, None),
        ({"consciousness": Consciousness.AWAKENS_ONLY_TO_TOUCH}, None),
        ({"seizure": Seizure.RESOLVING}, 3),
        ({"seizure": Seizure.PROLONGED_OR_REPEATED}, 4),
        ({"raised_icp": RaisedIcp.DIFFUSE_OR_OTHER_SIGNS}, 4),
        ({"motor": MotorFinding.DEEP_FOCAL_WEAKNESS}, 4),
        ({"seizure": Seizure.RESOLVING, "other_cause": frozenset({IcansDomain.SEIZURE})}, None),
    ],
)
@pytest.mark.parametrize("reason", list(NotEvaluableReason))
def test_sedated_or_intubated_is_not_evaluable_never_grade_4(fields, expected, reason):
    """CLINICAL_SPEC §2.1, §2.3: not assessable because of sedation or intubation → "not evaluable",
    never G4; objective findings in the other domains still grade."""
    result = grade_icans_assessment(adult(ice=IceScore.not_evaluable(reason), **fields))
    assert result.grade == expected
    assert result.evaluable is (expected is not None)
    assert result.domain_grade(IcansDomain.ENCEPHALOPATHY) is None
    assert result.domain_grade(IcansDomain.CONSCIOUSNESS) is None


@pytest.mark.req("CLINICAL_SPEC-2.2")
def test_death_with_icans_as_principal_cause_is_grade_5():
    assert grade(adult(ice_total=0, consciousness=Consciousness.UNAROUSABLE, death_from_icans=True)) == 5


# --- CLINICAL_SPEC §8 ---------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-8")
@pytest.mark.parametrize(
    ("label", "assessment", "expected"),
    [
        ("ICE 10, alert", adult(ice_total=10, consciousness=Consciousness.ALERT), 0),
        ("ICE 7", adult(ice_total=7), 1),
        ("ICE 6", adult(ice_total=6), 2),
        ("ICE 3", adult(ice_total=3), 2),
        ("ICE 2", adult(ice_total=2), 3),
        ("ICE 0 awake with global aphasia", adult(ice_total=0, consciousness=Consciousness.ALERT), 3),
        ("ICE 0 unarousable", adult(ice_total=0, consciousness=Consciousness.UNAROUSABLE), 4),
        (
            "ICE 0 unarousable (ICE recorded as unable)",
            adult(ice=IceScore.unable_unarousable(), consciousness=Consciousness.UNAROUSABLE),
            4,
        ),
        ("ICE 8 awakening only to touch", adult(ice_total=8, consciousness=Consciousness.AWAKENS_ONLY_TO_TOUCH), 3),
        ("ICE 9 with a brief generalized seizure", adult(ice_total=9, seizure=Seizure.RESOLVING), 3),
        (
            "non-convulsive status > 5 min",
            adult(ice_total=4, seizure=Seizure.PROLONGED_OR_REPEATED),
            4,
        ),
        ("new hemiparesis", adult(ice_total=10, motor=MotorFinding.DEEP_FOCAL_WEAKNESS), 4),
        ("focal oedema on MRI", adult(ice_total=10, raised_icp=RaisedIcp.FOCAL_OEDEMA), 3),
        ("tremor only (not an ICANS input)", adult(ice_total=10), 0),
        ("child 7 y: CAPD 5, alert", child(capd_total=5, consciousness=Consciousness.ALERT), 1),
        ("child 7 y: CAPD 6, awakens to voice", child(capd_total=6, consciousness=Consciousness.AWAKENS_TO_VOICE), 2),
        ("child 7 y: CAPD 12", child(capd_total=12), 3),
    ],
)
def test_spec_icans_examples(label, assessment, expected):
    """CLINICAL_SPEC §8 ICANS."""
    assert grade(assessment) == expected, label


@pytest.mark.req("CLINICAL_SPEC-2.2")
def test_tremor_myoclonus_and_haemorrhage_are_not_icans_inputs():
    """CLINICAL_SPEC §2.2: tremor, myoclonus and intracranial haemorrhage are CTCAE AEs, not ICANS."""
    fields = " ".join(IcansAssessment.__dataclass_fields__)
    for word in ("tremor", "myoclonus", "haemorrhage", "hemorrhage"):
        assert word not in fields


# --- courses and episodes -----------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_episodes_without_the_fever_clause():
    """CLINICAL_SPEC §2.3: episodes as §1.3 without the fever clause."""
    course = icans_course(
        [
            adult(3, ice_total=8),
            adult(4, ice_total=2),
            adult(5, ice_total=10),
            adult(8, ice_total=6),
        ],
        infusion_date=DAY0,
    )
    assert [(d.study_day, d.grade) for d in course.days] == [(3, 1), (4, 3), (5, 0), (8, 2)]
    assert [(e.onset_day, e.duration_days, e.grade, e.criteria) for e in course.episodes] == [
        (3, 2, 3, "ASTCT-2019"),
        (8, 1, 2, "ASTCT-2019"),
    ]
    assert course.grade == 3
    assert course.criteria == "ASTCT-2019"


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_a_day_with_only_not_evaluable_assessments_is_not_assessed():
    """CLINICAL_SPEC §2.3: a day whose only assessments are "not evaluable" counts as not assessed:
    it neither ends nor extends a run."""
    sedated = IceScore.not_evaluable(NotEvaluableReason.SEDATED_FOR_OTHER_REASON)
    course = icans_course(
        [
            adult(1, ice_total=5),
            adult(2, ice=sedated),
            adult(2, ice=IceScore.not_evaluable(NotEvaluableReason.INTUBATED)),
            adult(3, ice_total=8),
            adult(4, ice=sedated),
        ],
        infusion_date=DAY0,
    )
    assert [d.study_day for d in course.days] == [1, 3]
    assert course.not_assessed_days == (day(2), day(4))
    (episode,) = course.episodes
    assert (episode.onset_day, episode.last_day, episode.duration_days, episode.grade) == (1, 3, 3, 2)
    assert episode.ongoing is True


@pytest.mark.req("CLINICAL_SPEC-2.3")
def test_daily_grade_is_the_maximum_of_the_evaluable_assessments():
    """CLINICAL_SPEC §1.3, §2.3."""
    course = icans_course(
        [
            adult(1, ice_total=9),
            adult(1, ice=IceScore.not_evaluable(NotEvaluableReason.INTUBATED)),
            adult(1, ice_total=5),
        ],
        infusion_date=DAY0,
    )
    assert [(d.grade, len(d.assessments)) for d in course.days] == [(2, 3)]


@pytest.mark.req("CLINICAL_SPEC-2.3")
@pytest.mark.parametrize(("gap", "episodes"), [(0, [(1, 1), (3, 1)]), (1, [(1, 3)])])
def test_icans_gap_setting(gap, episodes):
    """CLINICAL_SPEC §1.3 via §2.3: G calendar days between runs continue the episode."""
    course = icans_course(
        [adult(1, ice_total=8), adult(2, ice_total=10), adult(3, ice_total=8)],
        infusion_date=DAY0,
        settings=IcansSettings(episode_gap_days=gap),
    )
    assert [(e.onset_day, e.duration_days) for e in course.episodes] == episodes


def test_settings_refuse_a_negative_gap():
    with pytest.raises(ValueError):
        IcansSettings(episode_gap_days=-1)


# --- properties ---------------------------------------------------------------------------

ORDERED = {
    "consciousness": list(Consciousness),
    "seizure": list(Seizure),
    "motor": list(MotorFinding),
    "raised_icp": list(RaisedIcp),
}


@st.composite
def adult_assessments(draw) -> IcansAssessment:
    ice_state = draw(st.sampled_from(["scored", "not_evaluable", "unarousable"]))
    if ice_state == "scored":
        score = ice(draw(st.integers(min_value=0, max_value=10)))
    elif ice_state == "not_evaluable":
        score = IceScore.not_evaluable(draw(st.sampled_from(list(NotEvaluableReason))))
    else:
        score = IceScore.unable_unarousable()
    return IcansAssessment(
        assessed_on=day(draw(st.integers(min_value=0, max_value=10))),
        age_years=draw(st.integers(min_value=12, max_value=80)),
        ice=score,
        consciousness=draw(st.sampled_from(ORDERED["consciousness"])),
        seizure=draw(st.sampled_from(ORDERED["seizure"])),
        motor=draw(st.sampled_from(ORDERED["motor"])),
        raised_icp=draw(st.sampled_from(ORDERED["raised_icp"])),
        other_cause=frozenset(draw(st.sets(st.sampled_from(list(IcansDomain))))),
    )


def worse(a: IcansAssessment, field: str) -> IcansAssessment:
    fields = dict(a.__dict__)
    if field == "ice":
        total = a.ice.total
        if a.ice.evaluable and not a.ice.unarousable and total > 0:
            fields["ice"] = ice(total - 1)
    else:
        ladder = ORDERED[field]
        fields[field] = ladder[min(ladder.index(getattr(a, field)) + 1, len(ladder) - 1)]
    return IcansAssessment(**fields)


@pytest.mark.req("CLINICAL_SPEC-2.2")
@settings(max_examples=300, database=None, deadline=None)
@given(a=adult_assessments(), field=st.sampled_from(["ice", "consciousness", "seizure", "motor", "raised_icp"]))
def test_adding_a_worse_finding_never_lowers_the_grade(a, field):
    """CLINICAL_SPEC §2.2: each domain is monotone and the worst domain wins."""
    before = grade(a)
    after = grade(worse(a, field))
    if before is None:
        assert after is None or after >= 1
    else:
        assert after is not None
        assert after >= before


@pytest.mark.req("CLINICAL_SPEC-2.3")
@settings(max_examples=200, database=None, deadline=None)
@given(
    responses=st.lists(st.sampled_from(list(CapdResponse)), min_size=8, max_size=8),
    consciousness=st.sampled_from(list(Consciousness)),
)
def test_capd_totals_and_grades_stay_within_their_scale(responses, consciousness):
    """CLINICAL_SPEC §2.3: total 0–32; grade 0–4; CAPD alone gives 0, 1 or 3."""
    score = CapdScore(responses=tuple(responses))
    assert 0 <= score.total <= 32
    assert capd_grade(score) in {0, 1, 3}
    assert grade(child(capd=score, consciousness=consciousness)) in {0, 1, 2, 3, 4}


@pytest.mark.req("CLINICAL_SPEC-2.3")
@settings(max_examples=150, database=None, deadline=None)
@given(items=st.lists(adult_assessments(), max_size=15), gap=st.integers(min_value=0, max_value=2))
def test_grades_stay_within_their_scale(items, gap):
    """CLINICAL_SPEC §2.2, §2.3: grades 0–5 or "not evaluable"; episodes are consistent."""
    for item in items:
        assert grade(item) in {None, 0, 1, 2, 3, 4}
    course = icans_course(items, infusion_date=DAY0, settings=IcansSettings(episode_gap_days=gap))
    assert 0 <= course.grade <= 5
    assert not set(course.not_assessed_days) & {d.day for d in course.days}
    for episode in course.episodes:
        assert 1 <= episode.grade <= 5
        assert episode.grade == max(d.grade for d in course.days if episode.covers(d.day))
