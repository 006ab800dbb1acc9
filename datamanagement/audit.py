"""Audit search (issue 26 item 4; DESIGN §4 "Audit trail", §4a "audit search and export"): one
selector over the audit index (datamanagement.models.AuditIndex) for the review page, its CSV and
ODM exports and the `audit-events` API, and one way to describe an event.

Scope: every history row of a record that belongs to a subject (the subject itself and every
tracked record with a `subject`), for subjects at the sites where the caller may search the
audit trail (the visibility gate is site membership, study/access.py). Identity-record
values show only to roles that may view the identity record at the subject's site; others see
which identity field changed, its values masked (as on the record history pages).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crf.display import reason_text
from crf.history import HIDDEN, MASK, NOT_SHOWN, _display, _field_of, field_labels, message_parts, shown_in_row
from crf.registry import crf_model
from datamanagement.audit_index import subject_event_models
from datamanagement.models import AuditIndex
from study import access
from study.access import access_subject
from study.roles import Action
from study.subject_models import identity_model, subject_model

if TYPE_CHECKING:
    from study.models import User

ACTIONS = ("insert", "update", "delete")


@dataclass
class AuditFilters:
    subject: int | None = None
    obj_model: str = ""
    form_id: str = ""
    user: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    field: str = ""
    action: str = ""


def _day(value: str) -> date | None:
    try:
        return parse_date(value) if len(value) == 10 else None
    except ValueError:
        return None


def parse_filters(viewer: User, params: QueryDict | dict[str, str]) -> tuple[AuditFilters, dict[str, str]]:
    """Filters from query parameters, and field-level errors. A subject outside the caller's
    sites is a 404 (the gate), at a site where they may not search a 403."""
    found = AuditFilters()
    errors: dict[str, str] = {}
    if params.get("subject"):
        found.subject = access_subject(viewer, params["subject"], Action.AUDIT_SEARCH).pk
    code = params.get("form", "")
    if code:
        model = crf_model(code)
        if model is None:
            errors["form"] = _("No such form.")
        else:
            found.obj_model = model._meta.label
    form_id = params.get("form_id", "")
    if form_id:
        if not form_id.isdigit():
            errors["form_id"] = _("Give a record id.")
        elif not code:
            errors["form"] = _("Give the form of this id.")
        else:
            found.form_id = form_id
    who = params.get("user", "")
    if who:
        if not who.isdigit() or not get_user_model().objects.filter(pk=int(who)).exists():
            errors["user"] = _("No such user.")
        else:
            found.user = int(who)
    for name in ("date_from", "date_to"):
        if params.get(name):
            day = _day(params[name])
            if day is None:
                errors[name] = _("Give a date as YYYY-MM-DD.")
            else:
                setattr(found, name, day)
    found.field = params.get("field", "").strip()[:100]
    action = params.get("action", "")
    if action:
        if action not in ACTIONS:
            errors["action"] = _("One of: %(values)s.") % {"values": ", ".join(ACTIONS)}
        else:
            found.action = action
    return found, errors


def search(viewer: User, filters: AuditFilters) -> QuerySet[AuditIndex]:
    """Index rows the viewer may see, filtered, newest first (ties: newest event first)."""
    sites = [s.pk for s in access.sites_where(viewer, Action.AUDIT_SEARCH)]
    rows = AuditIndex.objects.filter(site_pk__in=sites)
    if filters.subject is not None:
        rows = rows.filter(subject_pk=filters.subject)
    if filters.obj_model:
        rows = rows.filter(obj_model=filters.obj_model)
    if filters.form_id:
        rows = rows.filter(obj_id=filters.form_id)
    if filters.user is not None:
        rows = rows.filter(user_pk=filters.user)
    if filters.date_from is not None:
        rows = rows.filter(at__gte=datetime.combine(filters.date_from, time.min, tzinfo=UTC))
    if filters.date_to is not None:
        rows = rows.filter(at__lt=datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC))
    if filters.field:
        rows = rows.filter(fields__contains=[filters.field])
    if filters.action:
        rows = rows.filter(action=filters.action)
    return rows.order_by("-at", "-id")


def _event_tables() -> dict[str, Any]:
    return {m._meta.db_table: m for m in subject_event_models()}


def _rows(table: str, ids: set[int]) -> dict[int, dict[str, Any]]:
    """History rows by pgh_id, as JSON (the values exactly as stored)."""
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            # table names come from the model registry, quoted; values are parameters
            f"SELECT e.pgh_id, pg_catalog.to_jsonb(e) FROM public.{connection.ops.quote_name(table)} e "  # noqa: S608
            "WHERE e.pgh_id = ANY(%s)",
            [sorted(ids)],
        )
        # Django's PostgreSQL backend hands jsonb over as text
        return {int(pk): json.loads(data) if isinstance(data, str) else data for pk, data in cursor.fetchall()}


def _changes(
    entry: AuditIndex, data: dict[str, Any], prev: dict[str, Any] | None, masked: bool
) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(entry.fields):
        if name in HIDDEN or name.startswith("pgh_"):
            continue
        if entry.action == "update":
            old, new = (prev or {}).get(name), data.get(name)
        elif entry.action == "delete":
            old, new = data.get(name), None
        else:
            old, new = None, data.get(name)
        if masked:
            old, new = (MASK if old is not None else None), (MASK if new is not None else None)
        rows.append({"field": name, "old": old, "new": new})
    return rows


def describe(viewer: User, entries: list[AuditIndex], *, with_rows: bool = False) -> list[dict[str, Any]]:
    """The page's events as the API and exports show them: one query per history table.
    `with_rows`: each event also carries its history row and the one before it as stored
    (`row`, `previous_row`; None when masked), for a page that shows a value with its row at hand
    (a system text from its message code, `shown_change`)."""
    identity_sites = {site.pk for site in access.sites_where(viewer, Action.VIEW_IDENTITY)}
    identity_label = identity_model()._meta.label
    wanted: dict[str, set[int]] = {}
    for e in entries:
        wanted.setdefault(e.event_table, set()).add(e.event_id)
        if e.previous_id is not None:
            wanted[e.event_table].add(e.previous_id)
    data = {table: _rows(table, ids) for table, ids in wanted.items()}
    models = _event_tables()
    out = []
    for e in entries:
        row = data[e.event_table].get(e.event_id, {})
        prev = data[e.event_table].get(e.previous_id) if e.previous_id is not None else None
        context = row.get("pgh_context") or {}
        tracked = apps.get_model(e.obj_model)
        masked = e.obj_model == identity_label and e.site_pk not in identity_sites
        user = context.get("user")
        event_model = models.get(e.event_table)
        out.append(
            {
                "id": f"{event_model._meta.label if event_model else e.event_table}:{e.event_id}",
                "at": e.at,
                "action": e.action,
                "model": e.obj_model,
                "form": _crf_code(tracked),
                # what the record is, in the reader's language, for pages ("notification")
                "record_type": str(tracked._meta.verbose_name),
                "record_id": e.obj_id,
                "subject": e.subject_pk,
                "user": int(user) if isinstance(user, int) or (isinstance(user, str) and user.isdigit()) else None,
                "username": str(context.get("username", "")),
                "role": str(context.get("role", "")),
                "site": str(context.get("site", "")),
                "reason": str(context.get("reason", "")),
                # the reason in the reader's language, for pages (exports keep `reason` as stored)
                "reason_shown": reason_text(context),
                "request_id": str(context.get("request_id", "")),
                "via": str(context.get("via", "")),
                "changes": _changes(e, row, prev, masked),
            }
        )
        if with_rows:
            out[-1]["row"] = None if masked else row
            out[-1]["previous_row"] = None if masked else prev
    return out


def _crf_code(tracked: Any) -> str:
    """A CRF model's code; "" for any other tracked model, even one with a `crf_code` column (a
    notification names its form so: the class attribute is then the field's descriptor)."""
    code = getattr(tracked, "crf_code", "")
    return code if isinstance(code, str) else ""


