"""The one save path every form goes through (DESIGN §4 "CRF instance", STYLE habit 3).

- compare-and-set on `version`: `UPDATE … WHERE id = … AND version = …`, row count checked;
- a reason for change once the stored form is complete;
- refused under a freeze or lock (crf.locks);
- a change clears the SDV marks of the changed fields and the whole-form mark (crf.sdv);
- derived values recomputed (crf.derivations) and edit checks run (crf.checks), as the form's
  declaration names them (crf.declarations), with its save service and dependants;
- never a hard delete: `mark_entered_in_error` keeps the row, with a reason.
Every write runs inside `audit_context`, so the history rows carry user, role, site and reason.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import connections, models, router, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical import dates as clinical_dates
from crf import checks, derivations, hooks, locks, sdv
from crf import versions as crf_versions
from crf.declarations import declaration_for
from crf.display import SYSTEM_CLOSE_NOTES
from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, EntryStatus, MissingCode, Query, QueryStatus, QueryStep
from dbtools.prepared import insert, prepared
from study import access
from study.audit_context import audit_context
from study.models import ProtocolSettings
from study.protocol import picker_of
from study.roles import Action

if TYPE_CHECKING:
    from datetime import date

    from study.models import User
    from study.protocol import ProtocolChoices

F = TypeVar("F", bound=CrfInstance)

#: Fields the save service owns; a form's own data fields are everything else.
SYSTEM_FIELDS = frozenset(
    {
        "id",
        "subject",
        "version",
        "crf_version",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
        "entered_in_error",
        "error_reason",
    }
)


class StaleVersionError(ValidationError):
    """Someone saved this form since it was opened. Carries the current row for the page/API."""

    def __init__(self, current: CrfInstance) -> None:
        super().__init__(
            _(
                "Someone else saved this form after you opened it. Your entries were not saved and are "
                "still on the page: compare them with the current values, then save again."
            ),
            code="stale",
        )
        self.current = current


def data_fields(model: type[CrfInstance]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.name not in SYSTEM_FIELDS and not (f.primary_key)]


def record_data_fields(record: CrfInstance) -> list[str]:
    """The data fields of one record's own CRF version (crf.versions): a record entered under
    1.0 has no field a later version added."""
    hidden = record.hidden_fields
    return [name for name in data_fields(type(record)) if name not in hidden]


def _refuse_other_version_fields(instance: CrfInstance, current: CrfInstance | None) -> None:
    """A field the record's CRF version does not have cannot be given a value (issue 27 item 3):
    a field error naming the version, nothing saved."""
    errors = {}
    for name in instance.hidden_fields:
        value = getattr(instance, name)
        before = getattr(current, name) if current is not None else None
        if value != before and value not in (None, ""):
            errors[name] = _("This field is not on version %(version)s of this form.") % {
                "version": instance.crf_version if instance.pk else crf_versions.current(type(instance))
            }
    if errors:
        raise ValidationError(errors, code="not_in_crf_version")


def _validate_missing(instance: CrfInstance) -> None:
    errors: dict[str, str] = {}
    valid_codes = set(MissingCode.values)
    if not isinstance(instance.missing, dict):
        raise ValidationError({"missing": _("Invalid not-done codes.")})
    for field, code in instance.missing.items():
        if field not in instance.missing_allowed:
            errors[field] = _("This field cannot be marked not done or unknown.")
        elif code not in valid_codes:
            errors[field] = _("Unknown not-done code.")
        elif getattr(instance, field) not in (None, ""):
            errors[field] = _("Give either a value or a not-done code, not both.")
    if errors:
        raise ValidationError(errors)


def _clean(instance: CrfInstance) -> None:
    """`full_clean` (fields, `clean`, unique checks and constraints, each on the fields that
    passed), except that the subject, read through the visibility gate to get here, is not
    read again to prove it exists (issue 22: a query a save)."""
    exclude = {"created_by", "updated_by"}
    read = type(instance).subject.is_cached(instance) and instance.subject.pk is not None  # type: ignore[attr-defined]
    errors: dict[str, Any] = {}
    try:
        instance.clean_fields(exclude=exclude | {"subject"} if read else exclude)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    try:
        instance.clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for check in (instance.validate_unique, functools.partial(_validate_constraints, instance)):
        failed = exclude | {name for name in errors if name != NON_FIELD_ERRORS}
        try:
            check(exclude=failed)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
    _validate_missing(instance)
    _validate_dates(instance)


def _validate_constraints(instance: CrfInstance, exclude: set[str]) -> None:
    """`instance.validate_constraints(exclude=…)`, with a unique constraint on fields whose
    condition is a plain AND of equalities (`Q(entered_in_error=False)`: the lab result's one
    result per analyte and collection) checked by SQL written once per constraint: Django
    evaluates the condition by a query compiled on every save, inside a savepoint of its own
    (`Q.check`: 13 % of a lab save's CPU and two round trips, issue 22). The same refusal, the
    same message and code; any other constraint goes to Django's own `validate`."""
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    errors: dict[str, Any] = {}
    for model_class, constraints in instance.get_constraints():
        for constraint in constraints:
            try:
                plain = _plain_unique(model_class, constraint) if model_class is model else None
                if plain is None:
                    constraint.validate(model_class, instance, exclude=exclude, using=using)
                else:
                    plain.validate(instance, exclude, using)
            except ValidationError as exc:
                fields = getattr(constraint, "fields", ())
                if getattr(exc, "code", None) == "unique" and len(fields) == 1:
                    errors.setdefault(fields[0], []).append(exc)
                else:
                    errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


class _PlainUnique:
    """A conditional unique constraint on fields (no expressions), its condition an AND of
    `field=constant`: the SQL of `UniqueConstraint.validate` for it, built once."""

    def __init__(self, model: type[Model], constraint: models.UniqueConstraint, condition: list[tuple[Any, Any]]):
        self.model, self.constraint = model, constraint
        self.fields = [model._meta.get_field(name) for name in constraint.fields]
        self.condition = condition  # (field, value)
        self.where = [f'"{field.column}" = %s' for field, _value in condition]

    def validate(self, instance: Model, exclude: set[str], using: str) -> None:
        connection = connections[using]
        if any(name in exclude for name in self.constraint.fields):
            return
        if any(name in exclude for name in (field.name for field, _v in self.condition)):
            return  # Django's `check` gets no value for an excluded field: a FieldError, passed
        if any(getattr(instance, field.attname) != value for field, value in self.condition):
            return  # the instance is outside the condition: nothing to check
        where, params = list(self.where), [field.get_db_prep_value(v, connection) for field, v in self.condition]
        for field in self.fields:
            value = getattr(instance, field.attname)
            if value is None:
                if self.constraint.nulls_distinct is not False:
                    return  # NULL != NULL in SQL: no violation
                where.append(f'"{field.column}" IS NULL')
            else:
                where.append(f'"{field.column}" = %s')
                params.append(field.get_db_prep_value(value, connection))
        if not instance._state.adding and instance.pk is not None:
            where.append(f'"{self.model._meta.pk.column}" <> %s')
            params.append(instance.pk)
        table = connection.ops.quote_name(self.model._meta.db_table)
        sql = f"SELECT 1 FROM {table} WHERE {' AND '.join(where)} LIMIT 1"  # noqa: S608 (names from the model, values as parameters)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchone() is not None
        if found:
            raise ValidationError(
                self.constraint.get_violation_error_message(), code=self.constraint.violation_error_code
            )


_plain_uniques: dict[tuple[type[Model], str], _PlainUnique | None] = {}


def _plain_unique(model: type[Model], constraint: Any) -> _PlainUnique | None:
    key = (model, constraint.name)
    if key not in _plain_uniques:
        _plain_uniques[key] = _plain_unique_of(model, constraint)
    return _plain_uniques[key]


def _plain_unique_of(model: type[Model], constraint: Any) -> _PlainUnique | None:
    if not isinstance(constraint, models.UniqueConstraint) or constraint.expressions or not constraint.fields:
        return None
    condition = constraint.condition
    if condition is None or condition.negated or condition.connector != models.Q.AND:
        return None  # without a condition Django's check is one plain EXISTS already
    pairs = []
    for child in condition.children:
        if not isinstance(child, tuple) or "__" in child[0] or hasattr(child[1], "resolve_expression"):
            return None
        field = model._meta.get_field(child[0])
        if field.is_relation or field.generated:
            return None
        pairs.append((field, child[1]))
    if any(model._meta.get_field(name).generated for name in constraint.fields):
        return None
    return _PlainUnique(model, constraint, pairs)


def _validate_dates(instance: CrfInstance) -> None:
    """Recorded clinical dates are neither in the future nor before 1900 (issue 21,
    `clinical.dates`; CLINICAL_SPEC §7 assumes real dates). "Today" is the subject's site's
    calendar date through the one seam, `subjects.services.visits.site_today`, reached through the hook
    `crf.hooks.site_today`. Planned dates are not recorded events and are skipped. A partial
    history date is checked through its imputed first day (a partial date whose earliest day is
    after today is in the future), the error named on the field as typed; before 1900 the
    partial date's own parser refuses it."""
    model = type(instance)
    zone = ZoneInfo(instance.subject.site.time_zone)
    today = hooks.site_today(subject=instance.subject)
    errors: dict[str, str] = {}
    for name in data_fields(model):
        field = model._meta.get_field(name)
        value = getattr(instance, name, None)
        if name.startswith("planned") or value is None:
            continue
        if isinstance(field, models.DateTimeField):
            day = value.astimezone(zone).date() if timezone.is_aware(value) else value.date()
        elif isinstance(field, models.DateField):
            day = value
        else:
            continue
        shown = name.removesuffix("_imputed")
        found = clinical_dates.implausible(day, today=today)
        if found == "future":
            errors[shown] = _("This date is in the future (today at the site is %(today)s).") % {
                "today": today.isoformat()
            }
        elif found == "before_1900" and shown == name:
            errors[name] = _("This date is before 1900: check it.")
    if errors:
        raise ValidationError(errors)


ChangeHook = Callable[..., None]
_change_hooks: list[ChangeHook] = []


def on_form_change(func: ChangeHook) -> ChangeHook:
    """Register what must happen when any form's stored content changes (a new form, an update,
    entered in error, a re-derivation) — e.g. datamanagement breaking the signatures that cover
    it. Called inside the write's transaction and audit context, just BEFORE the write (so what
    the hook adds to the audit context lands on the change's own history row), as
    `hook(user=…, form=…, changed=[field names], reason=…)`; `form` carries the new values (its
    pk is None for a new form). A lower layer's declared hook, so crf never imports upward
    (DESIGN §3)."""
    _change_hooks.append(func)
    return func


def notify_form_changed(*, user: User | None, form: CrfInstance, changed: list[str], reason: str) -> None:
    for hook in _change_hooks:
        hook(user=user, form=form, changed=changed, reason=reason)


def _require_editor(user: User, instance: CrfInstance) -> None:
    if not access.can(user, Action.EDIT_CRF, site=instance.subject.site):
        raise PermissionDenied


R = TypeVar("R")


def atomic_save(func: Callable[..., R]) -> Callable[..., R]:
    """`transaction.atomic` for a service of the save path, without a savepoint of its own inside
    `batched_writes` (whose caller wraps each save in one: the CSV import's row) or
    `whole_transaction_fails` (the caller's transaction is rolled back on any error), saving two
    round trips a save."""

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> R:
        with transaction.atomic(savepoint=not (in_batch() or _batch.whole)):
            return func(*args, **kwargs)

    return inner


@contextmanager
def whole_transaction_fails() -> Iterator[None]:
    """The saves inside take no savepoint of their own (`atomic_save`): for a caller whose
    transaction is rolled back whole on any error out of them and runs no query between the
    error and that rollback — the API's create, whose refusal DRF answers after marking the
    request's transaction for rollback (`rest_framework.views.set_rollback`). A savepoint is two
    round trips, and makes the audit chain's head update a subtransaction (issue 22). A savepoint
    another block takes for an error it catches (`transaction.atomic()`) is kept."""
    before = _batch.whole
    _batch.whole = True
    try:
        yield
    finally:
        _batch.whole = before


@atomic_save
def save_form(*, user: User, instance: F, expected_version: int | None, reason: str = "") -> F:
    """Create (`instance.pk` is None) or update a form. `expected_version` is the version the
    user opened (required for an update). Raises ValidationError (field errors, stale, frozen,
    locked, reason missing) with nothing saved, or PermissionDenied."""
    with access.memberships_read_once(), reads_once():
        return _save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)


