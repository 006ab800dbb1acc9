"""Reads for the safety forms: medication exposures for CRS fever masking (CLINICAL_SPEC
§1.2 b), the CTCAE term search of the AE picker (§3), and episode lookups."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from adverse_events.models import CrsEpisode
from clinical import ctcae, ctcae_zh
from clinical.crs import MedicationCategory, MedicationExposure
from crf.services import batch_memo
from dbtools.prepared import Prepared
from subjects.models import ConcomitantMedication

if TYPE_CHECKING:
    from subjects.models import Subject

#: Con-med log categories (subjects.ConcomitantMedication.category) as clinical.crs reads them.
CONMED_CATEGORIES = {
    "antipyretic": MedicationCategory.ANTIPYRETIC,
    "tocilizumab": MedicationCategory.TOCILIZUMAB,
    "corticosteroid": MedicationCategory.CORTICOSTEROID,
    "anakinra": MedicationCategory.OTHER_ANTICYTOKINE,
}
#: The con-med categories whose start date can change a CRS grade (§1.2 b).
FEVER_MASKING_CONMED_CATEGORIES = ("antipyretic", "tocilizumab", "corticosteroid")


def medication_exposures(subject: Subject) -> tuple[MedicationExposure, ...]:
    """Every con-med of the subject that may mask fever, with its start date (§1.2 b): the one
    place the CRS derivation reads the concomitant medication log. The category is the one the
    coordinator picked, never inferred from verbatim text; entries in error do not count. Read
    once for a save and its re-derivations (crf.services.batch_memo; a con-med save reads it
    again)."""
    return batch_memo(  # type: ignore[no-any-return]
        ("con-med exposures", subject.pk), lambda: _exposures(subject), stale_after=(ConcomitantMedication,)
    )


#: the subject's fever-masking con-meds, as (category, start date) in start order (dbtools.prepared:
#: compiled once; it was compiled on every CRS save)
_exposure_rows = Prepared(
    lambda subject_id: (
        ConcomitantMedication.objects.filter(
            subject_id=subject_id,
            entered_in_error=False,
            category__in=list(CONMED_CATEGORIES),
            start_date__isnull=False,
        )
        .order_by("start_date", "pk")
        .values_list("category", "start_date")
    ),
    ("subject_id",),
)


def _exposures(subject: Subject) -> tuple[MedicationExposure, ...]:
    rows = _exposure_rows.rows(subject_id=subject.pk)
    return tuple(MedicationExposure(category=CONMED_CATEGORIES[c], start_date=d) for c, d in rows)


SEARCH_LIMIT = 25


def search_ctcae_terms(query: str) -> list[ctcae.CtcaeTerm]:
    """The AE picker's search (§3): part of the term, of the system organ class, or the start
    of the MedDRA code. Names matching come first (exact, then prefix), then code and SOC hits."""
    text = " ".join(query.split())
    if not text:
        return []
    found: dict[str, ctcae.CtcaeTerm] = {}
    if text.isdigit():
        for term in ctcae.all_terms():
            if term.meddra_code.startswith(text):
                found.setdefault(term.meddra_code, term)
    for term in ctcae.search_terms(text):
        found.setdefault(term.meddra_code, term)
    # The project's Chinese names and synonyms (clinical.ctcae_zh; issue 25): the stored term
    # stays the English CTCAE term.
    for name in ctcae_zh.search_chinese(text):
        term = ctcae.term_by_name(name)
        found.setdefault(term.meddra_code, term)
    words = text.casefold().split()
    for term in ctcae.all_terms():
        soc_zh = ctcae_zh.soc_chinese(term.soc) or ""
        if all(word in term.soc.casefold() for word in words) or all(word in soc_zh for word in words):
            found.setdefault(term.meddra_code, term)
    return list(found.values())[:SEARCH_LIMIT]


def crs_episode_on(subject: Subject, day: date) -> CrsEpisode | None:
    """The CRS episode covering `day` (onset to its last grade ≥ 1 day), if any (§1.2 g)."""
    return (
        CrsEpisode.objects.filter(subject=subject, superseded=False, onset_date__lte=day, last_date__gte=day)
        .order_by("number")
        .first()
    )
