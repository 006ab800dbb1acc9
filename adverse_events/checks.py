"""Edit checks of the safety data (crf.checks): the grade in source against the derived episode
grade (CLINICAL_SPEC §1.3), and the AE collection period (§3)."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from adverse_events.models import RELATED, AdverseEvent, CrsEpisode, EpisodeBase, IcansEpisode
from crf.checks import edit_check, run_edit_checks
from labs.models import LabResult
from subjects.lifecycle import Status
from subjects.models import first_consent_date

SOURCE_GRADE_MESSAGE = _(
    "The grade in source differs from the derived ASTCT episode grade. An investigator adjudicates the "
    "episode grade with a reason."
)


def _source_differs(episode: EpisodeBase) -> bool:
    return (
        not episode.superseded
        and episode.source_grade is not None
        and episode.adjudicated_grade is None
        and episode.source_grade != episode.derived_grade
    )


@edit_check(code="CRS-SOURCE-GRADE", field="source_grade", message=SOURCE_GRADE_MESSAGE)
def crs_source_grade_differs(episode: CrsEpisode) -> bool:
    return _source_differs(episode)


@edit_check(code="ICANS-SOURCE-GRADE", field="source_grade", message=SOURCE_GRADE_MESSAGE)
def icans_source_grade_differs(episode: IcansEpisode) -> bool:
    return _source_differs(episode)


#: CLINICAL_SPEC §3: collected to day 90 after infusion; after it, to 1 year, only serious AEs,
#: AEs related to CAR-T and AEs of special interest.
COLLECTION_LAST_FULL_DAY = 90
COLLECTION_LAST_DAY = 365


@edit_check(
    code="AE-OUTSIDE-COLLECTION",
    field="onset_date",
    message=_(
        "After day 90 only serious AEs, AEs related to CAR-T and AEs of special interest are collected "
        "(to day 365). Please check the onset date and the seriousness and relationship."
    ),
)
def outside_collection_period(ae: AdverseEvent) -> bool:
    day = ae.onset_study_day
    if day is None or ae.collection_period != "after_infusion" or day <= COLLECTION_LAST_FULL_DAY:
        return False
    qualifies = ae.serious or ae.special_interest or ae.relationship_car_t in RELATED
    return day > COLLECTION_LAST_DAY or not qualifies


@edit_check(
    code="AE-SCREEN-FAILURE-NOT-SERIOUS",
    field="serious_death",
    message=_("For screen failures only serious AEs are collected. Please check the seriousness criteria."),
)
def screen_failure_non_serious(ae: AdverseEvent) -> bool:
    return ae.subject.status == Status.SCREEN_FAILED and not ae.serious


LAB_GRADE_WITHOUT_AE = _(
    "This result proposes CTCAE grade 3 or higher (the term is shown beside it) and no adverse event "
    "with that term covers its date. Please record the AE, or explain why none is reported."
)


@edit_check(code="LB-GRADE-GE3-NO-AE", field="value", message=LAB_GRADE_WITHOUT_AE)
def lab_grade_without_ae(result: LabResult) -> bool:
    """CLINICAL_SPEC §3 "Lab-derived grades" (issue 27 §5): a result whose lab-derived grade is
    ≥ 3 suggests its AE. One query per run of consecutive grade ≥ 3 results of the analyte (only
    the first result of a run fires), only inside the AE collection period (from consent to day
    90 after the first infusion; screen failures report serious AEs only, which a lab value
    alone is not), and only when no AE with the same term covers the result's date (onset on or
    before it, and resolved on or after it or ongoing)."""
    if result.ctcae_grade is None or result.ctcae_grade < 3 or not result.ctcae_term:
        return False
    subject = result.subject
    consented = first_consent_date(subject.pk)
    if consented is None or result.collected_on < consented or subject.status == Status.SCREEN_FAILED:
        return False
    day0 = subject.day0
    if day0 is not None and (result.collected_on - day0).days > COLLECTION_LAST_FULL_DAY:
        return False
    earlier = Q(collected_on__lt=result.collected_on)
    if result.collected_time is not None:
        earlier |= Q(collected_on=result.collected_on, collected_time__lt=result.collected_time)
    previous = (
        LabResult.objects.filter(earlier, subject=subject, analyte=result.analyte, entered_in_error=False)
        .exclude(pk=result.pk)
        .order_by("-collected_on", "-collected_time")
        .values_list("ctcae_grade", flat=True)
        .first()
    )
    if previous is not None and previous >= 3:
        return False  # the run started earlier and has its query
    covered = AdverseEvent.objects.filter(
        Q(resolution_date__isnull=True) | Q(resolution_date__gte=result.collected_on),
        subject=subject,
        entered_in_error=False,
        ctcae_term=result.ctcae_term,
        onset_date__lte=result.collected_on,
    )
    return not covered.exists()


def _ae_changed_lab_checks(*, user: object, saved: AdverseEvent, previous: AdverseEvent | None) -> None:
    """An AE saved, corrected or entered in error re-runs the lab-grade rule on the subject's
    grade ≥ 3 results of its term (before and after the change), so the query suggesting the AE
    closes once an AE covers the result, and opens again when it no longer does."""
    terms = {ae.ctcae_term for ae in (previous, saved) if ae is not None}
    results = LabResult.objects.filter(
        subject=saved.subject, ctcae_term__in=terms, ctcae_grade__gte=3, entered_in_error=False
    ).select_related("subject")
    for result in results:
        run_edit_checks(result)
