"""The dated grade course of an AE (CLINICAL_SPEC §3, §3.1; issue 30)."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.ae_course import (
    GradeChange,
    first_severe_spell,
    from_stored,
    grade_on,
    max_grade,
    max_grade_until,
    problems,
    settle,
    to_stored,
)

pytestmark = pytest.mark.req("ISSUE-30")

ONSET = date(2026, 3, 25)
COURSE = (GradeChange(ONSET, 2), GradeChange(date(2026, 4, 2), 3), GradeChange(date(2026, 4, 20), 1))


def test_readers_of_a_course():
    assert max_grade(COURSE) == 3
    assert (max_grade_until(COURSE, date(2026, 4, 1)), max_grade_until(COURSE, date(2026, 4, 2))) == (2, 3)
    assert max_grade_until(COURSE, date(2026, 3, 24)) is None  # before the onset
    assert [grade_on(COURSE, d) for d in (date(2026, 3, 24), ONSET, date(2026, 4, 19), date(2026, 5, 1))] == [
        None,
        2,
        3,
        1,
    ]


def test_stored_round_trip_and_one_entry_when_nothing_is_stored():
    assert from_stored(to_stored(COURSE), onset=ONSET, grade=3) == COURSE
    assert from_stored([], onset=ONSET, grade=2) == (GradeChange(ONSET, 2),)
    assert from_stored(None, onset=ONSET, grade=4) == (GradeChange(ONSET, 4),)


def test_a_single_entry_follows_the_entered_onset_and_grade_a_longer_course_stands():
    assert settle((GradeChange(date(2026, 3, 1), 1),), onset=ONSET, grade=3) == (GradeChange(ONSET, 3),)
    assert settle((), onset=ONSET, grade=2) == (GradeChange(ONSET, 2),)
    assert settle(tuple(reversed(COURSE)), onset=ONSET, grade=1) == COURSE


@pytest.mark.parametrize(
    ("course", "resolution", "codes"),
    [
        (COURSE, None, []),
        (COURSE, date(2026, 4, 20), []),
        (COURSE, date(2026, 4, 10), ["after_resolution"]),
        ((GradeChange(date(2026, 3, 26), 2), GradeChange(date(2026, 4, 2), 3)), None, ["first_not_onset"]),
        ((GradeChange(ONSET, 2), GradeChange(ONSET, 3)), None, ["dates_not_increasing"]),
        ((GradeChange(ONSET, 2), GradeChange(date(2026, 4, 2), 2)), None, ["same_grade"]),
        ((GradeChange(ONSET, 2), GradeChange(date(2026, 4, 2), 6)), None, ["grade_range"]),
    ],
)
def test_problems(course, resolution, codes):
    assert problems(course, onset=ONSET, resolution=resolution) == codes


def test_first_severe_spell_for_the_dlt_rule():
    """§3.1 "not back to ≤ 1 within 7 days" reads the course: grade 3 from 2 April, back to 1 on
    20 April; an AE that stays ≥ 2 is back only at its resolution."""
    assert first_severe_spell(COURSE, resolution=None) == first_severe_spell(COURSE, resolution=date(2026, 6, 1))
    spell = first_severe_spell(COURSE, resolution=None)
    assert (spell.grade, spell.from_date, spell.back_to_grade1) == (3, date(2026, 4, 2), date(2026, 4, 20))
    worse = (GradeChange(ONSET, 3), GradeChange(date(2026, 3, 28), 4), GradeChange(date(2026, 4, 1), 2))
    spell = first_severe_spell(worse, resolution=date(2026, 4, 9))
    assert (spell.grade, spell.from_date, spell.back_to_grade1) == (4, ONSET, date(2026, 4, 9))
    assert first_severe_spell((GradeChange(ONSET, 2),), resolution=None) is None