def _save_form(*, user: User, instance: F, expected_version: int | None, reason: str) -> F:
    _require_editor(user, instance)
    reason = reason.strip()
    now = timezone.now()
    model = type(instance)
    if instance.pk is None:
        locks.assert_data_writable(instance)
        if instance.entry_status == EntryStatus.NOT_STARTED:
            instance.entry_status = EntryStatus.IN_PROGRESS
        instance.created_by = instance.updated_by = user
        instance.created_at = instance.updated_at = now
        instance.version = 1
        _refuse_other_version_fields(instance, None)
        _clean(instance)
        derivations.derive(instance)
        with audit_context(user=user, site=instance.subject.site, reason=reason):
            notify_form_changed(user=user, form=instance, changed=data_fields(model), reason=reason)
            _insert(instance)
            _forget_after_save(model)
            checks.run_edit_checks(instance, new=True)
            _after_write(user=user, saved=instance, previous=None)
        return instance

    current = model.objects.select_related("subject__site").get(pk=instance.pk)
    if current.subject_id != instance.subject_id:
        raise ValidationError(_("A form cannot move to another subject."))
    if current.entered_in_error:
        raise ValidationError(_("This form was marked entered in error and cannot be changed."), code="removed")
    locks.assert_data_writable(current)
    if expected_version is None:
        raise ValidationError({"version": _("The form version you opened is required to save changes.")})
    if current.version != expected_version:
        raise StaleVersionError(current)
    instance.crf_version = current.crf_version  # a record keeps the version it was entered under
    _refuse_other_version_fields(instance, current)
    if current.entry_status == EntryStatus.COMPLETE and not reason:
        raise ValidationError(
            {"reason": _("This form is complete: give a reason for the change.")}, code="reason_required"
        )
    _clean(instance)
    derivations.derive(instance)
    changed = {
        name: getattr(instance, name)
        for name in data_fields(model)
        if getattr(instance, name) != getattr(current, name)
    }
    if not changed:
        return current  # type: ignore[return-value]
    with audit_context(user=user, site=instance.subject.site, reason=reason):
        notify_form_changed(user=user, form=instance, changed=sorted(changed), reason=reason)
        rows = model.objects.filter(pk=instance.pk, version=expected_version).update(
            **changed, version=models.F("version") + 1, updated_by=user, updated_at=now
        )
        if rows != 1:
            raise StaleVersionError(model.objects.get(pk=instance.pk))
        _forget_after_save(model)
        saved = model.objects.select_related("subject__site").get(pk=instance.pk)
        # A change to verified data clears its SDV marks (DESIGN §4; issue 7 item 2).
        sdv.clear_marks_after_change(user=user, form=saved, changed=changed, at=now)
        checks.run_edit_checks(saved)
        _after_write(user=user, saved=saved, previous=current)
    return saved  # type: ignore[return-value]


