"""Edit checks on vital signs and lab results: implausible (not impossible) values raise queries."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from clinical.units import Plausibility, plausibility
from crf.checks import edit_check
from labs.models import LabResult, OxygenDevice, VitalSigns
from subjects.checks import PROCEDURE_BEFORE_CONSENT, procedure_before_consent


@edit_check(
    code="VS-DBP-GE-SBP",
    field="diastolic_bp",
    message=_("Diastolic pressure is not below systolic pressure. Please check both values."),
)
def diastolic_not_below_systolic(vs: VitalSigns) -> bool:
    return vs.systolic_bp is not None and vs.diastolic_bp is not None and vs.diastolic_bp >= vs.systolic_bp


@edit_check(
    code="VS-TEMP-HIGH",
    field="temperature_c",
    message=_("Temperature above 41.5 °C is unusual. Please confirm against the source."),
)
def temperature_implausible(vs: VitalSigns) -> bool:
    return vs.temperature_c is not None and vs.temperature_c > Decimal("41.5")


@edit_check(
    code="VS-FLOW-ROOM-AIR",
    field="oxygen_flow_l_min",
    message=_("An oxygen flow is recorded while the device is room air."),
)
def flow_on_room_air(vs: VitalSigns) -> bool:
    return vs.oxygen_device == OxygenDevice.ROOM_AIR and bool(vs.oxygen_flow_l_min)


@edit_check(
    code="VS-FLOW-MISSING",
    field="oxygen_flow_l_min",
    message=_("Oxygen by nasal cannula needs its flow (L/min): low- and high-flow grade differently."),
)
def cannula_without_flow(vs: VitalSigns) -> bool:
    """CLINICAL_SPEC §1.2 e: a nasal cannula at ≤ 6 L/min is low-flow (CRS grade 2), above 6
    high-flow (grade 3); without the flow the hypoxia grade cannot be derived."""
    cannula = (OxygenDevice.NASAL_CANNULA, OxygenDevice.HIGH_FLOW_NASAL_CANNULA)
    return vs.oxygen_device in cannula and vs.oxygen_flow_l_min is None


@edit_check(code="PROC-BEFORE-CONSENT", field="assessment_date", message=PROCEDURE_BEFORE_CONSENT)
def vital_signs_before_consent(vs: VitalSigns) -> bool:
    """Vital signs are a protocol procedure unless flagged as history / standard of care."""
    return procedure_before_consent(vs, on=vs.assessment_date, exempt=vs.standard_of_care)


@edit_check(
    code="LB-IMPLAUSIBLE",
    field="value",
    message=_("This result is possible but unusual for this analyte. Please confirm it against the lab report."),
)
def lab_value_implausible(result: LabResult) -> bool:
    """Limits of clinical.units, in the standard unit (e.g. ANC > 100 ×10⁹/L, Hgb > 250 g/L)."""
    if result.standard_value is None:
        return False
    return plausibility(result.standard_value, analyte_code=result.analyte) == Plausibility.IMPLAUSIBLE
