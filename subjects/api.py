from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from study import access
from study.roles import Action
from subjects.models import Subject
from subjects.selectors import access_subject, subjects_visible_to


class SubjectSerializer(serializers.ModelSerializer[Subject]):
    site = serializers.CharField(source="site.code", read_only=True)

    class Meta:
        model = Subject
        fields = ["id", "subject_id", "site"]


class SubjectViewSet(viewsets.ReadOnlyModelViewSet[Subject]):
    """Subjects the caller may see (the visibility gate); CRF-viewing roles only (DESIGN §4a)."""

    serializer_class = SubjectSerializer

    def get_queryset(self) -> QuerySet[Subject]:
        return subjects_visible_to(self.request.user).filter(
            site__in=access.sites_where(self.request.user, Action.VIEW_CRF)
        )

    def list(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        subject = access_subject(request.user, kwargs["pk"], Action.VIEW_CRF)
        return Response(self.get_serializer(subject).data)
