"""Independent audit: days, censoring, Kaplan–Meier, its median, Aalen–Johansen and
Clopper–Pearson at the edges (CLINICAL_SPEC §5.3, §6), worked by hand."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.stats import clopper_pearson
from clinical.survival import (
    CompetingRiskObservation,
    Observation,
    aalen_johansen,
    days_between,
    days_to_months,
    kaplan_meier,
    overall_survival_time,
)

pytestmark = pytest.mark.req("CLINICAL_SPEC-6")

INF = date(2026, 1, 1)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_days_have_no_plus_one_and_months_divide_by_30_4375():
    """§5.3: days = later − earlier (event on the origin date is day 0); months = days / 30.4375."""
    assert days_between(INF, INF) == 0
    assert days_between(INF, date(2026, 1, 31)) == 30
    assert days_to_months(30.4375) == 1.0
    assert round(days_to_months(365), 4) == 11.9918  # 365 / 30.4375


def test_os_censoring_rules():
    """§6: death on/before the cut-off is an event; alive → min(last known alive, cut-off);
    a death after the cut-off is censored at the cut-off."""
    cutoff = date(2026, 7, 1)
    death_on_cutoff = overall_survival_time(
        infusion_date=INF, cutoff_date=cutoff, last_known_alive=date(2026, 6, 1), death_date=cutoff
    )
    assert (death_on_cutoff.days, death_on_cutoff.event) == (181, True)
    contact_after = overall_survival_time(infusion_date=INF, cutoff_date=cutoff, last_known_alive=date(2026, 9, 1))
    assert (contact_after.days, contact_after.event) == (181, False)
    died_later = overall_survival_time(
        infusion_date=INF, cutoff_date=cutoff, last_known_alive=date(2026, 8, 1), death_date=date(2026, 8, 2)
    )
    assert (died_later.days, died_later.event) == (181, False)
    same_day = overall_survival_time(infusion_date=INF, cutoff_date=cutoff, last_known_alive=INF, death_date=INF)
    assert (same_day.days, same_day.event) == (0, True)


def test_km_censoring_tied_with_a_death_stays_at_risk():
    """§6 KM: at t = 10 one death and one censoring among 3 at risk → S = 2/3 (the censored
    subject is at risk for the death); at t = 20 the last subject dies → S = 0."""
    km = kaplan_meier([Observation(10, True), Observation(10, False), Observation(20, True)])
    first = km.at(10)
    assert first is not None and first.survival == pytest.approx(2 / 3)
    assert km.rows[1].at_risk == 1
    last = km.at(20)
    assert last is not None and last.survival == 0.0


def test_median_is_the_midpoint_of_a_flat_step_at_exactly_half():
    """§6: deaths at 10, 20, 30, 40 → S = 0.75, 0.5, 0.25, 0; S = 0.5 exactly on [20, 30) →
    median (20 + 30) / 2 = 25."""
    km = kaplan_meier([Observation(t, True) for t in (10, 20, 30, 40)])
    assert km.median().estimate == 25


def test_median_is_the_first_time_at_or_below_half_otherwise():
    """§6: deaths at 10, 20, 30 → S = 2/3, 1/3, 0 → median 20 (smallest t with S(t) ≤ 0.5)."""
    km = kaplan_meier([Observation(t, True) for t in (10, 20, 30)])
    assert km.median().estimate == 20


def test_median_not_reached_when_the_curve_stays_above_half():
    """§6: 1 death among 4 → S = 0.75 → median not reached."""
    km = kaplan_meier([Observation(10, True), Observation(20, False), Observation(30, False), Observation(40, False)])
    assert km.median().estimate is None


def test_s_at_a_time_between_rows_is_the_step_in_force():
    """§6 1-year OS = S(365): deaths at 100 and 400 among 4 (others censored at 500) →
    S(365) = 3/4; S(400) = 3/4 × 2/3 = 0.5."""
    km = kaplan_meier(
        [Observation(100, True), Observation(400, True), Observation(500, False), Observation(500, False)]
    )
    at365 = km.at(365)
    assert at365 is not None and at365.survival == pytest.approx(0.75)
    at400 = km.at(400)
    assert at400 is not None and at400.survival == pytest.approx(0.5)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_aalen_johansen_is_not_one_minus_km():
    """§5.3: relapse(1) 10, death(2) 20, relapse 30, censored 40.
    AJ: t10 n=4 → F = 1/4; t20 S = 3/4·2/3 = 1/2; t30 n=2 → F += 1/2·1/2 → F = 0.5.
    1 − KM (death censored) would give 1 − (3/4·1/2) = 0.625."""
    cif = aalen_johansen(
        [
            CompetingRiskObservation(10, 1),
            CompetingRiskObservation(20, 2),
            CompetingRiskObservation(30, 1),
            CompetingRiskObservation(40, 0),
        ]
    )
    assert cif.at(30) == pytest.approx(0.5)
    assert cif.at(25) == pytest.approx(0.25)
    assert cif.at(40) == pytest.approx(0.5)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_aalen_johansen_ties_are_deterministic():
    """§6: no jitter. Relapse and death both at 10 among 4: F(10) = 1/4, S = 1/2; relapse at 30
    with n = 1 (censored at 20): F = 1/4 + 1/2 = 0.75."""
    data = [
        CompetingRiskObservation(10, 1),
        CompetingRiskObservation(10, 2),
        CompetingRiskObservation(20, 0),
        CompetingRiskObservation(30, 1),
    ]
    assert aalen_johansen(data).at(10) == pytest.approx(0.25)
    assert aalen_johansen(data).at(30) == pytest.approx(0.75)
    assert aalen_johansen(list(reversed(data))).at(30) == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("x", "n", "lower", "upper"),
    [
        (0, 3, 0.0, 0.7076),  # 1 − 0.025^(1/3)
        (3, 3, 0.2924, 1.0),  # 0.025^(1/3)
        (18, 20, 0.6830, 0.9877),  # R binom.test(18, 20)
    ],
)
def test_clopper_pearson(x, n, lower, upper):
    """§6: proportions carry exact Clopper–Pearson 95 % CIs."""
    p = clopper_pearson(x, n)
    assert (round(p.lower, 4), round(p.upper, 4)) == (lower, upper)
