"""The data as they stood at the snapshot time, rebuilt from the audit trail (DESIGN §5).

Every clinical model is tracked by django-pghistory: each insert, update and delete leaves an
event row holding the whole record as it was after the change. The state at a time S is, per
object, the last event at or before S (ties inside one transaction broken by the event's id);
an object whose last event is a delete is gone, and one marked entered in error is dropped
(DESIGN §4 "No hard deletes"). The live tables are never read, so a run at S gives the same
inputs today and after any later edit — the basis of byte-identical re-runs.

One code path for every snapshot, "now" included: the snapshot of a run that starts now is its
start time, and reading it from the events keeps the two cases identical by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import models

DELETE_LABEL = "delete"


def event_model(model: type[models.Model]) -> type[models.Model]:
    """The pghistory event model of `model` (`<Model>Event` in the same app)."""
    return apps.get_model(model._meta.app_label, f"{model.__name__}Event")


def _field_names(model: type[models.Model]) -> list[str]:
    event = event_model(model)
    event_fields = {f.attname for f in event._meta.concrete_fields}
    return [f.attname for f in model._meta.concrete_fields if f.attname in event_fields and f.attname != "id"]


def rows_as_of(
    model: type[models.Model], at: datetime, *, fields: list[str] | None = None, **filters: Any
) -> list[dict[str, Any]]:
    """Each object of `model` as it stood at `at`, as a dict of its fields (`id` = the object's
    key), sorted by id; deleted objects and those entered in error are left out. `fields` keeps
    only the named columns (plus `entered_in_error` when the model has it), to read less."""
    event = event_model(model)
    names = _field_names(model)
    if fields is not None:
        wanted = set(fields) | {"entered_in_error"}
        names = [name for name in names if name in wanted]
    latest = (
        event.objects.filter(pgh_created_at__lte=at, **filters)
        .order_by("pgh_obj_id", "-pgh_created_at", "-pgh_id")
        .distinct("pgh_obj_id")
        .values("pgh_obj_id", "pgh_label", *names)
    )
    rows = []
    for found in latest:
        if found.pop("pgh_label") == DELETE_LABEL or found.get("entered_in_error"):
            continue
        found["id"] = found.pop("pgh_obj_id")
        rows.append(found)
    rows.sort(key=lambda row: row["id"])
    return rows


def history_as_of(model: type[models.Model], at: datetime, **filters: Any) -> list[dict[str, Any]]:
    """Every version of every object up to `at`, in the order they were written."""
    event = event_model(model)
    names = _field_names(model)
    rows = list(
        event.objects.filter(pgh_created_at__lte=at, **filters)
        .order_by("pgh_obj_id", "pgh_created_at", "pgh_id")
        .values("pgh_obj_id", "pgh_label", *names)
    )
    for row in rows:
        row["id"] = row.pop("pgh_obj_id")
    return rows
