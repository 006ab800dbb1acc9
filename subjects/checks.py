"""Edit checks every protocol-procedure form shares (issue 4 item 2). A form module registers
them on its own model with `crf.checks.edit_check`; they raise queries and refuse nothing."""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext_lazy as _

from crf.checks import edit_check
from crf.consent_checks import PROCEDURE_BEFORE_CONSENT  # the query text every form shares
from crf.models import CrfInstance
from subjects.models import (
    BridgingTherapy,
    CellCollection,
    ConcomitantMedication,
    Demographics,
    Infusion,
    Lymphodepletion,
    PerformanceStatus,
    ProtocolDeviation,
    Visit,
    first_consent_date,
    subject_age_on,
)


def procedure_before_consent(form: CrfInstance, *, on: date | None, exempt: bool) -> bool:
    """Fires when a protocol procedure is dated before the first consent. History forms and
    standard-of-care results (`exempt`) never fire; nor do forms of subjects without consent."""
    if exempt or on is None:
        return False
    consented = first_consent_date(form.subject_id)
    return consented is not None and on < consented


VISIT_OUT_OF_WINDOW = _(
    "Visit out of window: the visit date is outside the window of the planned date. "
    "Check the date, or confirm it with the reason."
)


@edit_check(code="VISIT-OUT-OF-WINDOW", field="visit_date", message=VISIT_OUT_OF_WINDOW)
def visit_out_of_window(visit: Visit) -> bool:
    """The window runs from the planned date minus `window_before` to plus `window_after` days,
    both ends included (CLINICAL_SPEC §7); event-driven visits have none."""
    return visit.out_of_window


@edit_check(
    code="DOSE-OUT-OF-RANGE",
    field="car_positive_per_kg_e6",
    message=_(
        "Dose outside the acceptable range: the CAR+ cells/kg infused lie outside the assigned dose level's "
        "range. Check the cell count, CAR+ percentage and weight, or confirm the dose."
    ),
)
def dose_out_of_range(infusion: Infusion) -> bool:
    """CLINICAL_SPEC §3.1, §7: outside ±range of the assigned level's target (ends included)."""
    return infusion.dose_in_range is False


@edit_check(code="PROC-BEFORE-CONSENT", field="start_date", message=PROCEDURE_BEFORE_CONSENT)
def lymphodepletion_before_consent(form: Lymphodepletion) -> bool:
    return procedure_before_consent(form, on=form.start_date, exempt=False)


@edit_check(code="PROC-BEFORE-CONSENT", field="infusion_start", message=PROCEDURE_BEFORE_CONSENT)
def infusion_before_consent(form: Infusion) -> bool:
    return procedure_before_consent(form, on=form.infusion_date, exempt=False)


@edit_check(
    code="CM-CATEGORY-NOT-ATC",
    field="category",
    message=_(
        "The category differs from the one the ATC code suggests. It decides CRS fever masking: "
        "check the category and the ATC code, or confirm the category."
    ),
)
def conmed_category_differs_from_atc(form: ConcomitantMedication) -> bool:
    """An overridden category is allowed (CLINICAL_SPEC §1.2 b: the coordinator picks it) but
    queried, because it changes which fevers count."""
    suggested = form.suggested_category
    return suggested is not None and form.category != suggested


# --- baseline forms and deviations (issue 5) ------------------------------------------------------
# Medical history, disease history and prior therapy are history: no consent-date query.


@edit_check(code="PROC-BEFORE-CONSENT", field="collection_date", message=PROCEDURE_BEFORE_CONSENT)
def collection_before_consent(form: CellCollection) -> bool:
    return procedure_before_consent(form, on=form.collection_date, exempt=False)


@edit_check(code="PROC-BEFORE-CONSENT", field="start_date", message=PROCEDURE_BEFORE_CONSENT)
def bridging_before_consent(form: BridgingTherapy) -> bool:
    return procedure_before_consent(form, on=form.start_date, exempt=False)


@edit_check(code="PROC-BEFORE-CONSENT", field="assessment_date", message=PROCEDURE_BEFORE_CONSENT)
def performance_status_before_consent(form: PerformanceStatus) -> bool:
    return procedure_before_consent(form, on=form.assessment_date, exempt=form.standard_of_care)


@edit_check(code="PROC-BEFORE-CONSENT", field="assessment_date", message=PROCEDURE_BEFORE_CONSENT)
def demographics_before_consent(form: Demographics) -> bool:
    return procedure_before_consent(form, on=form.assessment_date, exempt=form.standard_of_care)


@edit_check(
    code="DM-AGE-DOB",
    field="age_years",
    message=_(
        "The age entered differs from the age derived from the date of birth on the identity record. "
        "Check both, or confirm the age."
    ),
)
def age_differs_from_date_of_birth(form: Demographics) -> bool:
    if form.age_source != "entered" or form.age_years is None:
        return False
    derived, source = subject_age_on(form.subject_id, form.assessment_date)
    return source == "dob" and derived != form.age_years


@edit_check(
    code="DV-IMPORTANT-NO-ACTION",
    field="corrective_action",
    message=_("An important deviation needs its corrective and preventive action."),
)
def important_deviation_without_action(form: ProtocolDeviation) -> bool:
    return form.important and not form.corrective_action.strip()