def _insert(instance: CrfInstance) -> None:
    """`instance.save(force_insert=True)`: `CrfInstance.save`'s own step (a new record is entered
    under the form's current CRF version), then the row by an INSERT compiled once per form
    (`dbtools.prepared.insert`). A form whose model overrides `save` again is saved by it."""
    if type(instance).save is not CrfInstance.save:
        instance.save(force_insert=True)
        return
    instance.crf_version = crf_versions.current(type(instance))
    insert(instance)


DependantHook = Callable[..., None]
#: hooks run after a write to any form (the visits' expected-forms state, issue 24)
_after_any_write: list[DependantHook] = []


def after_any_form_write(func: DependantHook) -> DependantHook:
    """Register a hook called inside the transaction after any form is saved or entered in
    error, with the same arguments as a form's declared dependants' hooks."""
    _after_any_write.append(func)
    return func


class _Batch(threading.local):
    pending: dict[Hashable, tuple[Callable[[list[Any]], None], list[Any]]] | None = None
    #: inside `reads_once` (one save and its re-derivations), outside a batch
    scoped: bool = False
    #: inside `whole_transaction_fails`
    whole: bool = False
    #: key -> (the form types whose save makes it stale, the value)
    memo: dict[Hashable, tuple[tuple[type[Model], ...], Any]] = {}


