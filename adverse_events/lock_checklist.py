"""Lock checklist items of the safety app (issue 26 item 3): DLT candidates awaiting
adjudication and SAEs not yet marked reported to the sponsor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from adverse_events import dlt_text
from adverse_events.models import CandidateStatus, DltCandidate, SaeReport
from datamanagement.checklist import Item, declare
from study.language import ctcae_term_label

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from study.models import Study
    from subjects.models import Subject


@declare("dlt", gettext_lazy("DLT candidates awaiting adjudication"))
def dlt_awaiting(*, study: Study, subjects: QuerySet[Subject]) -> list[Item]:
    rows = (
        DltCandidate.objects.filter(subject__in=subjects, withdrawn=False, status=CandidateStatus.AWAITING)
        .select_related("subject")
        .order_by("subject__subject_id", "onset_day", "pk")
    )
    return [
        Item(
            kind="dlt",
            subject=c.subject.subject_id,
            label=_("Day %(day)s: %(finding)s") % {"day": c.onset_day, "finding": dlt_text.finding_text(c)},
            url=reverse("adverse_events:dlt_candidate", args=[c.pk]),
        )
        for c in rows
    ]


@declare("sae", gettext_lazy("SAEs not reported to the sponsor"))
def sae_unreported(*, study: Study, subjects: QuerySet[Subject]) -> list[Item]:
    rows = (
        SaeReport.objects.filter(
            adverse_event__subject__in=subjects, reported_at__isnull=True, adverse_event__entered_in_error=False
        )
        .select_related("adverse_event__subject")
        .order_by("adverse_event__subject__subject_id", "aware_at")
    )
    return [
        Item(
            kind="sae",
            subject=r.adverse_event.subject.subject_id,
            label=_("%(term)s (site aware %(at)s UTC)")
            % {
                "term": f"{ctcae_term_label(r.adverse_event.ctcae_term)} G{r.adverse_event.grade}",
                "at": r.aware_at.strftime("%Y-%m-%d %H:%M"),
            },
            url=reverse("adverse_events:sae", args=[r.adverse_event.subject_id, r.adverse_event_id]),
        )
        for r in rows
    ]
