"""Record history pages (DESIGN §4 "Audit trail"): who changed what, when and why, read from
the trigger-written history. Identity values show only to roles that may view the identity
record; others see that a field changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pghistory.models
from django.apps import apps
from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models
from django.http import Http404
from django.utils.translation import gettext as _

from crf import display
from study import access
from study.access import access_subject
from study.language import dose_level_name
from study.models import User
from study.roles import Action, Role
from study.subject_models import identity_model, subject_model

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


def resolve_record(user: User, label: str, pk: str) -> tuple[models.Model, Any]:
    """The record `label`/`pk` if it belongs to a subject the user may see history of."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise Http404 from None
    if model is subject_model():
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


def field_labels(model: type[models.Model]) -> dict[str, str]:
    """Each column's name as a person reads it, in the active language, by field name and by
    column name (`visit` and `visit_id`)."""
    labels = {}
    for f in model._meta.concrete_fields:
        labels[f.attname] = str(f.verbose_name)
        labels[f.name] = str(f.verbose_name)
    # a generic reference (a query's form): its two columns carry Django's own English names
    # ("content type", "object id"), which no catalogue of ours translates
    for generic in model._meta.private_fields:
        if isinstance(generic, GenericForeignKey):
            for name, label in ((generic.ct_field, _("form")), (generic.fk_field, _("record number"))):
                labels[name] = label
                labels[f"{name}_id"] = label
    return labels


def _field_of(model: type[models.Model], name: str) -> models.Field | None:  # type: ignore[type-arg]
    for f in model._meta.concrete_fields:
        if name in (f.name, f.attname):
            return f
    return None


def _related_objects(model: type[models.Model], datas: list[dict[str, Any]]) -> dict[tuple[str, Any], Any]:
    """The objects the history's foreign keys point to, one query per related model, so a visit
    shows as its name and study day rather than its id (issue 25)."""
    found: dict[tuple[str, Any], Any] = {}
    for f in model._meta.concrete_fields:
        if not f.is_relation or f.attname in HIDDEN:
            continue
        ids = {d.get(f.attname) for d in datas} - {None, ""}
        if not ids:
            continue
        related = f.related_model._default_manager.filter(pk__in=ids)  # type: ignore[union-attr]
        if f.related_model._meta.model_name == "visit":  # type: ignore[union-attr]
            related = related.select_related("definition")
        for obj in related:
            found[(f.attname, obj.pk)] = obj
    return found


def _display(
    model: type[models.Model], name: str, value: Any, related: dict[tuple[str, Any], Any], study_id: int | None = None
) -> Any:
    """A stored value as a person reads it (crf.display): choice labels, Yes/No, a visit by its
    name and study day, dates YYYY-MM-DD, instants in the reader's zone; blanks as None."""
    if value in (None, "", {}, []):
        return None
    field = _field_of(model, name)
    if field is None:
        return display.value_text(value)
    if field.is_relation:
        return display.value_text(related.get((field.attname, value), value))
    try:
        value = field.to_python(str(value) if isinstance(value, float) else value)
    except Exception:  # a value an older schema stored: show it as recorded
        return display.value_text(value)
    if isinstance(value, str) and field.name in display.COMPOSED_LABELS:
        return display.COMPOSED_LABELS[field.name](value)
    if field.name == display.DOSE_LEVEL_FIELD and study_id is not None:
        return dose_level_name(value, study_id)
    return display.value_text(value, field)


def record_history(*, viewer: User, record: models.Model, subject: Any) -> list[HistoryRow]:
    model = type(record)
    labels = field_labels(model)
    mask = model is identity_model() and not access.can(viewer, Action.VIEW_IDENTITY, site=subject.site)
    events = pghistory.models.Events.objects.tracks(record).order_by("pgh_created_at", "pgh_id")
    rows: list[HistoryRow] = []
    study_id = subject.site.study_id
    previous: dict[str, Any] = {}
    events = list(events)
    related = _related_objects(model, [e.pgh_data or {} for e in events])
    for event in events:
        data = {k: v for k, v in (event.pgh_data or {}).items() if not k.startswith("pgh_")}
        context = event.pgh_context or {}
        kind = event.pgh_label
        changes = []
        for name, new in data.items():
            old = previous.get(name)
            if kind == "delete" or old == new or name in HIDDEN:
                continue
            if kind == "insert" and _display(model, name, new, related) in (None, _("No")):
                continue
            shown_old, shown_new = (
                (MASK, MASK)
                if mask
                else (
                    _display(model, name, old, related, study_id),
                    _display(model, name, new, related, study_id),
                )
            )
            changes.append(Change(field=name, label=labels.get(name, name), old=shown_old, new=shown_new))
        previous = data
        rows.append(
            HistoryRow(
                at=event.pgh_created_at,
                kind=kind,
                username=str(context.get("username", "")),
                role=", ".join(str(ROLE_LABELS.get(r, r)) for r in str(context.get("role", "")).split(",") if r),
                site=str(context.get("site", "")),
                # A reason the system wrote (e.g. "Source data verified") reads in the reader's
                # language; a person's reason shows as written (issue 25).
                reason=display.reason_text(context),
                request_id=str(context.get("request_id", "")),
                changes=changes,
            )
        )
    return rows
