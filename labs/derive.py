"""Derived values on lab and vital-sign forms, computed by `clinical/` with the protocol
settings in force on the form's date (DESIGN §4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import F, Q

from clinical.crs import hypotension_sbp_threshold
from clinical.ctcae import grade_lab_value
from clinical.schedule import age_in_completed_years
from clinical.units import ANALYTES, reference_flag, to_standard
from crf.derivations import register
from crf.services import batch_memo, in_batch
from labs.models import LabResult, RangeSource, ReferenceRange, VitalSigns
from study.protocol import choices_in_force, settings_picker

if TYPE_CHECKING:
    from subjects.models import Subject


@register(VitalSigns)
def derive_vital_signs(vs: VitalSigns) -> dict[str, Any]:
    """CLINICAL_SPEC §1.2 h: hypotension is SBP below the protocol's threshold for the age."""
    study_id = vs.subject.site.study_id
    if in_batch():  # the CSV import: the study's versions read once for every row's date
        row, choices = batch_memo(("protocol settings", study_id), lambda: settings_picker(study_id))(
            vs.assessment_date
        )
    else:
        row, choices = choices_in_force(study_id, vs.assessment_date)
    identity = getattr(vs.subject, "identity", None)
    if vs.systolic_bp is None or identity is None:
        return {"hypotension": None, "hypotension_threshold": None, "settings_version": row.version}
    age = age_in_completed_years(identity.date_of_birth, vs.assessment_date)
    threshold = hypotension_sbp_threshold(age_years=age, settings=choices.crs_settings())
    return {
        "hypotension": vs.systolic_bp < threshold,
        "hypotension_threshold": threshold,
        "settings_version": row.version,
    }


def reference_range_for(*, subject: Subject, analyte: str, sex: str, on: date) -> ReferenceRange | None:
    """The site's reference range for the analyte, the sex (blank = unknown) and the subject's
    age in completed years on `on` (no identity record: only a band covering every age). A
    sex-specific range wins over a both-sexes one, then the narrowest age band."""
    identity = getattr(subject, "identity", None)
    ranges = ReferenceRange.objects.filter(site_id=subject.site_id, analyte=analyte)
    ranges = ranges.filter(sex__in=[sex, ""]) if sex else ranges.filter(sex="")
    if identity is None:
        candidates = ranges.filter(age_from=0, age_to__isnull=True)
    else:
        age = age_in_completed_years(identity.date_of_birth, on)
        candidates = ranges.filter(Q(age_to__isnull=True) | Q(age_to__gt=age), age_from__lte=age)
    # sex-specific first ("" sorts first, so descending), then the band starting latest
    return candidates.order_by("-sex", "-age_from", F("age_to").asc(nulls_last=True)).first()


@register(LabResult)
def derive_lab_result(result: LabResult) -> dict[str, Any]:
    """The result and its reference range in the analyte's standard unit (exact, clinical.units),
    the L/N/H flag and the CTCAE grade it proposes (CLINICAL_SPEC §3, with the range in force).
    The report's own LLN/ULN win; without them the site's table is used."""
    entry = ANALYTES[result.analyte]
    standard = to_standard(result.value, analyte_code=entry.code, unit=result.unit)
    lln: Decimal | None
    uln: Decimal | None
    if result.lln is not None or result.uln is not None:
        source = RangeSource.REPORT
        lln, uln, unit = result.lln, result.uln, result.unit
    else:
        found = reference_range_for(
            subject=result.subject, analyte=result.analyte, sex=result.sex, on=result.collected_on
        )
        if found is None:
            source, lln, uln, unit = "", None, None, result.unit
        else:
            source, lln, uln, unit = RangeSource.SITE_TABLE, found.lln, found.uln, found.unit
    std_lln = None if lln is None else to_standard(lln, analyte_code=entry.code, unit=unit)
    std_uln = None if uln is None else to_standard(uln, analyte_code=entry.code, unit=unit)
    flag = reference_flag(standard, lln=std_lln, uln=std_uln)
    grade = grade_lab_value(entry.code, standard, lln=std_lln)
    return {
        "ctcae_term": "" if grade is None else grade.term,
        "ctcae_grade": None if grade is None else grade.grade,
        "standard_value": standard,
        "standard_unit": entry.standard_unit,
        "standard_lln": std_lln,
        "standard_uln": std_uln,
        "range_source": source,
        "flag": "" if flag is None else flag.value,
    }