_batch = _Batch()


@contextmanager
def batched_writes() -> Iterator[Callable[[], None]]:
    """Many saves in one transaction (the CSV import, issue 22): work a hook may do once for all
    of them (`defer_to_batch_end`, e.g. the visits' state of each subject) is remembered and done
    when the caller calls the `flush` this yields, inside its transaction — not after each save.
    Every save still runs its own checks, derivations and audit. Saves take no savepoint of
    their own in a batch: the caller wraps each save in `transaction.atomic()` (a failed save
    rolls back to it). Leaving the block without flushing drops the deferred work (the caller
    rolls back). Not re-entrant."""
    if _batch.pending is not None:
        raise RuntimeError("batched_writes is not re-entrant")
    _batch.pending = {}
    _batch.memo = {}

    def flush() -> None:
        pending, _batch.pending = _batch.pending or {}, {}
        for work, items in pending.values():
            work(items)

    try:
        yield flush
    finally:
        _batch.pending = None
        _batch.memo = {}


@contextmanager
def reads_once() -> Iterator[None]:
    """`batch_memo` for one save with its re-derivations (issue 22): the reads a save repeats —
    the protocol settings, the subject's freezes and locks, its con-med exposures, its first
    consent — are done once for the save, with the same staleness rule as in a batch (a key
    read again after a save of a form type in its `stale_after`). Inside a batch, or an
    enclosing `reads_once`, it adds nothing."""
    if _batch.pending is not None or _batch.scoped:
        yield
        return
    _batch.scoped = True
    _batch.memo = {}
    try:
        yield
    finally:
        _batch.scoped = False
        _batch.memo = {}


