"""Reads of exports through the visibility gate (DESIGN §4a "start endpoint runs and
de-identified exports"). An export covers the sites its requester could export; another user
sees it only when every one of those sites is within their gate (404 otherwise), and reads it
only when their role there may export (403 otherwise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from exports.models import Export, ExportDownload
from exports.services import EXPORT_ACTION
from study import access
from study.models import Study

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User

LIST_DEFERRED = ["conformance"]


def studies_for_exports(user: User | AnonymousUser) -> QuerySet[Study]:
    return Study.objects.filter(pk__in=access.sites_where(user, EXPORT_ACTION).values("study_id"))


def exports_visible_to(user: User | AnonymousUser) -> QuerySet[Export]:
    site_ids = list(access.sites_where(user, EXPORT_ACTION).values_list("pk", flat=True))
    return (
        Export.objects.filter(study__in=studies_for_exports(user), site_ids__contained_by=site_ids)
        .select_related("study", "requested_by")
        .defer(*LIST_DEFERRED)
        .order_by("-requested_at", "-pk")
    )


def access_export(user: User | AnonymousUser, pk: int) -> Export:
    export = Export.objects.select_related("study", "requested_by").filter(pk=pk).first()
    if export is None:
        raise Http404
    visible = set(access.sites_visible_to(user).values_list("pk", flat=True))
    if not set(export.site_ids) <= visible or not visible:
        raise Http404
    allowed = set(access.sites_where(user, EXPORT_ACTION).values_list("pk", flat=True))
    if not set(export.site_ids) <= allowed or not allowed:
        raise PermissionDenied
    return export


def downloads_of(export: Export) -> QuerySet[ExportDownload]:
    return ExportDownload.objects.filter(export=export).select_related("user").order_by("-at", "-pk")
