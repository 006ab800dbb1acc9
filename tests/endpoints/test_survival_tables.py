"""CLINICAL_SPEC §8 survival and competing-risk examples THROUGH an endpoint run (issue 12): the
subjects are entered through the services (infusion, follow-up contacts, deaths, relapses at
the given day offsets) and the numbers are read from the run's tables. Ties between relapse and
death give the same answer on every run; the Kaplan–Meier rows agree with lifelines, which
§6 names (its median departs on flat steps at 0.5: tests/clinical/test_survival.py)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from lifelines import KaplanMeierFitter

from clinical.stats import percent
from tests.endpoints.conftest import make_world, now
from tests.endpoints.test_tables import find, run_at

pytestmark = pytest.mark.req("ISSUE-12")

#: Day 0 of every subject here; the cut-off lies after the last follow-up (day 500).
ORIGIN = date(2024, 6, 3)
CUT = ORIGIN + timedelta(days=600)

#: §8: 45†, 90, 120†, 150†, 200, 250†, 300, 365, 400, 500
FIRST_SET = [(45, True), (90, False), (120, True), (150, True), (200, False), (250, True)]
FIRST_SET += [(300, False), (365, False), (400, False), (500, False)]
#: §8: 30†, 60†, 90, 120†, 150†, 200, 240†, 300†, 330, 400
SECOND_SET = [(30, True), (60, True), (90, False), (120, True), (150, True), (200, False)]
SECOND_SET += [(240, True), (300, True), (330, False), (400, False)]
#: §8 competing risks (1 relapse, 2 death without relapse, 0 censored)
COMPETING = [(30, 0), (60, 1), (90, 2), (120, 1), (150, 0), (180, 1), (210, 2), (240, 0), (300, 1), (365, 0)]
COMPETING += [(400, 0), (450, 2)]


def on(days: int) -> date:
    return ORIGIN + timedelta(days=days)


def survival_study(code: str, times: list[tuple[int, bool]]):
    world = make_world(code)
    for days, died in times:
        subject = world.infused_on(ORIGIN)
        if died:
            world.death(subject, on(days), "disease")
        else:
            world.alive(subject, on(days))
    return world


def tables(run) -> dict[str, list[dict]]:
    return {table["key"]: table["rows"] for table in json.loads(run.results_json)["tables"]}


def test_first_survival_example_through_a_run_and_as_lifelines_computes_it(transactional_db):
    world = survival_study("os-one", FIRST_SET)
    found = tables(run_at(world, cutoff=CUT))
    summary = found["os_summary"]
    s365 = find(summary, statistic="survival_365")
    assert (s365["estimate"], s365["ci_lower"], s365["ci_upper"], s365["detail"]) == (
        "54.0",  # percent with its CI in percent, one decimal (issue 30); 0.5400, 0.1812–0.8007
        "18.1",
        "80.1",
        "S(365)",
    )
    median = find(summary, statistic="median_days")
    assert (median["estimate"], median["detail"]) == ("", "not reached")
    assert [find(summary, statistic=s)["estimate"] for s in ("subjects", "events", "censored")] == ["10", "4", "6"]
    km = found["os_km"]
    assert [(r["time"], r["at_risk"], r["events"], r["censored"], r["survival"]) for r in km] == [
        ("45", 10, 1, 0, "90.0"),
        ("90", 9, 0, 1, "90.0"),
        ("120", 8, 1, 0, "78.8"),
        ("150", 7, 1, 0, "67.5"),
        ("200", 6, 0, 1, "67.5"),
        ("250", 5, 1, 0, "54.0"),
        ("300", 4, 0, 1, "54.0"),
        ("365", 3, 0, 1, "54.0"),
        ("400", 2, 0, 1, "54.0"),
        ("500", 1, 0, 1, "54.0"),
    ]
    # months 0–12 at day round(m × 30.4375): 0 30 61 91 122 152 183 213 243 274 304 335 365
    assert [(r["month"], r["day"], r["at_risk"]) for r in found["os_at_risk"]] == [
        ("0", "0", 10),
        ("1", "30", 10),
        ("2", "61", 9),
        ("3", "91", 8),
        ("4", "122", 7),
        ("5", "152", 6),
        ("6", "183", 6),
        ("7", "213", 5),
        ("8", "244", 5),
        ("9", "274", 4),
        ("10", "304", 3),
        ("11", "335", 3),
        ("12", "365", 3),
    ]
    # lifelines (log(−log) interval, Greenwood) gives the same curve and bounds at every time
    fitter = KaplanMeierFitter().fit([t for t, _ in FIRST_SET], [d for _, d in FIRST_SET])
    ci = fitter.confidence_interval_survival_function_
    for row in km:
        t = int(row["time"])
        assert row["survival"] == percent(fitter.survival_function_.loc[t].iloc[0])
        assert row["ci_lower"] == percent(ci.loc[t].iloc[0])
        assert row["ci_upper"] == percent(ci.loc[t].iloc[1])
    assert fitter.median_survival_time_ == float("inf")  # not reached, as the run says


def test_second_survival_example_median_240_through_a_run(transactional_db):
    world = survival_study("os-two", SECOND_SET)
    summary = tables(run_at(world, cutoff=CUT))["os_summary"]
    median = find(summary, statistic="median_days")
    # S(240) = 0.4286 is the first ≤ 0.5; the lower log(−log) band is 0.4730 already at day 30,
    # the upper band never falls to 0.5 (R's quantile.survfit: 240, 30, NA).
    assert (median["estimate"], median["ci_lower"], median["ci_upper"], median["detail"]) == (
        "240.0",
        "30.0",
        "",
        "midpoint-of-flat-step",
    )
    fitter = KaplanMeierFitter().fit([t for t, _ in SECOND_SET], [d for _, d in SECOND_SET])
    assert fitter.median_survival_time_ == 240  # no flat step at 0.5 here, so lifelines agrees


def test_competing_risk_example_through_a_run(transactional_db):
    world = make_world("cif")
    for days, cause in COMPETING:
        subject = world.infused_on(ORIGIN)
        if cause == 1:
            world.relapse(subject, on(days))
        elif cause == 2:
            world.death(subject, on(days), "infection")
        else:
            world.alive(subject, on(days))
    found = tables(run_at(world, cutoff=CUT))
    summary = found["relapse_cif_summary"]
    assert [(r["statistic"], r["estimate"]) for r in summary] == [
        ("subjects", "12"),
        ("relapses", "4"),
        ("competing_deaths", "3"),
        ("incidence_365", "41.6"),  # 0.4156 (R survfit); 1 − KM would wrongly give 48.1
    ]
    cif = found["relapse_cif"]
    assert [(r["time"], r["at_risk"], r["relapses"], r["competing"], r["censored"], r["incidence"]) for r in cif] == [
        ("30", 12, 0, 0, 1, "0.0"),
        ("60", 11, 1, 0, 0, "9.1"),
        ("90", 10, 0, 1, 0, "9.1"),
        ("120", 9, 1, 0, 0, "18.2"),
        ("150", 8, 0, 0, 1, "18.2"),
        ("180", 7, 1, 0, 0, "28.6"),
        ("210", 6, 0, 1, 0, "28.6"),
        ("240", 5, 0, 0, 1, "28.6"),
        ("300", 4, 1, 0, 0, "41.6"),
        ("365", 3, 0, 0, 1, "41.6"),
        ("400", 2, 0, 0, 1, "41.6"),
        ("450", 1, 0, 1, 0, "41.6"),
    ]
    # issue 30: its 95% CI (log scale, infinitesimal-jackknife SE 0.1633 as R's survfit)
    year = find(summary, statistic="incidence_365")
    assert (year["ci_lower"], year["ci_upper"], year["detail"]) == ("19.2", "89.8", "F(365)")  # 0.1924–0.8977
    assert [(r["time"], r["ci_lower"], r["ci_upper"]) for r in cif][:3] == [
        ("30", "", ""),  # F = 0: no interval
        ("60", "1.4", "58.9"),  # 0.0140–0.5891
        ("90", "1.4", "58.9"),
    ]
    # numbers at risk of every curve at the same months (OS and the CIR here; no CR data, so
    # RFS and DOR have nobody; EFS: no day-28 CR, so every subject has its event at day 0)
    at_risk = found["at_risk"]
    assert [(r["month"], r["day"], r["os"], r["relapse_cif"], r["rfs"]) for r in at_risk][:5] == [
        ("0", "0", 12, 12, 0),
        ("1", "30", 12, 12, 0),
        ("2", "61", 10, 10, 0),
        ("3", "91", 9, 9, 0),
        ("4", "122", 8, 8, 0),
    ]


def tie_study(code: str, *, reverse: bool = False):
    """Four subjects: X relapses and dies on day 100; Y dies without relapse on day 100; Z
    relapses on day 50; W is alive on day 200."""
    world = make_world(code)
    steps = ["x", "y", "z", "w"]
    for name in reversed(steps) if reverse else steps:
        subject = world.infused_on(ORIGIN)
        if name == "x":
            world.relapse(subject, on(100))
            world.death(subject, on(100), "disease")
        elif name == "y":
            world.death(subject, on(100), "infection")
        elif name == "z":
            world.relapse(subject, on(50), blast_cd7_status="negative")
        else:
            world.alive(subject, on(200))
    return world


def test_relapse_and_death_on_the_same_day_give_the_same_answer_on_every_run(transactional_db):
    world = tie_study("ties")
    other = tie_study("ties-reversed", reverse=True)
    at = now()
    first, second = run_at(world, at, cutoff=CUT), run_at(world, at, cutoff=CUT)
    assert first.results_json == second.results_json and first.results_sha256 == second.results_sha256
    assert run_at(other, at, cutoff=CUT).results_json == first.results_json  # entered in another order
    cif = tables(first)["relapse_cif"]
    # day 50: Z relapses (1/4); day 100: X's relapse is its first event (cause 1), Y's death
    # competes, both counted together before any censoring: F = 0.25 + 0.75 × 1/3 = 0.5000.
    assert [(r["time"], r["at_risk"], r["relapses"], r["competing"], r["incidence"]) for r in cif] == [
        ("50", 4, 1, 0, "25.0"),
        ("100", 3, 1, 1, "50.0"),
        ("200", 1, 0, 0, "50.0"),
    ]
    os_rows = tables(first)["os_km"]
    assert [(r["time"], r["events"], r["survival"]) for r in os_rows] == [
        ("50", 0, "100.0"),
        ("100", 2, "33.3"),
        ("200", 0, "33.3"),
    ]
