"""API of DLT adjudication and the dose-level monitor (DESIGN §6; CLINICAL_SPEC §3.1).

`dlt-candidates`: list/read the candidates of the subjects the caller may see (404 outside the
gate, 403 without VIEW_SAFETY at the site), and `POST …/{id}/adjudicate/` (investigator only,
If-Match with the candidate's ETag: 428 without, 412 stale). `dlt-monitor`: one row per dose
level of the caller's study, computed live.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from adverse_events.models import DltCandidate
from adverse_events.services import dlt as dlt_services
from clinical.stats import percent
from crf.api import CONDITIONAL_ERRORS, IF_MATCH, as_api_error, precondition, version_etag
from study import access
from study.access import subjects_visible_to
from study.models import DoseLevelName
from study.roles import Action


class DltCandidateSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    subject_code = serializers.CharField(source="subject.subject_id", read_only=True)
    dose_level = serializers.CharField(source="subject.dose_level", read_only=True)

    class Meta:
        model = DltCandidate
        fields = [
            "id",
            "subject",
            "subject_code",
            "dose_level",
            "key",
            "criterion",
            "onset_day",
            "description",
            "awaiting_marrow",
            "withdrawn",
            "status",
            "adjudication_reason",
            "adjudicated_by",
            "adjudicated_at",
            "flagged_at",
            "version",
        ]
        read_only_fields = fields


class AdjudicationSerializer(serializers.Serializer):  # type: ignore[type-arg]
    decision = serializers.ChoiceField(choices=[("confirm", "confirm"), ("reject", "reject")])
    reason = serializers.CharField(max_length=500)


@extend_schema_view(
    list=extend_schema(summary="DLT candidates of the subjects you may see"),
    retrieve=extend_schema(summary="One DLT candidate"),
)
class DltCandidateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    serializer_class = DltCandidateSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> Any:
        return (
            DltCandidate.objects.filter(subject__in=subjects_visible_to(self.request.user))
            .select_related("subject", "subject__site")
            .order_by("pk")
        )

    def filter_queryset(self, queryset: Any) -> Any:
        if self.action == "list":
            queryset = queryset.filter(subject__site__in=access.sites_where(self.request.user, Action.VIEW_SAFETY))
            status = self.request.query_params.get("status")
            if status:
                queryset = queryset.filter(status=status)
        return queryset

    def get_object(self) -> DltCandidate:
        try:
            record: DltCandidate = self.get_queryset().get(pk=self.kwargs["pk"])
        except (DltCandidate.DoesNotExist, ValueError):
            raise Http404 from None
        access.require(self.request.user, Action.VIEW_SAFETY, site=record.subject.site)
        return record

    def respond(self, record: DltCandidate) -> Response:
        return Response(self.get_serializer(record).data, headers={"ETag": version_etag(record, record.version)})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_SAFETY):
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.respond(self.get_object())

    @extend_schema(
        summary="Confirm or reject a DLT candidate with a reason (investigator; If-Match)",
        request=AdjudicationSerializer,
        parameters=[IF_MATCH],
        responses={200: DltCandidateSerializer, **CONDITIONAL_ERRORS},
    )
    @action(detail=True, methods=["post"], serializer_class=AdjudicationSerializer)
    def adjudicate(self, request: Request, pk: str | None = None) -> Response:
        current = self.get_object()
        access.require(request.user, Action.ADJUDICATE, site=current.subject.site)
        stale = precondition(
            request, version_etag(current, current.version), lambda: DltCandidateSerializer(current).data
        )
        if stale is not None:
            return stale
        body = AdjudicationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            saved = dlt_services.adjudicate_candidate(
                user=request.user,  # type: ignore[arg-type]
                candidate=current,
                confirm=body.validated_data["decision"] == "confirm",
                reason=body.validated_data["reason"],
                expected_version=current.version,
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(DltCandidateSerializer(saved).data, headers={"ETag": version_etag(saved, saved.version)})


class DoseLevelRowSerializer(serializers.Serializer):  # type: ignore[type-arg]
    dose_level = serializers.CharField()
    dose_level_name = serializers.CharField(help_text="the level's English name (the code when not named)")
    dose_level_name_zh = serializers.CharField(help_text="the level's Chinese name (blank when not named)")
    enrolled = serializers.IntegerField()
    infused = serializers.IntegerField()
    in_window = serializers.IntegerField()
    evaluable = serializers.IntegerField()
    to_replace = serializers.IntegerField()
    awaiting_adjudication = serializers.IntegerField()
    confirmed_dlts = serializers.IntegerField()
    dlt_rate_percent = serializers.CharField(
        allow_null=True, help_text="confirmed DLTs / evaluable, percent with one decimal (null: none evaluable)"
    )
    ci_lower_percent = serializers.CharField(allow_null=True, help_text="exact (Clopper–Pearson) 95% CI, percent")
    ci_upper_percent = serializers.CharField(allow_null=True, help_text="exact (Clopper–Pearson) 95% CI, percent")
    decision = serializers.CharField(
        help_text="escalate, expand_to_6, above_mtd, mtd, enrolling, expansion_continue or expansion_stop (§3.1)"
    )
    pending = serializers.BooleanField()
    rule = serializers.CharField()
    recommended_dose = serializers.BooleanField(help_text="this level is the MTD / recommended dose (§3.1)")
    acknowledgement_needed = serializers.ListField(
        child=serializers.CharField(),
        help_text="why enrolling here needs the investigator's acknowledgement: above_mtd, stop_and_review, "
        "awaiting_adjudication (empty: none)",
    )
    decision_changed_at = serializers.DateTimeField()


class DltMonitorViewSet(viewsets.ViewSet):
    """The DLT monitor of the caller's study: one row per dose level, computed live (§3.1)."""

    @extend_schema(
        summary="DLT monitor: per dose level, computed live",
        responses={
            200: DoseLevelRowSerializer(many=True),
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="Your role may not view safety data."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="You hold no role in a study."),
        },
    )
    def list(self, request: Request) -> Response:
        studies = [
            s
            for s in access.studies_visible_to(request.user).order_by("pk")
            if access.can_anywhere(request.user, Action.VIEW_SAFETY, study=s)
        ]
        if not studies:
            if access.studies_visible_to(request.user).exists():
                raise PermissionDenied
            raise Http404
        levels, missing = dlt_services.dose_level_monitor_or_reason(studies[0])
        if missing:  # a new study without protocol settings (issue 21)
            return Response({"detail": missing}, status=409)
        names = {row.code: row for row in DoseLevelName.objects.filter(study=studies[0])}
        rows = [
            {
                "dose_level": row.code,
                "dose_level_name": names[row.code].name if row.code in names else row.code,
                "dose_level_name_zh": names[row.code].name_zh if row.code in names else "",
                "enrolled": row.enrolled,
                "infused": row.infused,
                "in_window": row.in_window,
                "evaluable": row.evaluable,
                "to_replace": row.to_replace,
                "awaiting_adjudication": row.awaiting,
                "confirmed_dlts": row.confirmed,
                "dlt_rate_percent": percent(row.rate.estimate) if row.rate else None,
                "ci_lower_percent": percent(row.rate.lower) if row.rate else None,
                "ci_upper_percent": percent(row.rate.upper) if row.rate else None,
                "decision": row.result.decision.value if row.result else "",
                "pending": bool(row.result and row.result.pending),
                "rule": row.result.rule if row.result else "",
                "recommended_dose": row.recommended,
                "acknowledgement_needed": [reason.value for reason in row.acknowledgement],
                "decision_changed_at": row.changed_at,
            }
            for row in levels
        ]
        return Response(DoseLevelRowSerializer(rows, many=True).data)
