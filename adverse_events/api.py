"""REST resources `crs-episodes` and `icans-episodes` (issue 8 item 5; DESIGN §6): read-only,
because episodes are derived from the assessments by the save services (CLINICAL_SPEC §1.3,
§2.3) and change only through them (the grade in source and the adjudication are recorded on
the episode pages). Reads pass the visibility gate (other sites' episodes are 404) and DESIGN §4a
"view CRF pages" (403 within one's sites), as the episode pages do; each answers a strong ETag
naming the episode's version."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from adverse_events.models import AdverseEvent, CrsEpisode, EpisodeBase, IcansEpisode
from crf.api import version_etag
from study import access
from study.access import subjects_visible_to
from study.roles import Action


class EpisodeSerializer(serializers.ModelSerializer[EpisodeBase]):
    grade = serializers.IntegerField(
        read_only=True, help_text="The adjudicated grade when there is one, else the derived grade (§1.3)."
    )
    ongoing = serializers.BooleanField(read_only=True)
    adverse_event = serializers.SerializerMethodField(help_text="Id of the system-owned AE of this episode.")

    class Meta:
        fields = [
            "id",
            "subject",
            "number",
            "onset_date",
            "last_date",
            "onset_day",
            "duration_days",
            "resolved_date",
            "ongoing",
            "derived_grade",
            "source_grade",
            "adjudicated_grade",
            "adjudication_reason",
            "adjudicated_by",
            "adjudicated_at",
            "grade",
            "criteria",
            "settings_version",
            "superseded",
            "adverse_event",
            "version",
        ]
        read_only_fields = fields

    def get_adverse_event(self, episode: EpisodeBase) -> int | None:
        owned = getattr(episode, "owned_ae_ids", None)
        if owned is not None:
            return owned.get(episode.pk)
        return (
            AdverseEvent.objects.filter(**{f"{type(episode).kind.lower()}_episode": episode})
            .values_list("pk", flat=True)
            .first()
        )


class EpisodeViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    model: type[EpisodeBase]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Any]:
        user = self.request.user
        visible = subjects_visible_to(user).filter(site__in=access.sites_where(user, Action.VIEW_CRF))
        return self.model._default_manager.filter(subject__in=visible).order_by("subject_id", "number")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        found = self.get_queryset()
        params = request.query_params
        if params.get("subject"):
            if not params["subject"].isdigit():
                raise ValidationError({"subject": _("Give a record id.")})
            found = found.filter(subject_id=int(params["subject"]))
        if "superseded" in params:
            found = found.filter(superseded=params["superseded"].lower() in ("1", "true", "yes"))
        page = list(self.paginate_queryset(found) or [])
        link = f"{self.model.kind.lower()}_episode_id"
        owned = dict(AdverseEvent.objects.filter(**{f"{link}__in": [e.pk for e in page]}).values_list(link, "pk"))
        for episode in page:
            episode.owned_ae_ids = owned  # type: ignore[attr-defined]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_queryset().filter(pk=kwargs["pk"]).first()
        if episode is None:
            raise Http404
        return Response(self.get_serializer(episode).data, headers={"ETag": version_etag(episode, episode.version)})


EPISODE_FILTERS = [
    OpenApiParameter("subject", OpenApiTypes.INT, description="Subject id."),
    OpenApiParameter("superseded", OpenApiTypes.BOOL, description="Episodes a correction made obsolete."),
]


def _episode_viewset(model: type[EpisodeBase]) -> type[EpisodeViewSet]:
    meta = type("Meta", (EpisodeSerializer.Meta,), {"model": model})
    serializer = type(f"{model.__name__}Serializer", (EpisodeSerializer,), {"Meta": meta, "__module__": __name__})
    viewset = type(
        f"{model.__name__}ViewSet",
        (EpisodeViewSet,),
        {"model": model, "serializer_class": serializer, "__module__": __name__, "__doc__": model.__doc__},
    )
    return extend_schema_view(  # type: ignore[no-any-return]
        list=extend_schema(summary=f"List {model.kind} episodes (derived; read-only)", parameters=EPISODE_FILTERS),
        retrieve=extend_schema(summary=f"Read one {model.kind} episode (ETag)"),
    )(viewset)


CrsEpisodeViewSet = _episode_viewset(CrsEpisode)
IcansEpisodeViewSet = _episode_viewset(IcansEpisode)
