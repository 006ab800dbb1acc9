"""CAR+ cells/kg and the dose-level range (CLINICAL_SPEC §7, §3.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinical.dose import car_positive_cells_per_kg, check_dose
from clinical.protocol import DoseLevel

pytestmark = pytest.mark.req("CLINICAL_SPEC-7")

DL2 = DoseLevel("DL2", Decimal("1.0E6"))


def test_worked_example_70_kg_1e8_viable_60_percent():
    dose = car_positive_cells_per_kg(
        viable_cells=Decimal("1.0E8"), car_positive_pct=Decimal("60"), weight_kg=Decimal("70")
    )
    assert dose.quantize(Decimal("1")) == Decimal("857143")
    assert round(dose / Decimal("1E6"), 3) == Decimal("0.857")


@pytest.mark.parametrize(
    ("cells_per_kg", "within", "under"),
    [
        (Decimal("0.69E6"), False, True),  # just below 0.7×10⁶
        (Decimal("0.70E6"), True, False),  # −30% exactly: inside
        (Decimal("1.0E6"), True, False),
        (Decimal("1.30E6"), True, False),  # +30% exactly: inside
        (Decimal("1.31E6"), False, False),
    ],
)
def test_range_is_plus_minus_30_percent_inclusive(cells_per_kg, within, under):
    check = check_dose(DL2, cells_per_kg)
    assert (check.within_range, check.under_dosed) == (within, under)
    assert (check.lower, check.upper) == (Decimal("7.0E5"), Decimal("1.30E6"))


def test_worked_example_is_in_range_for_dl2_and_above_dl1():
    dose = car_positive_cells_per_kg(
        viable_cells=Decimal("1.0E8"), car_positive_pct=Decimal("60"), weight_kg=Decimal("70")
    )
    assert check_dose(DL2, dose).within_range is True
    assert check_dose(DoseLevel("DL1", Decimal("0.5E6")), dose).within_range is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"viable_cells": Decimal("1"), "car_positive_pct": Decimal("50"), "weight_kg": Decimal("0")}, "weight"),
        ({"viable_cells": Decimal("1"), "car_positive_pct": Decimal("101"), "weight_kg": Decimal("70")}, "percent"),
        ({"viable_cells": Decimal("-1"), "car_positive_pct": Decimal("50"), "weight_kg": Decimal("70")}, "negative"),
    ],
)
def test_impossible_inputs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        car_positive_cells_per_kg(**kwargs)
