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
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from crf import display
from study import access, system_text
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


def role_text(stored: Any) -> str:
    """The roles a history row's context stores ("coordinator,monitor") by their names."""
    return ", ".join(str(ROLE_LABELS.get(r, r)) for r in str(stored or "").split(",") if r)


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

#: Columns the reading pages (record history, audit review) leave out besides HIDDEN: bookkeeping
#: no person reads — a safety alert's de-duplication key ("sae:162") and a page's path ("/safety/…"),
#: which a Chinese page would show raw. The audit exports (CSV, ODM, API) keep them.
NOT_SHOWN = frozenset({"source_key", "url"})


def _unlabelled(f: models.Field) -> str:  # type: ignore[type-arg]
    """A field declared without a label has Django's English one from its name ("definition"):
    a reference by the name of what it refers to, else the catalogue's word for it."""
    if f.is_relation and f.related_model is not None and not isinstance(f.related_model, str):
        return str(f.related_model._meta.verbose_name)
    return _(str(f.verbose_name))


def field_labels(model: type[models.Model]) -> dict[str, str]:
    """Each column's name as a person reads it, in the active language, by field name and by
    column name (`visit` and `visit_id`)."""
    labels = {}
    for f in model._meta.concrete_fields:
        label = str(f.verbose_name) if isinstance(f.verbose_name, Promise) else _unlabelled(f)
        labels[f.attname] = label
        labels[f.name] = label
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
        obj = related.get((field.attname, value), value)
        if _subject_record(obj):
            return display.record_name(obj)
        return display.value_text(obj)
    structured = display.STRUCTURED_TEXT.get((model._meta.label, field.name))
    if structured is not None:
        return structured(value)
    try:
        value = field.to_python(str(value) if isinstance(value, float) else value)
    except Exception:  # a value an older schema stored: show it as recorded
        return display.value_text(value)
    if isinstance(value, str) and field.name in display.COMPOSED_LABELS:
        return display.COMPOSED_LABELS[field.name](value)
    if field.name == display.DOSE_LEVEL_FIELD and study_id is not None:
        return dose_level_name(value, study_id)
    return display.value_text(value, field)


def message_columns(model: type[models.Model]) -> dict[str, tuple[str, str]]:
    """Text columns the system writes as a message code (study.system_text): the text's name →
    its code and parameters columns (`text` → `text_code`, `text_params`)."""
    names = {f.name for f in model._meta.concrete_fields}
    return {
        name: (f"{name}_code", f"{name}_params")
        for name in names
        if f"{name}_code" in names and f"{name}_params" in names
    }


def message_parts(model: type[models.Model]) -> dict[str, str]:
    """The code and parameters columns of the model's system texts → the text they render."""
    return {part: name for name, parts in message_columns(model).items() for part in parts}


def _form_field_label(model: type[models.Model], data: dict[str, Any], value: Any) -> str | None:
    """A field named by a record that points at a form (a query's `field_name`): that form's
    label of the field in the reader's language, rather than its column name."""
    for generic in model._meta.private_fields:
        if not isinstance(generic, GenericForeignKey):
            continue
        content_type = data.get(f"{generic.ct_field}_id", data.get(generic.ct_field))
        if content_type in (None, ""):
            continue
        try:
            target = ContentType.objects.get_for_id(int(content_type)).model_class()
        except (ContentType.DoesNotExist, TypeError, ValueError):
            target = None
        if target is not None:
            return field_labels(target).get(str(value), str(value))
    return None


#: A column naming one field of the form a record points at (a query's field).
FORM_FIELD_COLUMN = "field_name"


def shown_in_row(
    model: type[models.Model],
    name: str,
    data: dict[str, Any] | None,
    related: dict[tuple[str, Any], Any],
    study_id: int | None = None,
) -> Any:
    """One column of a history row as a person reads it, with the rest of that row at hand: a
    system text rendered in the reader's language from its message code and parameters (a
    person's text as typed), a form's field by its label; else as `_display` shows it."""
    data = data or {}
    value = data.get(name)
    if value is None and name not in data:  # a foreign key named by its field (`content_type`)
        found = _field_of(model, name)
        value = data.get(found.attname) if found is not None else None
    if value in (None, "", {}, []):
        return None
    messages = message_columns(model)
    if name in messages:
        code_column, params_column = messages[name]
        code = data.get(code_column)
        if code:
            params = data.get(params_column)
            return display.render_message(str(code), params if isinstance(params, dict) else None)
        return system_text.in_reader_language(str(value))
    if name == FORM_FIELD_COLUMN:
        label = _form_field_label(model, data, value)
        if label is not None:
            return label
    return _display(model, name, value, related, study_id)


def _subject_record(obj: Any) -> bool:
    """A record of a subject (not a visit, which reads by its name and day; not the subject)."""
    if not isinstance(obj, models.Model) or obj._meta.model_name == "visit":
        return False
    return any(f.name == "subject" for f in obj._meta.concrete_fields)


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
    messages = message_columns(model)
    parts = message_parts(model)
    for event in events:
        data = {k: v for k, v in (event.pgh_data or {}).items() if not k.startswith("pgh_")}
        context = event.pgh_context or {}
        kind = event.pgh_label
        changes = []
        for name, new in data.items():
            old = previous.get(name)
            if name in messages:  # a system text changes when its code or parameters do
                old = tuple(previous.get(n) for n in (name, *messages[name]))
                new = tuple(data.get(n) for n in (name, *messages[name]))
            if kind == "delete" or old == new or name in HIDDEN or name in NOT_SHOWN or name in parts:
                continue
            if kind == "insert" and shown_in_row(model, name, data, related) in (None, _("No")):
                continue
            shown_old, shown_new = (
                (MASK, MASK)
                if mask
                else (
                    shown_in_row(model, name, previous, related, study_id),
                    shown_in_row(model, name, data, related, study_id),
                )
            )
            changes.append(Change(field=name, label=labels.get(name, name), old=shown_old, new=shown_new))
        previous = data
        rows.append(
            HistoryRow(
                at=event.pgh_created_at,
                kind=kind,
                username=str(context.get("username", "")),
                role=role_text(context.get("role", "")),
                site=str(context.get("site", "")),
                # A reason the system wrote (e.g. "Source data verified") reads in the reader's
                # language; a person's reason shows as written (issue 25).
                reason=display.reason_text(context),
                request_id=str(context.get("request_id", "")),
                changes=changes,
            )
        )
    return rows
