"""Clopper–Pearson exact intervals for proportions (CLINICAL_SPEC §6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.stats import clopper_pearson

pytestmark = pytest.mark.req("CLINICAL_SPEC-6")


@pytest.mark.parametrize(
    ("successes", "total", "lower", "upper"),
    [
        (18, 20, 0.6830, 0.9877),  # R: binom.test(18, 20)
        (10, 20, 0.2720, 0.7280),
        (1, 24, 0.0011, 0.2112),
        (23, 24, 0.7888, 0.9989),
        (0, 24, 0.0, 0.1425),  # no responders: the lower bound is 0 exactly
        (24, 24, 0.8575, 1.0),  # all responders: the upper bound is 1 exactly
        (0, 1, 0.0, 0.975),
        (1, 1, 0.025, 1.0),
    ],
)
def test_clopper_pearson_literal_bounds(successes, total, lower, upper):
    result = clopper_pearson(successes, total)
    assert (round(result.lower, 4), round(result.upper, 4)) == (lower, upper)
    assert result.estimate == successes / total
    assert (result.ci, result.conf_level) == ("clopper-pearson", 0.95)


def test_edge_cases_have_closed_forms():
    # x = 0: upper = 1 − (α/2)^(1/n); x = n: lower = (α/2)^(1/n).
    none = clopper_pearson(0, 24)
    every = clopper_pearson(24, 24)
    assert none.lower == 0.0
    assert none.upper == pytest.approx(1 - 0.025 ** (1 / 24), abs=1e-12)
    assert every.upper == 1.0
    assert every.lower == pytest.approx(0.025 ** (1 / 24), abs=1e-12)


def test_conf_level_is_carried_and_widens_the_interval():
    ninety = clopper_pearson(18, 20, conf_level=0.90)
    ninety_five = clopper_pearson(18, 20)
    assert ninety.conf_level == 0.90
    assert ninety_five.lower < ninety.lower < 0.9 < ninety.upper < ninety_five.upper


@pytest.mark.parametrize(
    ("successes", "total", "conf_level", "message"),
    [
        (0, 0, 0.95, "at least one"),
        (-1, 20, 0.95, "between"),
        (21, 20, 0.95, "between"),
        (18, 20, 0.0, "conf_level"),
        (18, 20, 1.0, "conf_level"),
    ],
)
def test_impossible_proportions_are_refused(successes, total, conf_level, message):
    with pytest.raises(ValueError, match=message):
        clopper_pearson(successes, total, conf_level=conf_level)


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_interval_contains_the_estimate_and_is_symmetric_in_success_and_failure(case):
    successes, total = case
    result = clopper_pearson(successes, total)
    mirror = clopper_pearson(total - successes, total)
    assert 0.0 <= result.lower <= result.estimate <= result.upper <= 1.0
    assert result.lower == pytest.approx(1 - mirror.upper, abs=1e-12)


@pytest.mark.req("CLINICAL_SPEC-3.1")
@pytest.mark.parametrize(
    ("d", "n", "text"),
    [
        (0, 10, "0.0% (0.0–30.8%)"),  # R: binom.test(0, 10) → 0.0000–0.3085
        (3, 9, "33.3% (7.5–70.1%)"),  # binom.test(3, 9) → 0.0749–0.7007
        (4, 12, "33.3% (9.9–65.1%)"),  # binom.test(4, 12) → 0.0992–0.6511
        (2, 7, "28.6% (3.7–71.0%)"),
    ],
)
def test_dlt_rate_in_percent_with_its_exact_ci(d, n, text):
    from clinical.stats import percent_with_ci

    assert percent_with_ci(clopper_pearson(d, n)) == text


def test_percent_rounds_half_up_at_one_decimal():
    from clinical.stats import percent

    assert (percent(0.30849), percent(0.0005), percent(0.00049), percent(1.0)) == ("30.8", "0.1", "0.0", "100.0")
