"""REST resource `audit-events` (DESIGN §6): read-only audit search over the trigger-written
history (DESIGN §4 "Audit trail") for the roles of DESIGN §4a "audit search and export"
(monitor, data manager, study admin).

Scope: every history row of a record that belongs to a subject (the subject itself and every
tracked record with a `subject`), for subjects the visibility gate lets the caller see at sites
where the caller may search the audit trail. Each event names who (user, role, site), when,
why (reason for change), the request and the channel (`via` = "api"), and what changed. Values
of the identity record show only to roles that may view it at the subject's site; others see
which identity field changed, its values masked (as on the record history pages, crf/history.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pghistory.models
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Model, Q, QuerySet
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.history import HIDDEN, MASK
from crf.registry import crf_model
from study import access
from study.roles import Action
from subjects.models import IdentityRecord, Subject
from subjects.selectors import access_subject, subjects_visible_to

SUBJECT_LABEL = Subject._meta.label
IDENTITY_LABEL = IdentityRecord._meta.label


@cache
def subject_event_models() -> tuple[type[Model], ...]:
    """The event models of the subject and of every tracked record that names a subject."""
    found = []
    for model in apps.get_models():
        tracked = getattr(model, "pgh_tracked_model", None)
        if not isinstance(model, type) or not issubclass(model, pghistory.models.Event) or tracked is None:
            continue
        if tracked is Subject or any(f.name == "subject" for f in tracked._meta.concrete_fields):
            found.append(model)
    return tuple(sorted(found, key=lambda m: m._meta.label))


class ChangeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class AuditEventSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField(help_text="The event's identifier across the history tables.")
    at = serializers.DateTimeField()
    action = serializers.CharField(help_text="insert, update or delete.")
    model = serializers.CharField(help_text="The record's model, e.g. labs.VitalSigns.")
    form = serializers.CharField(help_text="CRF code of the record, when it is a form.")
    record_id = serializers.CharField()
    subject = serializers.IntegerField()
    user = serializers.IntegerField(allow_null=True)
    username = serializers.CharField()
    role = serializers.CharField(help_text="The user's roles at the site, comma separated.")
    site = serializers.CharField()
    reason = serializers.CharField()
    request_id = serializers.CharField()
    via = serializers.CharField(help_text="`api` for REST API requests, blank for pages and commands.")
    changes = ChangeSerializer(many=True)


def _changes(event: Any, masked: bool) -> list[dict[str, Any]]:
    """What the event changed: an insert lists its values, an update its differences."""
    if event.pgh_label == "update":
        pairs = {name: (pair[0], pair[1]) for name, pair in (event.pgh_diff or {}).items()}
    else:
        pairs = {name: (None, value) for name, value in (event.pgh_data or {}).items()}
        if event.pgh_label == "delete":
            pairs = {name: (value, None) for name, (_old, value) in pairs.items()}
    rows = []
    for name in sorted(pairs):
        if name in HIDDEN or name.startswith("pgh_"):
            continue
        old, new = pairs[name]
        if masked:
            old, new = (MASK if old is not None else None), (MASK if new is not None else None)
        rows.append({"field": name, "old": old, "new": new})
    return rows


def _describe(event: Any, *, identity_sites: set[int], site_of: dict[int, int]) -> dict[str, Any]:
    data = event.pgh_data or {}
    subject_id = int(event.pgh_obj_id) if event.pgh_obj_model == SUBJECT_LABEL else int(data["subject_id"])
    context = event.pgh_context or {}
    model = apps.get_model(event.pgh_obj_model)
    masked = event.pgh_obj_model == IDENTITY_LABEL and site_of.get(subject_id) not in identity_sites
    user = context.get("user")
    return {
        "id": event.pgh_slug,
        "at": event.pgh_created_at,
        "action": event.pgh_label,
        "model": event.pgh_obj_model,
        "form": getattr(model, "crf_code", ""),
        "record_id": event.pgh_obj_id,
        "subject": subject_id,
        "user": int(user) if isinstance(user, int) or (isinstance(user, str) and user.isdigit()) else None,
        "username": str(context.get("username", "")),
        "role": str(context.get("role", "")),
        "site": str(context.get("site", "")),
        "reason": str(context.get("reason", "")),
        "request_id": str(context.get("request_id", "")),
        "via": str(context.get("via", "")),
        "changes": _changes(event, masked),
    }


AUDIT_FILTERS = [
    OpenApiParameter("subject", OpenApiTypes.INT, description="Subject id: its records' history."),
    OpenApiParameter("form", OpenApiTypes.STR, description="CRF code: that form's history."),
    OpenApiParameter("form_id", OpenApiTypes.INT, description="With `form`: one form's history."),
    OpenApiParameter("user", OpenApiTypes.INT, description="User id of whoever made the change."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="On or after (YYYY-MM-DD, UTC)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="On or before (YYYY-MM-DD, UTC)."),
]


@extend_schema_view(
    list=extend_schema(
        summary="Search the audit trail (monitor, data manager, study admin); newest first",
        parameters=AUDIT_FILTERS,
        responses={200: AuditEventSerializer(many=True)},
    )
)
class AuditEventViewSet(viewsets.GenericViewSet[Any]):
    """Read-only: the history tables are append-only and written only by database triggers."""

    serializer_class = AuditEventSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return pghistory.models.Events.objects.across(*subject_event_models())

    def list(self, request: Request) -> Response:
        user = request.user
        if not access.can_anywhere(user, Action.AUDIT_SEARCH):
            raise PermissionDenied
        params = request.query_params
        errors: dict[str, str] = {}
        subjects = subjects_visible_to(user).filter(site__in=access.sites_where(user, Action.AUDIT_SEARCH))
        if params.get("subject"):
            subjects = subjects.filter(pk=access_subject(user, params["subject"], Action.AUDIT_SEARCH).pk)
        site_of = dict(subjects.values_list("pk", "site_id"))
        events = self.get_queryset().filter(
            Q(pgh_obj_model=SUBJECT_LABEL, pgh_obj_id__in=[str(pk) for pk in site_of])
            | Q(pgh_data__subject_id__in=list(site_of))
        )
        code = params.get("form", "")
        if code:
            model = crf_model(code)
            if model is None:
                errors["form"] = _("No such form.")
            else:
                events = events.filter(pgh_obj_model=model._meta.label)
        form_id = params.get("form_id", "")
        if form_id:
            if not form_id.isdigit():
                errors["form_id"] = _("Give a record id.")
            elif not code:
                errors["form"] = _("Give the form of this id.")
            else:
                events = events.filter(pgh_obj_id=form_id)
        who = params.get("user", "")
        if who:
            if not who.isdigit() or not get_user_model().objects.filter(pk=int(who)).exists():
                errors["user"] = _("No such user.")
            else:
                events = events.filter(pgh_context__user=int(who))
        for name, lookup in (("date_from", "gte"), ("date_to", "lte")):
            if name in params:
                try:
                    day = parse_date(params[name]) if len(params[name]) == 10 else None
                except ValueError:
                    day = None
                if day is None:
                    errors[name] = _("Give a date as YYYY-MM-DD.")
                else:
                    events = events.filter(**{f"pgh_created_at__date__{lookup}": day})
        if errors:
            raise ValidationError(errors)
        identity_sites = {site.pk for site in access.sites_where(user, Action.VIEW_IDENTITY)}
        page = self.paginate_queryset(events.order_by("-pgh_created_at", "-pgh_id", "pgh_model"))
        rows = [_describe(event, identity_sites=identity_sites, site_of=site_of) for event in page or []]
        return self.get_paginated_response(AuditEventSerializer(rows, many=True).data)
