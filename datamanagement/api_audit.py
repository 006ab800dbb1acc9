"""REST resource `audit-events` (DESIGN §6): read-only audit search for the roles of DESIGN §4a
"audit search and export" (monitor, data manager, study admin), newest first.

Served from the audit index (issue 26 item 4: one indexed table written by triggers on the
history tables) instead of a UNION of every history table: filters by subject, form and record,
user, date range, field and action; each event names who (user, role, site), when, why (reason
for change), the request and the channel (`via` = "api"), and what changed. Identity-record
values show only to roles that may view the identity record (datamanagement.audit).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from datamanagement import audit
from study import access
from study.roles import Action


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


AUDIT_FILTERS = [
    OpenApiParameter("subject", OpenApiTypes.INT, description="Subject id: its records' history."),
    OpenApiParameter("form", OpenApiTypes.STR, description="CRF code: that form's history."),
    OpenApiParameter("form_id", OpenApiTypes.INT, description="With `form`: one form's history."),
    OpenApiParameter("user", OpenApiTypes.INT, description="User id of whoever made the change."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="On or after (YYYY-MM-DD, UTC)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="On or before (YYYY-MM-DD, UTC)."),
    OpenApiParameter("field", OpenApiTypes.STR, description="Events that set or changed this field (column name)."),
    OpenApiParameter("action", OpenApiTypes.STR, enum=list(audit.ACTIONS)),
]


@extend_schema_view(
    list=extend_schema(
        summary="Search the audit trail (monitor, data manager, study admin); newest first",
        parameters=AUDIT_FILTERS,
        responses={200: AuditEventSerializer(many=True)},
    )
)
class AuditEventViewSet(viewsets.GenericViewSet[Any]):
    """Read-only: the history tables and their index are append-only and written only by triggers."""

    serializer_class = AuditEventSerializer

    def list(self, request: Request) -> Response:
        user: Any = request.user
        if not access.can_anywhere(user, Action.AUDIT_SEARCH):
            raise PermissionDenied
        filters, errors = audit.parse_filters(user, request.query_params)
        if errors:
            raise ValidationError(errors)
        page = self.paginate_queryset(audit.search(user, filters))  # type: ignore[arg-type]
        rows = audit.describe(user, list(page or []))
        return self.get_paginated_response(AuditEventSerializer(rows, many=True).data)
