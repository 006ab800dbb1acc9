"""Derived values of the safety forms, computed by `clinical/` with the protocol settings in
force on the form's clinical date and stored with their inputs and criteria version (DESIGN §4;
registered with crf.derivations, so `crf.services.save_form` and every re-derivation use them)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Min
from django.utils.translation import gettext as _

from adverse_events import grade_course
from adverse_events.models import AdverseEvent, CollectionPeriod, CrsAssessment, GradeScale, IcansAssessment
from adverse_events.rules import CAPD_FIELDS, ICE_FIELDS, crs_input, icans_input
from adverse_events.selectors import medication_exposures
from clinical import ctcae
from clinical import icans as icans_rules
from clinical.crs import crs_course, grade_crs_assessment
from clinical.schedule import age_in_completed_years, study_day
from crf.derivations import register
from study.protocol import choices_in_force
from subjects.models import Lymphodepletion, Subject


def first_lymphodepletion_date(subject: Subject) -> date | None:
    found: date | None = Lymphodepletion.objects.filter(subject=subject, entered_in_error=False).aggregate(
        first=Min("start_date")
    )["first"]
    return found


def collection_period(*, onset: date, ld_start: date | None, infusion: date | None) -> str:
    """CLINICAL_SPEC §3: before lymphodepletion; during it (first LD dose date to the day before
    the first infusion); after infusion (treatment-emergent, from day 0)."""
    if infusion is not None and onset >= infusion:
        return CollectionPeriod.AFTER_INFUSION
    if ld_start is not None and onset >= ld_start:
        return CollectionPeriod.DURING_LYMPHODEPLETION
    return CollectionPeriod.BEFORE_LYMPHODEPLETION


@register(AdverseEvent)
def derive_adverse_event(ae: AdverseEvent) -> dict[str, Any]:
    """MedDRA code and SOC looked up from the term; serious when any criterion is ticked; study
    days on the Day-0 clock; the collection period of the onset (CLINICAL_SPEC §3)."""
    term = ctcae.term_by_name(ae.ctcae_term)
    subject = ae.subject
    day0 = subject.day0
    return {
        "ctcae_term": term.name,
        "meddra_code": term.meddra_code,
        "soc": term.soc,
        "ctcae_version": ctcae.CTCAE_VERSION,
        "grade_scale": GradeScale.ASTCT if ae.system_owned else GradeScale.CTCAE,
        "serious": any(
            (
                ae.serious_death,
                ae.serious_life_threatening,
                ae.serious_hospitalisation,
                ae.serious_disability,
                ae.serious_congenital_anomaly,
                ae.serious_important_medical_event,
            )
        ),
        "onset_study_day": None if day0 is None else study_day(ae.onset_date, day0),
        "resolution_study_day": None
        if day0 is None or ae.resolution_date is None
        else study_day(ae.resolution_date, day0),
        "collection_period": collection_period(
            onset=ae.onset_date, ld_start=first_lymphodepletion_date(subject), infusion=subject.infusion_date
        ),
        **grade_course.derived_fields(ae),  # the dated course and its maximum (issue 30)
    }


def _day0(subject: Subject) -> date:
    day0 = subject.day0
    if day0 is None:
        raise ValidationError(
            {"assessment_date": _("Plan or record the infusion first: grades are derived on the Day-0 clock.")}
        )
    return day0


@register(CrsAssessment)
def derive_crs_assessment(assessment: CrsAssessment) -> dict[str, Any]:
    """The ASTCT grade of this assessment (CLINICAL_SPEC §1.1–1.2) within the subject's course
    (§1.3), so fever masking after antipyretic, tocilizumab or steroid exposure inside an
    episode applies (§1.2 b). Exposures come from the con-med log (adverse_events.selectors)."""
    subject = assessment.subject
    day0 = _day0(subject)
    row, choices = choices_in_force(subject.site.study_id, assessment.assessment_date)
    others = CrsAssessment.objects.filter(subject=subject, entered_in_error=False).exclude(pk=assessment.pk)
    this = crs_input(assessment)
    course = crs_course(
        [*(crs_input(other) for other in others), this],
        infusion_date=day0,
        exposures=medication_exposures(subject),
        settings=choices.crs_settings(),
    )
    day = next(d for d in course.days if d.day == assessment.assessment_date)
    graded = grade_crs_assessment(this, fever_masked=day.fever_masked)
    return {
        "grade": graded.grade,
        "fever": graded.fever,
        "fever_masked": graded.fever_masked,
        "hypotension_grade": graded.hypotension_grade,
        "hypoxia_grade": graded.hypoxia_grade,
        "flags": [str(flag) for flag in graded.flags],
        "criteria": graded.criteria,
        "study_day": study_day(assessment.assessment_date, day0),
        "settings_version": row.version,
    }


def icans_settings(choices: Any) -> icans_rules.IcansSettings:
    """The ICANS rules' view of the protocol choices: CAPD age boundary (§2.3), episode gap (§1.3)."""
    return icans_rules.IcansSettings(
        capd_below_age_years=choices.capd_below_age, episode_gap_days=choices.crs_episode_gap_days
    )


def subject_age(subject: Subject, on: date) -> int | None:
    identity = getattr(subject, "identity", None)
    return None if identity is None else age_in_completed_years(identity.date_of_birth, on)


@register(IcansAssessment)
def derive_icans_assessment(assessment: IcansAssessment) -> dict[str, Any]:
    """The ASTCT ICANS grade (CLINICAL_SPEC §2.2–2.3): instrument by age unless chosen, each
    domain on its own, the most severe counted domain; ``grade`` None = "not evaluable"."""
    subject = assessment.subject
    day0 = _day0(subject)
    row, choices = choices_in_force(subject.site.study_id, assessment.assessment_date)
    settings = icans_settings(choices)
    age = subject_age(subject, assessment.assessment_date)
    if age is None and not assessment.instrument:
        raise ValidationError(
            {"instrument": _("The date of birth is not recorded: choose the instrument (ICE or CAPD).")}
        )
    instrument = assessment.instrument or icans_rules.default_instrument(age_years=age or 0, settings=settings)
    if assessment.encephalopathy_state == "scored":
        fields = list(ICE_FIELDS.values()) if instrument == "ice" else list(CAPD_FIELDS)
        missing = [name for name in fields if getattr(assessment, name) is None]
        if missing:
            message = (
                _("Score all five ICE items, or record “not evaluable” or “unable to perform”.")
                if instrument == "ice"
                else _("Answer all eight CAPD items, or record “not evaluable” or “unable to perform”.")
            )
            raise ValidationError({missing[0]: message})
    graded = icans_rules.grade_icans_assessment(
        icans_input(assessment, age_years=age or 0, settings=settings), settings=settings
    )
    return {
        "grade": graded.grade,
        "evaluable": graded.evaluable,
        "instrument_used": str(graded.instrument),
        "instrument_total": graded.instrument_total,
        "age_years": age,
        "criteria": graded.criteria,
        "study_day": study_day(assessment.assessment_date, day0),
        "settings_version": row.version,
    }
