"""Derived values on the treatment forms, computed by `clinical/` with the protocol settings in
force on the form's clinical date (DESIGN §4 "Derived values are stored with their inputs")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from clinical.dose import car_positive_cells_per_kg, check_dose
from clinical.schedule import local_date
from study.protocol import choices_in_force
from subjects.models import Infusion

MILLION = Decimal("1E6")
FOUR_PLACES = Decimal("0.0001")


def derive_infusion(infusion: Infusion) -> dict[str, Any]:
    """The infusion's site-local date (its study day comes from it) and CAR+ cells/kg =
    viable cells × CAR+ fraction ÷ weight, checked against the subject's assigned dose level
    (CLINICAL_SPEC §7, §3.1). Stored per 10⁶, to four decimals; the range check uses the exact value."""
    site = infusion.subject.site
    on = local_date(infusion.infusion_start, site.time_zone)
    return {
        "infusion_date": on,
        **dose_values(
            subject=infusion.subject,
            on=on,
            viable_cells_e6=infusion.viable_cells_e6,
            car_positive_pct=infusion.car_positive_pct,
            weight_kg=infusion.weight_kg,
        ),
    }


def dose_values(
    *, subject: Any, on: date, viable_cells_e6: Decimal, car_positive_pct: Decimal, weight_kg: Decimal
) -> dict[str, Any]:
    """CAR+ cells/kg (per 10⁶, four decimals) and the assigned level's acceptable range, with
    the settings in force on `on`: what the save stores and what the infusion form shows live
    as the numbers are typed (issue 24 item 4) — one rule for both."""
    row, choices = choices_in_force(subject.site.study_id, on)
    per_kg = car_positive_cells_per_kg(
        viable_cells=viable_cells_e6 * MILLION,
        car_positive_pct=car_positive_pct,
        weight_kg=weight_kg,
    )
    found: dict[str, Any] = {
        "car_positive_per_kg_e6": (per_kg / MILLION).quantize(FOUR_PLACES),
        "dose_level": subject.dose_level,
        "dose_lower_e6": None,
        "dose_upper_e6": None,
        "dose_in_range": None,
        "settings_version": row.version,
    }
    level = next((lv for lv in choices.dose_levels if lv.code == subject.dose_level), None)
    if level is not None:
        checked = check_dose(level, per_kg)
        found["dose_lower_e6"] = (checked.lower / MILLION).quantize(FOUR_PLACES)
        found["dose_upper_e6"] = (checked.upper / MILLION).quantize(FOUR_PLACES)
        found["dose_in_range"] = checked.within_range
    return found
