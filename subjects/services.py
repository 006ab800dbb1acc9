"""Writes of subject records (STYLE habit 3): keyword-only, atomic, permission-checked, each
inside `audit_context` so the history rows carry user, role, site and reason."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crf.audit import audit_context
from study import access
from study.roles import Action
from subjects.models import IdentityRecord, Subject

if TYPE_CHECKING:
    from study.models import User


@transaction.atomic
def save_identity_record(
    *,
    user: User,
    subject: Subject,
    full_name: str,
    date_of_birth: date,
    hospital_number: str = "",
    phone: str = "",
    reason: str = "",
) -> IdentityRecord:
    """Create or change the subject's identity record (DESIGN §4a: roles that both view the
    identity record and edit CRF data). A change to a saved record needs a reason."""
    site = subject.site
    if not (access.can(user, Action.VIEW_IDENTITY, site=site) and access.can(user, Action.EDIT_CRF, site=site)):
        raise PermissionDenied
    reason = reason.strip()
    record = IdentityRecord.objects.select_for_update().filter(subject=subject).first()
    if record is None:
        record = IdentityRecord(subject=subject)
    elif not reason:
        raise ValidationError({"reason": _("Give a reason for changing the identity record.")}, code="reason_required")
    record.full_name = full_name.strip()
    record.date_of_birth = date_of_birth
    record.hospital_number = hospital_number.strip()
    record.phone = phone.strip()
    record.full_clean()
    with audit_context(user=user, site=site, reason=reason):
        if record.pk is None:
            record.save(force_insert=True)
        else:
            record.save(update_fields=["full_name", "date_of_birth", "hospital_number", "phone"])
    return record
