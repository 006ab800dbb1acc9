"""Queries (data clarifications, DESIGN §4 "Queries"): services and the query list selector.

Life of a query: `open → answered → closed | cancelled`, and `closed → open` on re-opening.

- raised by the edit-check runner (crf.checks: automatic, `rule_code` set, no raiser) or by a
  monitor or data manager on one field of a form (manual, `raised_by` set);
- answered by site staff (coordinator, investigator): the value was corrected on the form
  (through `crf.services.save_form`) or is confirmed as it stands, with a reason;
- closed, re-opened and cancelled by the raiser — automatic queries by any monitor or data
  manager at the subject's site (DESIGN §4a).

Every step writes a `QueryStep` (the query's visible thread) inside `audit_context`. A freeze
allows query actions; a lock refuses them (crf.locks). Services raise `PermissionDenied` for a
role that may not act at the subject's site and `ValidationError` for anything else refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import DurationField, ExpressionWrapper, F, QuerySet, Value
from django.db.models.functions import Coalesce, Extract
from django.utils import timezone
from django.utils.translation import gettext as _

from crf import locks
from crf.checks import jsonable
from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, Query, QueryStatus, QueryStep
from study import access
from study.access import subjects_visible_to
from study.audit_context import audit_context
from study.roles import Action

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User

#: Base fields a query may not name: bookkeeping of the form, not data a site can correct.
_NOT_QUERYABLE = frozenset({"entry_status", "missing"})


def queryable_fields(model: type[CrfInstance], record: CrfInstance | None = None) -> list[str]:
    """The fields of a form a monitor or data manager may raise a query on: its editable data
    (of the record's own CRF version when a record is given, crf.versions)."""
    from crf.services import data_fields

    editable = {f.name for f in model._meta.concrete_fields if f.editable}
    hidden = record.hidden_fields if record is not None else frozenset()
    return [
        name for name in data_fields(model) if name in editable and name not in _NOT_QUERYABLE and name not in hidden
    ]


def _form_of(query: Query) -> CrfInstance:
    """The query's form (or, for an automatic visit-date query, its visit) as stored now."""
    model = query.content_type.model_class()
    assert model is not None
    return model._default_manager.select_related("subject__site").get(pk=query.object_id)  # type: ignore[no-any-return]


def _locked_query(query: Query) -> Query:
    """The query's row, locked for this transaction, so two steps cannot race on its status."""
    return (
        Query.objects.select_for_update(of=("self",)).select_related("subject__site", "content_type").get(pk=query.pk)
    )


def _refuse_transition(message: str) -> ValidationError:
    return ValidationError(message, code="invalid_transition")


def _require_text(text: str, field: str, message: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError({field: message}, code="required")
    return text


def _require_manager(user: User, query: Query) -> None:
    """DESIGN §4a: close, re-open and cancel are the raiser's (a monitor or data manager); an
    automatic query has no raiser, so any monitor or data manager at the site acts on it."""
    access.require(user, Action.MANAGE_QUERIES, site=query.subject.site)
    if not query.is_automatic and query.raised_by_id != user.pk:
        raise PermissionDenied


StepHook = Callable[..., None]
_step_hooks: list[StepHook] = []


def on_query_step(func: StepHook) -> StepHook:
    """Register what must happen after a person takes a step on a query (raise, answer, close,
    re-open, cancel) — e.g. datamanagement notifying the site or the raiser (issue 31). Called
    inside the step's transaction, after the step is written, as `hook(query=…, step=…)`.
    Automatic steps (the edit-check runner) do not call it. A lower layer's declared hook, so
    crf never imports upward (DESIGN §3)."""
    _step_hooks.append(func)
    return func


def _add_step(query: Query, *, action: str, by: User | None, at: datetime, text: str = "") -> QueryStep:
    step = QueryStep(query=query, action=action, by=by, at=at, text=text)
    step.full_clean()
    step.save()
    for hook in _step_hooks:
        hook(query=query, step=step)
    return step


def _opened_at(query: Query) -> datetime:
    """When the query was last raised or re-opened."""
    last = (
        query.steps.filter(action__in=[QueryStep.Action.RAISED, QueryStep.Action.REOPENED])
        .order_by("-at", "-pk")
        .values_list("at", flat=True)
        .first()
    )
    return last or query.raised_at


@transaction.atomic
def raise_query(*, user: User, form: CrfInstance, field_name: str, text: str) -> Query:
    """A monitor or data manager queries one field of a saved form (manual query)."""
    if form.pk is None:
        raise ValidationError(_("Save the form before raising a query on it."), code="unsaved")
    model = type(form)
    current = model.objects.select_related("subject__site").get(pk=form.pk)
    site = current.subject.site
    access.require(user, Action.MANAGE_QUERIES, site=site)
    if field_name not in queryable_fields(model, current):
        raise ValidationError({"field_name": _("This form has no such field to query.")}, code="invalid_field")
    if current.entered_in_error:
        raise ValidationError(
            _("This form was marked entered in error: queries cannot be raised on it."), code="removed"
        )
    text = _require_text(text, "text", _("Write the query text."))
    locks.assert_not_locked(current)
    now = timezone.now()
    with audit_context(user=user, site=site, reason=text):
        query = Query(
            subject=current.subject,
            content_type=ContentType.objects.get_for_model(model),
            object_id=current.pk,
            field_name=field_name,
            rule_code="",
            text=text,
            value=jsonable(getattr(current, field_name)),
            status=QueryStatus.OPEN,
            raised_by=user,
            raised_at=now,
        )
        query.full_clean()
        query.save()
        _add_step(query, action=QueryStep.Action.RAISED, by=user, at=now, text=text)
    return query


@transaction.atomic
def answer_query(*, user: User, query: Query, answer: Query.Answer, text: str) -> Query:
    """Site staff answer an open query.

    `corrected`: the value was corrected on the form through the save service after the query
    was (re-)opened — refused otherwise; the step records the value before and after.
    `confirmed`: the value stands as entered; `text` gives the reason. The confirmed value is
    recorded on the query, so that once closed the rule is not raised again for it.
    """
    query = _locked_query(query)
    site = query.subject.site
    access.require(user, Action.EDIT_CRF, site=site)
    if query.status != QueryStatus.OPEN:
        raise _refuse_transition(_("Only an open query can be answered."))
    form = _form_of(query)
    locks.assert_not_locked(form)
    if answer not in Query.Answer.values:
        raise ValidationError({"answer": _("Say whether the value was corrected or is confirmed.")}, code="invalid")
    answer = Query.Answer(answer)
    text = text.strip()
    now = timezone.now()
    current_value = jsonable(getattr(form, query.field_name))
    if answer == Query.Answer.CONFIRMED:
        text = _require_text(text, "text", _("Give the reason the value is correct as entered."))
        step_text = text
        query.value = current_value
    else:
        updated_at = getattr(form, "updated_at", None)  # a visit keeps no save time: compare values
        if (updated_at is not None and updated_at <= _opened_at(query)) or (
            updated_at is None and current_value == query.value
        ):
            raise _refuse_transition(
                _("The form has not been saved since this query was raised: correct the value on the form first.")
            )
        step_text = _("Value corrected from %(old)s to %(new)s.") % {
            "old": _display(query.value),
            "new": _display(current_value),
        }
        if text:
            step_text = f"{step_text} {text}"
    query.status = QueryStatus.ANSWERED
    query.answer = answer
    query.answer_text = text
    query.answered_by = user
    query.answered_at = now
    with audit_context(user=user, site=site, reason=step_text):
        query.full_clean(exclude=["subject", "content_type"])
        query.save(update_fields=["status", "answer", "answer_text", "answered_by", "answered_at", "value"])
        _add_step(query, action=QueryStep.Action.ANSWERED, by=user, at=now, text=step_text)
    return query


def _display(value: object) -> str:
    return _("(blank)") if value in (None, "") else str(value)


@transaction.atomic
def close_query(*, user: User, query: Query, note: str = "") -> Query:
    """The raiser (automatic queries: a monitor or data manager) accepts the site's answer."""
    query = _locked_query(query)
    _require_manager(user, query)
    if query.status != QueryStatus.ANSWERED:
        raise _refuse_transition(_("Only an answered query can be closed; cancel it if it is no longer needed."))
    locks.assert_not_locked(_form_of(query))
    note = note.strip()
    now = timezone.now()
    query.status = QueryStatus.CLOSED
    query.closed_by = user
    query.closed_at = now
    query.close_reason = note
    with audit_context(user=user, site=query.subject.site, reason=note):
        query.full_clean(exclude=["subject", "content_type"])
        query.save(update_fields=["status", "closed_by", "closed_at", "close_reason"])
        _add_step(query, action=QueryStep.Action.CLOSED, by=user, at=now, text=note)
    return query


@transaction.atomic
def reopen_query(*, user: User, query: Query, text: str) -> Query:
    """The raiser (automatic queries: a monitor or data manager) re-opens a closed query: the
    answer is cleared (it stays in the steps) and the site answers afresh."""
    query = _locked_query(query)
    _require_manager(user, query)
    if query.status != QueryStatus.CLOSED:
        raise _refuse_transition(_("Only a closed query can be re-opened."))
    form = _form_of(query)
    if getattr(form, "entered_in_error", False):
        raise _refuse_transition(_("This form was marked entered in error: its queries cannot be re-opened."))
    text = _require_text(text, "text", _("Say why the query is re-opened."))
    locks.assert_not_locked(form)
    if (
        query.is_automatic
        and Query.objects.filter(
            content_type_id=query.content_type_id,
            object_id=query.object_id,
            field_name=query.field_name,
            rule_code=query.rule_code,
            status__in=ACTIVE_QUERY_STATUSES,
        )
        .exclude(pk=query.pk)
        .exists()
    ):
        raise _refuse_transition(_("A newer query on this rule and field is still open: answer that one."))
    now = timezone.now()
    query.status = QueryStatus.OPEN
    query.value = jsonable(getattr(form, query.field_name))
    query.answer = ""
    query.answer_text = ""
    query.answered_by = None
    query.answered_at = None
    query.closed_by = None
    query.closed_at = None
    query.close_reason = ""
    with audit_context(user=user, site=query.subject.site, reason=text):
        query.full_clean(exclude=["subject", "content_type"])
        query.save(
            update_fields=[
                "status",
                "value",
                "answer",
                "answer_text",
                "answered_by",
                "answered_at",
                "closed_by",
                "closed_at",
                "close_reason",
            ]
        )
        _add_step(query, action=QueryStep.Action.REOPENED, by=user, at=now, text=text)
    return query


@transaction.atomic
def cancel_query(*, user: User, query: Query, reason: str) -> Query:
    """The raiser (automatic queries: a monitor or data manager) withdraws an open or answered
    query, with a reason. Cancelled is final."""
    query = _locked_query(query)
    _require_manager(user, query)
    if query.status not in ACTIVE_QUERY_STATUSES:
        raise _refuse_transition(_("Only an open or answered query can be cancelled."))
    reason = _require_text(reason, "reason", _("Give a reason for cancelling the query."))
    locks.assert_not_locked(_form_of(query))
    now = timezone.now()
    query.status = QueryStatus.CANCELLED
    query.closed_by = user
    query.closed_at = now
    query.close_reason = reason
    with audit_context(user=user, site=query.subject.site, reason=reason):
        query.full_clean(exclude=["subject", "content_type"])
        query.save(update_fields=["status", "closed_by", "closed_at", "close_reason"])
        _add_step(query, action=QueryStep.Action.CANCELLED, by=user, at=now, text=reason)
    return query


def queries_for(
    user: User | AnonymousUser,
    *,
    statuses: Iterable[str] | None = None,
    subject_id: int | None = None,
    form: CrfInstance | None = None,
    now: datetime | None = None,
) -> QuerySet[Query]:
    """Queries on subjects the user may see (the visibility gate) at sites where the user may
    view CRF pages, oldest first, each annotated with `days_open`: whole days from raising to
    closing or cancelling, or to `now` while active (aging, DESIGN §4 "Queries")."""
    now = now or timezone.now()
    visible = subjects_visible_to(user).filter(site__in=access.sites_where(user, Action.VIEW_CRF))
    result = Query.objects.filter(subject__in=visible)
    if statuses is not None:
        result = result.filter(status__in=list(statuses))
    if subject_id is not None:
        result = result.filter(subject_id=subject_id)
    if form is not None:
        result = result.filter(content_type=ContentType.objects.get_for_model(type(form)), object_id=form.pk)
    return aged(result, now=now)


def aged(queries: QuerySet[Query], *, now: datetime) -> QuerySet[Query]:
    """Queries (already through the gate) oldest first, each annotated with `days_open`: whole
    days from raising to closing or cancelling, or to `now` while active."""
    age = ExpressionWrapper(
        Coalesce(F("closed_at"), Value(now, output_field=models.DateTimeField())) - F("raised_at"),
        output_field=DurationField(),
    )
    return (
        queries.select_related("subject__site", "content_type", "raised_by", "answered_by", "closed_by")
        .annotate(days_open=Extract(age, "day"))
        .order_by("raised_at", "pk")
    )


def answer_corrected_by_save(*, user: User, form: CrfInstance, before: dict[str, object], reason: str) -> list[Query]:
    """After site staff saved a form on its page: every open query on a field whose value the
    save changed is answered "corrected", with the reason for change as its text (issue 7
    item 1: "correcting the value through the form with a reason for change"). An automatic
    query whose rule stopped firing has closed itself already and is left alone, and a query this
    very save raised (the new value fires a rule) asks about the new value: it stays open."""
    changed = [name for name, old in before.items() if jsonable(getattr(form, name)) != jsonable(old)]
    if not changed:
        return []
    open_queries = Query.objects.filter(
        content_type=ContentType.objects.get_for_model(type(form)),
        object_id=form.pk,
        field_name__in=changed,
        status=QueryStatus.OPEN,
    ).order_by("pk")
    saved_at = getattr(form, "updated_at", None)
    return [
        answer_query(user=user, query=query, answer=Query.Answer.CORRECTED, text=reason)
        for query in open_queries
        if saved_at is None or _opened_at(query) < saved_at
    ]


def save_correcting(
    *, user: User, instance: CrfInstance, expected_version: int | None, reason: str = ""
) -> CrfInstance:
    """Save a form through its service (crf.services.save), then answer "corrected" every open
    query on a field whose value the save changed, with the reason for change (issue 7 item 1).
    What the form page, the API and the CSV import call, so a correction answers its query
    whichever way it comes. A query the save could not answer (a lock set meanwhile) stays open;
    the save stands. The answered queries are on `saved.answered_queries`."""
    from crf.services import save

    before: dict[str, object] = {}
    if instance.pk is not None:
        names = set(
            Query.objects.filter(
                content_type=ContentType.objects.get_for_model(type(instance)),
                object_id=instance.pk,
                status=QueryStatus.OPEN,
            ).values_list("field_name", flat=True)
        )
        if names:
            stored = type(instance).objects.get(pk=instance.pk)
            before = {name: getattr(stored, name) for name in names if hasattr(stored, name)}
    saved = save(user=user, instance=instance, expected_version=expected_version, reason=reason)
    answered: list[Query] = []
    if before:
        try:
            with transaction.atomic():
                answered = answer_corrected_by_save(user=user, form=saved, before=before, reason=reason)
        except ValidationError:
            answered = []
    saved.answered_queries = answered  # type: ignore[attr-defined]
    return saved
