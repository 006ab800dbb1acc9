"""The values a DLT candidate was flagged on (issue 24 item 3: "the DLT adjudication page shows
the finding with its supporting values — the ALT series, the AE and its grades"), read for the
candidate page. The finding's own text is rendered as before (`dlt_finding`); these are the
forms beside it, each value through the display layer (labels, units), each date with its study
day. A fixed number of queries per candidate (one per section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from adverse_events.grade_course import course_of
from adverse_events.models import (
    AdverseEvent,
    CandidateCriterion,
    CrsAssessment,
    DltCandidate,
    GvhdStaging,
    IcansAssessment,
)
from clinical.units import decimal_text
from crf import display
from crf.templatetags.dayzero import dated
from labs.models import LabResult
from study.language import ctcae_term_label

#: study days after the onset whose assessments are shown (the "≥ 4 consecutive days" rules
#: and a week either side of the AE rule's 7-day recovery)
DAYS_AFTER_ONSET = 14
DAYS_BEFORE_ONSET = 3


#: CTCAE v5.0 Investigations / metabolic terms and the analytes that measure them: the series
#: shown beside an "other AE" candidate of that term (e.g. the ALT series, issue 24)
LAB_TERMS: dict[str, tuple[str, ...]] = {
    "Alanine aminotransferase increased": ("ALT",),
    "Aspartate aminotransferase increased": ("AST",),
    "Blood bilirubin increased": ("TBIL",),
    "Creatinine increased": ("CREAT",),
    "Acute kidney injury": ("CREAT",),
    "Neutrophil count decreased": ("ANC",),
    "Platelet count decreased": ("PLT",),
    "White blood cell decreased": ("WBC",),
    "Lymphocyte count decreased": ("ALC",),
    "Anemia": ("HGB",),
    "Hypoalbuminemia": ("ALB",),
    "Fibrinogen decreased": ("FIB",),
    "INR increased": ("INR",),
    "Activated partial thromboplastin time prolonged": ("APTT",),
    "Hypokalemia": ("K",),
    "Hyperkalemia": ("K",),
    "Hyponatremia": ("NA",),
    "Hypernatremia": ("NA",),
    "Hyperuricemia": ("URATE",),
}


@dataclass
class Section:
    title: Any
    headers: list[Any]
    rows: list[list[str]] = field(default_factory=list)
    link: str = ""


def supporting_values(candidate: DltCandidate) -> list[Section]:
    subject = candidate.subject
    day0 = subject.day0
    if day0 is None:
        return []
    first = day0 + timedelta(days=candidate.onset_day - DAYS_BEFORE_ONSET)
    last = day0 + timedelta(days=candidate.onset_day + DAYS_AFTER_ONSET)
    sections: list[Section] = []
    criterion = candidate.criterion
    if criterion == CandidateCriterion.CRS:
        sections.append(_crs(subject, first, last, day0))
    elif criterion == CandidateCriterion.ICANS:
        sections.append(_icans(subject, first, last, day0))
    elif criterion == CandidateCriterion.GVHD:
        sections.append(_gvhd(subject, first, last, day0))
    elif criterion == CandidateCriterion.CYTOPENIA:
        sections.append(_labs(subject, first, last, day0, analytes=("ANC", "PLT")))
    ae = candidate.adverse_event
    if ae is not None:
        sections.append(_ae(ae, day0))
        if ae.ctcae_term and criterion == CandidateCriterion.OTHER_AE:
            labs = _labs(subject, first, last, day0, term=ae.ctcae_term)
            if labs.rows:
                sections.append(labs)
    return sections


def _crs(subject: Any, first: Any, last: Any, day0: Any) -> Section:
    section = Section(
        title=_("CRS assessments"),
        headers=[_("date"), _("Tmax (°C)"), _("hypotension"), _("vasopressors in use"), _("oxygen device"), _("grade")],
    )
    rows = CrsAssessment.objects.filter(
        subject=subject, entered_in_error=False, assessment_date__range=(first, last)
    ).order_by("assessment_date", "assessment_time", "pk")
    for row in rows:
        oxygen = display.field_text(row, "oxygen_device")
        if row.oxygen_flow_l_min is not None:
            oxygen = f"{oxygen} · {display.field_text(row, 'oxygen_flow_l_min')}"
        section.rows.append(
            [
                dated(row.assessment_date, day0),
                display.field_text(row, "tmax_c"),
                display.field_text(row, "hypotension"),
                display.field_text(row, "vasopressors"),
                oxygen,
                display.field_text(row, "grade"),
            ]
        )
    return section


def _icans(subject: Any, first: Any, last: Any, day0: Any) -> Section:
    section = Section(
        title=_("ICANS assessments"),
        headers=[_("date"), _("ICE / CAPD total"), _("level of consciousness"), _("grade")],
    )
    rows = IcansAssessment.objects.filter(
        subject=subject, entered_in_error=False, assessment_date__range=(first, last)
    ).order_by("assessment_date", "assessment_time", "pk")
    for row in rows:
        section.rows.append(
            [
                dated(row.assessment_date, day0),
                display.field_text(row, "instrument_total"),
                display.field_text(row, "consciousness"),
                display.field_text(row, "grade") if row.grade is not None else str(_("not evaluable")),
            ]
        )
    return section


def _gvhd(subject: Any, first: Any, last: Any, day0: Any) -> Section:
    section = Section(title=_("GvHD staging"), headers=[_("date"), _("MAGIC overall grade")])
    rows = GvhdStaging.objects.filter(subject=subject, entered_in_error=False).order_by("assessment_date", "pk")
    for row in rows:
        section.rows.append([dated(row.assessment_date, day0), display.field_text(row, "overall_grade")])
    return section


def _labs(subject: Any, first: Any, last: Any, day0: Any, *, analytes: tuple[str, ...] = (), term: str = "") -> Section:
    section = Section(
        title=_("Laboratory results"),
        headers=[_("date"), _("analyte"), _("result"), _("CTCAE grade (lab-derived)")],
    )
    rows = LabResult.objects.filter(subject=subject, entered_in_error=False, collected_on__range=(first, last))
    if term:  # the analytes of the AE's term, and any result whose lab-derived CTCAE term it is
        rows = rows.filter(Q(analyte__in=LAB_TERMS.get(term, ())) | Q(ctcae_term=term))
    else:
        rows = rows.filter(analyte__in=analytes)
    for row in rows.order_by("collected_on", "collected_time", "analyte", "pk"):
        section.rows.append(
            [
                dated(row.collected_on, day0),
                display.field_text(row, "analyte"),
                f"{decimal_text(row.value)} {display.field_text(row, 'unit')}",
                display.field_text(row, "ctcae_grade"),
            ]
        )
    return section


def _ae(ae: AdverseEvent, day0: Any) -> Section:
    """The AE's dated grade course (issue 30), then its resolution."""
    section = Section(
        title=f"{_('Adverse event and its grades')}: {ctcae_term_label(ae.ctcae_term)}",
        headers=[_("from"), _("grade")],
    )
    for change in course_of(ae):
        section.rows.append([dated(change.from_date, day0), str(change.grade)])
    if ae.resolution_date:
        section.rows.append([dated(ae.resolution_date, day0), str(_("resolved"))])
    else:
        section.rows.append(["—", str(_("not resolved"))])
    return section
