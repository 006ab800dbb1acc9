"""Reads for the data-management pages (issue 7): the query list with its filters, the query
counts of the study home, and what the form page shows beside each field (query threads, SDV,
freezes and locks). Everything starts from `crf.queries.queries_for`, which passes the
visibility gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Model, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from crf import locks, sdv
from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, DataLock, Query, QueryStatus, QueryStep
from crf.queries import queries_for, queryable_fields
from crf.registry import crf_model
from study import access
from study.roles import Action
from study.subject_models import visit_model

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User

#: "Open for more than …" on the study home (days).
AGING_DAYS = 30


@dataclass(frozen=True)
class QueryFilters:
    """The query list's filters, as given on the page (blank = any)."""

    site: str = ""
    subject: int | None = None
    status: str = ""
    form: str = ""
    origin: str = ""  # "automatic", "manual" or a raiser's user id
    min_days: int | None = None


def query_list(user: User | AnonymousUser, filters: QueryFilters, *, now: datetime | None = None) -> QuerySet[Query]:
    """Queries the user may see, filtered, oldest first, with `days_open`."""
    result = queries_for(user, subject_id=filters.subject, now=now)
    if filters.status == "active":
        result = result.filter(status__in=ACTIVE_QUERY_STATUSES)
    elif filters.status:
        result = result.filter(status=filters.status)
    if filters.site:
        result = result.filter(subject__site__code=filters.site)
    if filters.form:
        model = crf_model(filters.form)
        if model is None:
            model = visit_model() if filters.form == "visit" else None
        result = result.filter(content_type=ContentType.objects.get_for_model(model)) if model else result.none()
    if filters.origin == "automatic":
        result = result.exclude(rule_code="")
    elif filters.origin == "manual":
        result = result.filter(rule_code="")
    elif filters.origin.isdigit():
        result = result.filter(raised_by_id=int(filters.origin))
    if filters.min_days is not None:
        result = result.filter(days_open__gte=filters.min_days)
    return result


def query_counts(user: User | AnonymousUser, *, now: datetime | None = None) -> dict[str, int]:
    """Counts for the study home: open, answered (awaiting close) and open or answered for more
    than AGING_DAYS days, over every query the user may see. One query."""
    now = now or timezone.now()
    return queries_for(user, statuses=ACTIVE_QUERY_STATUSES, now=now).aggregate(
        open=Count("pk", filter=Q(status=QueryStatus.OPEN)),
        answered=Count("pk", filter=Q(status=QueryStatus.ANSWERED)),
        aged=Count("pk", filter=Q(days_open__gte=AGING_DAYS)),
    )


def field_label(model: type, name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)  # type: ignore[attr-defined]
    except Exception:
        return name


def query_label(query: Query) -> tuple[str, str]:
    """(form title, field label) of a query, from the model registry (no database query)."""
    model = query.content_type.model_class()
    if model is None:
        return ("", query.field_name)
    title = str(getattr(model, "crf_title", "") or model._meta.verbose_name)
    return (title, field_label(model, query.field_name))


def query_link(query: Query) -> str:
    """The page of the queried form (or visit)."""
    model = query.content_type.model_class()
    code = getattr(model, "crf_code", "")
    if code:
        return reverse("subjects:form_edit", args=[query.subject_id, code, query.object_id])
    return reverse("subjects:visit", args=[query.subject_id, query.object_id])


def with_steps(queries: QuerySet[Query]) -> QuerySet[Query]:
    return queries.prefetch_related(Prefetch("steps", queryset=QueryStep.objects.select_related("by")))


# --- the form page -------------------------------------------------------------------------------


@dataclass
class QueryPermissions:
    answer: bool = False
    close: bool = False
    reopen: bool = False
    cancel: bool = False

    @property
    def actions(self) -> list[str]:
        """The step names (URLs) offered: "confirm" is the answer a page can take by itself."""
        steps = {"confirm": self.answer, "close": self.close, "reopen": self.reopen, "cancel": self.cancel}
        return [name for name, allowed in steps.items() if allowed]


