"""Partial history dates: parsing, imputation to the first day of the known period and its
flag (CLINICAL_SPEC §7; ADaM --DTF), and "certainly before" comparisons."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.partial_dates import certainly_before, parse_partial_date

pytestmark = pytest.mark.req("CLINICAL_SPEC-7")


@pytest.mark.parametrize(
    ("text", "precision", "imputed", "flag", "latest"),
    [
        ("2024", "year", date(2024, 1, 1), "M", date(2024, 12, 31)),
        ("2024-02", "month", date(2024, 2, 1), "D", date(2024, 2, 29)),  # leap year
        ("2023-02", "month", date(2023, 2, 1), "D", date(2023, 2, 28)),
        ("2024-11-05", "day", date(2024, 11, 5), "", date(2024, 11, 5)),
        (" 2024-11 ", "month", date(2024, 11, 1), "D", date(2024, 11, 30)),
    ],
)
def test_parse_and_impute(text, precision, imputed, flag, latest):
    found = parse_partial_date(text)
    assert (found.precision.value, found.earliest, found.imputation.value, found.latest) == (
        precision,
        imputed,
        flag,
        latest,
    )
    assert found.isoformat() == text.strip()


@pytest.mark.parametrize(
    "text", ["", "24", "2024-1", "2024-13", "2024-00", "2023-02-29", "2024-04-31", "1899", "2024/03", "03-2024"]
)
def test_malformed_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_partial_date(text)


@pytest.mark.parametrize(
    ("first", "second", "before"),
    [
        ("2024-03", "2024-04-01", True),
        ("2024-03", "2024-03-31", False),  # March may be the 31st
        ("2024", "2024-06", False),
        ("2023", "2024", True),
        ("2024-03-05", "2024-03-06", True),
        ("2024-03-06", "2024-03-06", False),
    ],
)
def test_certainly_before(first, second, before):
    assert certainly_before(parse_partial_date(first), parse_partial_date(second)) is before
