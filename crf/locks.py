"""Freezes and locks (DESIGN §4: a freeze stops data changes while queries, SDV and signing
continue; a lock stops all of them; only a data manager sets or lifts either, with a reason).

The checks live here so every write path — pages, API, import, re-derivation — asks the same
question: `assert_data_writable` (data changes) and `assert_not_locked` (query, SDV and
signature actions). `set_data_lock` and `lift_data_lock` are the only ways a lock changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crf.models import CrfInstance, DataLock
from dbtools.prepared import prepared
from study import access
from study.audit_context import audit_context
from study.roles import Action

if TYPE_CHECKING:
    from study.models import Study, User


def active_locks_over(instance: CrfInstance | Model) -> list[DataLock]:
    """Freezes and locks covering this form: study-wide, on its subject, or on it."""
    subject = instance.subject  # type: ignore[union-attr]
    scope = Q(subject__isnull=True) | Q(subject=subject, object_id__isnull=True)
    if instance.pk is not None:
        scope |= Q(
            subject=subject,
            content_type=ContentType.objects.get_for_model(type(instance)),
            object_id=instance.pk,
        )
    return list(DataLock.objects.filter(scope, study_id=subject.site.study_id, lifted_at__isnull=True))


def covering(found: list[DataLock], instance: CrfInstance | Model) -> list[DataLock]:
    """Of the subject's active freezes and locks (`locks_in_subject`), those over this form:
    the same answer as `active_locks_over` without a query per form."""
    content_type = ContentType.objects.get_for_model(type(instance))
    return [
        lock
        for lock in found
        if lock.subject_id is None
        or (
            lock.subject_id == instance.subject_id  # type: ignore[union-attr]
            and (lock.object_id is None or (lock.content_type_id == content_type.pk and lock.object_id == instance.pk))
        )
    ]


def assert_data_writable(instance: CrfInstance) -> None:
    """Refuse a data change under any freeze or lock."""
    # a new form: the study's and the subject's, of the subject's read once for the save
    new = instance.pk is None
    locks = covering(locks_for_save(instance.subject), instance) if new else active_locks_over(instance)  # type: ignore[attr-defined]
    if any(lock.kind == DataLock.Kind.LOCK for lock in locks):
        raise ValidationError(_("This form is locked: no changes are possible."), code="locked")
    if locks:
        raise ValidationError(_("This form is frozen: data cannot be changed."), code="frozen")


def assert_not_locked(instance: CrfInstance | Model) -> None:
    """Refuse query, SDV and signature actions under a lock (a freeze allows them)."""
    if any(lock.kind == DataLock.Kind.LOCK for lock in active_locks_over(instance)):
        raise ValidationError(_("This form is locked: no changes are possible."), code="locked")


class LockChecklistOpen(ValidationError):
    """A subject or study lock refused because its checklist lists open items (issue 26 item 3):
    `items` (dicts with at least `kind`, `label`, `url`) and `page_url`, the checklist page."""

    def __init__(self, message: str, *, items: list[dict[str, object]], page_url: str) -> None:
        super().__init__(message, code="checklist_open")
        self.items = items
        self.page_url = page_url


LockCheck = Callable[..., list[dict[str, object]]]
_lock_checks: list[LockCheck] = []


def on_lock_check(func: LockCheck) -> LockCheck:
    """Register what must be closed before a subject or the study is locked (a declared hook:
    datamanagement's checklist fills it, crf never imports upward). Called as
    `check(study=…, subject=…|None)`; returns the open items, or raises LockChecklistOpen."""
    _lock_checks.append(func)
    return func


def open_checklist_items(*, study: Study, subject: Model | None) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for check in _lock_checks:
        items.extend(check(study=study, subject=subject))
    return items


def checklist_page(*, study: Study, subject: Model | None) -> str:
    """The lock checklist page (issue 26 item 3) of a subject or of the study."""
    page = reverse("datamanagement:lock_checklist")
    return f"{page}?subject={subject.pk}" if subject is not None else page


def _require_lock_manager(user: User, study: Study, subject: Model | None) -> None:
    """DESIGN §4a "freeze / lock / unlock": a data manager at the subject's site; a study-wide
    freeze or lock reaches every site, so it needs the role at every site of the study."""
    if subject is not None:
        access.require(user, Action.FREEZE_LOCK, site=subject.site)
        return
    sites = list(study.sites.all())
    if not sites or not all(access.can(user, Action.FREEZE_LOCK, site=site) for site in sites):
        raise PermissionDenied


def _lock_site(study: Study, subject: Model | None):  # type: ignore[no-untyped-def]
    return subject.site if subject is not None else None


@transaction.atomic
def set_data_lock(
    *,
    user: User,
    kind: str,
    study: Study,
    subject: Model | None = None,
    form: CrfInstance | None = None,
    reason: str,
    override_reason: str = "",
) -> DataLock:
    """Freeze or lock the whole study, one subject (`subject`) or one form (`form`). A subject
    or study lock first asks the lock checklist (`on_lock_check`): with items open it is refused
    (LockChecklistOpen) unless `override_reason` says why, which is recorded with the lock
    together with the items open then."""
    if form is not None:
        subject = form.subject
    if subject is not None and subject.site.study_id != study.pk:
        raise ValidationError(_("This subject is not in this study."))
    _require_lock_manager(user, study, subject)
    if kind not in DataLock.Kind.values:
        raise ValidationError({"kind": _("Choose freeze or lock.")})
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason.")}, code="required")
    scope: dict[str, object] = {"study": study, "subject": subject, "content_type": None, "object_id": None}
    if form is not None:
        if form.pk is None:
            raise ValidationError(_("Save the form before freezing or locking it."))
        scope["content_type"] = ContentType.objects.get_for_model(type(form))
        scope["object_id"] = form.pk
    if DataLock.objects.filter(kind=kind, lifted_at__isnull=True, **scope).exists():
        raise ValidationError(_("This is already in force."), code="duplicate")
    override_reason = override_reason.strip()
    open_items: list[dict[str, object]] = []
    if kind == DataLock.Kind.LOCK and form is None:
        open_items = open_checklist_items(study=study, subject=subject)
        if open_items and not override_reason:
            raise LockChecklistOpen(
                _("%(n)d items are still open: close them, or lock with a reason for doing so anyway.")
                % {"n": len(open_items)},
                items=open_items,
                page_url=checklist_page(study=study, subject=subject),
            )
    if not open_items:
        override_reason = ""
    lock = DataLock(
        kind=kind,
        reason=reason,
        set_by=user,
        set_at=timezone.now(),
        override_reason=override_reason,
        open_items=open_items,
        **scope,
    )
    with audit_context(user=user, site=_lock_site(study, subject), reason=reason):
        lock.full_clean(exclude=["study", "subject", "content_type", "set_by"])
        lock.save()
    return lock


@transaction.atomic
def lift_data_lock(*, user: User, lock: DataLock, reason: str) -> DataLock:
    """Lift a freeze or lock, with a reason. The row stays, with who lifted it, when and why."""
    lock = DataLock.objects.select_for_update(of=("self",)).select_related("study", "subject__site").get(pk=lock.pk)
    _require_lock_manager(user, lock.study, lock.subject)
    if lock.lifted_at is not None:
        raise ValidationError(_("This was already lifted."), code="lifted")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason.")}, code="required")
    lock.lifted_by = user
    lock.lifted_at = timezone.now()
    lock.lift_reason = reason
    with audit_context(user=user, site=_lock_site(lock.study, lock.subject), reason=reason):
        lock.save(update_fields=["lifted_by", "lifted_at", "lift_reason"])
    return lock


def strongest(found: list[DataLock]) -> str:
    """ "lock", "freeze" or "" for badges: a lock outranks a freeze."""
    kinds = {lock.kind for lock in found}
    return DataLock.Kind.LOCK if DataLock.Kind.LOCK in kinds else (DataLock.Kind.FREEZE if kinds else "")


@prepared("subject_id", "study_id")
def _subject_locks(subject_id: int, study_id: int) -> QuerySet[DataLock]:
    return DataLock.objects.filter(
        Q(subject__isnull=True) | Q(subject_id=subject_id), study_id=study_id, lifted_at__isnull=True
    )


def locks_for_save(subject: Model) -> list[DataLock]:
    """`locks_in_subject` (without who set them), read once for a save and its re-derivations
    (a save changes no freeze or lock) from a statement compiled once (dbtools.prepared)."""
    from crf.services import batch_memo  # crf.services imports this module

    return batch_memo(
        ("locks in subject", subject.pk),
        lambda: _subject_locks.objects(subject_id=subject.pk, study_id=subject.site.study_id),
    )


def locks_in_subject(subject: Model) -> list[DataLock]:
    """Active freezes and locks covering any part of one subject's casebook, in one query."""
    return list(
        DataLock.objects.filter(
            Q(subject__isnull=True) | Q(subject=subject), study_id=subject.site.study_id, lifted_at__isnull=True
        ).select_related("set_by", "content_type")
    )