def query_permissions(user: User | AnonymousUser, query: Query, *, locked: bool) -> QueryPermissions:
    """Which steps the page offers on one query; the services decide again on submit."""
    if locked:
        return QueryPermissions()
    site = query.subject.site
    manager = access.can(user, Action.MANAGE_QUERIES, site=site) and (
        query.is_automatic or query.raised_by_id == getattr(user, "pk", None)
    )
    return QueryPermissions(
        answer=query.status == QueryStatus.OPEN and access.can(user, Action.EDIT_CRF, site=site),
        close=manager and query.status == QueryStatus.ANSWERED,
        reopen=manager and query.status == QueryStatus.CLOSED,
        cancel=manager and query.status in ACTIVE_QUERY_STATUSES,
    )


@dataclass
class FieldNotes:
    """What the form page shows beside one field: its queries (with their threads) and SDV."""

    queries: list[Query] = field(default_factory=list)
    sdv: object = None
    sdv_cleared: object = None

    @property
    def active(self) -> int:
        return sum(1 for q in self.queries if q.status in ACTIVE_QUERY_STATUSES)


@dataclass
class FormPageData:
    locks: list[DataLock]
    lock_kind: str
    sdv: sdv.FormSdv
    fields: dict[str, FieldNotes]
    queryable: list[str]
    can_manage_queries: bool
    can_mark_sdv: bool
    can_lock: bool
    other_queries: list[Query]


def form_page_data(user: User | AnonymousUser, form: CrfInstance) -> FormPageData:
    """Queries by field (with threads and the steps this user may take), SDV marks and the
    freezes and locks over one saved form."""
    site = form.subject.site
    model = type(form)
    names = queryable_fields(model, form)
    found = locks.active_locks_over(form) if form.pk else []
    kind = locks.strongest(found)
    state = sdv.sdv_state(form)
    notes = {name: FieldNotes() for name in names}
    other: list[Query] = []
    if form.pk is not None:
        for query in with_steps(queries_for(user, form=form)).select_related("subject__site"):
            query.may = query_permissions(user, query, locked=kind == DataLock.Kind.LOCK)  # type: ignore[attr-defined]
            (notes[query.field_name].queries if query.field_name in notes else other).append(query)
    for name, note in notes.items():
        note.sdv = state.fields.get(name)
        note.sdv_cleared = state.cleared.get(name)
    return FormPageData(
        locks=found,
        lock_kind=kind,
        sdv=state,
        fields=notes,
        queryable=names,
        can_manage_queries=access.can(user, Action.MANAGE_QUERIES, site=site) and kind != DataLock.Kind.LOCK,
        can_mark_sdv=access.can(user, Action.MARK_SDV, site=site) and kind != DataLock.Kind.LOCK,
        can_lock=access.can(user, Action.FREEZE_LOCK, site=site),
        other_queries=other,
    )


# --- the casebook --------------------------------------------------------------------------------


def instance_badges(subject: object, instances: list[CrfInstance]) -> str:
    """Put SDV and freeze/lock badges on one subject's form instances on the casebook
    (`sdv_state`, `lock_kind`) and return the strongest freeze or lock over the whole subject.
    Two queries."""
    found = locks.locks_in_subject(subject)  # type: ignore[arg-type]
    whole = locks.strongest([lock for lock in found if lock.object_id is None])
    states = sdv.sdv_states(instances)
    types = ContentType.objects.get_for_models(*{type(i) for i in instances}) if instances else {}
    for instance in instances:
        ct = types[type(instance)].pk
        instance.sdv_state = states[(ct, instance.pk)].state  # type: ignore[attr-defined]
        own = [lock for lock in found if lock.content_type_id == ct and lock.object_id == instance.pk]
        instance.lock_kind = locks.strongest([*own, *(lock for lock in found if lock.object_id is None)])  # type: ignore[attr-defined]
    return whole


def record_queries(user: User | AnonymousUser, record: Model) -> list[Query]:
    """All queries on one form or visit with their threads and the steps this user may take
    (the visit page shows the automatic visit-date queries this way)."""
    locked = locks.strongest(locks.active_locks_over(record)) == DataLock.Kind.LOCK
    found = list(
        with_steps(
            queries_for(user).filter(content_type=ContentType.objects.get_for_model(type(record)), object_id=record.pk)
        )
    )
    for query in found:
        query.may = query_permissions(user, query, locked=locked)  # type: ignore[attr-defined]
    return found
