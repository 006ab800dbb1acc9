"""CTCAE v5.0 Fever over a subject's readings (CLINICAL_SPEC §3; issue 27 item 5): grades 1–2 from
the value, "38.0 - 39.0 / >39.0 - 40.0 / >40.0 for <=24 hrs / >40.0 for >24 hrs" — grades 3 and 4
only where the recorded times bound the time above 40.0 °C."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from clinical.ctcae import TemperatureReading, grade_fever_course

pytestmark = pytest.mark.req("CLINICAL_SPEC-3")

T0 = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("celsius", "grade"),
    [("37.9", 0), ("38.0", 1), ("39.0", 1), ("39.1", 2), ("40.0", 2)],
)
def test_up_to_40_the_value_alone_grades(celsius, grade):
    assert grade_fever_course([TemperatureReading(at(0), D(celsius))], 0).grade == grade


def test_no_temperature_no_grade():
    assert grade_fever_course([TemperatureReading(at(0), None)], 0) is None


def test_above_40_alone_is_not_graded():
    result = grade_fever_course([TemperatureReading(at(0), D("40.1"))], 0)
    assert result.grade is None
    assert "duration" in result.reason


def test_above_40_bounded_within_24_hours_is_grade_3():
    readings = [
        TemperatureReading(at(0), D("39.5")),
        TemperatureReading(at(6), D("40.1")),
        TemperatureReading(at(12), D("40.6")),
        TemperatureReading(at(24), D("38.2")),  # 24 h after the reading before the run: at most 24 h
    ]
    assert [grade_fever_course(readings, i).grade for i in range(4)] == [2, 3, 3, 1]


def test_bounds_straddling_24_hours_are_not_graded():
    readings = [
        TemperatureReading(at(0), D("39.5")),
        TemperatureReading(at(6), D("40.1")),
        TemperatureReading(at(24.5), D("38.2")),  # at least 0 h, at most 24 h 30 min
    ]
    result = grade_fever_course(readings, 1)
    assert result.grade is None
    assert "between" in result.reason


def test_above_40_for_more_than_24_hours_is_grade_4():
    readings = [
        TemperatureReading(at(0), D("40.2")),
        TemperatureReading(at(12), D("40.4")),
        TemperatureReading(at(24), D("40.1")),  # exactly 24 h: not more than 24 h yet
    ]
    assert grade_fever_course(readings, 2).grade is None
    readings.append(TemperatureReading(at(24) + timedelta(minutes=1), D("40.3")))
    assert [grade_fever_course(readings, i).grade for i in range(4)] == [4, 4, 4, 4]


def test_an_untimed_reading_in_the_run_leaves_it_ungraded():
    readings = [
        TemperatureReading(at(0), D("39.0")),
        TemperatureReading(None, D("40.5")),
        TemperatureReading(at(4), D("38.0")),
    ]
    result = grade_fever_course(readings, 1)
    assert result.grade is None
    assert "time" in result.reason


def test_readings_without_temperature_do_not_break_a_run():
    readings = [
        TemperatureReading(at(0), D("40.2")),
        TemperatureReading(at(10), None),
        TemperatureReading(at(25), D("40.3")),
    ]
    assert grade_fever_course(readings, 0).grade == 4