def subject_codes(entries: list[AuditIndex]) -> dict[int, str]:
    return dict(subject_model().objects.filter(pk__in={e.subject_pk for e in entries}).values_list("pk", "subject_id"))


def labels_of(model_label: str) -> dict[str, str]:
    """The columns of a tracked model by the names a person reads, in the active language ({}
    for a model no longer registered: the page then shows the stored column name)."""
    try:
        return field_labels(apps.get_model(model_label))
    except LookupError:
        return {}


def shown_changes(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The changes of one event (`describe(..., with_rows=True)`) as the review page shows them,
    in the reader's language: each field by its label, each value as a person reads it; a system
    text (a query's text, an alert's summary, a DLT finding) rendered from its message code and
    parameters, its code and parameters columns not shown apart; a query's field by its form's
    label. Masked values stay masked."""
    try:
        model = apps.get_model(event["model"])
    except LookupError:
        return [{**c, "label": c["field"]} for c in event["changes"]]
    labels = field_labels(model)
    parts = message_parts(model)
    row, previous = event.get("row"), event.get("previous_row")
    if event["action"] == "delete":
        row, previous = None, row
    out, seen = [], set()
    for change in event["changes"]:
        name = parts.get(change["field"], change["field"])
        if name in seen or name in NOT_SHOWN:
            continue
        seen.add(name)
        if row is None and previous is None:  # masked, or no row at hand
            old, new = shown(event["model"], name, change["old"]), shown(event["model"], name, change["new"])
        else:
            old = _row_value(model, name, previous)
            new = _row_value(model, name, row)
        out.append({"field": name, "label": labels.get(name, name), "old": old, "new": new})
    return out


def _row_value(model: Any, name: str, data: dict[str, Any] | None) -> Any:
    if not data:
        return None
    related: dict[tuple[str, Any], Any] = {}
    column = name[:-3] if name.endswith("_id") else name
    model_field = _field_of(model, column)
    value = data.get(model_field.attname if model_field is not None else name)
    if model_field is not None and model_field.is_relation and value not in (None, ""):
        obj = model_field.related_model._default_manager.filter(pk=value).first()  # type: ignore[union-attr]
        if obj is not None:
            related[(model_field.attname, value)] = obj
    return shown_in_row(model, column if model_field is not None else name, data, related)


def shown(model_label: str, field: str, value: Any) -> Any:
    """A stored value as a person reads it on the review page (choice labels, yes/no). Kept
    here, small and alone, so the display layer can replace it."""
    if value is None or value == MASK:
        return value
    try:
        model = apps.get_model(model_label)
    except LookupError:
        return value
    name = field[:-3] if field.endswith("_id") else field
    related: dict[tuple[str, Any], Any] = {}
    model_field = _field_of(model, name)
    if model_field is not None and model_field.is_relation and model_field.related_model is not None:
        obj = model_field.related_model._default_manager.filter(pk=value).first()
        if obj is not None:
            related[(model_field.attname, value)] = obj
    return _display(model, name, value, related)
