"""REST resource `endpoint-runs` (DESIGN §6): list the runs one may see, start one, poll its
status and progress, read its tables. Same gate and permissions as the pages (DESIGN §4a):
studies outside the user's sites are 404, a role without "view endpoint run results" 403, and
starting needs "start endpoint runs". Starting goes through `endpoints.services.request_run`
(outbox → Celery), as the page does; the answer is 202 with the run to poll."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api import as_api_error
from crf.api_fields import AwareDateTimeField
from endpoints import files, selectors, services
from endpoints.models import EndpointRun, RunTrigger
from study import access
from study.models import Study
from study.roles import Action


class EndpointRunSerializer(serializers.ModelSerializer[EndpointRun]):
    study = serializers.CharField(source="study.code", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, default=None)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)  # null until the job finished
    has_results = serializers.BooleanField(read_only=True)

    class Meta:
        model = EndpointRun
        fields = [
            "id",
            "study",
            "requested_by",
            "requested_at",
            "trigger",
            "cutoff_date",
            "snapshot_at",
            "protocol_version",
            "settings_version",
            "input_settings_versions",
            "rederive_at_cutoff",
            "sensitivity_settings_version",
            "input_sha256",
            "code_version",
            "status",
            "progress",
            "attempts",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "results_sha256",
            "has_results",
        ]
        read_only_fields = fields


class EndpointRunRequestSerializer(serializers.Serializer[EndpointRun]):
    study = serializers.CharField(
        max_length=30, required=False, help_text="Study code; may be left out when you belong to one study."
    )
    cutoff_date = serializers.DateField(help_text="Clinical cut-off date: data dated after it are left out.")
    snapshot_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="The data as they stood at this instant (ISO 8601 with zone); empty: when the run starts.",
    )
    rederive_at_cutoff = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also the sensitivity analysis: the derived inputs re-derived under the settings version in "
        'force at the cut-off; its tables come beside the main ones (results: "sensitivity").',
    )


@extend_schema_view(
    list=extend_schema(summary="Endpoint runs of the studies where you may view results"),
    retrieve=extend_schema(summary="One endpoint run: status, progress (0–100), cut and hashes"),
)
class EndpointRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[EndpointRun]):
    serializer_class = EndpointRunSerializer

    def get_queryset(self) -> QuerySet[EndpointRun]:
        return selectors.runs_visible_to(self.request.user)

    def get_object(self) -> EndpointRun:
        try:
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise NotFound from None
        return selectors.access_run(self.request.user, pk)  # DRF answers Http404 / PermissionDenied

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not selectors.studies_with_results_for(request.user).exists():
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Start an endpoint run (queued through the outbox; poll the run for progress)",
        request=EndpointRunRequestSerializer,
        responses={202: EndpointRunSerializer, 400: OpenApiResponse(description="Field-level reasons.")},
    )
    def create(self, request: Request) -> Response:
        data = EndpointRunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        study = self._study(data.validated_data.get("study"))
        try:
            run = services.request_run(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                cutoff_date=data.validated_data["cutoff_date"],
                snapshot_at=data.validated_data.get("snapshot_at"),
                trigger=RunTrigger.API,
                rederive_at_cutoff=data.validated_data["rederive_at_cutoff"],
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(EndpointRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    def _study(self, code: str | None) -> Study:
        visible = access.studies_visible_to(self.request.user)
        if code:
            study = visible.filter(code=code).first()
            if study is None:
                raise ValidationError({"study": ["No such study among yours."]})
        else:
            studies = list(visible[:2])
            if len(studies) != 1:
                raise ValidationError({"study": ["Give the study code."]})
            study = studies[0]
        if not access.can_anywhere(self.request.user, Action.START_ENDPOINT_RUNS, study=study):
            raise PermissionDenied
        return study

    @extend_schema(
        summary="The run's tables (canonical JSON: cut and tables, and the sensitivity analysis under "
        "'sensitivity' when asked for); 409 while it has none",
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiResponse(description="No results (yet).")},
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        if not run.has_results:
            return Response(
                {"detail": "This run has no results.", "status": run.status}, status=status.HTTP_409_CONFLICT
            )
        document = json.loads(run.results_json)
        if selectors.hidden_subject_labels(request.user, run.study) is None:
            response = Response(document)
            response["ETag"] = f'"{run.results_sha256}"'
            return response
        # per-subject rows through the visibility gate (DESIGN §4a notes): not the stored document
        response = Response(selectors.gated_document(request.user, run, document))
        return response

    @extend_schema(
        summary="One table of the run: its JSON, or a CSV or XLSX file of it alone",
        parameters=[
            OpenApiParameter("key", str, OpenApiParameter.PATH, description="The table key, e.g. os_km."),
            OpenApiParameter(
                "file_format",
                str,
                OpenApiParameter.QUERY,
                enum=["json", "csv", "xlsx"],
                description="json (default), csv or xlsx.",
            ),
            OpenApiParameter(
                "analysis",
                str,
                OpenApiParameter.QUERY,
                enum=["main", "sensitivity"],
                description="main (default), or sensitivity: the table re-derived under the settings in force "
                "at the cut-off (runs that asked for it).",
            ),
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            404: OpenApiResponse(description="No such table in this run."),
            409: OpenApiResponse(description="No results (yet)."),
        },
    )
    @action(detail=True, methods=["get"], url_path=r"tables/(?P<key>[a-z0-9_]+)")
    def table(self, request: Request, pk: str | None = None, key: str = "") -> Response | HttpResponse:
        run = self.get_object()
        if not run.has_results:
            return Response(
                {"detail": "This run has no results.", "status": run.status}, status=status.HTTP_409_CONFLICT
            )
        file_format = request.query_params.get("file_format", "json")
        if file_format not in ("json", "csv", "xlsx"):
            raise ValidationError({"file_format": ["Choose json, csv or xlsx."]})
        analysis = request.query_params.get("analysis", "main")
        if analysis not in selectors.ANALYSES:
            raise ValidationError({"analysis": ["Choose main or sensitivity."]})
        found = selectors.tables_of(json.loads(run.results_json), analysis)
        table = next((t for t in found or [] if t["key"] == key), None)
        if table is None:
            missing = "No such table in this run." if found is not None else "This run has no sensitivity analysis."
            raise NotFound(missing)
        table = selectors.gated_tables(request.user, run, [table])[0]
        if file_format == "json":
            return Response(table)
        assert run.snapshot_at is not None
        body: bytes | str = (
            files.tables_csv([table]) if file_format == "csv" else files.tables_xlsx([table], stamped=run.snapshot_at)
        )
        content_type = (
            "text/csv; charset=utf-8"
            if file_format == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response = HttpResponse(body, content_type=content_type)
        mark = "-sensitivity" if analysis == "sensitivity" else ""
        name = f"endpoint-run-{run.pk}-{run.cutoff_date}-{key}{mark}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
