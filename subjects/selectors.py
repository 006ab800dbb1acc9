"""Reads of subjects. `subjects_visible_to` is the visibility gate (DESIGN §4 "Visibility gate",
STYLE habit 5): every view, API, export and dashboard reaches subjects only through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, CharField, Count, DateField, ExpressionWrapper, F, QuerySet, Value, When
from django.http import Http404

from clinical.schedule import VisitState, local_date, study_day
from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, Query
from study import access
from study.roles import Action
from subjects.models import ProtocolDeviation, Subject, Visit

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User


def subjects_visible_to(user: User | AnonymousUser) -> QuerySet[Subject]:
    """Subjects at the sites where the user holds an active role; nothing for anyone else."""
    return Subject.objects.filter(site__in=access.sites_visible_to(user)).select_related("site", "site__study")


def access_subject(user: User | AnonymousUser, subject_pk: int | str, action: Action) -> Subject:
    """The subject, if visible (else 404) and `action` is allowed at its site (else 403)."""
    try:
        subject = subjects_visible_to(user).get(pk=subject_pk)
    except (Subject.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    access.require(user, action, site=subject.site)
    return subject


@dataclass
class Cell:
    """One form type at one visit (or outside visits): its instances and their open queries."""

    code: str
    title: str
    instances: list[CrfInstance] = field(default_factory=list)
    queries: int = 0


@dataclass
class CasebookRow:
    visit: Visit | None
    state: VisitState | None
    queries: int
    cells: list[Cell]


@dataclass
class Casebook:
    subject: Subject
    today: date
    day0: date | None
    study_day_today: int | None
    codes: list[tuple[str, str]]
    rows: list[CasebookRow]


def casebook(subject: Subject, *, today: date) -> Casebook:
    """Visits × forms for one subject, with entry status and open-query counts, in a fixed
    number of queries whatever the number of visits or forms (one per form type, one for the
    visits, one for the query counts)."""
    from crf.registry import crf_models

    models = {
        code: model
        for code, model in sorted(crf_models().items(), key=lambda item: (item[1].casebook_order, item[0]))
        if not getattr(model, "lifecycle_form", False)
    }
    visits = list(Visit.objects.filter(subject=subject).select_related("definition").order_by("definition__order"))
    for visit in visits:
        visit.subject = subject
    instances: dict[str, list[CrfInstance]] = {
        code: list(model._default_manager.filter(subject=subject, entered_in_error=False).order_by("pk"))
        for code, model in models.items()
    }
    types = ContentType.objects.get_for_models(Visit, *models.values())
    counts = {
        (row["content_type"], row["object_id"]): row["n"]
        for row in Query.objects.filter(subject=subject, status__in=ACTIVE_QUERY_STATUSES)
        .values("content_type", "object_id")
        .annotate(n=Count("pk"))
    }

    def cells_for(visit_id: int | None) -> list[Cell]:
        cells = []
        for code, model in models.items():
            cell = Cell(code=code, title=str(model.crf_title))
            group = getattr(model, "casebook_group", None)
            shown: set[object] = set()
            for instance in instances[code]:
                if instance.visit_id == visit_id:
                    instance.subject = subject
                    cell.queries += counts.get((types[model].pk, instance.pk), 0)
                    # forms entered several rows at a time (a lab panel) show once per group
                    key = group(instance) if group is not None else instance.pk
                    if key not in shown:
                        shown.add(key)
                        cell.instances.append(instance)
            cells.append(cell)
        return cells

    rows = [
        CasebookRow(
            visit=visit,
            state=visit.state(today),
            queries=counts.get((types[Visit].pk, visit.pk), 0),
            cells=cells_for(visit.pk),
        )
        for visit in visits
    ]
    unscheduled = cells_for(None)
    if any(cell.instances for cell in unscheduled):
        rows.append(CasebookRow(visit=None, state=None, queries=0, cells=unscheduled))
    day0 = subject.day0
    return Casebook(
        subject=subject,
        today=today,
        day0=day0,
        study_day_today=None if day0 is None else study_day(today, day0),
        codes=[(code, str(model.crf_title)) for code, model in models.items()],
        rows=rows,
    )


#: Subjects who are still expected at visits.
ACTIVE_STATUSES = ("enrolled", "lymphodepleted", "infused", "follow_up")


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
    opens = ExpressionWrapper(F("planned_date") - F("definition__window_before"), output_field=DateField())
    candidates = (
        Visit.objects.annotate(opens=opens)
        .filter(
            subject__in=subjects_visible_to(user).filter(site__in=sites, status__in=ACTIVE_STATUSES),
            visit_date__isnull=True,
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


def open_visits(user: User | AnonymousUser, *, now: datetime, study_id: int | None = None) -> QuerySet[Visit]:
    """The visits of `due_and_overdue` as one SQL query, for counting at any study size: each
    annotated `open_state` "overdue" (after the window's last day, `Visit.state`) or "due" (inside
    the window), on the site's own calendar date (one per visible site, passed in). Same
    subjects, sites and exclusions as the worklist; unordered."""
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
    opens = ExpressionWrapper(F("planned_date") - F("definition__window_before"), output_field=DateField())
    closes = ExpressionWrapper(F("planned_date") + F("definition__window_after"), output_field=DateField())
    visits = (
        Visit.objects.annotate(site_today=today, opens=opens, closes=closes)
        .filter(
            # the sites where the user may view CRFs are among those visible to the user, so
            # this is `subjects_visible_to` without its nested sub-queries
            subject__site_id__in=[pk for pk, _zone in sites],
            subject__status__in=ACTIVE_STATUSES,
            visit_date__isnull=True,
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
        subject__in=subjects_visible_to(user).filter(site__in=sites), entered_in_error=False
    )
    if important_only:
        found = found.filter(important=True)
    return found.select_related("subject__site").order_by("-deviation_date", "-pk")
