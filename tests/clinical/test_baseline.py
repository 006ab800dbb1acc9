"""Body surface area (Mosteller 1987) and the performance-status scale by age (issue 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinical.baseline import PerformanceScale, bsa_mosteller, scales_for_age, valid_score

pytestmark = pytest.mark.req("ISSUE-5")


@pytest.mark.parametrize(
    ("height", "weight", "bsa"),
    [
        ("170", "70", "1.82"),  # √(11900/3600) = 1.8181
        ("180", "80", "2.00"),  # √4 exactly
        ("120", "22", "0.86"),  # a child: √(2640/3600) = 0.8563
        ("160", "45", "1.41"),  # √2 = 1.41421
    ],
)
def test_bsa_mosteller(height, weight, bsa):
    assert bsa_mosteller(height_cm=Decimal(height), weight_kg=Decimal(weight)) == Decimal(bsa)


@pytest.mark.parametrize(
    ("age", "limit", "scales"),
    [
        (0, 16, ("lansky",)),
        (15, 16, ("lansky",)),  # just below the limit
        (16, 16, ("ecog", "karnofsky")),  # at the limit: adult scales
        (40, 16, ("ecog", "karnofsky")),
        (16, 18, ("lansky",)),  # the protocol may move the limit
        (18, 18, ("ecog", "karnofsky")),
    ],
)
def test_scale_by_age(age, limit, scales):
    assert tuple(s.value for s in scales_for_age(age, lansky_below_age=limit)) == scales


@pytest.mark.parametrize(
    ("scale", "score", "valid"),
    [
        (PerformanceScale.ECOG, 0, True),
        (PerformanceScale.ECOG, 5, True),
        (PerformanceScale.ECOG, 6, False),
        (PerformanceScale.KARNOFSKY, 100, True),
        (PerformanceScale.KARNOFSKY, 70, True),
        (PerformanceScale.KARNOFSKY, 75, False),
        (PerformanceScale.LANSKY, 110, False),
        (PerformanceScale.LANSKY, 0, True),
    ],
)
def test_scores(scale, score, valid):
    assert valid_score(scale, score) is valid
