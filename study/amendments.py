"""Protocol amendments (issue 27 item 2): a protocol version (number, protocol date, approval
date, summary) groups the settings versions that came in with it. The study home shows the
version in force; every endpoint run and export records the version in force on its clinical
cut-off date (`EndpointRun.protocol_version`, `Export.protocol_version`).

A settings model joins the grouping by having a nullable `protocol_version` foreign key to
`study.ProtocolVersion` plus `study`, `version` and `effective_from`, and by being listed in
`AMENDABLE` (the protocol settings — dose levels and expected toxicities among them —, the
schedule of assessments and the visit schedule's timing). Sites and laboratories are edited in
place with their history, and reference ranges carry effective dates per laboratory: not grouped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from study import access
from study.audit_context import audit_context
from study.models import ProtocolVersion, Study
from study.roles import Action

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from study.models import User

#: (model label, what a person calls one of its versions) of every settings model an amendment
#: can group. Each has `study`, `version`, `effective_from` and a nullable `protocol_version`.
AMENDABLE: list[tuple[str, Promise]] = [
    ("study.ProtocolSettings", gettext_lazy("Protocol settings")),
    ("study.AssessmentSchedule", gettext_lazy("Schedule of assessments")),
    ("study.VisitSchedule", gettext_lazy("Visit schedule")),
]


@dataclass(frozen=True)
class SettingsItem:
    """One settings version an amendment can group, named for the page: `key` is
    "<model label>:<pk>"."""

    key: str
    kind: str
    version: int
    effective_from: date
    protocol_version: str


def _items(study: Study, **filters: object) -> list[SettingsItem]:
    found = []
    for label, kind in AMENDABLE:
        model = apps.get_model(label)
        rows = model._default_manager.filter(study=study, **filters).select_related("protocol_version")
        for row in rows.order_by("version"):
            found.append(
                SettingsItem(
                    key=f"{label}:{row.pk}",
                    kind=str(kind),
                    version=row.version,
                    effective_from=row.effective_from,
                    protocol_version=row.protocol_version.number if row.protocol_version else "",
                )
            )
    return found


def unattached(study: Study) -> list[SettingsItem]:
    """The settings versions no protocol version groups yet."""
    return _items(study, protocol_version__isnull=True)


def settings_of(version: ProtocolVersion) -> list[SettingsItem]:
    return _items(version.study, protocol_version=version)


def version_in_force(study: Study | int, on: date) -> ProtocolVersion | None:
    """The newest protocol version approved on or before `on` (None: none recorded yet)."""
    study_id = study if isinstance(study, int) else study.pk
    return (
        ProtocolVersion.objects.filter(study_id=study_id, approval_date__lte=on)
        .order_by("-approval_date", "-pk")
        .first()
    )


def number_in_force(study: Study | int, on: date) -> str:
    found = version_in_force(study, on)
    return found.number if found is not None else ""


def _row_for(study: Study, key: str) -> models.Model:
    label, _sep, pk = key.rpartition(":")
    if label not in dict(AMENDABLE) or not pk.isdigit():
        raise ValidationError({"attach": _("Unknown settings version.")})
    row = apps.get_model(label)._default_manager.filter(study=study, pk=int(pk)).first()
    if row is None:
        raise ValidationError({"attach": _("Unknown settings version.")})
    return row  # type: ignore[no-any-return]


@transaction.atomic
def record_amendment(
    *,
    actor: User,
    study: Study,
    number: str,
    protocol_date: date,
    approval_date: date,
    summary: str,
    reason: str,
    attach: list[str] | None = None,
) -> ProtocolVersion:
    """A study admin records a protocol version and groups the settings versions that came in
    with it (DESIGN §4a: the study admin builds the study). Audited with the reason; nothing is
    saved when anything is refused."""
    if not access.can_anywhere(actor, Action.ADMINISTER, study=study):
        raise PermissionDenied
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason.")})
    version = ProtocolVersion(
        study=study,
        number=(number or "").strip(),
        protocol_date=protocol_date,
        approval_date=approval_date,
        summary=(summary or "").strip(),
        reason=reason,
        created_by=actor,
        created_at=timezone.now(),
    )
    errors: dict[str, list[str]] = {}
    try:
        version.full_clean()
    except ValidationError as exc:
        errors = dict(exc.message_dict)
    if approval_date and protocol_date and approval_date < protocol_date:
        errors["approval_date"] = [_("The approval cannot be before the protocol date.")]
    if ProtocolVersion.objects.filter(study=study, number=version.number).exists():
        errors["number"] = [_("This protocol version is already recorded.")]
    if errors:
        # the constraints' own messages are said above, on their fields
        errors.pop("__all__", None)
        raise ValidationError(errors)
    with audit_context(user=actor, reason=reason):
        version.save()
        _attach(study=study, version=version, keys=attach or [])
    return version


@transaction.atomic
def attach_settings(*, actor: User, version: ProtocolVersion, keys: list[str], reason: str) -> ProtocolVersion:
    """Group more settings versions under an existing protocol version (a settings version
    published after the amendment was recorded)."""
    if not access.can_anywhere(actor, Action.ADMINISTER, study=version.study):
        raise PermissionDenied
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason.")})
    if not keys:
        raise ValidationError({"attach": _("Choose at least one settings version.")})
    with audit_context(user=actor, reason=reason):
        _attach(study=version.study, version=version, keys=keys)
    return version


def _attach(*, study: Study, version: ProtocolVersion, keys: list[str]) -> None:
    for key in keys:
        row = _row_for(study, key)
        taken = row.protocol_version_id  # type: ignore[attr-defined]
        if taken is not None and taken != version.pk:
            raise ValidationError({"attach": _("This settings version already came in with another protocol version.")})
        type(row)._default_manager.filter(pk=row.pk, protocol_version__isnull=True).update(protocol_version=version)
