"""Writes of the response forms (STYLE habit 3): through `crf.services.save_form`, registered
with `crf.services.save_service` so the generic form page and the API use them.

A response depends on other records: its MRD tests, the baseline and earlier responses (an
earlier CR/CRi makes returning disease a relapse, CLINICAL_SPEC §5.1). Saving any of them
re-derives the assessments it affects with the audit reason "re-derived: <what changed>"
(DESIGN §4)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crf import checks, locks
from crf.rederive import rederive, update_with_version
from crf.services import StaleVersionError, data_fields, save_form
from response.models import MarrowAssessment, MrdTest, Relapse, ResponseCategory
from study import access
from study.audit_context import audit_context
from study.roles import Action
from study.system_text import message

if TYPE_CHECKING:
    from study.models import User
    from subjects.models import Subject


def rederive_assessments(
    *, user: User | None, subject: Subject, on_or_after: date, reason: str, skip: int | None = None
) -> list[int]:
    """Re-derive the subject's assessments dated on or after `on_or_after`, in date order (each
    reads the ones before it), re-running their edit checks. Frozen or locked ones keep their
    values (with a query saying why); a locked one that would change refuses the save that caused
    it (crf.rederive). Returns the ids whose derived values changed."""
    changed_ids: list[int] = []
    found = (
        MarrowAssessment.objects.filter(subject=subject, entered_in_error=False, assessment_date__gte=on_or_after)
        .exclude(pk=skip)
        .select_related("subject__site")
        .order_by("assessment_date", "pk")
    )
    for ma in found:
        # One at a time, in date order: each one's response reads the ones before it as written.
        changed_ids.extend(form.pk for form in rederive(forms=[ma], reason=reason, user=user, subject=ma.subject))
    return changed_ids


@transaction.atomic
def record_marrow_assessment(
    *, user: User, instance: MarrowAssessment, expected_version: int | None, reason: str = ""
) -> MarrowAssessment:
    """Save the assessment (its response derived in the save path); later assessments re-derive.
    An adjudication covers the values it was made on: changing an entered value clears it, so
    the response is derived (and, at a threshold, adjudicated) afresh."""
    current = None if instance.pk is None else MarrowAssessment.objects.get(pk=instance.pk)
    previous = None if current is None else current.assessment_date
    if current is not None and current.adjudicated_response:
        entered = [
            f.name
            for f in MarrowAssessment._meta.concrete_fields
            if f.editable and f.name in data_fields(MarrowAssessment)
        ]
        if any(getattr(instance, name) != getattr(current, name) for name in entered):
            instance.adjudicated_response = ""
            instance.adjudicated_by = None
            instance.adjudicated_at = None
            instance.adjudication_reason = ""
    saved = save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    start = min(d for d in (previous, saved.assessment_date) if d is not None)
    rederive_assessments(
        user=user,
        subject=saved.subject,
        on_or_after=start,
        reason=message(gettext_noop("re-derived: marrow assessment of %(date)s"), date=saved.assessment_date),
        skip=saved.pk,
    )
    return saved


@transaction.atomic
def record_mrd_test(*, user: User, instance: MrdTest, expected_version: int | None, reason: str = "") -> MrdTest:
    """Save the test; its assessment (and the later ones) re-derive their MRD status and response."""
    saved = save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    assessment = MarrowAssessment.objects.get(pk=saved.assessment_id)
    rederive_assessments(
        user=user,
        subject=saved.subject,
        on_or_after=assessment.assessment_date,
        reason=message(gettext_noop("re-derived: MRD test")),
    )
    return saved


def record_relapse(*, user: User, instance: Relapse, expected_version: int | None, reason: str = "") -> Relapse:
    return save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)


@transaction.atomic
def adjudicate_response(
    *, user: User, assessment: MarrowAssessment, response: str, reason: str, expected_version: int
) -> MarrowAssessment:
    """An investigator's response, stored beside the derived one with who, when and why
    (DESIGN §4a "adjudicate"); endpoints use it. The boundary queries close themselves and later
    assessments re-derive (an adjudicated CR makes later returning disease a relapse)."""
    current = MarrowAssessment.objects.select_related("subject__site").get(pk=assessment.pk)
    if not access.can(user, Action.ADJUDICATE, site=current.subject.site):
        raise PermissionDenied
    reason = reason.strip()
    errors: dict[str, str] = {}
    if response not in ResponseCategory.values:
        errors["response"] = _("Choose a response.")
    if not reason:
        errors["reason"] = _("Give the reason for the adjudicated response.")
    if current.is_baseline:
        errors["response"] = _("A baseline assessment has no response to adjudicate.")
    if errors:
        raise ValidationError(errors)
    if current.entered_in_error:
        raise ValidationError(_("This form was marked entered in error and cannot be changed."), code="removed")
    locks.assert_data_writable(current)
    now = timezone.now()
    with audit_context(user=user, site=current.subject.site, reason=reason):
        rows = update_with_version(
            MarrowAssessment,
            pk=current.pk,
            expected_version=expected_version,
            adjudicated_response=response,
            adjudicated_by=user,
            adjudicated_at=now,
            adjudication_reason=reason,
            needs_adjudication=False,
            updated_by=user,
            updated_at=now,
        )
        if rows != 1:
            raise StaleVersionError(current)
        saved = MarrowAssessment.objects.select_related("subject__site").get(pk=current.pk)
        checks.run_edit_checks(saved)
    rederive_assessments(
        user=user,
        subject=saved.subject,
        on_or_after=saved.assessment_date,
        reason=message(gettext_noop("re-derived: adjudicated response")),
        skip=saved.pk,
    )
    return saved
