"""ICAHT by EHA/EBMT 2023: carry forward, recovery gaps, longest run, early and late grades
(CLINICAL_SPEC §4.1 and the ICAHT worked examples of §8). Pure: no database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.icaht import AncValue, Run, daily_values, early_icaht, late_grade_of, late_icaht, longest_run

pytestmark = pytest.mark.req("CLINICAL_SPEC-4.1")

D = Decimal


def series(values: dict[int, str]) -> list[AncValue]:
    return [AncValue(day, D(v)) for day, v in values.items()]


def daily(first: int, last: int, value: str) -> dict[int, str]:
    return dict.fromkeys(range(first, last + 1), value)


# --- §8 worked examples -----------------------------------------------------------------------


def test_s8_anc_le_500_on_days_1_to_5_only_is_early_g1() -> None:
    result = early_icaht(series({0: "1.2", **daily(1, 5, "0.4"), **daily(6, 30, "1.5")}))
    assert (result.grade, result.run_500) == (1, Run(1, 5))


def test_s8_anc_le_500_on_days_0_to_10_is_early_g2() -> None:
    result = early_icaht(series({**daily(0, 10, "0.3"), **daily(11, 30, "2.0")}))
    assert (result.grade, result.run_500) == (2, Run(0, 10))


def test_s8_20_days_including_3_days_le_100_is_early_g3() -> None:
    anc = {**daily(0, 19, "0.3"), 5: "0.05", 6: "0.05", 7: "0.05", **daily(20, 30, "1.8")}
    result = early_icaht(series(anc))
    assert (result.grade, result.run_500.days if result.run_500 else None) == (3, 20)
    assert result.run_100 == Run(5, 7)


def test_s8_le_100_for_14_days_is_early_g4() -> None:
    result = early_icaht(series({**daily(0, 13, "0.08"), **daily(14, 30, "0.9")}))
    assert (result.grade, result.run_100) == (4, Run(0, 13))


def test_s8_anc_600_to_900_throughout_is_no_early_icaht() -> None:
    anc = {day: ("0.6", "0.75", "0.9")[day % 3] for day in range(0, 31)}
    result = early_icaht(series(anc))
    assert (result.grade, result.run_500, result.run_100) == (0, None, None)


def test_s8_day_60_anc_0_8_confirmed_is_late_g2() -> None:
    result = late_icaht(series({60: "0.8", 67: "0.8"}))
    assert (result.grade, result.confirming_days) == (2, (60, 67))


def test_s8_per_microlitre_series_with_one_day_gap_is_one_14_day_run_early_g3() -> None:
    # ANC/µL day 0 400, day 5 600, day 6 300, day 14 800 and above 500 after (÷1000 → ×10⁹/L).
    anc = {0: "0.400", 5: "0.600", 6: "0.300", 14: "0.800", 21: "1.100", 30: "1.900"}
    result = early_icaht(series(anc))
    assert (result.grade, result.run_500) == (3, Run(0, 13))
    assert result.run_500 is not None and result.run_500.days == 14


# --- thresholds and counting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anc", "low"),
    [("0.5", True), ("0.500", True), ("0.501", False), ("0.49", True), ("0.1", True), ("0", True)],
)
def test_500_threshold_is_at_or_below(anc: str, low: bool) -> None:
    result = early_icaht(series({0: anc, 1: "2.0"}))
    assert result.grade == (1 if low else 0)


@pytest.mark.parametrize(
    ("low_days", "grade"),
    [(1, 1), (6, 1), (7, 2), (13, 2), (14, 3), (29, 3), (30, 3)],
)
def test_early_run_length_bands(low_days: int, grade: int) -> None:
    """< 7 G1, 7–13 G2, 14–30 G3 when the count recovers inside the window."""
    anc = {**daily(0, low_days - 1, "0.3"), **daily(low_days, 30, "1.0")}
    assert early_icaht(series(anc)).grade == grade


def test_never_recovering_30_days_is_g4() -> None:
    assert early_icaht(series(daily(0, 30, "0.3"))).grade == 4
    assert early_icaht(series(daily(1, 30, "0.3"))).grade == 4


def test_30_day_run_recovering_on_day_30_is_g3() -> None:
    assert early_icaht(series({**daily(0, 29, "0.3"), 30: "0.6"})).grade == 3


@pytest.mark.parametrize(
    ("days_le_100", "grade"),
    [(6, 1), (7, 3), (13, 3), (14, 4)],
)
def test_le_100_run_bands(days_le_100: int, grade: int) -> None:
    """≤ 100/µL for ≥ 7 days G3, ≥ 14 days G4; the ≤ 500 run alone is shorter here."""
    anc = {**daily(0, days_le_100 - 1, "0.1"), **daily(days_le_100, 30, "0.7")}
    assert early_icaht(series(anc)).grade == grade


def test_le_100_threshold_is_at_or_below() -> None:
    assert early_icaht(series({**daily(0, 6, "0.101"), 7: "0.7"})).run_100 is None
    assert early_icaht(series({**daily(0, 6, "0.100"), 7: "0.7"})).grade == 3


def test_the_worse_criterion_wins() -> None:
    # ≤ 500 for 8 days (G2) but ≤ 100 on 7 of them (G3).
    anc = {0: "0.4", **daily(1, 7, "0.05"), 8: "0.9"}
    assert early_icaht(series(anc)).grade == 3


@pytest.mark.parametrize(("gap", "run_days"), [(1, 12), (2, 13), (3, 6)])
def test_recovery_gaps_under_3_days_do_not_interrupt_and_count(gap: int, run_days: int) -> None:
    """Low days 0–4, then `gap` days > 500, then 6 low days: gaps of 1–2 days join the runs."""
    anc = {**daily(0, 4, "0.2"), **daily(5, 4 + gap, "0.8")}
    anc.update(daily(5 + gap, 10 + gap, "0.2"))
    anc.update(daily(11 + gap, 30, "1.2"))
    result = early_icaht(series(anc))
    assert result.run_500 is not None and result.run_500.days == run_days


def test_carry_forward_holds_a_value_until_the_next_measurement() -> None:
    assert daily_values(series({0: "0.3", 4: "0.9", 6: "0.2"}), first=0, last=30) == {
        0: D("0.3"),
        1: D("0.3"),
        2: D("0.3"),
        3: D("0.3"),
        4: D("0.9"),
        5: D("0.9"),
        6: D("0.2"),
    }


def test_longest_run_takes_the_longest_not_the_first() -> None:
    low = {day: D("0.2") for day in (*range(0, 3), *range(10, 19))}
    daily_map = {day: low.get(day, D("1.0")) for day in range(0, 25)}
    assert longest_run(daily_map, D("0.5")) == Run(10, 18)


def test_several_values_on_a_day_the_lowest_counts() -> None:
    result = early_icaht([AncValue(0, D("0.9")), AncValue(0, D("0.4")), AncValue(1, D("0.9"))])
    assert result.grade == 1


# --- sparse data --------------------------------------------------------------------------------


def test_no_anc_in_days_0_to_30_is_not_assessable() -> None:
    result = early_icaht(series({-3: "0.1", 45: "0.2"}))
    assert (result.grade, result.values_used) == (None, 0)


def test_a_single_low_value_counts_one_day_only() -> None:
    """The last value holds through its own day: sparse data are never extrapolated."""
    result = early_icaht(series({12: "0.05"}))
    assert (result.grade, result.run_500, result.values_used) == (1, Run(12, 12), 1)


def test_sparse_weekly_values_carry_forward_between_measurements() -> None:
    # Day 0 0.3 and day 14 0.3, then day 21 1.5: low from day 0 through day 20 = 21 days → G3.
    result = early_icaht(series({0: "0.3", 14: "0.3", 21: "1.5"}))
    assert (result.grade, result.run_500) == (3, Run(0, 20))


def test_values_before_day_0_are_not_carried_into_the_window() -> None:
    result = early_icaht(series({-5: "0.05", -3: "0.05", 3: "1.2", 4: "1.3"}))
    assert (result.grade, result.values_used) == (0, 2)


# --- late ICAHT ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anc", "grade"),
    [
        ("1.51", 0),
        ("1.5", 1),
        ("1.01", 1),
        ("1.0", 2),
        ("0.51", 2),
        ("0.5", 3),
        ("0.11", 3),
        ("0.1", 4),
        ("0", 4),
    ],
)
def test_late_grade_thresholds(anc: str, grade: int) -> None:
    assert late_grade_of(D(anc)) == grade
    assert late_icaht(series({40: anc, 47: anc})).grade == grade


def test_late_grade_is_the_less_severe_of_the_confirming_pair() -> None:
    assert late_icaht(series({45: "0.08", 52: "0.9"})).grade == 2


def test_late_needs_two_values() -> None:
    result = late_icaht(series({60: "0.3"}))
    assert (result.grade, result.values_used) == (None, 1)


def test_day_30_belongs_to_early_not_late() -> None:
    assert late_icaht(series({30: "0.3", 31: "0.3"})).grade is None


def test_late_worst_consecutive_pair_counts_not_isolated_dips() -> None:
    # An isolated 0.05 between normal values is not confirmed.
    assert late_icaht(series({35: "2.0", 42: "0.05", 49: "2.0"})).grade == 0


def test_late_values_explained_by_relapse_are_excluded() -> None:
    anc = {40: "2.1", 60: "0.4", 67: "0.3"}
    assert late_icaht(series(anc)).grade == 3
    assert late_icaht(series(anc), relapse_day=60).grade is None


# --- properties ---------------------------------------------------------------------------------

anc_values = st.decimals(min_value=D("0"), max_value=D("3"), places=2)
anc_series = st.dictionaries(st.integers(min_value=-3, max_value=80), anc_values, min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(anc_series, st.data())
def test_a_lower_anc_never_lowers_the_grade(values: dict[int, Decimal], data: st.DataObject) -> None:
    day = data.draw(st.sampled_from(sorted(values)))
    lowered = dict(values)
    lowered[day] = data.draw(st.decimals(min_value=D("0"), max_value=values[day], places=2))
    before = [AncValue(d, v) for d, v in values.items()]
    after = [AncValue(d, v) for d, v in lowered.items()]
    assert (early_icaht(after).grade or 0) >= (early_icaht(before).grade or 0)
    assert (late_icaht(after).grade or 0) >= (late_icaht(before).grade or 0)


@settings(max_examples=200, deadline=None)
@given(anc_series)
def test_order_of_entry_does_not_matter(values: dict[int, Decimal]) -> None:
    forward = [AncValue(d, v) for d, v in values.items()]
    assert early_icaht(forward) == early_icaht(list(reversed(forward)))
    assert late_icaht(forward) == late_icaht(list(reversed(forward)))


@settings(max_examples=200, deadline=None)
@given(anc_series)
def test_counts_above_500_never_give_early_icaht(values: dict[int, Decimal]) -> None:
    raised = [AncValue(d, v + D("0.51")) for d, v in values.items()]
    assert early_icaht(raised).grade in (None, 0)