def in_batch() -> bool:
    return _batch.pending is not None


T = TypeVar("T")


def batch_memo(key: Hashable, compute: Callable[[], T], *, stale_after: tuple[type[Model], ...] = ()) -> T:
    """Inside `batched_writes`: `compute()` once per key for the whole batch — a read the batch's
    saves do not change (the protocol settings in force, the subject's freezes and locks), or
    one they change only by saving a form of a type in `stale_after` (read again after such a
    save). Inside one save (`reads_once`, which every save opens) the same, for that save.
    Otherwise: `compute()`. The caller may update the value it got in place."""
    if _batch.pending is None and not _batch.scoped:
        return compute()
    if key not in _batch.memo:
        _batch.memo[key] = (stale_after, compute())
    return _batch.memo[key][1]  # type: ignore[no-any-return]


def protocol_picker(study_id: int) -> Callable[[date], tuple[ProtocolSettings, ProtocolChoices]]:
    """`study.protocol.settings_picker` of the study, read once for a save (or a batch) from a
    statement compiled once (dbtools.prepared)."""
    return batch_memo(("protocol settings", study_id), lambda: picker_of(_protocol_versions.objects(study_id=study_id)))


@prepared("study_id")
def _protocol_versions(study_id: int) -> QuerySet[ProtocolSettings]:
    return ProtocolSettings.objects.filter(study_id=study_id).order_by("version")


def _forget_after_save(model: type[Model]) -> None:
    """A form of `model` was written: drop the memoised reads it makes stale (`batch_memo`)."""
    if _batch.memo:
        for key in [k for k, (stale_after, _v) in _batch.memo.items() if issubclass(model, stale_after)]:
            del _batch.memo[key]


forget_after_write = _forget_after_save


