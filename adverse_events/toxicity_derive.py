"""Derived values of the toxicity forms (DESIGN §4; registered with crf.derivations so every save
and re-derivation computes them): MAGIC stages and grade (CLINICAL_SPEC §4.3), study days, and
the MedDRA code of an infection's CTCAE term (§3)."""

from __future__ import annotations

from typing import Any

from adverse_events.models import GvhdStaging, HospitalStay, IecHsAssessment, Infection
from adverse_events.toxicity_rules import gvhd_input
from clinical import ctcae
from clinical.gvhd import stage_gvhd
from clinical.schedule import study_day
from study.protocol import choices_in_force


def derive_gvhd_staging(staging: GvhdStaging) -> dict[str, Any]:
    """Organ stages and the overall grade by clinical.gvhd with the child-weight setting in force
    on the assessment date (§4.3)."""
    subject = staging.subject
    row, choices = choices_in_force(subject.site.study_id, staging.assessment_date)
    staged = stage_gvhd(gvhd_input(staging), choices.gvhd_settings())
    day0 = subject.day0
    return {
        "skin_stage": staged.skin_stage,
        "liver_stage": staged.liver_stage,
        "upper_gi_stage": staged.upper_gi_stage,
        "lower_gi_stage": staged.lower_gi_stage,
        "overall_grade": staged.overall_grade,
        "bilirubin_mg_dl": None if staged.bilirubin_mg_dl is None else round(staged.bilirubin_mg_dl, 4),
        "child_column": staged.child_column,
        "criteria": staged.criteria,
        "study_day": None if day0 is None else study_day(staging.assessment_date, day0),
        "settings_version": row.version,
    }


def derive_iec_hs(form: IecHsAssessment) -> dict[str, Any]:
    day0 = form.subject.day0
    return {"study_day": None if day0 is None else study_day(form.assessment_date, day0)}


def derive_infection(form: Infection) -> dict[str, Any]:
    term = ctcae.term_by_name(form.ctcae_term)
    day0 = form.subject.day0
    return {
        "ctcae_term": term.name,
        "meddra_code": term.meddra_code,
        "ctcae_version": ctcae.CTCAE_VERSION,
        "onset_study_day": None if day0 is None else study_day(form.onset_date, day0),
    }


def derive_hospital_stay(form: HospitalStay) -> dict[str, Any]:
    day0 = form.subject.day0
    return {
        "admission_study_day": None if day0 is None else study_day(form.admission_date, day0),
        "length_of_stay_days": None
        if form.discharge_date is None
        else (form.discharge_date - form.admission_date).days,
    }
