"""Time-to-event: days and months, OS censoring, Kaplan–Meier and its median, Aalen–Johansen
(CLINICAL_SPEC §5.3, §6, §8), cross-checked against lifelines where lifelines follows §6."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import AalenJohansenFitter, KaplanMeierFitter

from clinical.survival import (
    DAYS_PER_MONTH,
    FLAT_STEP_TOLERANCE,
    CompetingRiskObservation,
    Observation,
    RelapseOutcome,
    _first_crossing,  # the median rule on a bare curve, for its boundaries
    aalen_johansen,
    days_between,
    days_to_months,
    kaplan_meier,
    overall_survival_time,
)

pytestmark = pytest.mark.req("CLINICAL_SPEC-6")

# §8 worked examples; True = death (†), False = censored.
EXAMPLE_A = [(45, True), (90, False), (120, True), (150, True), (200, False),
             (250, True), (300, False), (365, False), (400, False), (500, False)]  # fmt: skip
EXAMPLE_B = [(30, True), (60, True), (90, False), (120, True), (150, True),
             (200, False), (240, True), (300, True), (330, False), (400, False)]  # fmt: skip
# 1 relapse, 2 death without relapse, 0 censored.
EXAMPLE_C = [(30, 0), (60, 1), (90, 2), (120, 1), (150, 0), (180, 1),
             (210, 2), (240, 0), (300, 1), (365, 0), (400, 0), (450, 2)]  # fmt: skip
# Ties of every kind: deaths with deaths, deaths with censorings, at the first and last times.
TIED = [(10, True), (10, True), (10, False), (25, True), (25, False), (25, False), (40, True),
        (40, True), (55, False), (70, True), (70, False), (90, False)]  # fmt: skip
# Twenty subjects, one every 5 days, every fifth censored: the curve and both bands cross 0.5
# without a flat step there.
TWENTY = [(5 * k, k % 5 != 0) for k in range(1, 21)]


def km(data):
    return kaplan_meier([Observation(time=t, event=e) for t, e in data])


def lifelines_km(data):
    return KaplanMeierFitter().fit([t for t, _ in data], [e for _, e in data])


def competing(data):
    return [CompetingRiskObservation(time=t, cause=c) for t, c in data]


# --- Days and months (§5.3) -------------------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.parametrize(
    ("earlier", "later", "days"),
    [
        (date(2025, 3, 3), date(2025, 3, 3), 0),  # event on the origin day is day 0, not 1
        (date(2025, 3, 3), date(2025, 3, 4), 1),
        (date(2024, 2, 28), date(2024, 3, 1), 2),  # leap day counted
        (date(2025, 2, 28), date(2025, 3, 1), 1),
        (date(2025, 1, 1), date(2026, 1, 1), 365),
    ],
)
def test_days_are_later_minus_earlier_without_plus_one(earlier, later, days):
    assert days_between(earlier, later) == days


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_a_later_date_before_the_earlier_is_refused():
    with pytest.raises(ValueError, match="before"):
        days_between(date(2025, 3, 4), date(2025, 3, 3))


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.parametrize(
    ("days", "months"),
    [(0, 0.0), (30.4375, 1.0), (365.25, 12.0), (730.5, 24.0), (365, 11.9918), (30, 0.9856), (31, 1.0185)],
)
def test_months_are_days_over_30_4375(days, months):
    assert DAYS_PER_MONTH == 30.4375
    assert days_to_months(days) == pytest.approx(months, abs=5e-5)


# --- Overall-survival censoring (§6) ---------------------------------------------------------

INFUSION = date(2025, 1, 10)
CUTOFF = date(2025, 12, 31)


@pytest.mark.parametrize(
    ("death", "last_alive", "end", "event"),
    [
        (date(2025, 6, 1), date(2025, 5, 20), date(2025, 6, 1), True),
        (CUTOFF, date(2025, 12, 1), CUTOFF, True),  # death on the cut-off day counts
        (date(2026, 1, 1), date(2025, 9, 1), CUTOFF, False),  # death the day after: alive at cut-off
        (INFUSION, INFUSION, INFUSION, True),  # death on day 0 → 0 days
        (None, date(2025, 9, 1), date(2025, 9, 1), False),  # censored at last known alive
        (None, CUTOFF, CUTOFF, False),
        (None, date(2026, 1, 1), CUTOFF, False),  # later contacts never extend follow-up
        (None, date(2026, 6, 30), CUTOFF, False),
        (None, INFUSION, INFUSION, False),
    ],
)
def test_os_event_or_censoring_at_min_of_last_known_alive_and_cutoff(death, last_alive, end, event):
    tte = overall_survival_time(
        infusion_date=INFUSION, cutoff_date=CUTOFF, last_known_alive=last_alive, death_date=death
    )
    assert (tte.end, tte.event) == (end, event)
    assert tte.days == (end - INFUSION).days
    assert tte.months == pytest.approx(tte.days / 30.4375)
    assert tte.as_observation() == Observation(time=tte.days, event=event)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cutoff_date": date(2025, 1, 9), "last_known_alive": INFUSION}, "cut-off"),
        ({"cutoff_date": CUTOFF, "last_known_alive": date(2025, 1, 9)}, "last known alive"),
        ({"cutoff_date": CUTOFF, "last_known_alive": INFUSION, "death_date": date(2025, 1, 9)}, "death"),
        ({"cutoff_date": CUTOFF, "last_known_alive": date(2025, 7, 2), "death_date": date(2025, 7, 1)}, "after"),
    ],
)
def test_impossible_dates_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        overall_survival_time(infusion_date=INFUSION, **kwargs)


# --- Kaplan–Meier: §8 worked examples ---------------------------------------------------------


@pytest.mark.req("CLINICAL_SPEC-8")
def test_example_a_one_year_os_and_log_log_ci():
    curve = km(EXAMPLE_A)
    one_year = curve.at(365)
    assert one_year is not None
    assert round(one_year.survival, 4) == 0.5400
    assert (round(one_year.lower, 4), round(one_year.upper, 4)) == (0.1812, 0.8007)
    assert (one_year.ci, one_year.conf_level) == ("log-log", 0.95)
    assert (curve.variance_method, curve.ci, curve.ties) == ("greenwood", "log-log", "events-before-censorings")


@pytest.mark.req("CLINICAL_SPEC-8")
def test_example_a_median_not_reached():
    median = km(EXAMPLE_A).median()
    assert median.reached is False
    assert median.estimate is None
    # The lower band is already ≤ 0.5 at the first death (0.4730); the upper band never is.
    assert (median.lower, median.upper) == (45, None)
    assert (median.rule, median.ci_method, median.ci) == ("midpoint-of-flat-step", "brookmeyer-crowley", "log-log")


@pytest.mark.req("CLINICAL_SPEC-8")
def test_example_b_median_240():
    median = km(EXAMPLE_B).median()
    assert median.estimate == 240
    assert (median.lower, median.upper) == (30, None)


def test_greenwood_variance_written_out_for_example_a():
    row = next(row for row in km(EXAMPLE_A).rows if row.time == 250)
    greenwood = 1 / (10 * 9) + 1 / (8 * 7) + 1 / (7 * 6) + 1 / (5 * 4)
    assert (row.at_risk, row.events, row.censored) == (5, 1, 0)
    assert row.variance == pytest.approx(0.54**2 * greenwood, rel=1e-12)
    z = 1.959963984540054
    spread = z * math.sqrt(greenwood) / abs(math.log(0.54))
    assert row.lower == pytest.approx(0.54 ** math.exp(spread), rel=1e-12)
    assert row.upper == pytest.approx(0.54 ** math.exp(-spread), rel=1e-12)


# --- S(t): a right-continuous step function ---------------------------------------------------


@pytest.mark.parametrize(
    ("time", "survival"),
    [
        (0, 1.0),
        (44, 1.0),
        (44.999, 1.0),
        (45, 0.9),  # a death at t is already in S(t)
        (119, 0.9),
        (120, 0.7875),
        (149.5, 0.7875),
        (150, 0.675),
        (249, 0.675),
        (250, 0.54),
        (365, 0.54),
        (500, 0.54),  # the last follow-up time itself
    ],
)
def test_survival_is_a_right_continuous_step(time, survival):
    at = km(EXAMPLE_A).at(time)
    assert at is not None
    assert at.survival == pytest.approx(survival, abs=1e-12)


def test_before_the_first_death_the_interval_is_degenerate_at_one():
    at = km(EXAMPLE_A).at(10)
    assert (at.survival, at.lower, at.upper) == (1.0, 1.0, 1.0)


def test_no_extrapolation_past_follow_up_unless_the_curve_reached_zero():
    assert km(EXAMPLE_A).at(500.5) is None
    all_died = km([(10, True), (20, True)])
    at = all_died.at(1000)
    assert at is not None
    assert (at.survival, at.lower, at.upper) == (0.0, None, None)  # Greenwood undefined at S = 0 (R: NA)


@pytest.mark.parametrize("time", [-1, math.nan, math.inf])
def test_impossible_times_are_refused(time):
    with pytest.raises(ValueError, match="time"):
        Observation(time=time, event=True)
    with pytest.raises(ValueError, match="time"):
        km(EXAMPLE_A).at(time)


def test_no_observations_is_refused():
    with pytest.raises(ValueError, match="no observations"):
        kaplan_meier([])


def test_censored_at_a_death_time_are_still_at_risk_for_it():
    curve = km([(10, True), (10, False), (20, True)])
    first = curve.rows[0]
    assert (first.time, first.at_risk, first.events, first.censored) == (10, 3, 1, 1)
    assert first.survival == pytest.approx(2 / 3)
    assert curve.rows[1].at_risk == 1


# --- Median: the flat step at exactly 0.5 -----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "median"),
    [
        # S = 0.75, 0.5 from 20, flat through the censoring at 30, drop at 40 → midpoint 30.
        ([(10, True), (20, True), (30, False), (40, True)], 30),
        # S = 0.5 from 10 to the end of follow-up at 20 → (10 + 20) / 2, as R reports it.
        ([(10, True), (20, False)], 15),
        ([(1, True), (2, True), (3, True), (4, False), (5, False), (6, False)], 4.5),
        # S = 0.5 from 3 to the next death at 5: 5/6 × 4/5 × 3/4.
        ([(1, True), (2, True), (3, True), (4, False), (5, True), (6, False)], 4),
        # Crossing below 0.5 without a flat step: the time of the drop.
        ([(10, True), (20, True), (30, True), (40, False), (50, False)], 30),
        ([(10, True), (10, True), (20, False)], 10),  # S falls from 1 to 1/3 at once
        # S never reaches 0.5.
        ([(10, True), (20, False), (30, False)], None),
    ],
)
def test_median_is_first_time_at_or_below_half_or_middle_of_flat_step(data, median):
    assert km(data).median().estimate == median


def test_flat_step_at_half_differs_from_lifelines_on_purpose():
    data = [(10, True), (20, True), (30, False), (40, True)]
    assert km(data).median().estimate == 30
    assert lifelines_km(data).median_survival_time_ == 20  # lifelines takes the step's start


# 34 subjects, one death a day on days 1–17: S(17) = 17/34 in exact arithmetic, but the product
# of the 17 factors is 0.4999999999999999 in binary; with 24 subjects and 12 deaths it is
# 0.5000000000000001. Both are the flat step at 0.5 that §6 means.
BELOW_HALF_BY_ROUNDING = (
    [(d, True) for d in range(1, 18)] + [(18, False), (20, True)] + [(d, False) for d in range(21, 36)]
)
ABOVE_HALF_BY_ROUNDING = [(d, True) for d in range(1, 13)] + [(d, False) for d in range(30, 42)]


def test_rounding_error_of_the_product_does_not_hide_a_flat_step_at_half():
    assert math.isclose(FLAT_STEP_TOLERANCE, 1.4901161193847656e-08)  # sqrt(eps), as R
    below = km(BELOW_HALF_BY_ROUNDING)
    above = km(ABOVE_HALF_BY_ROUNDING)
    assert len(BELOW_HALF_BY_ROUNDING) == 34
    assert below.at(17).survival == 0.4999999999999999
    assert above.at(12).survival == 0.5000000000000001
    assert below.median().estimate == (17 + 20) / 2
    assert above.median().estimate == (12 + 41) / 2  # flat to the last follow-up time


TOL = FLAT_STEP_TOLERANCE


@pytest.mark.parametrize(
    ("curve", "median"),
    [
        ([0.5 + 2 * TOL, 0.5 + 2 * TOL, 0.5 + 2 * TOL], None),  # above 0.5 beyond the tolerance
        ([0.5 + 2 * TOL, 0.5 + 2 * TOL, 0.2], 30),  # … until the drop at 30
        ([0.5 + TOL / 2, 0.5 + TOL / 2, 0.2], 20),  # within it: middle of the step 10–30
        ([0.5, 0.5, 0.2], 20),
        ([0.5 - TOL / 2, 0.5 - TOL / 2, 0.2], 20),
        ([0.5 - 2 * TOL, 0.5 - 2 * TOL, 0.2], 10),  # below 0.5 beyond the tolerance: the drop itself
        ([0.5, 0.5, 0.5], 25),  # flat to the end: middle of 10 and the last follow-up at 40
        ([0.5, None, None], 25),  # undefined band points are skipped
    ],
)
def test_flat_step_tolerance_boundaries(curve, median):
    # The rule on a bare curve: 1 before 10, then `curve` at 10, 20 and 30; follow-up ends at 40.
    assert _first_crossing([10, 20, 30], curve, 40) == median


# --- Cross-check with lifelines (its default interval is also log(−log)) ----------------------


@pytest.mark.parametrize("data", [EXAMPLE_A, EXAMPLE_B, TIED, TWENTY], ids=["a", "b", "tied", "twenty"])
def test_survival_and_ci_agree_with_lifelines(data):
    ours = km(data)
    theirs = lifelines_km(data)
    survival = theirs.survival_function_["KM_estimate"]
    band = theirs.confidence_interval_
    for row in ours.rows:
        assert row.survival == pytest.approx(survival.loc[row.time], abs=1e-12)
        if row.survival > 0:
            assert row.lower == pytest.approx(band["KM_estimate_lower_0.95"].loc[row.time], abs=1e-9)
            assert row.upper == pytest.approx(band["KM_estimate_upper_0.95"].loc[row.time], abs=1e-9)


@pytest.mark.parametrize("data", [EXAMPLE_A, EXAMPLE_B, TWENTY], ids=["a", "b", "twenty"])
def test_median_and_its_ci_agree_with_lifelines_when_no_step_sits_at_half(data):
    from lifelines.utils import median_survival_times

    ours = km(data).median()
    theirs = lifelines_km(data)
    limits = median_survival_times(theirs.confidence_interval_)

    def none_for_inf(value):
        return None if math.isinf(value) else value

    assert ours.estimate == none_for_inf(theirs.median_survival_time_)
    assert ours.lower == none_for_inf(limits["KM_estimate_lower_0.95"].iloc[0])
    assert ours.upper == none_for_inf(limits["KM_estimate_upper_0.95"].iloc[0])


def test_twenty_subjects_median_ci_is_closed():
    curve = km(TWENTY)
    median = curve.median()
    assert (median.estimate, median.lower, median.upper) == (60, 30, 85)
    # The upper band is 0.5008 at 80, just above 0.5, so the upper limit waits for 85.
    assert round(curve.at(80).upper, 4) == 0.5008
    assert curve.at(85).upper < 0.5


# --- Aalen–Johansen cumulative incidence of relapse (§5.3) ------------------------------------


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.req("CLINICAL_SPEC-8")
def test_example_c_cumulative_incidence_of_relapse_at_365():
    cif = aalen_johansen(competing(EXAMPLE_C), cause=RelapseOutcome.RELAPSE)
    assert round(cif.at(365), 4) == 0.4156
    assert cif.at(365) == pytest.approx(32 / 77, abs=1e-12)
    assert (cif.method, cif.ties, cif.cause) == ("aalen-johansen", "events-before-censorings", 1)


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.req("CLINICAL_SPEC-8")
def test_example_c_is_not_one_minus_km():
    one_minus_km = 1 - km([(t, c == RelapseOutcome.RELAPSE) for t, c in EXAMPLE_C]).at(365).survival
    assert round(one_minus_km, 4) == 0.4805  # the wrong answer §8 warns about
    cif = aalen_johansen(competing(EXAMPLE_C)).at(365)
    assert round(cif, 4) != round(one_minus_km, 4)
    assert cif < one_minus_km


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.parametrize(
    ("time", "incidence"),
    [(0, 0.0), (59, 0.0), (60, 1 / 11), (119, 1 / 11), (120, 2 / 11), (180, 22 / 77), (299, 22 / 77), (300, 32 / 77),
     (450, 32 / 77)],
)  # fmt: skip
def test_cumulative_incidence_is_a_right_continuous_step(time, incidence):
    assert aalen_johansen(competing(EXAMPLE_C)).at(time) == pytest.approx(incidence, abs=1e-12)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_relapse_death_and_event_free_sum_to_one():
    relapse = aalen_johansen(competing(EXAMPLE_C), cause=RelapseOutcome.RELAPSE)
    death = aalen_johansen(competing(EXAMPLE_C), cause=RelapseOutcome.NON_RELAPSE_DEATH)
    for r, d in zip(relapse.rows, death.rows, strict=True):
        assert r.incidence + d.incidence + r.event_free == pytest.approx(1.0, abs=1e-12)
    assert death.at(450) == pytest.approx(1 - relapse.at(450), abs=1e-12)  # last subject dies: S = 0


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_example_c_agrees_with_lifelines_where_there_are_no_ties_to_jitter():
    times = [t for t, _ in EXAMPLE_C]
    fitter = AalenJohansenFitter(calculate_variance=False).fit(times, [c for _, c in EXAMPLE_C], event_of_interest=1)
    theirs = fitter.cumulative_density_.iloc[:, 0]
    ours = aalen_johansen(competing(EXAMPLE_C))
    for row in ours.rows:
        assert row.incidence == pytest.approx(theirs.loc[row.time], abs=1e-12)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_tied_times_are_deterministic_events_before_censorings():
    # At 10: relapse and a censoring (still at risk): 1/4. At 20: death, n = 2 → S = 3/8.
    # At 30: relapse, n = 1 → + 3/8. Censorings first would give 1/3 at 10 instead.
    data = [(10, 1), (10, 0), (20, 2), (30, 1)]
    cif = aalen_johansen(competing(data))
    assert [row.at_risk for row in cif.rows] == [4, 2, 1]
    assert (cif.at(10), cif.at(30)) == (pytest.approx(0.25), pytest.approx(0.625))
    assert aalen_johansen(competing(list(reversed(data)))) == cif


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_relapse_and_death_tied_at_one_time_both_leave_the_risk_set():
    # n = 4 at 10: one relapse and one death → F = 1/4, S = 1/2; then relapse at 20 with n = 2 → + 1/4.
    cif = aalen_johansen(competing([(10, 1), (10, 2), (20, 1), (30, 0)]))
    assert (cif.rows[0].events, cif.rows[0].competing_events) == (1, 1)
    assert cif.at(20) == pytest.approx(0.5)
    assert cif.at(30.5) is None  # past follow-up with subjects still event-free


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"time": 10, "cause": -1}, "cause"), ({"time": -1, "cause": 1}, "time")],
)
def test_impossible_competing_observations_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CompetingRiskObservation(**kwargs)


@pytest.mark.req("CLINICAL_SPEC-5.3")
def test_cause_of_interest_must_be_an_event():
    with pytest.raises(ValueError, match="cause"):
        aalen_johansen(competing(EXAMPLE_C), cause=0)


observations = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 2)), min_size=1, max_size=40)


@pytest.mark.req("CLINICAL_SPEC-5.3")
@settings(max_examples=200, deadline=None)
@given(observations)
def test_without_a_competing_cause_aalen_johansen_is_one_minus_km(data):
    single_cause = [(t, min(c, 1)) for t, c in data]
    cif = aalen_johansen(competing(single_cause))
    curve = km([(t, c == 1) for t, c in single_cause])
    for cif_row, km_row in zip(cif.rows, curve.rows, strict=True):
        assert cif_row.incidence == pytest.approx(1 - km_row.survival, abs=1e-12)


@pytest.mark.req("CLINICAL_SPEC-5.3")
@settings(max_examples=200, deadline=None)
@given(observations)
def test_incidence_never_exceeds_one_minus_km_with_competitors_censored(data):
    cif = aalen_johansen(competing(data))
    naive = km([(t, c == 1) for t, c in data])
    for cif_row, km_row in zip(cif.rows, naive.rows, strict=True):
        assert cif_row.incidence <= 1 - km_row.survival + 1e-12
        assert 0 <= cif_row.incidence <= 1 + 1e-12  # floating-point sums may overshoot by an ulp


@pytest.mark.req("CLINICAL_SPEC-5.3")
@pytest.mark.req("CLINICAL_SPEC-8")
@pytest.mark.req("ISSUE-30")
def test_example_c_incidence_365_with_infinitesimal_jackknife_se_and_log_ci():
    """R (survival 3.5-3): survfit(Surv(time, factor(cause, 0:2)) ~ 1) on §8's data gives
    pstate 0.4156, std.err 0.1633 (infinitesimal jackknife), 95% CI (log) 0.1924–0.8977."""
    at = aalen_johansen(competing(EXAMPLE_C)).interval_at(365)
    assert (round(at.incidence, 4), round(at.std_error, 4), round(at.lower, 4), round(at.upper, 4)) == (
        0.4156,
        0.1633,
        0.1924,
        0.8977,
    )
    assert (at.variance, at.ci, at.conf_level) == ("infinitesimal-jackknife", "log", 0.95)


@pytest.mark.req("ISSUE-30")
def test_incidence_variance_is_the_sum_of_squared_weight_derivatives():
    """The IJ variance is Σᵢ (∂F/∂wᵢ)²: checked against central finite differences of the
    weighted Aalen–Johansen estimate written out directly (subject weights 1 ± h)."""

    def weighted_f(weights, data, until):
        event_free, incidence = 1.0, 0.0
        for time in sorted({t for t, _c in data}):
            if time > until:
                break
            n = sum(w for w, (t, _c) in zip(weights, data, strict=True) if t >= time)
            d1 = sum(w for w, (t, c) in zip(weights, data, strict=True) if t == time and c == 1)
            d = sum(w for w, (t, c) in zip(weights, data, strict=True) if t == time and c != 0)
            incidence += event_free * d1 / n
            event_free *= 1 - d / n
        return incidence

    data = [(10, 1), (10, 0), (20, 2), (30, 1), (30, 2), (45, 0), (50, 1), (60, 0)]
    h = 1e-6
    for until in (10, 30, 50):
        squares = 0.0
        for i in range(len(data)):
            up = [1.0 + (h if j == i else 0.0) for j in range(len(data))]
            down = [1.0 - (h if j == i else 0.0) for j in range(len(data))]
            squares += ((weighted_f(up, data, until) - weighted_f(down, data, until)) / (2 * h)) ** 2
        at = aalen_johansen(competing(data)).interval_at(until)
        assert at.std_error == pytest.approx(squares**0.5, abs=1e-7)


@pytest.mark.req("ISSUE-30")
def test_no_interval_while_the_incidence_is_zero_and_the_upper_bound_is_capped_at_one():
    cif = aalen_johansen(competing([(5, 0), (10, 1), (12, 1)]))
    first = cif.interval_at(5)
    assert (first.incidence, first.lower, first.upper) == (0.0, None, None)
    assert cif.interval_at(0).std_error is None
    assert cif.interval_at(12).upper == 1.0  # never above 1
