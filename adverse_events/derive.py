"""Derived values of the safety forms, computed by `clinical/` with the protocol settings in
force on the form's clinical date and stored with their inputs and criteria version (DESIGN §4;
registered with crf.derivations, so `crf.services.save_form` and every re-derivation use them)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from adverse_events import grade_course
from adverse_events.models import AdverseEvent, CollectionPeriod, CrsAssessment, GradeScale, IcansAssessment
from adverse_events.rules import CAPD_FIELDS, ICE_FIELDS, crs_input, icans_input
from adverse_events.selectors import medication_exposures
from clinical import crs as crs_rules
from clinical import ctcae
from clinical import icans as icans_rules
from clinical.crs import crs_course, grade_crs_assessment
from clinical.protocol import ProtocolChoices
from clinical.schedule import age_in_completed_years, study_day
from crf.services import batch_memo, protocol_picker
from dbtools.prepared import Prepared
from study.models import ProtocolSettings
from subjects.models import Lymphodepletion, Subject
from subjects.selectors import identity_of


def first_lymphodepletion_date(subject: Subject) -> date | None:
    """Read once for a save and its re-derivations (crf.services.batch_memo)."""
    found: date | None = batch_memo(
        ("first lymphodepletion", subject.pk),
        lambda: min(
            (day for (day,) in _lymphodepletion_starts.rows(subject_id=subject.pk) if day is not None), default=None
        ),
        stale_after=(Lymphodepletion,),
    )
    return found


#: the start dates of the subject's lymphodepletion forms (their MIN as `aggregate(Min(…))` gives
#: it, taken in Python: dbtools.prepared compiles querysets, not aggregates)
_lymphodepletion_starts = Prepared(
    lambda subject_id: (
        Lymphodepletion.objects.filter(subject_id=subject_id, entered_in_error=False)
        .order_by()
        .values_list("start_date")
    ),
    ("subject_id",),
)

#: a subject's stored CRS assessments: whole rows, built from the row directly (dbtools.prepared;
#: reading their course inputs alone went through `Manager.raw` and `Model.__init__`, slower)
_crs_inputs = Prepared(
    lambda subject_id: CrsAssessment.objects.filter(subject_id=subject_id, entered_in_error=False),
    ("subject_id",),
)


def collection_period(*, onset: date, ld_start: date | None, infusion: date | None) -> str:
    """CLINICAL_SPEC §3: before lymphodepletion; during it (first LD dose date to the day before
    the first infusion); after infusion (treatment-emergent, from day 0)."""
    if infusion is not None and onset >= infusion:
        return CollectionPeriod.AFTER_INFUSION
    if ld_start is not None and onset >= ld_start:
        return CollectionPeriod.DURING_LYMPHODEPLETION
    return CollectionPeriod.BEFORE_LYMPHODEPLETION


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


@functools.lru_cache(maxsize=64)
def _course(
    inputs: tuple[crs_rules.CrsAssessment, ...],
    day0: date,
    exposures: tuple[crs_rules.MedicationExposure, ...],
    settings: crs_rules.CrsSettings,
) -> crs_rules.CrsCourse:
    """clinical.crs is pure, so one course per distinct input: the save path derives the saved
    assessment and then the subject's course from the same inputs, and gets it computed once."""
    return crs_course(inputs, infusion_date=day0, exposures=exposures, settings=settings)


def _sort_key(assessment: CrsAssessment) -> tuple[date, float]:
    return (assessment.assessment_date, assessment.pk if assessment.pk is not None else float("inf"))


@dataclass(frozen=True)
class CourseInputs:
    """The assessments as clinical.crs reads them (`crs_input`), built once for a save's course
    and its grades (issue 22, ninth pass: a CRS save built each assessment's input four times):
    in the course's order, and by the form object they came from."""

    ordered: tuple[crs_rules.CrsAssessment, ...]
    by_form: dict[int, crs_rules.CrsAssessment]


def course_inputs(
    assessments: list[CrsAssessment], known: Mapping[int, crs_rules.CrsAssessment] | None = None
) -> CourseInputs:
    """`known`: inputs built already, by the id of the form object they were built from (the
    stored assessments a CRS save reads once: `stored_crs_assessments`)."""
    known = known or {}
    by_form = {}
    for assessment in assessments:
        found = known.get(id(assessment))
        by_form[id(assessment)] = crs_input(assessment) if found is None else found
    ordered = tuple(by_form[id(assessment)] for assessment in sorted(assessments, key=_sort_key))
    return CourseInputs(ordered=ordered, by_form=by_form)


def crs_course_of(
    subject: Subject,
    assessments: list[CrsAssessment],
    *,
    exposures: tuple[crs_rules.MedicationExposure, ...],
    settings: crs_rules.CrsSettings,
    inputs: CourseInputs | None = None,
) -> crs_rules.CrsCourse:
    """The subject's CRS course (§1.3) from its assessments as given (unsaved values included);
    `inputs`: `course_inputs(assessments)` when the caller built them already."""
    if inputs is None:
        inputs = course_inputs(assessments)
    return _course(inputs.ordered, _day0(subject), exposures, settings)


