"""REST resource `endpoint-runs` (DESIGN §6): list the runs one may see, start one, poll its
status and progress, read its tables. Same gate and permissions as the pages (DESIGN §4a):
studies outside the user's sites are 404, a role without "view endpoint run results" 403, and
starting needs "start endpoint runs". Starting goes through `endpoints.services.request_run`
(outbox → Celery), as the page does; the answer is 202 with the run to poll."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api_fields import AwareDateTimeField
from endpoints import files, selectors, services
from endpoints.models import EndpointRun, RunTrigger
from jobs.api import JOB_FIELDS, JobSerializer, JobViewSet, job_resource
from study.roles import Action


class EndpointRunSerializer(JobSerializer):
    has_results = serializers.BooleanField(read_only=True)

    class Meta:
        model = EndpointRun
        fields = [
            *("id", "study", "cutoff_date", "protocol_version", "settings_version", "input_settings_versions"),
            *("rederive_at_cutoff", "sensitivity_settings_version", "input_sha256"),
            *JOB_FIELDS,
            *("results_sha256", "has_results"),
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


@job_resource(
    listed="Endpoint runs of the studies where you may view results",
    one="One endpoint run: status, progress (0–100), cut and hashes",
    start="Start an endpoint run (queued through the outbox; poll the run for progress)",
    request=EndpointRunRequestSerializer,
    answer=EndpointRunSerializer,
)
class EndpointRunViewSet(JobViewSet):
    serializer_class = EndpointRunSerializer
    request_serializer_class = EndpointRunRequestSerializer
    start_action = Action.START_ENDPOINT_RUNS

    visible = staticmethod(selectors.runs_visible_to)
    access_job = staticmethod(selectors.access_run)
    may_list = staticmethod(lambda user: selectors.studies_with_results_for(user).exists())

    def request_job(self, data: dict[str, Any]) -> EndpointRun:
        return services.request_run(
            actor=self.request.user,  # type: ignore[arg-type]
            study=self.study_from(data.get("study")),
            cutoff_date=data["cutoff_date"],
            snapshot_at=data.get("snapshot_at"),
            trigger=RunTrigger.API,
            rederive_at_cutoff=data["rederive_at_cutoff"],
        )

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
