"""Derived values on the treatment forms, computed by `clinical/` with the protocol settings in
force on the form's clinical date (DESIGN §4 "Derived values are stored with their inputs")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clinical.baseline import BSA_FORMULA, bsa_mosteller
from clinical.dose import car_positive_cells_per_kg, check_dose
from clinical.schedule import local_date
from crf.derivations import register
from crf.fields import partial_date_derivation
from study.protocol import choices_in_force
from subjects.baseline import AgeSource, Demographics, DiseaseHistory, MedicalHistory, PriorTherapy, subject_age_on
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


# --- baseline forms (issue 5) -------------------------------------------------------------------


@register(Demographics)
def derive_demographics(form: Demographics) -> dict[str, Any]:
    """Body surface area by Mosteller (clinical.baseline: √(cm × kg / 3600), 2 decimals) and the
    age: left empty, derived from the identity record's date of birth on the assessment date."""
    found: dict[str, Any] = {"age_source": AgeSource.ENTERED.value if form.age_years is not None else ""}
    if form.age_years is None:
        age, source = subject_age_on(form.subject_id, form.assessment_date)
        if source == "dob":
            found["age_years"] = age
            found["age_source"] = AgeSource.DOB.value
    found["bsa_m2"] = (
        bsa_mosteller(height_cm=form.height_cm, weight_kg=form.weight_kg)
        if form.height_cm is not None and form.weight_kg is not None
        else None
    )
    found["bsa_formula"] = BSA_FORMULA
    return found


@register(MedicalHistory)
def derive_medical_history(form: MedicalHistory) -> dict[str, Any]:
    return {**partial_date_derivation(form, "onset_date"), **partial_date_derivation(form, "end_date")}


@register(DiseaseHistory)
def derive_disease_history(form: DiseaseHistory) -> dict[str, Any]:
    return {**partial_date_derivation(form, "diagnosis_date"), **partial_date_derivation(form, "hsct_date")}


@register(PriorTherapy)
def derive_prior_therapy(form: PriorTherapy) -> dict[str, Any]:
    return {**partial_date_derivation(form, "start_date"), **partial_date_derivation(form, "end_date")}
