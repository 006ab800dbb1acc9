"""Edit checks of the safety data (crf.checks): the grade in source against the derived episode
grade (CLINICAL_SPEC §1.3), and the AE collection period (§3)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from adverse_events.models import RELATED, AdverseEvent, CrsEpisode, EpisodeBase, IcansEpisode
from crf.checks import edit_check

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


@edit_check(CrsEpisode, code="CRS-SOURCE-GRADE", field="source_grade", message=SOURCE_GRADE_MESSAGE)
def crs_source_grade_differs(episode: CrsEpisode) -> bool:
    return _source_differs(episode)


@edit_check(IcansEpisode, code="ICANS-SOURCE-GRADE", field="source_grade", message=SOURCE_GRADE_MESSAGE)
def icans_source_grade_differs(episode: IcansEpisode) -> bool:
    return _source_differs(episode)


#: CLINICAL_SPEC §3: collected to day 90 after infusion; after it, to 1 year, only serious AEs,
#: AEs related to CAR-T and AEs of special interest.
COLLECTION_LAST_FULL_DAY = 90
COLLECTION_LAST_DAY = 365


@edit_check(
    AdverseEvent,
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
    AdverseEvent,
    code="AE-SCREEN-FAILURE-NOT-SERIOUS",
    field="serious_death",
    message=_("For screen failures only serious AEs are collected. Please check the seriousness criteria."),
)
def screen_failure_non_serious(ae: AdverseEvent) -> bool:
    return ae.subject.status == "screen_failed" and not ae.serious
