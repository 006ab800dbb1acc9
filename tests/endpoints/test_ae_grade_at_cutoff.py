"""A run at a cut-off reads each AE at its grade as of the cut-off (issue 30): an AE whose grade
rose after the cut-off is counted at its earlier grade, though the snapshot holds the later; and
the TEAE maximum grade is the highest reached within days 0–90."""

from __future__ import annotations

import pytest

from tests.endpoints.conftest import day, make_world
from tests.endpoints.test_tables import find, run_at, tables_of

pytestmark = pytest.mark.req("ISSUE-30")


def test_an_ae_that_worsened_after_the_cut_off_counts_at_its_earlier_grade(transactional_db):
    world = make_world("ae-course")
    subject = world.infused()
    course = [{"from": day(3).isoformat(), "grade": 2}, {"from": day(40).isoformat(), "grade": 3}]
    world.ae(subject, ctcae_term="Hypertension", grade=2, onset_date=day(3), grade_course=course)
    early = tables_of(run_at(world, cutoff=day(30)))
    assert find(early["teae_summary"], category="any_teae")["n"] == 1
    assert find(early["teae_summary"], category="grade_3_or_higher")["n"] == 0  # grade 2 at day 30
    term = find(early["teae_by_term"], term="Hypertension", population="infused")
    assert (term["grade_2"], term["grade_3"]) == (1, 0)
    late = tables_of(run_at(world, cutoff=day(60)))
    assert find(late["teae_summary"], category="grade_3_or_higher")["n"] == 1
    term = find(late["teae_by_term"], term="Hypertension", population="infused")
    assert (term["grade_2"], term["grade_3"]) == (0, 1)


def test_teae_maximum_grade_is_read_within_days_0_to_90(transactional_db):
    world = make_world("ae-course-90")
    subject = world.infused()
    course = [{"from": day(80).isoformat(), "grade": 1}, {"from": day(95).isoformat(), "grade": 3}]
    world.ae(subject, ctcae_term="Hypertension", grade=1, onset_date=day(80), grade_course=course)
    found = tables_of(run_at(world, cutoff=day(100)))
    assert find(found["teae_summary"], category="grade_3_or_higher")["n"] == 0  # grade 3 only from day 95
    term = find(found["teae_by_term"], term="Hypertension", population="infused")
    assert (term["grade_1"], term["grade_3"]) == (1, 0)
