"""Record history pages (DESIGN §4 "Audit trail"): who changed what, when and why, read from
the trigger-written history. Identity values show only to roles that may view the identity
record; others see that a field changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pghistory.models
from django.apps import apps
from django.db import models
from django.http import Http404
from django.utils.translation import gettext as _

from study import access
from study.models import User
from study.roles import Action, Role
from subjects.models import IdentityRecord, Subject
from subjects.selectors import access_subject

MASK = "•••"
ROLE_LABELS = dict(Role.choices)


@dataclass
class Change:
    field: str
    label: str
    old: Any
    new: Any


@dataclass
class HistoryRow:
    at: datetime
    kind: str  # insert / update / delete
    username: str
    role: str
    site: str
    reason: str
    request_id: str
    changes: list[Change] = field(default_factory=list)


def resolve_record(user: User, label: str, pk: str) -> tuple[models.Model, Subject]:
    """The record `label`/`pk` if it belongs to a subject the user may see history of."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise Http404 from None
    if model is Subject:
        subject = access_subject(user, pk, Action.VIEW_HISTORY)
        return subject, subject
    if not any(f.name == "subject" for f in model._meta.concrete_fields):
        raise Http404
    try:
        record = model._default_manager.select_related("subject__site").get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    subject = access_subject(user, record.subject_id, Action.VIEW_HISTORY)
    return record, subject


HIDDEN = frozenset(
    {"id", "version", "updated_at", "updated_by_id", "created_at", "created_by_id", "subject_id", "crf_version"}
)


def _labels(model: type[models.Model]) -> dict[str, str]:
    labels = {}
    for f in model._meta.concrete_fields:
        labels[f.attname] = str(f.verbose_name)
        labels[f.name] = str(f.verbose_name)
    return labels


def _display(model: type[models.Model], name: str, value: Any) -> Any:
    """A stored value as a person reads it: choice labels, yes/no, blanks as None."""
    if value in ("", {}, []):
        return None
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    try:
        field = model._meta.get_field(name)
    except Exception:
        return value
    if getattr(field, "choices", None):
        return dict(field.flatchoices).get(value, value)
    return value


def record_history(*, viewer: User, record: models.Model, subject: Subject) -> list[HistoryRow]:
    model = type(record)
    labels = _labels(model)
    mask = model is IdentityRecord and not access.can(viewer, Action.VIEW_IDENTITY, site=subject.site)
    events = pghistory.models.Events.objects.tracks(record).order_by("pgh_created_at", "pgh_id")
    rows: list[HistoryRow] = []
    previous: dict[str, Any] = {}
    for event in events:
        data = {k: v for k, v in (event.pgh_data or {}).items() if not k.startswith("pgh_")}
        context = event.pgh_context or {}
        kind = event.pgh_label
        changes = []
        for name, new in data.items():
            old = previous.get(name)
            if kind == "delete" or old == new or name in HIDDEN:
                continue
            if kind == "insert" and _display(model, name, new) in (None, _("no")):
                continue
            shown_old, shown_new = (MASK, MASK) if mask else (_display(model, name, old), _display(model, name, new))
            changes.append(Change(field=name, label=labels.get(name, name), old=shown_old, new=shown_new))
        previous = data
        rows.append(
            HistoryRow(
                at=event.pgh_created_at,
                kind=kind,
                username=str(context.get("username", "")),
                role=", ".join(str(ROLE_LABELS.get(r, r)) for r in str(context.get("role", "")).split(",") if r),
                site=str(context.get("site", "")),
                reason=str(context.get("reason", "")),
                request_id=str(context.get("request_id", "")),
                changes=changes,
            )
        )
    return rows
