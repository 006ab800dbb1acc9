"""Lock checklist items of the subjects app (issue 26 item 3): expected forms missing — a
scheduled visit whose window has closed on the site's calendar without a visit date."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinical.schedule import local_date
from datamanagement.checklist import Item, declare
from subjects.models import Visit

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from study.models import Study
    from subjects.models import Subject


@declare("visits", gettext_lazy("Expected visits missing (window closed, no visit date)"))
def missing_visits(*, study: Study, subjects: QuerySet[Subject]) -> list[Item]:
    now = timezone.now()
    items = []
    visits = (
        Visit.objects.filter(subject__in=subjects, visit_date__isnull=True, planned_date__isnull=False)
        .select_related("definition", "subject__site")
        .order_by("subject__subject_id", "definition__order")
    )
    for visit in visits:
        state = visit.state(local_date(now, visit.subject.site.time_zone))
        if state is None or state != "overdue":
            continue
        items.append(
            Item(
                kind="visits",
                subject=visit.subject.subject_id,
                label=_("%(visit)s planned %(date)s: no visit date")
                % {"visit": visit.definition.code, "date": visit.planned_date.isoformat()},
                url=reverse("subjects:visit", args=[visit.subject_id, visit.pk]),
            )
        )
    return items
