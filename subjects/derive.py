"""Derived values on the treatment forms, computed by `clinical/` with the protocol settings in
force on the form's clinical date (DESIGN §4 "Derived values are stored with their inputs")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clinical.dose import car_positive_cells_per_kg, check_dose
from clinical.schedule import local_date
from crf.derivations import register
from study.protocol import choices_in_force
from subjects.models import Infusion

MILLION = Decimal("1E6")
FOUR_PLACES = Decimal("0.0001")


@register(Infusion)
def derive_infusion(infusion: Infusion) -> dict[str, Any]:
    """The infusion's site-local date (its study day comes from it) and CAR+ cells/kg =
    viable cells × CAR+ fraction ÷ weight, checked against the subject's assigned dose level
    (CLINICAL_SPEC §7, §3.1). Stored per 10⁶, to four decimals; the range check uses the exact value."""
    site = infusion.subject.site
    on = local_date(infusion.infusion_start, site.time_zone)
    row, choices = choices_in_force(site.study_id, on)
    per_kg = car_positive_cells_per_kg(
        viable_cells=infusion.viable_cells_e6 * MILLION,
        car_positive_pct=infusion.car_positive_pct,
        weight_kg=infusion.weight_kg,
    )
    found: dict[str, Any] = {
        "infusion_date": on,
        "car_positive_per_kg_e6": (per_kg / MILLION).quantize(FOUR_PLACES),
        "dose_level": infusion.subject.dose_level,
        "dose_lower_e6": None,
        "dose_upper_e6": None,
        "dose_in_range": None,
        "settings_version": row.version,
    }
    level = next((lv for lv in choices.dose_levels if lv.code == infusion.subject.dose_level), None)
    if level is not None:
        checked = check_dose(level, per_kg)
        found["dose_lower_e6"] = (checked.lower / MILLION).quantize(FOUR_PLACES)
        found["dose_upper_e6"] = (checked.upper / MILLION).quantize(FOUR_PLACES)
        found["dose_in_range"] = checked.within_range
    return found
