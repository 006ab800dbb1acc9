"""Reads of subjects' visits and deviations, each starting from the visibility gate
(`study.access.subjects_visible_to`, DESIGN §4 "Visibility gate", STYLE habit 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Case, CharField, DateField, ExpressionWrapper, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from clinical.schedule import VisitState, local_date
from dbtools.prepared import prepared
from study import access
from study.roles import Action
from subjects.models import IdentityRecord, ProtocolDeviation, Subject, Visit

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User


#: Subjects who are still expected at visits.
ACTIVE_STATUSES = ("enrolled", "lymphodepleted", "infused", "follow_up")

#: A visit not done (CLINICAL_SPEC §7.1): some expected form unsatisfied; a visit expecting no
#: form is done when its date is recorded (`Visit.state`, `subjects.assessments`).
NOT_DONE = Q(forms_state__in=("none", "some")) | Q(forms_state="", visit_date__isnull=True)


@prepared("subject_id")
def _identity_rows(subject_id: int) -> QuerySet[IdentityRecord]:
    return IdentityRecord.objects.filter(subject_id=subject_id)


def identity_of(subject: Subject) -> IdentityRecord | None:
    """`subject.identity` (None when the subject has no identity record), read from a statement
    compiled once (dbtools.prepared; issue 22: the reverse one-to-one's queryset was compiled on
    every derivation that needs the date of birth) and cached on the subject as the ORM caches
    it, so `getattr(subject, "identity", None)` after it reads nothing."""
    related = Subject.identity.related  # type: ignore[attr-defined]
    if related.is_cached(subject):
        return getattr(subject, "identity", None)
    found = _identity_rows.objects(subject_id=subject.pk) if subject.pk is not None else []
    record = found[0] if found else None
    related.set_cached_value(subject, record)
    if record is not None:
        related.field.set_cached_value(record, subject)
    return record


def visits_not_done(*, subjects: QuerySet[Any]) -> QuerySet[Visit]:
    """The visits not done (`NOT_DONE`) of those of `subjects` still expected at visits
    (`ACTIVE_STATUSES`): `datamanagement.hooks.visits_not_done`, the digest's visit items."""
    return Visit.objects.filter(NOT_DONE, subject__in=subjects.filter(status__in=ACTIVE_STATUSES))


@dataclass
class WorklistItem:
    visit: Visit
    state: VisitState
    today: date


def due_and_overdue(user: User | AnonymousUser, *, now: datetime) -> list[WorklistItem]:
    """Visits of visible, active subjects, not yet done, inside their window (due) or past it
    (overdue), at the sites where the user may view CRFs; overdue first, then by planned date.
    One query; the database keeps the windows already open anywhere on Earth (UTC date + 1),
    the site's own calendar date decides."""
    sites = access.sites_where(user, Action.VIEW_CRF)
    opens = ExpressionWrapper(
        F("planned_date") - Coalesce("window_before", "definition__window_before"), output_field=DateField()
    )
    candidates = (
        Visit.objects.annotate(opens=opens)
        .filter(
            NOT_DONE,
            subject__in=access.subjects_visible_to(user).filter(site__in=sites, status__in=ACTIVE_STATUSES),
            planned_date__isnull=False,
            opens__lte=now.date() + timedelta(days=1),
        )
        .exclude(definition__anchor="event")
        .select_related("definition", "subject__site")
        .order_by("planned_date", "subject__subject_id", "definition__order")
    )
    items = []
    for visit in candidates:
        today = local_date(now, visit.subject.site.time_zone)
        state = visit.state(today)
        if state in (VisitState.DUE, VisitState.OVERDUE):
            items.append(WorklistItem(visit=visit, state=state, today=today))
    items.sort(key=lambda item: item.state != VisitState.OVERDUE)
    return items


def open_visits(
    user: User | AnonymousUser,
    *,
    now: datetime,
    study_id: int | None = None,
    sites: list[tuple[int, str]] | None = None,
) -> QuerySet[Visit]:
    """The visits of `due_and_overdue` as one SQL query, for counting at any study size: each
    annotated `open_state` "overdue" (after the window's last day, `Visit.state`) or "due" (inside
    the window), on the site's own calendar date (one per visible site, passed in). Same
    subjects, sites and exclusions as the worklist; unordered. `sites` — (pk, time zone) of sites
    where the user may view CRFs, already read by the caller (the task list's top-bar count) —
    narrows it to those and saves reading them again."""
    if sites is None:
        found = access.sites_where(user, Action.VIEW_CRF)
        if study_id is not None:
            # by site key, not by a join to the study: the planner then scans the open visits once
            # (a join here made it look each subject's visits up once per site — issue 13 benchmark)
            found = found.filter(study_id=study_id)
        sites = list(found.values_list("pk", "time_zone"))
    if not sites:
        return Visit.objects.annotate(open_state=Value("", output_field=CharField())).none()
    today = Case(
        *(When(subject__site_id=pk, then=Value(local_date(now, zone))) for pk, zone in sites),
        output_field=DateField(),
    )
    opens = ExpressionWrapper(
        F("planned_date") - Coalesce("window_before", "definition__window_before"), output_field=DateField()
    )
    closes = ExpressionWrapper(
        F("planned_date") + Coalesce("window_after", "definition__window_after"), output_field=DateField()
    )
    visits = (
        Visit.objects.annotate(site_today=today, opens=opens, closes=closes)
        .filter(
            NOT_DONE,
            # the sites where the user may view CRFs are among those visible to the user, so
            # this is `subjects_visible_to` without its nested sub-queries
            subject__site_id__in=[pk for pk, _zone in sites],
            subject__status__in=ACTIVE_STATUSES,
            planned_date__isnull=False,
            opens__lte=F("site_today"),
        )
        .exclude(definition__anchor="event")
        .annotate(
            open_state=Case(
                When(closes__lt=F("site_today"), then=Value(VisitState.OVERDUE.value)),
                default=Value(VisitState.DUE.value),
                output_field=CharField(),
            )
        )
    )
    return visits.order_by()


def deviations_visible_to(user: User | AnonymousUser, *, important_only: bool = False) -> QuerySet[ProtocolDeviation]:
    """Protocol deviations of the subjects the user may see, at sites where the user may view CRF
    pages (DESIGN §4a); entered-in-error ones left out; newest first. One query with the subject
    and site."""
    sites = access.sites_where(user, Action.VIEW_CRF)
    found = ProtocolDeviation.objects.filter(
        subject__in=access.subjects_visible_to(user).filter(site__in=sites), entered_in_error=False
    )
    if important_only:
        found = found.filter(important=True)
    return found.select_related("subject__site").order_by("-deviation_date", "-pk")
