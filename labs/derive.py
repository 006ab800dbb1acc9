"""Derived values on lab and vital-sign forms, computed by `clinical/` with the protocol
settings in force on the form's date (DESIGN §4)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from clinical.crs import hypotension_sbp_threshold
from clinical.ctcae import FEVER_GRADE_2_TO_C, TemperatureReading, grade_fever_course, grade_lab_value
from clinical.schedule import age_in_completed_years
from clinical.units import ANALYTES, reference_flag, to_standard
from crf.display import zone_named
from crf.services import protocol_picker
from dbtools.prepared import Prepared
from labs.models import LabResult, RangeSource, ReferenceRange, VitalSigns
from subjects.selectors import identity_of

if TYPE_CHECKING:
    from subjects.models import Subject


def derive_vital_signs(vs: VitalSigns) -> dict[str, Any]:
    """CLINICAL_SPEC §1.2 h: hypotension is SBP below the protocol's threshold for the age."""
    study_id = vs.subject.site.study_id
    # the study's versions read once for a save (and once for every row of a CSV import)
    row, choices = protocol_picker(study_id)(vs.assessment_date)
    fever = {"fever_grade": fever_grade(vs)}
    identity = identity_of(vs.subject)
    if vs.systolic_bp is None or identity is None:
        return {"hypotension": None, "hypotension_threshold": None, "settings_version": row.version, **fever}
    age = age_in_completed_years(identity.date_of_birth, vs.assessment_date)
    threshold = hypotension_sbp_threshold(age_years=age, settings=choices.crs_settings())
    return {
        "hypotension": vs.systolic_bp < threshold,
        "hypotension_threshold": threshold,
        "settings_version": row.version,
        **fever,
    }


def _reading(vs: VitalSigns, zone_name: str) -> TemperatureReading:
    at = None
    if vs.assessment_time is not None:  # site local → UTC, so a DST change is counted right
        at = datetime.combine(vs.assessment_date, vs.assessment_time, tzinfo=zone_named(zone_name)).astimezone(UTC)
    return TemperatureReading(at=at, celsius=vs.temperature_c)


def fever_grade(vs: VitalSigns) -> int | None:
    """The CTCAE Fever grade of the record's temperature (CLINICAL_SPEC §3,
    `clinical.ctcae.grade_fever_course`). Up to 40.0 °C from the value alone; above it, from the
    subject's other readings (not entered in error), which bound how long it lasted."""
    if vs.temperature_c is None:
        return None
    zone = vs.subject.site.time_zone
    if vs.temperature_c <= FEVER_GRADE_2_TO_C:
        readings, index = [_reading(vs, zone)], 0
    else:
        others = VitalSigns.objects.filter(subject_id=vs.subject_id, entered_in_error=False).only(
            "pk", "assessment_date", "assessment_time", "temperature_c"
        )
        if vs.pk is not None:
            others = others.exclude(pk=vs.pk)
        records = [*others, vs]
        # untimed readings sort at the start of their day; they never bound a duration
        records.sort(key=lambda r: (r.assessment_date, r.assessment_time is not None, r.assessment_time, r.pk or 0))
        readings = [_reading(r, zone) for r in records]
        index = records.index(vs)
    graded = grade_fever_course(readings, index)
    return None if graded is None else graded.grade


def fever_grades(forms: list[VitalSigns]) -> dict[int, int | None]:
    """`fever_grade` of each of these stored readings of one subject, from one read of the
    subject's readings (issue 22: not one read per reading)."""
    if not forms:
        return {}
    zone = forms[0].subject.site.time_zone
    by_pk = {form.pk: form for form in forms}
    records = [
        by_pk.get(row.pk, row)
        for row in VitalSigns.objects.filter(subject_id=forms[0].subject_id, entered_in_error=False).only(
            "pk", "assessment_date", "assessment_time", "temperature_c"
        )
    ]
    records.sort(key=lambda r: (r.assessment_date, r.assessment_time is not None, r.assessment_time, r.pk or 0))
    readings = [_reading(r, zone) for r in records]
    found: dict[int, int | None] = {}
    for index, record in enumerate(records):
        if record.pk in by_pk:
            if record.temperature_c is None:
                found[record.pk] = None
                continue
            graded = grade_fever_course(readings, index)
            found[record.pk] = None if graded is None else graded.grade
    for form in forms:  # not among the subject's readings (entered in error): graded alone
        if form.pk not in found:
            found[form.pk] = fever_grade(form)
    return found


def reference_range_for(
    *, subject: Subject, analyte: str, sex: str, on: date, laboratory_id: int | None = None
) -> ReferenceRange | None:
    """The reference range in force on `on` (issue 27 item 1: the newest row of a band effective
    on or before it) for the analyte, the sex (blank = unknown) and the subject's age in
    completed years on `on` (no identity record: only a band covering every age). The result's
    laboratory's own ranges are used when it has one for the analyte in force, else the site's
    table (ranges with no laboratory). A sex-specific range wins over a both-sexes one, then the
    narrowest age band."""
    identity = identity_of(subject)
    age = None if identity is None else age_in_completed_years(identity.date_of_birth, on)

    def applies(row: ReferenceRange) -> bool:
        if row.effective_from is not None and row.effective_from > on:
            return False
        if row.sex not in ((sex, "") if sex else ("",)):
            return False
        if age is None:  # no date of birth: only a band covering every age
            return row.age_from == 0 and row.age_to is None
        return row.age_from <= age and (row.age_to is None or row.age_to > age)

    # sex-specific first, then the band starting latest, then the narrowest (no upper end last),
    # then the newest version of that band (no date last): the order the SQL `first()` used; the
    # band's unique constraint leaves no two rows of one table equal on all four
    def order(row: ReferenceRange) -> tuple[Any, ...]:
        when = row.effective_from
        return (
            row.sex == "",
            -row.age_from,
            row.age_to is None,
            row.age_to or 0,
            when is None,
            -(when.toordinal() if when is not None else 0),
        )

    candidates = sorted(
        (row for row in _site_ranges.objects(site_id=subject.site_id, analyte=analyte) if applies(row)), key=order
    )
    if laboratory_id is not None:
        own = next((row for row in candidates if row.laboratory_id == laboratory_id), None)
        if own is not None:
            return own
    return next((row for row in candidates if row.laboratory_id is None), None)


#: every range of the site for an analyte, all laboratories, bands and versions (dbtools.prepared:
#: compiled once; which one applies is chosen in Python by `reference_range_for` — the queryset
#: it replaces, with date and age filters, was compiled on every lab save, issue 22 eighth pass)
_site_ranges = Prepared(
    lambda site_id, analyte: ReferenceRange.objects.filter(site_id=site_id, analyte=analyte).order_by("pk"),
    ("site_id", "analyte"),
    texts=("analyte",),
)


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
            subject=result.subject,
            analyte=result.analyte,
            sex=result.sex,
            on=result.collected_on,
            laboratory_id=result.laboratory_id,
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
