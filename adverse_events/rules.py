"""Field-level refusals of the safety forms, and the translation of stored forms into the
inputs of `clinical/` (CLINICAL_SPEC §1–3). No queries: what needs other rows lives in the
services. Messages are translated here; `clinical/` keeps its stable English codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from adverse_events import grade_course
from clinical import crs as crs_rules
from clinical import ctcae
from clinical import icans as icans_rules

if TYPE_CHECKING:
    from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment

CRS_TERM = "Cytokine release syndrome"
ICANS_TERM = "Nervous system disorders - Other, specify"
ICANS_VERBATIM = "ICANS"


def grade_problem_message(term: ctcae.CtcaeTerm, grade: int) -> str:
    """CLINICAL_SPEC §3: a grade whose cell is "-" does not exist; say which grades do."""
    return _(
        "%(term)s has no grade %(grade)s in CTCAE v5.0 (that grade is “-” in the CTCAE table). "
        "Grades that exist for this term: %(grades)s."
    ) % {"term": term.name, "grade": grade, "grades": ", ".join(str(g) for g in term.grades)}


def ae_problems(ae: AdverseEvent) -> dict[str, str]:
    """CTCAE term known, grade existing for the term, verbatim for "Other, specify" (§3);
    grade 5 is death; resolution not before onset. System-owned AEs carry an ASTCT grade (§1.3)
    and skip the CTCAE grade check."""
    errors: dict[str, str] = {}
    try:
        term = ctcae.term_by_name(ae.ctcae_term or "")
    except ctcae.UnknownTermError:
        errors["ctcae_term"] = _("“%(term)s” is not a CTCAE v5.0 term: pick a term from the list.") % {
            "term": ae.ctcae_term
        }
        return errors
    if ae.grade is not None and not ae.system_owned:
        check = ctcae.check_ae_grade(term, ae.grade, verbatim=ae.verbatim or "")
        for problem in check.problems:
            if problem.code is ctcae.GradeProblemCode.GRADE_NOT_DEFINED:
                errors["grade"] = grade_problem_message(term, ae.grade)
            elif problem.code is ctcae.GradeProblemCode.GRADE_OUT_OF_RANGE:
                errors["grade"] = _("CTCAE grades run from 1 to 5.")
            elif problem.code is ctcae.GradeProblemCode.VERBATIM_REQUIRED:
                errors["verbatim"] = _("“%(term)s” needs the verbatim text of the event.") % {"term": term.name}
    if ae.grade == 5 and ae.outcome and ae.outcome != "fatal":
        errors["outcome"] = _("Grade 5 is death related to the AE: the outcome must be fatal.")
    if ae.onset_date and ae.resolution_date and ae.resolution_date < ae.onset_date:
        errors["resolution_date"] = _("The resolution date cannot be before the onset date.")
    course = grade_course.course_problems(ae)
    if not course and ae.grade_course and len(ae.grade_course) > 1 and not ae.system_owned:
        for entry in ae.grade_course:  # every grade of the course must exist for the term (§3)
            if int(entry["grade"]) not in term.grades:
                course.append(grade_problem_message(term, int(entry["grade"])))
                break
    if course:
        errors["grade_course"] = " ".join(course)
    return errors


def crs_problems(assessment: CrsAssessment) -> dict[str, str]:
    """Inputs that cannot be graded (CLINICAL_SPEC §1.2 e): nasal cannula needs its flow."""
    errors: dict[str, str] = {}
    if assessment.oxygen_device == "nasal_cannula" and assessment.oxygen_flow_l_min is None:
        errors["oxygen_flow_l_min"] = _(
            "Give the nasal cannula flow: it decides low-flow (≤ 6 L/min, grade 2) against high-flow (grade 3)."
        )
    if assessment.oxygen_device == "room_air" and assessment.oxygen_flow_l_min:
        errors["oxygen_flow_l_min"] = _("Room air has no oxygen flow: choose the device or clear the flow.")
    if assessment.hypotension_fluid_responsive is not None and not assessment.hypotension:
        errors["hypotension_fluid_responsive"] = _("Answer fluid response only when there is hypotension.")
    # §1.2 d: each finding is recorded with "attributable to CRS" yes/no — asked, never pre-set.
    if (assessment.hypotension or assessment.vasopressors) and assessment.hypotension_attributable_to_crs is None:
        errors["hypotension_attributable_to_crs"] = _("Answer whether the hypotension is attributable to CRS.")
    if (
        assessment.oxygen_device
        and assessment.oxygen_device != "room_air"
        and assessment.hypoxia_attributable_to_crs is None
    ):
        errors["hypoxia_attributable_to_crs"] = _("Answer whether the oxygen need is attributable to CRS.")
    return errors


def crs_input(assessment: CrsAssessment) -> crs_rules.CrsAssessment:
    """The stored form as clinical.crs reads it (CLINICAL_SPEC §1.3)."""
    return crs_rules.CrsAssessment(
        assessed_on=assessment.assessment_date,
        tmax_c=assessment.tmax_c,
        fever_attributable_to_other_cause=assessment.fever_other_cause,
        hypotension=assessment.hypotension,
        hypotension_fluid_responsive=assessment.hypotension_fluid_responsive,
        vasopressors=tuple(assessment.vasopressors or ()),
        # unanswered only where there is no finding to attribute (crs_problems), so it weighs nothing
        hypotension_attributable_to_crs=assessment.hypotension_attributable_to_crs is not False,
        oxygen_device=crs_rules.OxygenDevice(assessment.oxygen_device),
        oxygen_flow_l_per_min=assessment.oxygen_flow_l_min,
        hypoxia_attributable_to_crs=assessment.hypoxia_attributable_to_crs is not False,
        death_from_crs=assessment.death_from_crs,
    )


ICE_FIELDS = {
    "orientation": "ice_orientation",
    "naming": "ice_naming",
    "following_commands": "ice_following_commands",
    "writing": "ice_writing",
    "counting_backwards": "ice_counting_backwards",
}
CAPD_FIELDS = tuple(f"capd_{n}" for n in range(1, 9))


def icans_problems(assessment: IcansAssessment) -> dict[str, str]:
    """Items of one instrument at most; item scores only when the items were scored (§2.1)."""
    errors: dict[str, str] = {}
    ice_given = [getattr(assessment, f) is not None for f in ICE_FIELDS.values()]
    capd_given = [getattr(assessment, f) is not None for f in CAPD_FIELDS]
    if any(ice_given) and any(capd_given):
        errors["instrument"] = _("Record the items of one instrument: ICE or CAPD, not both.")
    if assessment.encephalopathy_state != "scored" and (any(ice_given) or any(capd_given)):
        errors["encephalopathy_state"] = _(
            "Item scores are recorded only when the items were scored; clear them for "
            "“not evaluable” or “unable to perform”."
        )
    return errors


def icans_input(
    assessment: IcansAssessment, *, age_years: int, settings: icans_rules.IcansSettings
) -> icans_rules.IcansAssessment:
    """The stored form as clinical.icans reads it; ValueError names what is missing (§2.1–2.3)."""
    instrument = (
        icans_rules.EncephalopathyInstrument(assessment.instrument)
        if assessment.instrument
        else icans_rules.default_instrument(age_years=age_years, settings=settings)
    )
    state = assessment.encephalopathy_state
    reason = {
        "intubated": icans_rules.NotEvaluableReason.INTUBATED,
        "sedated_for_other_reason": icans_rules.NotEvaluableReason.SEDATED_FOR_OTHER_REASON,
    }.get(state)
    ice = capd = None
    if instrument is icans_rules.EncephalopathyInstrument.ICE:
        if reason is not None:
            ice = icans_rules.IceScore.not_evaluable(reason, language=assessment.language)
        elif state == "unable":
            ice = icans_rules.IceScore.unable_unarousable(language=assessment.language)
        else:
            items = {name: getattr(assessment, field) for name, field in ICE_FIELDS.items()}
            ice = icans_rules.IceScore(**items, language=assessment.language)
    else:
        if reason is not None:
            capd = icans_rules.CapdScore.not_evaluable(reason, language=assessment.language)
        elif state == "unable":
            capd = icans_rules.CapdScore.unable_to_perform(language=assessment.language)
        else:
            values = [getattr(assessment, field) for field in CAPD_FIELDS]
            if any(v is None for v in values):
                raise ValueError("CAPD: answer all eight items")
            capd = icans_rules.CapdScore(responses=tuple(icans_rules.CapdResponse(v) for v in values))
    return icans_rules.IcansAssessment(
        assessed_on=assessment.assessment_date,
        age_years=age_years,
        ice=ice,
        capd=capd,
        instrument=instrument,
        consciousness=icans_rules.Consciousness(assessment.consciousness),
        seizure=icans_rules.Seizure(assessment.seizure),
        motor=icans_rules.MotorFinding(assessment.motor),
        raised_icp=icans_rules.RaisedIcp(assessment.raised_icp),
        other_cause=frozenset(icans_rules.IcansDomain(d) for d in assessment.other_cause or ()),
        death_from_icans=assessment.death_from_icans,
    )