def crs_assessment_values(
    subject: Subject,
    assessments: list[CrsAssessment],
    *,
    exposures: tuple[crs_rules.MedicationExposure, ...],
    pick: Callable[[date], tuple[ProtocolSettings, ProtocolChoices]],
    wanted: Collection[int | None] | None = None,
    inputs: CourseInputs | None = None,
) -> dict[int | None, dict[str, Any]]:
    """The derived fields of each of the subject's assessments (keyed by pk) within its course,
    so fever masking after antipyretic, tocilizumab or steroid exposure inside an episode applies
    (§1.2 b). One course per protocol settings version in force over the assessment dates
    (usually one): from one read of the assessments and exposures, whatever their number.
    `wanted`: only these assessments' fields (their courses still from all the assessments).
    `inputs`: `course_inputs(assessments)` when the caller built them already."""
    day0 = _day0(subject)
    derived: dict[int | None, dict[str, Any]] = {}
    by_version: dict[int, list[CrsAssessment]] = {}
    rows: dict[int, ProtocolSettings] = {}
    settings: dict[int, crs_rules.CrsSettings] = {}
    for assessment in assessments:
        if wanted is not None and assessment.pk not in wanted:
            continue
        row, choices = pick(assessment.assessment_date)
        by_version.setdefault(row.version, []).append(assessment)
        rows[row.version] = row
        settings[row.version] = choices.crs_settings()
    if by_version and inputs is None:
        inputs = course_inputs(assessments)
    for version, members in by_version.items():
        assert inputs is not None
        course = crs_course_of(subject, assessments, exposures=exposures, settings=settings[version], inputs=inputs)
        masked = {d.day: d.fever_masked for d in course.days}
        for assessment in members:
            graded = grade_crs_assessment(
                inputs.by_form[id(assessment)], fever_masked=masked[assessment.assessment_date]
            )
            derived[assessment.pk] = {
                "grade": graded.grade,
                "fever": graded.fever,
                "fever_masked": graded.fever_masked,
                "hypotension_grade": graded.hypotension_grade,
                "hypoxia_grade": graded.hypoxia_grade,
                "flags": [str(flag) for flag in graded.flags],
                "criteria": graded.criteria,
                "study_day": study_day(assessment.assessment_date, day0),
                "settings_version": rows[version].version,
            }
    return derived


#: (subject id, its stored CRS assessments, their course inputs by the id of each row object)
#: read under the subject's lock by the save service before the save
#: (`ae_crs_icans.record_crs_assessment`), for the saved assessment's derivation below: the
#: course after the save reuses the same read and inputs (issue 22, ninth pass)
_STORED_CRS: ContextVar[tuple[int, list[CrsAssessment], Mapping[int, crs_rules.CrsAssessment]] | None] = ContextVar(
    "stored_crs", default=None
)


def stored_inputs(rows: list[CrsAssessment]) -> dict[int, crs_rules.CrsAssessment]:
    """The course inputs of stored rows, by the id of each row object (`course_inputs`' `known`):
    valid while the rows' input fields are not changed (a course re-derivation writes only the
    derived ones)."""
    return {id(row): crs_input(row) for row in rows}


@contextmanager
def stored_crs_assessments(
    subject_id: int, rows: list[CrsAssessment], inputs: Mapping[int, crs_rules.CrsAssessment]
) -> Iterator[None]:
    """Inside: `derive_crs_assessment` of this subject's assessments takes `rows` as the stored
    assessments instead of reading them, with their course `inputs` (`stored_inputs(rows)`)."""
    token = _STORED_CRS.set((subject_id, rows, inputs))
    try:
        yield
    finally:
        _STORED_CRS.reset(token)


def derive_crs_assessment(assessment: CrsAssessment) -> dict[str, Any]:
    """The ASTCT grade of this assessment (CLINICAL_SPEC §1.1–1.2) within the subject's course
    (§1.3), so fever masking after antipyretic, tocilizumab or steroid exposure inside an
    episode applies (§1.2 b). Exposures come from the con-med log (adverse_events.selectors)."""
    subject = assessment.subject
    _day0(subject)
    given = _STORED_CRS.get()
    known: Mapping[int, crs_rules.CrsAssessment] | None = None
    if given is not None and given[0] == subject.pk:
        stored, known = given[1], given[2]
    else:
        stored = _crs_inputs.objects(subject_id=subject.pk)
    course = [*(row for row in stored if row.pk != assessment.pk), assessment]
    return crs_assessment_values(
        subject,
        course,
        exposures=medication_exposures(subject),
        pick=protocol_picker(subject.site.study_id),
        wanted=(assessment.pk,),  # the others are graded by the course re-derivation after the save
        inputs=course_inputs(course, known),
    )[assessment.pk]


def icans_settings(choices: Any) -> icans_rules.IcansSettings:
    """The ICANS rules' view of the protocol choices: CAPD age boundary (§2.3), episode gap (§1.3)."""
    return icans_rules.IcansSettings(
        capd_below_age_years=choices.capd_below_age, episode_gap_days=choices.crs_episode_gap_days
    )


def subject_age(subject: Subject, on: date) -> int | None:
    identity = identity_of(subject)
    return None if identity is None else age_in_completed_years(identity.date_of_birth, on)


def derive_icans_assessment(assessment: IcansAssessment) -> dict[str, Any]:
    """The ASTCT ICANS grade (CLINICAL_SPEC §2.2–2.3): instrument by age unless chosen, each
    domain on its own, the most severe counted domain; ``grade`` None = "not evaluable"."""
    subject = assessment.subject
    return icans_assessment_values(
        assessment,
        pick=protocol_picker(subject.site.study_id),
        age=subject_age(subject, assessment.assessment_date),
    )


def icans_assessment_values(
    assessment: IcansAssessment,
    *,
    pick: Callable[[date], tuple[ProtocolSettings, ProtocolChoices]],
    age: int | None,
) -> dict[str, Any]:
    """`derive_icans_assessment` with the settings and the age given, so a course re-derivation
    reads them once for all the subject's assessments."""
    day0 = _day0(assessment.subject)
    row, choices = pick(assessment.assessment_date)
    settings = icans_settings(choices)
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
