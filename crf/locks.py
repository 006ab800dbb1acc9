"""Is a form writable? (DESIGN §4: a freeze stops data changes; a lock stops everything.)

The lock records and their pages come with the data-management issue; the check lives here so
every write path — pages, API, import, re-derivation — asks the same question.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from crf.models import CrfInstance, DataLock


def active_locks_over(instance: CrfInstance) -> list[DataLock]:
    """Freezes and locks covering this form: study-wide, on its subject, or on it."""
    subject = instance.subject
    scope = Q(subject__isnull=True) | Q(subject=subject, object_id__isnull=True)
    if instance.pk is not None:
        scope |= Q(
            subject=subject,
            content_type=ContentType.objects.get_for_model(type(instance)),
            object_id=instance.pk,
        )
    return list(DataLock.objects.filter(scope, study_id=subject.site.study_id, lifted_at__isnull=True))


def assert_data_writable(instance: CrfInstance) -> None:
    """Refuse a data change under any freeze or lock."""
    locks = active_locks_over(instance)
    if any(lock.kind == DataLock.Kind.LOCK for lock in locks):
        raise ValidationError(_("This form is locked: no changes are possible."), code="locked")
    if locks:
        raise ValidationError(_("This form is frozen: data cannot be changed."), code="frozen")


def assert_not_locked(instance: CrfInstance) -> None:
    """Refuse query, SDV and signature actions under a lock (a freeze allows them)."""
    if any(lock.kind == DataLock.Kind.LOCK for lock in active_locks_over(instance)):
        raise ValidationError(_("This form is locked: no changes are possible."), code="locked")