def defer_to_batch_end(key: Hashable, work: Callable[[list[Any]], None], item: Any) -> bool:
    """Inside `batched_writes`: add `item` to what `work(items)` will get once, at the batch's
    flush, for `key`; True. Outside a batch: False (the caller does its work now)."""
    pending = _batch.pending
    if pending is None:
        return False
    pending.setdefault(key, (work, []))[1].append(item)
    return True


def _rederive_dependants(*, user: User, saved: CrfInstance, previous: CrfInstance | None) -> None:
    """What saving the form re-derives (DESIGN §4: an input on another form re-derives its
    dependants through their services), as its declaration lists it."""
    for hook in declaration_for(type(saved)).save_hooks:
        hook(user=user, saved=saved, previous=previous)


def _after_write(*, user: User, saved: CrfInstance, previous: CrfInstance | None) -> None:
    for hook in _after_any_write:
        hook(user=user, saved=saved, previous=previous)


@atomic_save
def save(*, user: User, instance: F, expected_version: int | None, reason: str = "") -> F:
    """Save a form through its declared service, else `save_form`, then re-derive the forms
    that depend on it: what pages and APIs call."""
    model = type(instance)
    service = declaration_for(model).save_service
    with access.memberships_read_once(), reads_once():
        previous = model._default_manager.filter(pk=instance.pk).first() if instance.pk is not None else None
        if service is None:
            # save_form without a savepoint of its own: this one's covers it (issue 22: two
            # round trips a save, SAVEPOINT and RELEASE, for nothing)
            saved = _save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
        else:
            saved = service(user=user, instance=instance, expected_version=expected_version, reason=reason)
        _rederive_dependants(user=user, saved=saved, previous=previous)
    return saved  # type: ignore[return-value]


@transaction.atomic
def mark_entered_in_error(*, user: User, instance: F, expected_version: int, reason: str) -> F:
    """DESIGN §4 "No hard deletes": the row stays, flagged, with the reason; its open queries
    are cancelled; exports mark it removed."""
    with access.memberships_read_once(), reads_once():
        return _mark_entered_in_error(user=user, instance=instance, expected_version=expected_version, reason=reason)


def _mark_entered_in_error(*, user: User, instance: F, expected_version: int, reason: str) -> F:
    reason = reason.strip()
    model = type(instance)
    current = model.objects.select_related("subject__site").get(pk=instance.pk)
    _require_editor(user, current)
    if current.subject_id != instance.subject_id:
        raise ValidationError(_("A form cannot move to another subject."))
    if not reason:
        raise ValidationError({"reason": _("Give a reason why this form was entered in error.")})
    locks.assert_data_writable(current)
    if current.entered_in_error:
        raise ValidationError(_("This form is already marked entered in error."))
    now = timezone.now()
    with audit_context(user=user, site=current.subject.site, reason=reason):
        notify_form_changed(user=user, form=current, changed=["entered_in_error"], reason=reason)
        rows = model.objects.filter(pk=instance.pk, version=expected_version).update(
            entered_in_error=True, error_reason=reason, version=models.F("version") + 1, updated_by=user, updated_at=now
        )
        if rows != 1:
            raise StaleVersionError(current)
        _forget_after_save(model)
        content_type = ContentType.objects.get_for_model(model)
        for query in Query.objects.filter(
            content_type=content_type, object_id=instance.pk, status__in=ACTIVE_QUERY_STATUSES
        ):
            query.status = QueryStatus.CANCELLED
            query.closed_at = now
            query.closed_by = user
            query.close_reason = SYSTEM_CLOSE_NOTES[1]  # stored in English, shown in the reader's language
            query.save(update_fields=["status", "closed_at", "closed_by", "close_reason"])
            QueryStep.objects.create(query=query, action=QueryStep.Action.CANCELLED, by=user, at=now, text=reason)
    removed = model.objects.select_related("subject__site").get(pk=instance.pk)
    _after_write(user=user, saved=removed, previous=current)
    _rederive_dependants(user=user, saved=removed, previous=current)
    return removed  # type: ignore[return-value]
