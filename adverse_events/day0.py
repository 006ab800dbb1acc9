"""What the safety forms count from day 0 (CLINICAL_SPEC §7; DESIGN "Day-0 clock"): when the
first infusion moves day 0, `subjects.services.treatment.reanchor_day0` re-derives the subject's day-0
forms one by one and then calls `subjects.hooks.day0_moved`, implemented here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adverse_events.models import IcahtDerivation
from adverse_events.services import ae_crs_icans as services
from adverse_events.services import dlt as dlt_services
from adverse_events.services import icaht as icaht_services

if TYPE_CHECKING:
    from study.models import User
    from subjects.models import Subject


def rederive_from_day0(*, user: User, subject: Subject, reason: str) -> None:
    """The CRS and ICANS courses (§1.3, §2.3: their assessments' study days, episodes and
    system-owned AEs), ICAHT (§4.1: the ANC days) and the DLT candidates (§3.1: the window from
    day 0), in the caller's transaction, audited with `reason`."""
    services.rederive_crs_course(user=user, subject=subject, reason=reason)
    services.rederive_icans_course(user=user, subject=subject, reason=reason)
    if IcahtDerivation.objects.filter(subject=subject).exists() or icaht_services.anc_series(subject):
        icaht_services.rederive_icaht(user=user, subject=subject, reason=reason)
    dlt_services.recompute_candidates(subject=subject)
