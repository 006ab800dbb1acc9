"""Field-level refusals of the toxicity forms (CLINICAL_SPEC §3, §4.2, §4.3, §4.4) and the
translation of a GvHD staging into the inputs of `clinical.gvhd`. No queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from adverse_events.rules import grade_problem_message
from clinical import ctcae
from clinical import gvhd as gvhd_rules

if TYPE_CHECKING:
    from adverse_events.models import GvhdStaging, IecHsAssessment, Infection


def iec_hs_problems(form: IecHsAssessment) -> dict[str, str]:
    """§4.2: a present IEC-HS needs its onset and the investigator's grade; an absent one has
    neither; onset not after the assessment."""
    errors: dict[str, str] = {}
    if form.present:
        if form.onset_date is None:
            errors["onset_date"] = _("IEC-HS is present: give the onset date.")
        if form.grade is None:
            errors["grade"] = _("IEC-HS is present: record the grade (1–5).")
    else:
        if form.grade is not None:
            errors["grade"] = _("IEC-HS is absent: leave the grade blank.")
        if form.onset_date is not None:
            errors["onset_date"] = _("IEC-HS is absent: leave the onset date blank.")
    if form.onset_date and form.assessment_date and form.onset_date > form.assessment_date:
        errors["onset_date"] = _("The onset cannot be after the assessment date.")
    return errors


def infection_problems(form: Infection) -> dict[str, str]:
    """§3 via §4.4: a known CTCAE v5.0 term, a grade that exists for it, verbatim text for
    "Other, specify"; resolution not before onset; a viral reactivation is a viral infection."""
    errors: dict[str, str] = {}
    try:
        term = ctcae.term_by_name(form.ctcae_term or "")
    except ctcae.UnknownTermError:
        errors["ctcae_term"] = _("“%(term)s” is not a CTCAE v5.0 term: pick a term from the list.") % {
            "term": form.ctcae_term
        }
        term = None
    if term is not None and form.grade is not None:
        check = ctcae.check_ae_grade(term, form.grade, verbatim=form.verbatim or "")
        for problem in check.problems:
            if problem.code is ctcae.GradeProblemCode.GRADE_NOT_DEFINED:
                errors["grade"] = grade_problem_message(term, form.grade)
            elif problem.code is ctcae.GradeProblemCode.GRADE_OUT_OF_RANGE:
                errors["grade"] = _("CTCAE grades run from 1 to 5.")
            elif problem.code is ctcae.GradeProblemCode.VERBATIM_REQUIRED:
                errors["verbatim"] = _("“%(term)s” needs the verbatim text of the event.") % {"term": term.name}
    if form.onset_date and form.resolution_date and form.resolution_date < form.onset_date:
        errors["resolution_date"] = _("The resolution date cannot be before the onset date.")
    if form.viral_reactivation and form.organism_type and form.organism_type != "viral":
        errors["organism_type"] = _("A viral reactivation is a viral infection: choose “Viral”.")
    return errors


def gvhd_input(staging: GvhdStaging) -> gvhd_rules.GvhdInputs:
    """The stored organ inputs as clinical.gvhd inputs (§4.3)."""
    return gvhd_rules.GvhdInputs(
        skin_bsa_pct=staging.skin_bsa_pct,
        skin_bullae=staging.skin_bullae,
        bilirubin=staging.bilirubin,
        bilirubin_unit=gvhd_rules.BilirubinUnit(staging.bilirubin_unit),
        upper_gi_persistent=staging.upper_gi_persistent,
        stool_ml_per_day=staging.stool_ml_per_day,
        stool_episodes_per_day=staging.stool_episodes_per_day,
        lower_gi_severe=staging.lower_gi_severe,
        weight_kg=staging.weight_kg,
    )
