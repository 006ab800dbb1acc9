"""Protocol settings: the version in force on a date, and publishing a new version (DESIGN §4).

A derived value stored on a form uses the version in force on the form's clinical date. A new
version re-derives only forms dated on or after its effective date — through the outbox, as a
background job requested by the hook `study.hooks.request_settings_rederivation` (crf/) — and
lists them (study.Rederivation; `study.selectors.listed_changes`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.protocol import ProtocolChoices
from study import access, hooks
from study.audit_context import audit_context
from study.models import ProtocolSettings, Study
from study.roles import Action

if TYPE_CHECKING:
    from study.models import User


class NoProtocolSettings(ValidationError):
    """The study has no settings version at all (a set-up step is missing)."""


def _no_settings() -> NoProtocolSettings:
    return NoProtocolSettings(
        _("This study has no protocol settings yet: a study administrator must record them first."),
        code="no_protocol_settings",
    )


def settings_in_force(study: Study | int, on: date) -> ProtocolSettings:
    """The newest version effective on or before `on`; the first version for earlier dates
    (a study always runs under some version)."""
    study_id = study.pk if isinstance(study, Study) else study
    versions = ProtocolSettings.objects.filter(study_id=study_id)
    found = versions.filter(effective_from__lte=on).order_by("-effective_from", "-version").first()
    if found is None:
        found = versions.order_by("version").first()
    if found is None:
        raise _no_settings()
    return found


def choices_in_force(study: Study | int, on: date) -> tuple[ProtocolSettings, ProtocolChoices]:
    row = settings_in_force(study, on)
    return row, ProtocolChoices.from_json(row.values)


def settings_picker(study: Study | int) -> Callable[[date], tuple[ProtocolSettings, ProtocolChoices]]:
    """`choices_in_force` for many dates from one read of the study's versions (a re-derivation
    of a subject's course asks for each form's date): same answer, one query in all."""
    study_id = study.pk if isinstance(study, Study) else study
    return picker_of(list(ProtocolSettings.objects.filter(study_id=study_id).order_by("version")))


def picker_of(versions: list[ProtocolSettings]) -> Callable[[date], tuple[ProtocolSettings, ProtocolChoices]]:
    """`settings_picker` over the study's versions as read (in version order)."""
    parsed: dict[int, ProtocolChoices] = {}

    def pick(on: date) -> tuple[ProtocolSettings, ProtocolChoices]:
        effective = [v for v in versions if v.effective_from <= on]
        row = max(effective, key=lambda v: (v.effective_from, v.version)) if effective else None
        if row is None and versions:
            row = versions[0]
        if row is None:
            raise _no_settings()
        if row.pk not in parsed:
            parsed[row.pk] = ProtocolChoices.from_json(row.values)
        return row, parsed[row.pk]

    return pick


@transaction.atomic
def publish_settings(
    *, actor: User | None, study: Study, effective_from: date, values: dict[str, Any], reason: str
) -> ProtocolSettings:
    """Record a new version (values not given keep the previous version's) and request the
    re-derivation of forms dated on or after `effective_from`."""
    if actor is not None and not access.can_anywhere(actor, Action.ADMINISTER, study=study):
        raise PermissionDenied
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the new settings version.")})
    Study.objects.select_for_update().get(pk=study.pk)  # one publisher at a time per study
    previous = ProtocolSettings.objects.filter(study=study).order_by("-version").first()
    merged = {**(previous.values if previous else {}), **values}
    try:
        choices = ProtocolChoices.from_json(merged)
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise ValidationError(
            {"values": _("These settings are not valid: %(detail)s") % {"detail": exc}}, code="invalid_settings"
        ) from exc
    number = (ProtocolSettings.objects.filter(study=study).aggregate(n=Max("version"))["n"] or 0) + 1
    with audit_context(user=actor, reason=reason):
        row = ProtocolSettings(
            study=study,
            version=number,
            effective_from=effective_from,
            values=choices.to_json(),
            reason=reason.strip(),
            created_by=actor,
            created_at=timezone.now(),
        )
        row.full_clean()
        row.save()
        if previous is not None:
            hooks.request_settings_rederivation(settings_id=row.pk)
    return row
